package dataplane

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/wasmesh/wasmesh/dataplane/internal/route"
	"github.com/wasmesh/wasmesh/dataplane/internal/tlsutil"
	"github.com/wasmesh/wasmesh/dataplane/internal/upstream"
	"github.com/wasmesh/wasmesh/dataplane/wasm"
	"github.com/wasmesh/wasmesh/internal/telemetry"
	"go.opentelemetry.io/otel/propagation"
)

// hopByHop are the headers that belong to one connection, never forwarded.
// "Te: trailers" survives: gRPC needs it.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Trailer", "Transfer-Encoding", "Upgrade"}

// isGRPC reports whether a request is gRPC, by its content type.
func isGRPC(h http.Header) bool {
	return strings.HasPrefix(h.Get("Content-Type"), "application/grpc")
}

// handleHTTP is the request path for HTTP/2 (and gRPC) requests: the same
// routes, clusters and policies as handle, over net/http so that bodies
// and trailers stream both ways as they come.
func (s *Server) handleHTTP(l *listener, w http.ResponseWriter, r *http.Request) {
	l.h2.active.Add(1)
	defer l.h2.active.Add(-1)
	ls := l.snap.Load()
	start := time.Now()
	ls.requests.Inc()
	if s.draining.Load() {
		w.Header().Set("Connection", "close")
	}
	grpc := isGRPC(r.Header)
	reqID := r.Header.Get("X-Request-Id")
	if reqID == "" {
		var buf [36]byte
		reqID = string(newRequestID(buf[:0]))
		r.Header.Set("X-Request-Id", reqID)
	}
	peer := tlsutil.PeerIdentity(r.TLS)
	rw := &respWriter{w: w, grpc: grpc}

	rt := ls.matchHTTP(r)
	if rt == nil {
		rw.local(http.StatusNotFound, "no route matched\n", grpcUnimplemented)
		s.logAccessHTTP(ls, nil, r, rw, start, reqID, peer, nil, 0)
		return
	}
	var host *upstream.Host
	attempts := 0
	var tt *tryTracer
	if tr := s.trace.get(); tr != nil {
		sctx, span := startServerSpan(tr, propagation.HeaderCarrier(r.Header), ls.name, rt.name, r.Method, r.URL.Path)
		defer func() { endSpan(span, rw.status) }()
		tt = &tryTracer{tr: tr, parent: sctx}
	}
	if ls.chain != nil {
		fr := ls.chain.start(s.streamInfoHTTP(r, ls, rt, reqID, peer), filterBound(rt))
		defer fr.done()
		rw.filters = fr
		var body []byte
		if r.ContentLength > 0 && r.ContentLength <= maxReplay && !grpc {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if lr, name := fr.request(&httpReqHeaders{r: r}, body, func(nb []byte) {
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(nb)), int64(len(nb))
		}); lr != nil {
			rw.filters = nil
			rw.localFromFilter(lr)
			s.recordFilterDenial(auditEventHTTP(r, ls, rt, reqID, peer), lr.Status, name)
			s.recordH2(rt, rw, grpc, start)
			s.logAccessHTTP(ls, rt, r, rw, start, reqID, peer, nil, 0)
			return
		}
	}
	if rt.authorize && !s.authorizeHTTP(rw, r, ls, rt, rw.filters, reqID, peer) {
		s.recordH2(rt, rw, grpc, start)
		s.logAccessHTTP(ls, rt, r, rw, start, reqID, peer, nil, 0)
		return
	}
	switch {
	case rt.directStatus != 0:
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rw.WriteHeader(rt.directStatus)
		rw.Write(rt.directBody)
	case rt.redirect != nil:
		s.redirectHTTP(rw, r, rt)
	case rt.cfg.Publish != nil:
		s.publishHTTP(rw, r, rt, tt)
	case rt.cfg.JWKS != nil:
		rw.Header().Set("Content-Type", "application/json")
		rw.Write(s.tokens.jwks())
	case rt.cfg.Events != nil:
		s.serveEventsHTTP(rw, r, tt, strings.Trim(strings.TrimPrefix(r.URL.Path, rt.cfg.Match.Prefix), "/"), rt.cfg.Events.ReadOnly, rt.timeout)
	default:
		host, attempts = s.forwardHTTP(rw, r, ls, rt, start, grpc, reqID, peer, tt)
	}
	s.recordH2(rt, rw, grpc, start)
	s.logAccessHTTP(ls, rt, r, rw, start, reqID, peer, host, attempts)
}

