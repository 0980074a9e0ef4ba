package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/wasmesh/wasmesh/client/internal/backoff"
	"github.com/wasmesh/wasmesh/client/internal/breaker"
	"github.com/wasmesh/wasmesh/dataplane/lb"
)

// Transport is the SDK's http.RoundTripper. The URL host names a service
// (http://orders/v1/items → "orders"); each request is sent to one of its
// endpoints. Make it with NewTransport and Close it when done.
type Transport struct {
	cfg    config
	res    Resolver
	base   *http.Transport
	budget *backoff.Budget
	bo     backoff.Policy
	tracer trace.Tracer

	ctx    context.Context // ends the watches
	cancel context.CancelFunc

	mu       sync.Mutex
	services map[string]*service
}

// NewTransport makes a Transport over res.
func NewTransport(res Resolver, opts ...Option) (*Transport, error) {
	if res == nil {
		return nil, errors.New("client: NewTransport: nil resolver")
	}
	c := config{policy: "round_robin", connectTimeout: 5 * time.Second, corrHeader: DefaultCorrelationHeader}
	for _, o := range opts {
		o(&c)
	}
	if _, err := lb.New(c.policy, nil); err != nil {
		return nil, fmt.Errorf("client: NewTransport: %w (have %v)", err, lb.Names())
	}
	r := &c.retry
	if r.MaxAttempts == 0 {
		r.MaxAttempts = 3
	}
	if r.BaseDelay == 0 {
		r.BaseDelay = 25 * time.Millisecond
	}
	if r.MaxDelay == 0 {
		r.MaxDelay = time.Second
	}
	if r.RetryOnStatus == nil {
		r.RetryOnStatus = []int{502, 503, 504}
	}
	if r.BudgetRatio == 0 {
		r.BudgetRatio = 0.2
	}
	if r.BudgetMinPerSecond == 0 {
		r.BudgetMinPerSecond = 10
	}
	if r.MaxAttempts < 1 || r.BaseDelay < 0 || r.MaxDelay < r.BaseDelay || r.BudgetRatio < 0 {
		return nil, fmt.Errorf("client: NewTransport: invalid retry policy %+v", *r)
	}
	if c.propagator == nil {
		c.propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	var base *http.Transport
	if c.base != nil {
		base = c.base.Clone()
	} else {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	d := &net.Dialer{Timeout: c.connectTimeout, KeepAlive: 30 * time.Second}
	base.DialContext = d.DialContext
	base.Proxy = nil // endpoints are direct addresses
	if c.readTimeout > 0 {
		base.ResponseHeaderTimeout = c.readTimeout
	}
	if c.tls != nil {
		base.TLSClientConfig = c.tls.Clone()
		base.TLSHandshakeTimeout = c.connectTimeout
	}
	t := &Transport{
		cfg:      c,
		res:      res,
		base:     base,
		budget:   backoff.NewBudget(r.BudgetRatio, r.BudgetMinPerSecond, nil),
		bo:       backoff.Policy{Base: r.BaseDelay, Max: r.MaxDelay},
		services: map[string]*service{},
	}
	if c.tracer != nil {
		t.tracer = c.tracer.Tracer("github.com/wasmesh/wasmesh/client")
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t, nil
}

// Close stops watching endpoints and closes idle connections.
func (t *Transport) Close() error {
	t.cancel()
	t.base.CloseIdleConnections()
	return nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// pooled connections.
func (t *Transport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// RequestError is what a failed RoundTrip returns (wrapped by http.Client
// in a *url.Error). errors.Is matches both the cause and the SDK kind
// (ErrDeadlineExceeded, ErrUnavailable, ErrCanceled, ErrCircuitOpen ...).
type RequestError struct {
	Service  string
	Endpoint string // the last endpoint tried, if any
	Attempts int
	Err      error
	kind     error
}

// Error names the service, the endpoint and the number of tries.
func (e *RequestError) Error() string {
	s := "client: " + e.Service
	if e.Endpoint != "" {
		s += " (" + e.Endpoint + ")"
	}
	if e.Attempts > 1 {
		s += " after " + strconv.Itoa(e.Attempts) + " attempts"
	}
	return s + ": " + e.Err.Error()
}

// Unwrap exposes the cause and the kind to errors.Is and errors.As.
func (e *RequestError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.kind}
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	name := req.URL.Hostname()
	svc, err := t.service(req.Context(), name)
	if err != nil {
		if errors.Is(err, ErrUnknownService) && t.cfg.fallback != nil {
			return t.cfg.fallback.RoundTrip(req)
		}
		closeBody(req)
		return nil, &RequestError{Service: name, Err: err, kind: kindOf(err)}
	}
	start := time.Now()
	ctx := req.Context()
	cancel := context.CancelFunc(func() {})
	if t.cfg.totalTimeout > 0 {
		ctx, cancel = context.WithTimeoutCause(ctx, t.cfg.totalTimeout,
			fmt.Errorf("%w: total timeout %v (%w)", ErrDeadlineExceeded, t.cfg.totalTimeout, context.DeadlineExceeded))
	}
	var span trace.Span
	if t.tracer != nil {
		ctx, span = t.tracer.Start(ctx, "HTTP "+req.Method, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("http.request.method", req.Method),
				attribute.String("server.address", name), attribute.String("url.path", req.URL.Path)))
	}
	out := req.Clone(ctx)
	if out.Host == "" {
		out.Host = req.URL.Host
	}
	t.decorate(ctx, out)

	resp, ep, attempts, err := t.send(ctx, svc, req, out)
	if sm := svc.metrics; sm != nil {
		status := 0
		if err == nil {
			status = resp.StatusCode
		}
		sm.observe(status, time.Since(start).Seconds(), err)
	}
	if span != nil {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		} else {
			span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
			if resp.StatusCode >= 500 {
				span.SetStatus(codes.Error, resp.Status)
			}
		}
	}
	if err != nil {
		if span != nil {
			span.End()
		}
		cancel()
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil && req.Context().Err() == nil {
			err = cause // our total timeout, not the caller's context
		}
		return nil, &RequestError{Service: name, Endpoint: ep.addrOrEmpty(), Attempts: attempts, Err: err, kind: kindOf(err)}
	}
	resp.Body = &body{ReadCloser: resp.Body, done: func() {
		if span != nil {
			span.End()
		}
		ep.active.Add(-1)
		cancel()
	}}
	return resp, nil
}

// decorate adds correlation id, trace context and token headers.
func (t *Transport) decorate(ctx context.Context, out *http.Request) {
	h := t.cfg.corrHeader
	if id := CorrelationID(ctx); id != "" {
		out.Header.Set(h, id)
	} else if out.Header.Get(h) == "" {
		out.Header.Set(h, uuid.NewString())
	}
	t.cfg.propagator.Inject(ctx, propagation.HeaderCarrier(out.Header))
}

// send runs the tries. On success the returned host still counts the
// request as active; the body's close releases it.
func (t *Transport) send(ctx context.Context, svc *service, orig, out *http.Request) (*http.Response, *host, int, error) {
	if t.cfg.tokens != nil && out.Header.Get("Authorization") == "" {
		tok, err := t.cfg.tokens.Token(ctx)
		if err != nil {
			closeBody(orig)
			return nil, nil, 0, fmt.Errorf("token source: %w", err)
		}
		out.Header.Set("Authorization", "Bearer "+tok)
	}
	var hash uint64
	if t.cfg.hashKey != nil {
		hash = lb.Hash64(t.cfg.hashKey(orig))
	}
	rp := &t.cfg.retry
	canRetry := rp.MaxAttempts > 1 && replayable(orig) &&
		(idempotent(orig) || rp.NonIdempotent || retryAllowed(ctx))
	t.budget.Request()
	var last *host
	for attempt := 0; ; attempt++ {
		try := out
		if attempt > 0 {
			try = out.Clone(ctx)
			if orig.GetBody != nil && orig.Body != nil && orig.Body != http.NoBody {
				b, err := orig.GetBody()
				if err != nil {
					return nil, last, attempt, fmt.Errorf("replaying body: %w", err)
				}
				try.Body = b
			}
		}
		h, err := svc.pick(hash)
		if err != nil {
			if attempt == 0 {
				closeBody(orig)
			}
			return nil, last, attempt, err
		}
		last = h
		try.URL.Host = h.addr
		h.active.Add(1)
		resp, err := t.base.RoundTrip(try)
		ok := err == nil && resp.StatusCode < 500
		h.br.Done(ok)
		retryable := (err != nil && retryableErr(ctx, err)) ||
			(err == nil && slices.Contains(rp.RetryOnStatus, resp.StatusCode))
		if !retryable || !canRetry || attempt+1 >= rp.MaxAttempts || !t.budget.Withdraw() {
			if err != nil {
				h.active.Add(-1)
			}
			return resp, h, attempt + 1, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		h.active.Add(-1)
		if sm := svc.metrics; sm != nil {
			sm.retries.Inc()
		}
		timer := time.NewTimer(t.bo.Delay(attempt))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, h, attempt + 1, ctx.Err()
		case <-timer.C:
		}
	}
}

func (h *host) addrOrEmpty() string {
	if h == nil {
		return ""
	}
	return h.addr
}

// idempotent follows RFC 9110 §9.2.2, plus an Idempotency-Key header, as
// net/http does.
func idempotent(r *http.Request) bool {
	switch r.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	_, k1 := r.Header["Idempotency-Key"]
	_, k2 := r.Header["X-Idempotency-Key"]
	return k1 || k2
}

func replayable(r *http.Request) bool {
	return r.Body == nil || r.Body == http.NoBody || r.GetBody != nil
}

// retryableErr: connection failures and per-try timeouts (connect, read)
// are worth another try on another endpoint; the caller's cancellation and
// the total timeout are not. net/http's per-try timeout errors match
// context.DeadlineExceeded too, so the request's context tells them apart.
func retryableErr(ctx context.Context, _ error) bool {
	return ctx.Err() == nil
}

func kindOf(err error) error {
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrNotFound), errors.Is(err, ErrDeadlineExceeded):
		return nil // already a kind
	case errors.Is(err, context.Canceled):
		return ErrCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return ErrDeadlineExceeded
	case errors.As(err, &ne) && ne.Timeout():
		return ErrDeadlineExceeded
	case errors.As(err, &oe):
		return ErrUnavailable
	}
	return ErrUnavailable
}

