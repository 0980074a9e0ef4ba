package dataplane

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/wasmesh/wasmesh/dataplane/internal/tlsutil"
	"github.com/wasmesh/wasmesh/dataplane/internal/upstream"
	"github.com/wasmesh/wasmesh/dataplane/lb"
	"github.com/wasmesh/wasmesh/dataplane/wasm"
)

var (
	hdrRequestID  = []byte("x-request-id")
	hdrXFF        = []byte("X-Forwarded-For")
	hdrXFP        = []byte("X-Forwarded-Proto")
	hdrOverflow   = "x-meshd-overflow"
	hdrAttempts   = "x-meshd-attempt-count"
	hdrGRPCStatus = []byte("grpc-status")
	schemeHTTP    = []byte("http")
	schemeHTTPS   = []byte("https")
	hopHeaders    = []string{"Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Upgrade"}
	// stripOnForward holds the canonical names removed from every
	// forwarded request: the hop-by-hop headers and a client-sent XFCC.
	stripOnForward = map[string]bool{"Keep-Alive": true, "Proxy-Connection": true, "Proxy-Authenticate": true,
		"Proxy-Authorization": true, "Te": true, "Trailer": true, "Upgrade": true, "X-Forwarded-Client-Cert": true}
)

// handle is the whole request path: route, filters, upstream, log.
func (s *Server) handle(l *listener, ctx *fasthttp.RequestCtx) {
	ls := l.snap.Load()
	start := time.Now()
	ls.requests.Inc()
	if s.draining.Load() {
		defer ctx.SetConnectionClose()
	}

	reqID := ctx.Request.Header.PeekBytes(hdrRequestID)
	if len(reqID) == 0 {
		reqID = setRequestID(&ctx.Request.Header)
	}

	rt := ls.match(ctx)
	if rt == nil {
		localReply(ctx, fasthttp.StatusNotFound, "no route matched\n")
		s.logAccess(ls, nil, ctx, start, reqID, nil, 0)
		return
	}
	var tt *tryTracer
	if tr := s.trace.get(); tr != nil {
		sctx, span := startServerSpan(tr, fastCarrier{&ctx.Request.Header}, ls.name, rt.name, string(ctx.Method()), string(ctx.Path()))
		defer func() { endSpan(span, ctx.Response.StatusCode()) }()
		tt = &tryTracer{tr: tr, parent: sctx}
	}
	var fr *filterRun
	if ls.chain != nil {
		fr = ls.chain.start(s.streamInfo(ctx, ls, rt, reqID), filterBound(rt))
		defer fr.done()
		var body []byte
		if !ctx.Request.IsBodyStream() {
			body = ctx.Request.Body()
		}
		if lr, name := fr.request(&fastReqHeaders{req: &ctx.Request, tls: ctx.IsTLS()}, body, ctx.Request.SetBodyRaw); lr != nil {
			writeLocalFast(ctx, lr)
			s.recordFilterDenial(s.auditEventFast(ctx, ls, rt, reqID), lr.Status, name)
			s.finish(ls, rt, ctx, start, reqID, nil, 0)
			return
		}
	}
	if rt.authorize && !s.authorizeFast(ctx, ls, rt, fr, reqID) {
		s.finish(ls, rt, ctx, start, reqID, nil, 0)
		return
	}
	var host *upstream.Host
	attempts := 0
	switch {
	case rt.directStatus != 0:
		ctx.Response.SetStatusCode(rt.directStatus)
		ctx.Response.SetBodyRaw(rt.directBody)
		ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	case rt.redirect != nil:
		s.redirect(ctx, rt)
	case rt.cfg.Publish != nil:
		s.publishFast(ctx, rt, tt)
	case rt.cfg.Events != nil:
		s.eventsFast(ctx, rt, tt)
	case rt.cfg.JWKS != nil:
		s.jwksFast(ctx)
	default:
		host, attempts = s.forward(ctx, ls, rt, start, reqID, tt)
	}
	if fr != nil {
		if lr := fr.response(&fastRespHeaders{resp: &ctx.Response}); lr != nil {
			writeLocalFast(ctx, lr)
		}
	}
	s.finish(ls, rt, ctx, start, reqID, host, attempts)
}

// filterBound is how long a filter may hold a request paused (an http
// call out): the route's timeout, or 5s for routes without one.
func filterBound(rt *routeSnap) time.Duration {
	if rt.timeout > 0 {
		return rt.timeout
	}
	return 5 * time.Second
}