// recordH2 observes a finished request on the route's histograms: the
// HTTP view always, and for gRPC the status the client was sent, whose
// server faults are errors even under HTTP 200.
func (s *Server) recordH2(rt *routeSnap, rw *respWriter, grpc bool, start time.Time) {
	d := time.Since(start).Seconds()
	if !grpc {
		rt.http.Observe(rw.status, false, d)
		return
	}
	code := grpcStatusSent(rw)
	rt.http.Observe(rw.status, telemetry.GRPCOutcome(code) == telemetry.Error, d)
	rt.rpc.Observe(code, d)
}

// grpcStatusSent is the grpc-status a gRPC client was sent: in the headers
// of a trailers-only answer, else in the trailers; a response with neither
// maps its HTTP status the way gRPC clients do (an HTTP 200 without a
// status is UNKNOWN).
func grpcStatusSent(rw *respWriter) int {
	h := rw.Header()
	v := h.Get("Grpc-Status")
	if v == "" {
		if vs := h[http.TrailerPrefix+"Grpc-Status"]; len(vs) > 0 {
			v = vs[len(vs)-1]
		}
	}
	if v != "" {
		if c, err := strconv.Atoi(v); err == nil {
			return c
		}
		return grpcUnknown
	}
	if rw.status == http.StatusOK {
		return grpcUnknown
	}
	return grpcFromHTTP(rw.status)
}

// grpcStatusText is the grpc-status for the access log, empty for HTTP.
func grpcStatusText(rw *respWriter) string {
	if !rw.grpc {
		return ""
	}
	return strconv.Itoa(grpcStatusSent(rw))
}

func (s *Server) streamInfoHTTP(r *http.Request, ls *listenerSnap, rt *routeSnap, reqID, peer string) wasm.StreamInfo {
	info := wasm.StreamInfo{
		RequestID: reqID, Method: r.Method, Path: r.URL.RequestURI(), Scheme: "http", Authority: r.Host,
		Protocol: r.Proto, SourceAddress: r.RemoteAddr, PeerIdentity: peer, RouteName: rt.name, StartTime: time.Now(),
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		info.DestinationAddress = a.String()
	}
	if r.TLS != nil {
		info.Scheme = "https"
	}
	if len(rt.clusters) == 1 {
		info.ClusterName = rt.clusters[0].Name
	}
	return info
}

func (ls *listenerSnap) matchHTTP(r *http.Request) *routeSnap {
	host := r.Host
	vi := ls.hosts.Select([]byte(host))
	if vi < 0 {
		return nil
	}
	path := route.CleanPath(r.URL.Path)
	for _, rt := range ls.vhosts[vi].routes {
		if rt.m.MatchHTTP(r, path) {
			return rt
		}
	}
	return nil
}

// respWriter records what was written, and answers locally in gRPC's way
// when the request is gRPC.
type respWriter struct {
	w       http.ResponseWriter
	grpc    bool
	status  int
	written bool
	bytes   int64
	// replaced is set when a filter answered in place of the upstream;
	// writes of the upstream body are then dropped.
	replaced bool
	// filters, when set, see the response headers before they are sent
	// and may replace the response.
	filters *filterRun
}

func (rw *respWriter) Header() http.Header { return rw.w.Header() }

func (rw *respWriter) WriteHeader(code int) {
	if rw.written {
		return
	}
	if fr := rw.filters; fr != nil {
		rw.filters = nil
		if lr := fr.response(&httpRespHeaders{h: rw.w.Header(), status: &code}); lr != nil {
			rw.localFromFilter(lr)
			rw.replaced = true
			return
		}
	}
	rw.written = true
	rw.status = code
	rw.w.WriteHeader(code)
}