func errorKind(err error) string {
	var oe *net.OpError
	switch {
	case err == nil:
		return "status_5xx"
	case errors.Is(err, ErrCircuitOpen):
		return "circuit_open"
	case errors.Is(err, ErrNoEndpoints):
		return "no_endpoints"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case kindOf(err) == ErrDeadlineExceeded, errors.Is(err, ErrDeadlineExceeded):
		return "timeout"
	case errors.As(err, &oe) && oe.Op == "dial":
		return "connect"
	}
	return "other"
}

func closeBody(r *http.Request) {
	if r.Body != nil {
		r.Body.Close()
	}
}

// body releases the try's resources once, at EOF, error or Close.
type body struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(b.done)
	}
	return n, err
}

func (b *body) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// service is one logical service: its endpoints, each with its breaker.
type service struct {
	name    string
	t       *Transport
	metrics *svcMetrics // nil without WithMetrics
	set     atomic.Pointer[endpointSet]
	mu      sync.Mutex // serializes updates
}

type endpointSet struct {
	hosts  []*host
	picker lb.Picker
}

// host implements lb.Host; it outlives endpoint updates that keep its
// address, so breaker state and in-flight counts survive them.
type host struct {
	addr   string
	weight atomic.Int64
	active atomic.Int64
	br     *breaker.Breaker
}