func (s *Server) streamInfo(ctx *fasthttp.RequestCtx, ls *listenerSnap, rt *routeSnap, reqID []byte) wasm.StreamInfo {
	info := wasm.StreamInfo{
		RequestID: string(reqID), Method: string(ctx.Method()), Path: string(ctx.RequestURI()),
		Scheme: "http", Authority: string(ctx.Host()), Protocol: "HTTP/1.1",
		SourceAddress: ctx.RemoteAddr().String(), DestinationAddress: ctx.LocalAddr().String(),
		RouteName: rt.name, StartTime: ctx.Time(),
	}
	if ctx.IsTLS() {
		info.Scheme = "https"
		info.PeerIdentity = tlsutil.PeerIdentity(ctx.TLSConnectionState())
	}
	if len(rt.clusters) == 1 {
		info.ClusterName = rt.clusters[0].Name
	}
	return info
}

// writeLocalFast answers with a filter's local response.
func writeLocalFast(ctx *fasthttp.RequestCtx, lr *wasm.LocalResponse) {
	ctx.Response.Reset()
	ctx.Response.SetStatusCode(lr.Status)
	for _, h := range lr.Headers {
		ctx.Response.Header.Add(h[0], h[1])
	}
	ctx.Response.SetBody(lr.Body)
}

func (s *Server) finish(ls *listenerSnap, rt *routeSnap, ctx *fasthttp.RequestCtx, start time.Time, reqID []byte, host *upstream.Host, attempts int) {
	for _, h := range rt.respRemove {
		ctx.Response.Header.DelBytes(h)
	}
	for _, h := range rt.respAdd {
		ctx.Response.Header.SetBytesKV(h.key, h.val)
	}
	rt.http.Observe(ctx.Response.StatusCode(), false, time.Since(start).Seconds())
	s.logAccess(ls, rt, ctx, start, reqID, host, attempts)
}

func (ls *listenerSnap) match(ctx *fasthttp.RequestCtx) *routeSnap {
	vi := ls.hosts.Select(ctx.Request.Header.Host())
	if vi < 0 {
		return nil
	}
	path := ctx.URI().Path()
	for _, r := range ls.vhosts[vi].routes {
		if r.m.Match(&ctx.Request, path) {
			return r
		}
	}
	return nil
}

// pick chooses the cluster for a request by weight, and returns its index.
func (rt *routeSnap) pick() int {
	if len(rt.clusters) == 1 {
		return 0
	}
	r := rand.IntN(rt.total)
	for i, w := range rt.weights {
		r -= w
		if r < 0 {
			return i
		}
	}
	return len(rt.clusters) - 1
}

func requestHash(ctx *fasthttp.RequestCtx, c *upstream.Cluster) uint64 {
	hk := c.Def.Hash
	if hk == nil {
		return 0
	}
	switch {
	case hk.Header != "":
		return lb.Hash64(ctx.Request.Header.Peek(hk.Header))
	case hk.Cookie != "":
		return lb.Hash64(ctx.Request.Header.Cookie(hk.Cookie))
	default:
		ip := ctx.RemoteIP()
		return lb.Hash64(ip)
	}
}

// forward sends the request upstream under the route's policy and leaves
// the answer (upstream's or a local one) in ctx.Response.
func (s *Server) forward(ctx *fasthttp.RequestCtx, ls *listenerSnap, rt *routeSnap, start time.Time, reqID []byte, tt *tryTracer) (*upstream.Host, int) {
	ci := rt.pick()
	cl := rt.clusters[ci]
	if tt != nil {
		tt.cluster = cl.Name
	}
	if src := rt.tokens[ci]; src != nil {
		tok, err := egressToken(src, cl.Name)
		if err != nil {
			localReply(ctx, fasthttp.StatusServiceUnavailable, "upstream token unavailable: "+err.Error()+"\n")
			s.tokenDenied(s.auditEventFast(ctx, ls, rt, reqID), err)
			return nil, 0
		}
		ctx.Request.Header.Set("Authorization", "Bearer "+tok)
	}
	if ok, reason := cl.Admit(); !ok {
		overflow(ctx, reason)
		return nil, 0
	}
	defer cl.Done()
	var deadline time.Time
	if rt.timeout > 0 {
		deadline = start.Add(rt.timeout)
	}
	downClose := ctx.Request.Header.ConnectionClose()
	s.prepare(ctx, rt)
	// The scheme is the upstream's, whatever the client used.
	if cl.TLS != nil {
		ctx.Request.URI().SetSchemeBytes(schemeHTTPS)
	} else {
		ctx.Request.URI().SetSchemeBytes(schemeHTTP)
	}
	var c upstreamCall
	if cl.HTTP2 {
		c = &bridgeCall{ctx: ctx, cl: cl}
	} else {
		c = &h1Call{ctx: ctx, streamed: ctx.Request.IsBodyStream(), tt: tt}
	}
	r := s.call(rt, cl, c, requestHash(ctx, cl), deadline)
	switch {
	case r.refused == refusedNoHost:
		ctx.Response.Reset()
		localReply(ctx, fasthttp.StatusServiceUnavailable, "no healthy upstream\n")
	case r.refused != "":
		overflow(ctx, r.refused)
	case r.err != nil:
		ctx.Response.Reset()
		if errors.Is(r.err, fasthttp.ErrNoFreeConns) {
			overflow(ctx, upstream.OverflowConnections)
		} else {
			status, body := localError(r.err)
			localReply(ctx, status, body)
		}
	default:
		// The upstream's keep-alive choice is not the client's.
		ctx.Response.Header.ResetConnectionClose()
	}
	if downClose {
		ctx.SetConnectionClose()
	}
	return r.host, r.attempts
}