func (rw *respWriter) Write(p []byte) (int, error) {
	if rw.replaced {
		return len(p), nil
	}
	if !rw.written {
		rw.WriteHeader(http.StatusOK)
	}
	n, err := rw.w.Write(p)
	rw.bytes += int64(n)
	return n, err
}

func (rw *respWriter) Flush() {
	if f, ok := rw.w.(http.Flusher); ok {
		f.Flush()
	}
}

// local writes meshd's own answer: plain text for HTTP, a trailers-only
// response carrying grpc-status for gRPC (HTTP 200, as gRPC requires).
func (rw *respWriter) local(status int, body string, grpcCode int) {
	if rw.written {
		return
	}
	h := rw.Header()
	if rw.grpc {
		h.Set("Content-Type", "application/grpc")
		h.Set("Grpc-Status", strconv.Itoa(grpcCode))
		h.Set("Grpc-Message", strings.TrimSpace(body))
		rw.WriteHeader(http.StatusOK)
		rw.status = status
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	rw.WriteHeader(status)
	io.WriteString(rw, body)
}

// localFromFilter sends a filter's local response; for gRPC as a gRPC
// error (its grpc status, or one mapped from the HTTP status).
func (rw *respWriter) localFromFilter(lr *wasm.LocalResponse) {
	for _, h := range lr.Headers {
		rw.Header().Add(h[0], h[1])
	}
	code := int(lr.GrpcStatus)
	if code < 0 {
		code = grpcFromHTTP(lr.Status)
	}
	rw.local(lr.Status, string(lr.Body), code)
}

func (rw *respWriter) overflow(reason string) {
	rw.Header().Set(hdrOverflow, reason)
	rw.local(http.StatusServiceUnavailable, "upstream overflow: circuit breaker "+reason+"\n", grpcUnavailable)
}

// grpcTimeout parses the grpc-timeout header ("100m", "5S", ...).
func grpcTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, false
	}
	return time.Duration(n) * unit, true
}

func (s *Server) forwardHTTP(rw *respWriter, r *http.Request, ls *listenerSnap, rt *routeSnap, start time.Time, grpc bool, reqID, peer string, tt *tryTracer) (*upstream.Host, int) {
	ci := rt.pick()
	cl := rt.clusters[ci]
	if tt != nil {
		tt.cluster = cl.Name
	}
	if src := rt.tokens[ci]; src != nil {
		tok, err := egressToken(src, cl.Name)
		if err != nil {
			rw.local(http.StatusServiceUnavailable, "upstream token unavailable: "+err.Error()+"\n", grpcUnavailable)
			s.tokenDenied(auditEventHTTP(r, ls, rt, reqID, peer), err)
			return nil, 0
		}
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	if ok, reason := cl.Admit(); !ok {
		rw.overflow(reason)
		return nil, 0
	}
	defer cl.Done()
	var deadline time.Time
	if rt.timeout > 0 {
		deadline = start.Add(rt.timeout)
	}
	if grpc {
		// grpc-timeout is honoured, capped by the route's timeout.
		if d, ok := grpcTimeout(r.Header.Get("Grpc-Timeout")); ok {
			if gd := start.Add(d); deadline.IsZero() || gd.Before(deadline) {
				deadline = gd
			}
		}
	}
	ctx := r.Context()
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
		if grpc {
			r.Header.Set("Grpc-Timeout", strconv.FormatInt(max(time.Until(deadline).Milliseconds(), 1), 10)+"m")
		}
	}
	prepareHTTP(r, rt, peer)
	body := newReplayBody(r.Body, r.ContentLength)
	c := &httpCall{ctx: ctx, r: r, cl: cl, body: body, deadline: deadline, tt: tt}
	defer c.close()
	res := s.call(rt, cl, c, hashHTTP(r, cl), deadline)
	switch {
	case res.refused == refusedNoHost:
		rw.local(http.StatusServiceUnavailable, "no healthy upstream\n", grpcUnavailable)
	case res.refused != "":
		rw.overflow(res.refused)
	case res.err != nil:
		if r.Context().Err() != nil {
			rw.status = 499 // the client went away
			return res.host, res.attempts
		}
		status, msg := localError(res.err)
		rw.local(status, msg, grpcFromHTTP(status))
	default:
		c.copyResponse(rw, rt)
	}
	return res.host, res.attempts
}

