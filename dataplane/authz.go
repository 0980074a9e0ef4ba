package dataplane

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"
	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/dataplane/internal/tlsutil"
	"github.com/wasmesh/wasmesh/identity/audit"
	"github.com/wasmesh/wasmesh/identity/authz"
)

const rbacDenied = "RBAC: access denied\n"

// auditState is the process's auditor, made again when the audit config
// (or its broker) changes.
type auditState struct {
	metrics *audit.Metrics
	key     string
	a       *audit.Auditor
}

func (s *Server) commitAudit(c *conf.Audit) {
	key := jsonKey(c)
	var pub brokers.Publisher
	if c != nil && c.Broker != "" {
		if b, ok := s.msg.get(c.Broker); ok {
			pub = b
			key += fmt.Sprintf("|%p", b)
		}
	}
	if s.audit.a != nil && s.audit.key == key {
		return
	}
	cfg := audit.Config{Logger: s.log, Metrics: s.audit.metrics, Source: "meshd"}
	if c != nil && pub != nil {
		cfg.Publisher, cfg.Topic, cfg.QueueSize = pub, c.Topic, c.QueueSize
	}
	a, err := audit.New(cfg)
	if err != nil {
		s.log.Error("audit not reconfigured", "error", err)
		return
	}
	if old := s.audit.a; old != nil {
		go old.Close(context.Background())
	}
	s.audit.a, s.audit.key = a, key
}

func (s *Server) auditor() *audit.Auditor {
	s.sourcesMu.Lock()
	defer s.sourcesMu.Unlock()
	return s.audit.a
}

// recordFilterDenial audits a filter's local answer when it refused the
// request (401 authentication, 403, 429 rate limit).
func (s *Server) recordFilterDenial(ev audit.Event, status int, filter string) {
	switch {
	case status == 401:
		ev.Kind, ev.Reason = audit.KindAuthentication, audit.ReasonInvalidToken
	case status == 429:
		ev.Kind, ev.Reason = audit.KindRateLimit, audit.ReasonRateLimited
	case status == 403:
		ev.Kind, ev.Reason = audit.KindAuthorization, audit.ReasonPolicyDenied
	default:
		return
	}
	ev.Status, ev.Filter = status, filter
	if a := s.auditor(); a != nil {
		a.Record(context.Background(), ev)
	}
}

func sourceAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// authorizeFast evaluates the listener's policies for an HTTP/1.1 request;
// on deny it answers 403 and records the audit event.
func (s *Server) authorizeFast(ctx *fasthttp.RequestCtx, ls *listenerSnap, rt *routeSnap, fr *filterRun, reqID []byte) bool {
	req := authz.Request{
		Route: rt.name, Method: string(ctx.Method()), Path: string(ctx.Path()), Host: string(ctx.Host()),
		Headers:  func(name string) string { return string(ctx.Request.Header.Peek(name)) },
		SourceIP: sourceAddr(ctx.RemoteAddr()),
		Claims:   fr.claims(),
	}
	if ctx.IsTLS() {
		req.Principal = tlsutil.PeerIdentity(ctx.TLSConnectionState())
	}
	d := ls.authz.Evaluate(&req)
	if d.Allowed {
		return true
	}
	ev := audit.FromAuthz(d, &req)
	ev.Listener, ev.RequestID = ls.name, string(reqID)
	ev.TraceID = traceIDOf(string(ctx.Request.Header.Peek("traceparent")))
	if a := s.auditor(); a != nil {
		a.Record(context.Background(), ev)
	}
	localReply(ctx, http.StatusForbidden, rbacDenied)
	return false
}

// authorizeHTTP is authorizeFast for HTTP/2 and gRPC.
func (s *Server) authorizeHTTP(rw *respWriter, r *http.Request, ls *listenerSnap, rt *routeSnap, fr *filterRun, reqID, peer string) bool {
	req := authz.Request{
		Route: rt.name, Method: r.Method, Path: r.URL.Path, Host: r.Host,
		Headers:   r.Header.Get,
		Principal: peer,
		Claims:    fr.claims(),
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		req.SourceIP = ap.Addr().Unmap()
	}
	d := ls.authz.Evaluate(&req)
	if d.Allowed {
		return true
	}
	ev := audit.FromAuthz(d, &req)
	ev.Listener, ev.RequestID = ls.name, reqID
	ev.TraceID = traceIDOf(r.Header.Get("Traceparent"))
	if a := s.auditor(); a != nil {
		a.Record(context.Background(), ev)
	}
	rw.local(http.StatusForbidden, rbacDenied, grpcPermissionDenied)
	return false
}

// traceIDOf takes the trace id out of a W3C traceparent header.
func traceIDOf(tp string) string {
	parts := strings.Split(tp, "-")
	if len(parts) == 4 && len(parts[1]) == 32 {
		return parts[1]
	}
	return ""
}

func (s *Server) auditEventFast(ctx *fasthttp.RequestCtx, ls *listenerSnap, rt *routeSnap, reqID []byte) audit.Event {
	ev := audit.Event{Listener: ls.name, Route: rt.name, Method: string(ctx.Method()), Path: string(ctx.Path()), Host: string(ctx.Host()),
		RequestID: string(reqID), TraceID: traceIDOf(string(ctx.Request.Header.Peek("traceparent")))}
	if ip := sourceAddr(ctx.RemoteAddr()); ip.IsValid() {
		ev.SourceIP = ip.String()
	}
	if ctx.IsTLS() {
		ev.Principal = tlsutil.PeerIdentity(ctx.TLSConnectionState())
	}
	return ev
}

func auditEventHTTP(r *http.Request, ls *listenerSnap, rt *routeSnap, reqID, peer string) audit.Event {
	ev := audit.Event{Listener: ls.name, Route: rt.name, Method: r.Method, Path: r.URL.Path, Host: r.Host,
		RequestID: reqID, TraceID: traceIDOf(r.Header.Get("Traceparent")), Principal: peer}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		ev.SourceIP = ap.Addr().Unmap().String()
	}
	return ev
}

// spanIDOf takes the span id out of a W3C traceparent header.
func spanIDOf(tp string) string {
	parts := strings.Split(tp, "-")
	if len(parts) == 4 && len(parts[2]) == 16 {
		return parts[2]
	}
	return ""
}