// localError is the local answer for a try that got no response.
func localError(err error) (int, string) {
	switch {
	case isTimeout(err):
		return fasthttp.StatusGatewayTimeout, "upstream request timeout\n"
	case upstream.IsConnectFailure(err):
		return fasthttp.StatusServiceUnavailable, "upstream connect error or disconnect/reset before headers. reset reason: connection failure\n"
	}
	return fasthttp.StatusServiceUnavailable, "upstream connect error or disconnect/reset before headers. reset reason: connection termination\n"
}

// h1Call sends the downstream fasthttp request itself to an HTTP/1.1
// endpoint's pool and parses the answer into the downstream response.
type h1Call struct {
	ctx      *fasthttp.RequestCtx
	streamed bool
	tt       *tryTracer
}

func (c *h1Call) send(h *upstream.Host, deadline time.Time, perTry time.Duration, attempt int) (int, int, error) {
	ctx := c.ctx
	if attempt > 1 {
		ctx.Request.Header.Set(hdrAttempts, strconv.Itoa(attempt))
	}
	ctx.Response.Reset()
	if perTry > 0 {
		deadline = time.Now().Add(perTry)
	}
	span := c.tt.start(h.Addr, attempt, fastCarrier{&ctx.Request.Header})
	var err error
	if deadline.IsZero() {
		err = h.Client.Do(&ctx.Request, &ctx.Response)
	} else {
		err = h.Client.DoDeadline(&ctx.Request, &ctx.Response, deadline)
	}
	c.tt.end(span, ctx.Response.StatusCode(), err)
	if err != nil {
		if perTry == 0 && errors.Is(err, fasthttp.ErrTimeout) {
			err = errTotalTimeout
		}
		return 0, -1, err
	}
	// A small body of known length is read now: the connection goes back
	// to its pool at once, and the response goes out in one write instead
	// of headers then a streamed body.
	if n := ctx.Response.Header.ContentLength(); n >= 0 && n <= maxBufferedResponse && ctx.Response.IsBodyStream() {
		ctx.Response.Body()
	}
	g := -1
	if v := ctx.Response.Header.PeekBytes(hdrGRPCStatus); len(v) > 0 {
		g = atoiBytes(v)
	}
	return ctx.Response.StatusCode(), g, nil
}

// maxBufferedResponse is the largest response body read whole before it is
// sent on; larger ones, and ones of unknown length, stream.
const maxBufferedResponse = 64 << 10

// canResend: a streamed body went out with the first try and cannot be
// sent again; a connect failure sent nothing, so it can.
func (c *h1Call) canResend(connectFail bool) bool { return !c.streamed || connectFail }