// prepareHTTP turns the downstream request into the upstream one.
func prepareHTTP(r *http.Request, rt *routeSnap, peer string) {
	for _, h := range hopByHop {
		r.Header.Del(h)
	}
	if te := r.Header.Get("Te"); te != "" && te != "trailers" {
		r.Header.Del("Te")
	}
	if rt.hasRewrite {
		r.URL.Path = string(rt.m.Rewrite(nil, []byte(r.URL.Path), rt.prefixRewrite))
		r.URL.RawPath = ""
	}
	if rt.hostRewrite != nil {
		r.Host = string(rt.hostRewrite)
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := r.Header.Get("X-Forwarded-For"); prior != "" {
			ip = prior + ", " + ip
		}
		r.Header.Set("X-Forwarded-For", ip)
	}
	if r.TLS != nil {
		r.Header.Set("X-Forwarded-Proto", "https")
	} else {
		r.Header.Set("X-Forwarded-Proto", "http")
	}
	// The peer's identity is meshd's to state; a client cannot claim one.
	r.Header.Del("X-Forwarded-Client-Cert")
	if peer != "" {
		r.Header.Set("X-Forwarded-Client-Cert", "URI="+peer)
	}
	for _, h := range rt.reqRemove {
		r.Header.Del(string(h))
	}
	for _, h := range rt.reqAdd {
		r.Header.Set(string(h.key), string(h.val))
	}
}

func hashHTTP(r *http.Request, c *upstream.Cluster) uint64 {
	hk := c.Def.Hash
	if hk == nil {
		return 0
	}
	switch {
	case hk.Header != "":
		return lbHash(r.Header.Get(hk.Header))
	case hk.Cookie != "":
		if ck, err := r.Cookie(hk.Cookie); err == nil {
			return lbHash(ck.Value)
		}
		return lbHash("")
	default:
		ip, _, _ := net.SplitHostPort(r.RemoteAddr)
		return lbHash(ip)
	}
}

// replayBody streams a request body upstream while keeping the first
// maxReplay bytes, so that a request whose whole body fit (every unary
// gRPC call, most API calls) can be sent again on retry.
type replayBody struct {
	mu       sync.Mutex
	src      io.ReadCloser
	buf      bytes.Buffer
	eof      bool
	overflow bool
}

const maxReplay = 64 << 10

func newReplayBody(src io.ReadCloser, n int64) *replayBody {
	if src == nil || src == http.NoBody || n == 0 {
		return &replayBody{eof: true}
	}
	return &replayBody{src: src}
}

func (b *replayBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.eof {
		return 0, io.EOF
	}
	n, err := b.src.Read(p)
	if n > 0 && !b.overflow {
		if b.buf.Len()+n > maxReplay {
			b.overflow = true
			b.buf = bytes.Buffer{}
		} else {
			b.buf.Write(p[:n])
		}
	}
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// replayable reports whether the whole body is held.
func (b *replayBody) replayable() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eof && !b.overflow
}

// fresh returns a reader for a try: the live body for the first, the held
// copy after.
func (b *replayBody) fresh(first bool) io.ReadCloser {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.src == nil {
		return http.NoBody
	}
	if first {
		return io.NopCloser(b)
	}
	return io.NopCloser(bytes.NewReader(b.buf.Bytes()))
}

// httpCall sends an HTTP/2 downstream request (or a bridged HTTP/1.1 one)
// through the cluster's net/http transport.
type httpCall struct {
	ctx      context.Context
	r        *http.Request
	cl       *upstream.Cluster
	body     *replayBody
	deadline time.Time
	resp     *http.Response
	cancel   context.CancelFunc
	started  bool
	tt       *tryTracer
}

func (c *httpCall) close() {
	if c.resp != nil {
		c.resp.Body.Close()
		c.resp = nil
	}
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
}

