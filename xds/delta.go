package xds

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
)

// deltaStream speaks incremental ADS: responses carry only what changed
// and what was removed; subscriptions change by difference; a new stream
// says which resource versions meshd already holds.
type deltaStream struct {
	c *Client
	s discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
}

func (s *deltaStream) recv() (any, error) { return s.s.Recv() }

func (s *deltaStream) sendDelayed(req any) error {
	return s.send(req.(*discoveryv3.DeltaDiscoveryRequest))
}

func (s *deltaStream) send(req *discoveryv3.DeltaDiscoveryRequest) error {
	if err := s.s.Send(req); err != nil {
		return fmt.Errorf("send %s: %w", shortName[req.GetTypeUrl()], err)
	}
	return nil
}

func (s *deltaStream) subscribe(typ string, initial bool) error {
	ts := s.c.types[typ]
	names := s.c.wanted(typ)
	req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: typ, Node: s.c.node}
	switch {
	case typ == TypeListener || typ == TypeCluster:
		if ts.sent {
			return nil
		}
		// An empty first subscription is the wildcard.
	case !ts.sent:
		if len(names) == 0 {
			return nil
		}
		req.ResourceNamesSubscribe = names
	default:
		for _, n := range names {
			if !slices.Contains(ts.names, n) {
				req.ResourceNamesSubscribe = append(req.ResourceNamesSubscribe, n)
			}
		}
		for _, n := range ts.names {
			if !slices.Contains(names, n) {
				req.ResourceNamesUnsubscribe = append(req.ResourceNamesUnsubscribe, n)
				delete(ts.versions, n)
			}
		}
		if len(req.ResourceNamesSubscribe) == 0 && len(req.ResourceNamesUnsubscribe) == 0 {
			return nil
		}
	}
	if !ts.sent && len(ts.versions) > 0 {
		// Resume: the server sends only what differs from these.
		req.InitialResourceVersions = maps.Clone(ts.versions)
	}
	ts.names, ts.sent = names, true
	return s.send(req)
}

func (s *deltaStream) handle(msg any) error {
	resp := msg.(*discoveryv3.DeltaDiscoveryResponse)
	c := s.c
	typ := resp.GetTypeUrl()
	ts, ok := c.types[typ]
	if !ok {
		return s.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typ, ResponseNonce: resp.GetNonce(),
			ErrorDetail: &statuspb.Status{Code: int32(codes.InvalidArgument), Message: "meshd does not support resource type " + typ}})
	}
	var res []namedAny
	versions := maps.Clone(ts.versions)
	for _, r := range resp.GetResources() {
		versions[r.GetName()] = r.GetVersion()
		if r.GetResource() == nil {
			continue // only the version changed
		}
		res = append(res, namedAny{name: r.GetName(), any: r.GetResource()})
	}
	for _, n := range resp.GetRemovedResources() {
		delete(versions, n)
	}
	version := resp.GetSystemVersionInfo()
	if version == "" {
		version = hashVersions(versions)
	}
	if err := c.update(typ, res, resp.GetRemovedResources(), false, version); err != nil {
		delay := c.nack(typ, version, resp.GetNonce(), err)
		req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: typ, ResponseNonce: resp.GetNonce(),
			ErrorDetail: &statuspb.Status{Code: int32(codes.InvalidArgument), Message: err.Error()}}
		if delay > 0 {
			c.deferred = append(c.deferred, deferredReq{after: delay, req: req})
			return nil
		}
		return s.send(req)
	}
	ts.versions = versions
	c.ack(typ, resp.GetNonce())
	if err := s.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typ, ResponseNonce: resp.GetNonce()}); err != nil {
		return err
	}
	for _, t := range []string{TypeEndpoint, TypeRoute} {
		if err := s.subscribe(t, false); err != nil {
			return err
		}
	}
	return nil
}

// hashVersions names a delta type's state when the server sends no
// system_version_info.
func hashVersions(v map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(v)) {
		fmt.Fprintf(h, "%s=%s;", k, v[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