func atoiBytes(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// prepare turns the downstream request into the upstream one, in place.
func (s *Server) prepare(ctx *fasthttp.RequestCtx, rt *routeSnap) {
	req := &ctx.Request
	req.Header.ResetConnectionClose()
	// One pass finds out whether any header must go; most requests carry
	// none, and seven deletes would each scan every header.
	strip := false
	req.Header.VisitAll(func(k, _ []byte) {
		if !strip && stripOnForward[string(k)] {
			strip = true
		}
	})
	if strip {
		for _, h := range hopHeaders {
			req.Header.Del(h)
		}
		req.Header.Del("X-Forwarded-Client-Cert")
	}
	if rt.hasRewrite {
		var buf [256]byte
		p := rt.m.Rewrite(buf[:0], req.URI().Path(), rt.prefixRewrite)
		req.URI().SetPathBytes(p)
	}
	if rt.hostRewrite != nil {
		req.Header.SetHostBytes(rt.hostRewrite)
	}
	var buf [128]byte
	v := buf[:0]
	if prior := req.Header.PeekBytes(hdrXFF); len(prior) > 0 {
		v = append(append(v, prior...), ", "...)
	}
	v = appendIP(v, ctx.RemoteIP())
	req.Header.SetBytesKV(hdrXFF, v)
	// The peer's identity is meshd's to state; a client cannot claim one
	// (an incoming X-Forwarded-Client-Cert was removed above).
	if ctx.IsTLS() {
		req.Header.SetBytesKV(hdrXFP, []byte("https"))
		if peer := tlsutil.PeerIdentity(ctx.TLSConnectionState()); peer != "" {
			req.Header.Set("X-Forwarded-Client-Cert", "URI="+peer)
		}
	} else {
		req.Header.SetBytesKV(hdrXFP, []byte("http"))
	}
	for _, h := range rt.reqRemove {
		req.Header.DelBytes(h)
	}
	for _, h := range rt.reqAdd {
		req.Header.SetBytesKV(h.key, h.val)
	}
}

func (s *Server) redirect(ctx *fasthttp.RequestCtx, rt *routeSnap) {
	rd := rt.redirect
	u := fasthttp.AcquireURI()
	defer fasthttp.ReleaseURI(u)
	ctx.URI().CopyTo(u)
	if rd.Scheme != "" {
		u.SetScheme(rd.Scheme)
	} else if ctx.IsTLS() {
		u.SetScheme("https")
	}
	if rd.Host != "" {
		u.SetHost(rd.Host)
	}
	switch {
	case rd.Path != "":
		u.SetPath(rd.Path)
	case rd.PrefixRewrite != "":
		u.SetPathBytes(rt.m.Rewrite(nil, ctx.URI().Path(), rd.PrefixRewrite))
	}
	ctx.Response.Header.SetBytesV("Location", u.FullURI())
	ctx.Response.SetStatusCode(rd.Status)
}

func localReply(ctx *fasthttp.RequestCtx, status int, body string) {
	ctx.Response.SetStatusCode(status)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.SetBodyString(body)
}

func overflow(ctx *fasthttp.RequestCtx, reason string) {
	ctx.Response.Reset()
	localReply(ctx, fasthttp.StatusServiceUnavailable, "upstream overflow: circuit breaker "+reason+"\n")
	ctx.Response.Header.Set(hdrOverflow, reason)
}

func (s *Server) logAccess(ls *listenerSnap, rt *routeSnap, ctx *fasthttp.RequestCtx, start time.Time, reqID []byte, h *upstream.Host, attempts int) {
	if !ls.accessLog || s.accessLog == nil {
		return
	}
	routeName, upstreamAddr := "", ""
	if rt != nil {
		routeName = rt.name
	}
	if h != nil {
		upstreamAddr = h.Addr
	}
	s.accessLog.LogAttrs(context.Background(), slog.LevelInfo, "access",
		slog.String("request_id", string(reqID)),
		slog.String("listener", ls.name),
		slog.String("route", routeName),
		slog.String("method", string(ctx.Method())),
		slog.String("path", string(ctx.Path())),
		slog.Int("status", ctx.Response.StatusCode()),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		slog.String("upstream", upstreamAddr),
		slog.Int("attempts", attempts),
		slog.String("remote", ctx.RemoteIP().String()),
		slog.String("trace_id", traceIDOf(string(ctx.Request.Header.Peek("traceparent")))),
		slog.String("span_id", spanIDOf(string(ctx.Request.Header.Peek("traceparent")))),
		slog.String("correlation_id", string(ctx.Request.Header.Peek("X-Correlation-Id"))),
	)
}

// setRequestID gives the request a new x-request-id and returns it.
func setRequestID(h *fasthttp.RequestHeader) []byte {
	var buf [36]byte
	h.SetBytesKV(hdrRequestID, newRequestID(buf[:0]))
	return h.PeekBytes(hdrRequestID)
}

const hexDigits = "0123456789abcdef"

// newRequestID appends a random UUIDv4 to dst without allocating.
func newRequestID(dst []byte) []byte {
	a, b := rand.Uint64(), rand.Uint64()
	var raw [16]byte
	for i := 0; i < 8; i++ {
		raw[i] = byte(a >> (8 * i))
		raw[8+i] = byte(b >> (8 * i))
	}
	raw[6] = raw[6]&0x0f | 0x40
	raw[8] = raw[8]&0x3f | 0x80
	for i, c := range raw {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return dst
}

func appendIP(dst []byte, ip net.IP) []byte {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return dst
	}
	return a.Unmap().AppendTo(dst)
}

func lbHash(s string) uint64 { return lb.Hash64([]byte(s)) }