func (c *httpCall) send(h *upstream.Host, deadline time.Time, perTry time.Duration, attempt int) (int, int, error) {
	c.close()
	ctx, cancel := context.WithCancel(c.ctx)
	c.cancel = cancel
	scheme := "http"
	if c.cl.TLS != nil {
		scheme = "https"
	}
	u := *c.r.URL
	u.Scheme, u.Host = scheme, h.Addr
	out := &http.Request{
		Method: c.r.Method, URL: &u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: c.r.Header, Host: c.r.Host, Trailer: c.r.Trailer,
		Body: c.body.fresh(!c.started), ContentLength: c.r.ContentLength,
	}
	if out.Body == http.NoBody {
		out.ContentLength = 0
	}
	c.started = true
	if attempt > 1 {
		out.Header.Set(hdrAttempts, strconv.Itoa(attempt))
	}
	out = out.WithContext(ctx)
	// A per-try timeout bounds the wait for the response headers; once
	// they came, the stream lives until the route's deadline.
	var timer *time.Timer
	if perTry > 0 {
		timer = time.AfterFunc(perTry, cancel)
	}
	span := c.tt.start(h.Addr, attempt, propagation.HeaderCarrier(out.Header))
	resp, err := c.cl.RT.RoundTrip(out)
	if err != nil {
		c.tt.end(span, 0, err)
	} else {
		c.tt.end(span, resp.StatusCode, nil)
	}
	if timer != nil && !timer.Stop() {
		if err == nil {
			resp.Body.Close()
		}
		return 0, -1, errPerTryTimeout
	}
	if err != nil {
		if c.ctx.Err() == context.DeadlineExceeded {
			return 0, -1, errTotalTimeout
		}
		return 0, -1, err
	}
	c.resp = resp
	g := -1
	if v := resp.Header.Get("Grpc-Status"); v != "" {
		g, _ = strconv.Atoi(v)
	}
	return resp.StatusCode, g, nil
}

func (c *httpCall) canResend(connectFail bool) bool {
	return connectFail || c.body.replayable()
}

// copyResponse streams the upstream response down: headers, then body
// chunks flushed as they come, then trailers.
func (c *httpCall) copyResponse(rw *respWriter, rt *routeSnap) {
	resp := c.resp
	h := rw.Header()
	for k, vs := range resp.Header {
		h[k] = vs
	}
	for _, k := range hopByHop {
		h.Del(k)
	}
	for _, x := range rt.respRemove {
		h.Del(string(x))
	}
	for _, x := range rt.respAdd {
		h.Set(string(x.key), string(x.val))
	}
	rw.WriteHeader(resp.StatusCode)
	if rw.replaced {
		return // a filter answered instead; close() drops the upstream stream
	}
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	for {
		n, err := resp.Body.Read(*buf)
		if n > 0 {
			if _, werr := rw.Write((*buf)[:n]); werr != nil {
				return // the client went away; close() cancels upstream
			}
			rw.Flush()
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				// A stream reset mid-body: tell a gRPC client in trailers.
				if rw.grpc {
					h.Set(http.TrailerPrefix+"Grpc-Status", strconv.Itoa(grpcUnavailable))
					h.Set(http.TrailerPrefix+"Grpc-Message", "upstream reset: "+err.Error())
				}
				return
			}
			break
		}
	}
	for k, vs := range resp.Trailer {
		for _, v := range vs {
			h.Add(http.TrailerPrefix+k, v)
		}
	}
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (s *Server) redirectHTTP(rw *respWriter, r *http.Request, rt *routeSnap) {
	rd := rt.redirect
	u := *r.URL
	u.Host = r.Host
	u.Scheme = "http"
	if r.TLS != nil {
		u.Scheme = "https"
	}
	if rd.Scheme != "" {
		u.Scheme = rd.Scheme
	}
	if rd.Host != "" {
		u.Host = rd.Host
	}
	switch {
	case rd.Path != "":
		u.Path = rd.Path
	case rd.PrefixRewrite != "":
		u.Path = string(rt.m.Rewrite(nil, []byte(r.URL.Path), rd.PrefixRewrite))
	}
	u.RawPath = ""
	rw.Header().Set("Location", (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawQuery: u.RawQuery}).String())
	rw.WriteHeader(rd.Status)
}