func (h *host) Weight() int           { return int(h.weight.Load()) }
func (h *host) Available() bool       { return h.br.Available() }
func (h *host) ActiveRequests() int64 { return h.active.Load() }

func (t *Transport) service(ctx context.Context, name string) (*service, error) {
	t.mu.Lock()
	s := t.services[name]
	t.mu.Unlock()
	if s != nil {
		return s, nil
	}
	if name == "" {
		return nil, fmt.Errorf("%w: empty host", ErrUnknownService)
	}
	eps, err := t.res.Resolve(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("resolve: %w", err)
	}
	s = &service{name: name, t: t}
	if m := t.cfg.metrics; m != nil {
		s.metrics = newSvcMetrics(m, name)
	}
	s.update(eps)
	t.mu.Lock()
	if old := t.services[name]; old != nil {
		t.mu.Unlock()
		return old, nil
	}
	t.services[name] = s
	t.mu.Unlock()
	ch, err := t.res.Watch(t.ctx, name)
	if err != nil {
		t.cfg.logger.Warn("client: cannot watch service; endpoints stay as resolved", "service", name, "err", err)
		return s, nil
	}
	go func() {
		for eps := range ch {
			s.update(eps)
		}
	}()
	return s, nil
}

func (s *service) update(eps []Endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := map[string]*host{}
	cur := s.set.Load()
	if cur != nil && sameEndpoints(cur.hosts, eps) {
		return // keep the picker's state (round-robin position)
	}
	if cur != nil {
		for _, h := range cur.hosts {
			old[h.addr] = h
		}
	}
	hosts := make([]*host, 0, len(eps))
	seen := map[string]bool{}
	for _, ep := range eps {
		if seen[ep.Address] {
			continue
		}
		seen[ep.Address] = true
		h := old[ep.Address]
		if h == nil {
			h = &host{addr: ep.Address}
			addr := ep.Address
			h.br = breaker.New(breaker.Config(s.t.cfg.breaker), nil, func(from, to breaker.State) {
				s.t.cfg.logger.Info("client: circuit breaker", "service", s.name, "endpoint", addr, "from", from, "to", to)
				if m := s.t.cfg.metrics; m != nil {
					m.transitions.WithLabelValues(s.name, to.String()).Inc()
				}
			})
		}
		h.weight.Store(int64(max(ep.Weight, 1)))
		hosts = append(hosts, h)
	}
	lbHosts := make([]lb.Host, len(hosts))
	for i, h := range hosts {
		lbHosts[i] = h
	}
	p, _ := lb.New(s.t.cfg.policy, lbHosts) // the name was checked by NewTransport
	s.set.Store(&endpointSet{hosts: hosts, picker: p})
	s.t.cfg.logger.Debug("client: endpoints updated", "service", s.name, "count", len(hosts))
}

func sameEndpoints(hosts []*host, eps []Endpoint) bool {
	if len(hosts) != len(eps) {
		return false
	}
	for i, h := range hosts {
		if h.addr != eps[i].Address || h.Weight() != max(eps[i].Weight, 1) {
			return false
		}
	}
	return true
}

// pick chooses an endpoint whose breaker admits the request.
func (s *service) pick(hash uint64) (*host, error) {
	set := s.set.Load()
	if len(set.hosts) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNoEndpoints, s.name)
	}
	for range len(set.hosts) + 1 {
		i := set.picker.Pick(hash)
		if i < 0 {
			break
		}
		if h := set.hosts[i]; h.br.Allow() {
			return h, nil
		}
		hash = lb.Hash64(strconv.AppendUint(nil, hash, 16)) // hashing policies: try the next choice
	}
	return nil, fmt.Errorf("%w: %q", ErrCircuitOpen, s.name)
}
