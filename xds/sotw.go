package xds

import (
	"fmt"
	"slices"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
)

// sotwStream speaks state-of-the-world ADS: every response carries the
// whole set of its type (LDS, CDS) or of the names asked for (RDS, EDS).
type sotwStream struct {
	c *Client
	s discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
}

func (s *sotwStream) recv() (any, error) { return s.s.Recv() }

func (s *sotwStream) sendDelayed(req any) error {
	return s.s.Send(req.(*discoveryv3.DiscoveryRequest))
}

// subscribe asks for typ. RDS and EDS are asked for only with names: an
// empty first request would mean "everything".
func (s *sotwStream) subscribe(typ string, initial bool) error {
	ts := s.c.types[typ]
	names := s.c.wanted(typ)
	if typ == TypeRoute || typ == TypeEndpoint {
		if !ts.sent && len(names) == 0 {
			return nil
		}
		if ts.sent && !initial && slices.Equal(names, ts.names) {
			return nil
		}
	} else if ts.sent {
		return nil
	}
	req := &discoveryv3.DiscoveryRequest{TypeUrl: typ, Node: s.c.node, ResourceNames: names, VersionInfo: ts.version}
	if !initial {
		req.ResponseNonce = ts.nonce
	}
	ts.names, ts.sent = names, true
	if err := s.s.Send(req); err != nil {
		return fmt.Errorf("send %s request: %w", shortName[typ], err)
	}
	return nil
}

func (s *sotwStream) handle(msg any) error {
	resp := msg.(*discoveryv3.DiscoveryResponse)
	c := s.c
	typ := resp.GetTypeUrl()
	ts, ok := c.types[typ]
	if !ok {
		// Not a type meshd asked for: NACK so the server knows.
		return s.s.Send(&discoveryv3.DiscoveryRequest{TypeUrl: typ, ResponseNonce: resp.GetNonce(), Node: c.node,
			ErrorDetail: &statuspb.Status{Code: int32(codes.InvalidArgument), Message: "meshd does not support resource type " + typ}})
	}
	res := make([]namedAny, 0, len(resp.GetResources()))
	for i, r := range resp.GetResources() {
		res = append(res, namedAny{name: fmt.Sprintf("#%d", i), any: r})
	}
	full := typ == TypeListener || typ == TypeCluster
	err := c.update(typ, res, nil, full, resp.GetVersionInfo())
	if err != nil {
		delay := c.nack(typ, resp.GetVersionInfo(), resp.GetNonce(), err)
		req := &discoveryv3.DiscoveryRequest{TypeUrl: typ, Node: c.node, ResourceNames: ts.names, VersionInfo: ts.version, ResponseNonce: resp.GetNonce(),
			ErrorDetail: &statuspb.Status{Code: int32(codes.InvalidArgument), Message: err.Error()}}
		if delay > 0 {
			c.deferred = append(c.deferred, deferredReq{after: delay, req: req})
			return nil
		}
		return s.send(req)
	}
	c.ack(typ, resp.GetNonce())
	if err := s.send(&discoveryv3.DiscoveryRequest{TypeUrl: typ, Node: c.node, ResourceNames: ts.names, VersionInfo: ts.version, ResponseNonce: resp.GetNonce()}); err != nil {
		return err
	}
	// New clusters or listeners may name new endpoints or routes.
	for _, t := range []string{TypeEndpoint, TypeRoute} {
		if err := s.subscribe(t, false); err != nil {
			return err
		}
	}
	return nil
}

func (s *sotwStream) send(req *discoveryv3.DiscoveryRequest) error {
	if err := s.s.Send(req); err != nil {
		return fmt.Errorf("send %s: %w", shortName[req.GetTypeUrl()], err)
	}
	return nil
}