func (s *Server) logAccessHTTP(ls *listenerSnap, rt *routeSnap, r *http.Request, rw *respWriter, start time.Time, reqID, peer string, h *upstream.Host, attempts int) {
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
		slog.String("request_id", reqID),
		slog.String("listener", ls.name),
		slog.String("route", routeName),
		slog.String("protocol", r.Proto),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", rw.status),
		slog.String("grpc_status", grpcStatusText(rw)),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		slog.String("upstream", upstreamAddr),
		slog.Int("attempts", attempts),
		slog.String("remote", r.RemoteAddr),
		slog.String("peer", peer),
		slog.String("trace_id", traceIDOf(r.Header.Get("Traceparent"))),
		slog.String("span_id", spanIDOf(r.Header.Get("Traceparent"))),
		slog.String("correlation_id", r.Header.Get("X-Correlation-Id")),
	)
}

// bridgeCall sends an HTTP/1.1 downstream request to an HTTP/2 cluster.
type bridgeCall struct {
	ctx  *fasthttp.RequestCtx
	cl   *upstream.Cluster
	hc   *httpCall
	body []byte
}

func (b *bridgeCall) send(h *upstream.Host, deadline time.Time, perTry time.Duration, attempt int) (int, int, error) {
	if b.hc == nil {
		req := &b.ctx.Request
		u, err := url.ParseRequestURI(string(req.RequestURI()))
		if err != nil {
			return 0, -1, err
		}
		r := &http.Request{Method: string(req.Header.Method()), URL: u, Header: http.Header{}, Host: string(req.Host())}
		req.Header.VisitAll(func(k, v []byte) {
			r.Header.Add(string(k), string(v))
		})
		r.Header.Del("Host")
		for _, hh := range hopByHop {
			r.Header.Del(hh)
		}
		var body io.ReadCloser = http.NoBody
		if req.IsBodyStream() {
			body = io.NopCloser(req.BodyStream())
			r.ContentLength = int64(req.Header.ContentLength())
		} else if len(req.Body()) > 0 {
			body = io.NopCloser(bytes.NewReader(req.Body()))
			r.ContentLength = int64(len(req.Body()))
		}
		ctx := context.Background()
		var cancel context.CancelFunc = func() {}
		if !deadline.IsZero() {
			ctx, cancel = context.WithDeadline(ctx, deadline)
		}
		b.hc = &httpCall{ctx: ctx, r: r, cl: b.cl, body: newReplayBody(body, r.ContentLength), deadline: deadline}
		b.ctx.SetUserValue("meshd.bridge.cancel", cancel)
	}
	status, g, err := b.hc.send(h, deadline, perTry, attempt)
	if err != nil {
		return status, g, err
	}
	resp := b.hc.resp
	b.ctx.Response.Reset()
	b.ctx.Response.SetStatusCode(resp.StatusCode)
	for k, vs := range resp.Header {
		for _, v := range vs {
			b.ctx.Response.Header.Add(k, v)
		}
	}
	for _, hh := range hopByHop {
		b.ctx.Response.Header.Del(hh)
	}
	// The body streams down; closing the stream ends the upstream call.
	b.ctx.Response.SetBodyStream(&closeFunc{ReadCloser: resp.Body, done: b.finish}, int(resp.ContentLength))
	b.hc.resp = nil
	return status, g, nil
}

func (b *bridgeCall) finish() {
	if b.hc != nil {
		b.hc.close()
	}
	if c, ok := b.ctx.UserValue("meshd.bridge.cancel").(context.CancelFunc); ok {
		c()
	}
}

func (b *bridgeCall) canResend(connectFail bool) bool {
	return b.hc == nil || b.hc.canResend(connectFail)
}

type closeFunc struct {
	io.ReadCloser
	done func()
	once sync.Once
}

func (c *closeFunc) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(c.done)
	return err
}
