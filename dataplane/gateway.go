package dataplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/cloudevents"
	"github.com/wasmesh/wasmesh/brokers/middleware"
	"github.com/wasmesh/wasmesh/conf"
	"go.opentelemetry.io/otel/trace"
)

// messaging is the gateway's runtime: broker connections kept by name
// across reloads while their settings stay the same, and the running
// subscriptions.
type messaging struct {
	mu      sync.Mutex
	log     *slog.Logger
	metrics *brokers.Metrics
	brokers map[string]*brokerEntry
	subs    map[string]*subEntry
}

type brokerEntry struct {
	key string
	b   brokers.Broker
}

type subEntry struct {
	key    string
	cancel context.CancelFunc
	done   chan struct{}
}

func newMessaging(log *slog.Logger, m *brokers.Metrics) *messaging {
	return &messaging{log: log, metrics: m, brokers: map[string]*brokerEntry{}, subs: map[string]*subEntry{}}
}

func jsonKey(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// prepare opens the brokers of cfg that are new or changed. Nothing in use
// changes: commit does that once the whole reload is known to be good.
func (m *messaging) prepare(ctx context.Context, cfg *conf.Config) (map[string]*brokerEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := map[string]*brokerEntry{}
	var opened []brokers.Broker
	fail := func(err error) (map[string]*brokerEntry, error) {
		for _, b := range opened {
			_ = b.Close(context.Background())
		}
		return nil, err
	}
	for _, bc := range cfg.Brokers {
		k := jsonKey(bc)
		if old, ok := m.brokers[bc.Name]; ok && old.key == k {
			next[bc.Name] = old
			continue
		}
		var opts json.RawMessage
		if len(bc.Options) > 0 {
			opts = json.RawMessage(jsonKey(bc.Options))
		}
		octx, cancel := context.WithTimeout(ctx, 15*time.Second)
		b, err := brokers.Open(octx, brokers.Config{Name: bc.Name, Type: bc.Type, URL: bc.URL, Options: opts}, brokers.Env{Metrics: m.metrics, Logger: m.log})
		cancel()
		if err != nil {
			return fail(fmt.Errorf("broker %s: %w", bc.Name, err))
		}
		opened = append(opened, b)
		next[bc.Name] = &brokerEntry{key: k, b: b}
	}
	return next, nil
}

// commit makes next the broker set, restarts the subscriptions whose
// definition (or broker) changed, and closes brokers no longer used.
func (m *messaging) commit(s *Server, cfg *conf.Config, next map[string]*brokerEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	want := map[string]conf.Subscription{}
	for _, sub := range cfg.Subscriptions {
		want[sub.Name] = sub
	}
	for name, e := range m.subs {
		sub, ok := want[name]
		if !ok || e.key != jsonKey(sub)+next[sub.Broker].key || m.brokers[sub.Broker] != next[sub.Broker] {
			e.cancel()
			<-e.done
			delete(m.subs, name)
		}
	}
	for name, old := range m.brokers {
		if next[name] != old {
			go func(b brokers.Broker) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = b.Close(ctx)
			}(old.b)
		}
	}
	m.brokers = next
	for name, sub := range want {
		if _, running := m.subs[name]; running {
			continue
		}
		ctx, cancel := context.WithCancel(s.ctx)
		e := &subEntry{key: jsonKey(sub) + next[sub.Broker].key, cancel: cancel, done: make(chan struct{})}
		m.subs[name] = e
		go func() {
			defer close(e.done)
			m.run(ctx, s, sub, next[sub.Broker].b)
		}()
	}
}

func (m *messaging) get(name string) (brokers.Broker, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.brokers[name]
	if !ok {
		return nil, false
	}
	return e.b, true
}

// health reports each broker's state for /ready.
func (m *messaging) health(ctx context.Context) map[string]error {
	m.mu.Lock()
	bs := make(map[string]brokers.Broker, len(m.brokers))
	for n, e := range m.brokers {
		bs[n] = e.b
	}
	m.mu.Unlock()
	out := map[string]error{}
	for n, b := range bs {
		out[n] = b.Health(ctx)
	}
	return out
}

func (m *messaging) close() {
	m.mu.Lock()
	subs, bs := m.subs, m.brokers
	m.subs, m.brokers = map[string]*subEntry{}, map[string]*brokerEntry{}
	m.mu.Unlock()
	for _, e := range subs {
		e.cancel()
		<-e.done
	}
	for _, e := range bs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = e.b.Close(ctx)
		cancel()
	}
}

// run consumes one subscription until ctx ends, delivering each message to
// the app as a POST through meshd's own listener, so the listener's routes
// and filters apply. A 2xx acks; a 4xx other than 408 and 429 is a
// permanent refusal, dead-lettered at once; anything else is retried with
// backoff, then dead-lettered.
func (m *messaging) run(ctx context.Context, s *Server, sub conf.Subscription, b brokers.Broker) {
	client := &fasthttp.Client{NoDefaultUserAgentHeader: true, MaxConnsPerHost: max(sub.Concurrency, 1) * 2}
	deliver := func(ctx context.Context, d *brokers.Delivery) error {
		addr := s.Addr(sub.Deliver.Listener)
		if addr == "" {
			return fmt.Errorf("listener %s is not running", sub.Deliver.Listener)
		}
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		hdrs, body := cloudevents.EncodeBinary(d.Message)
		req.SetRequestURI("http://" + addr + sub.Deliver.Path)
		req.Header.SetMethod(http.MethodPost)
		for k, v := range hdrs {
			req.Header.Set(k, v)
		}
		// With tracing on, the delivery's own span is the parent of the
		// request to the app.
		propagator.Inject(ctx, fastCarrier{&req.Header})
		req.Header.Set("X-Meshd-Subscription", sub.Name)
		req.Header.Set("X-Meshd-Delivery-Attempt", strconv.Itoa(d.Attempt))
		req.SetBodyRaw(body)
		deadline, ok := ctx.Deadline()
		if !ok {
			deadline = time.Now().Add(sub.Timeout.D())
		}
		if err := client.DoDeadline(req, resp, deadline); err != nil {
			return fmt.Errorf("deliver to %s: %w", sub.Deliver.Path, err)
		}
		code := resp.StatusCode()
		switch {
		case code >= 200 && code < 300:
			return nil
		case code >= 400 && code < 500 && code != 408 && code != 429:
			return brokers.Permanent(fmt.Errorf("app refused the message: %d %s", code, strings.TrimSpace(string(resp.Body()))))
		}
		return fmt.Errorf("app answered %d", code)
	}
	tracer := s.trace.live()
	h := brokers.Chain(
		middleware.Recover(m.log),
		middleware.CorrelationID(),
		middleware.Trace(tracer),
		// The dead-letter publish is a producer span under the delivery's.
		middleware.DeadLetter(middleware.TracePublisher(b, tracer), sub.DeadLetterTopic, middleware.DeadLetterOptions{MaxAttempts: sub.MaxAttempts}),
		middleware.Retry(middleware.RetryOptions{MaxAttempts: sub.MaxAttempts, Base: sub.Backoff.Base.D(), Max: sub.Backoff.Max.D()}),
		middleware.Timeout(sub.Timeout.D()),
	)(deliver)
	opts := brokers.SubscribeOptions{Group: sub.Group, Consumer: sub.Name}
	if sub.Start == "latest" {
		opts.Start = brokers.StartLatest
	}
	conc := sub.Concurrency
	if sub.Ordered {
		conc = 1
	}
	for ctx.Err() == nil {
		err := brokers.Serve(ctx, b, sub.Topic, opts, h, brokers.ServeOptions{Concurrency: conc, Logger: m.log})
		if ctx.Err() != nil {
			return
		}
		m.log.Warn("subscription stopped; restarting", "subscription", sub.Name, "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// publish is the gateway's POST: decode the CloudEvent(s), publish, and
// say how it went as an HTTP status. 204 only once the broker confirmed.
// With tracing on (tracer not nil) the publish is a producer span, child
// of the span in ctx, whose trace context the messages carry to their
// consumers (middleware.TracePublisher, the one place that writes it).
func (m *messaging) publish(ctx context.Context, tracer trace.Tracer, method, broker, topic string, header func(string) string, body []byte) (int, string) {
	if method != http.MethodPost {
		return http.StatusMethodNotAllowed, "publish with POST\n"
	}
	b, ok := m.get(broker)
	if !ok {
		return http.StatusNotFound, fmt.Sprintf("no broker %q\n", broker)
	}
	if err := brokers.ValidateTopic(topic); err != nil {
		return http.StatusBadRequest, err.Error() + "\n"
	}
	msgs, _, err := cloudevents.Decode(cloudevents.Header(header), body)
	if err != nil {
		return http.StatusBadRequest, err.Error() + "\n"
	}
	var pub brokers.Publisher = b
	if tracer != nil {
		pub = middleware.TracePublisher(b, tracer)
	}
	if err := pub.Publish(ctx, topic, msgs...); err != nil {
		switch {
		case errors.Is(err, brokers.ErrBadInput):
			return http.StatusBadRequest, err.Error() + "\n"
		case errors.Is(err, brokers.ErrUnroutable):
			return http.StatusUnprocessableEntity, err.Error() + "\n"
		case errors.Is(err, context.DeadlineExceeded):
			return http.StatusGatewayTimeout, "broker did not confirm in time: " + err.Error() + "\n"
		}
		return http.StatusServiceUnavailable, "broker unavailable: " + err.Error() + "\n"
	}
	return http.StatusNoContent, ""
}

// publishTarget names the broker and topic of a publish request: from the
// route's config, else from the path after the matched prefix.
func publishTarget(rt *routeSnap, path string) (string, string, bool) {
	p := rt.cfg.Publish
	if p.Broker != "" && p.Topic != "" {
		return p.Broker, p.Topic, true
	}
	rest := strings.TrimPrefix(path, rt.cfg.Match.Prefix)
	rest = strings.Trim(rest, "/")
	parts := strings.SplitN(rest, "/", 2)
	switch {
	case p.Broker != "" && rest != "":
		return p.Broker, rest, true
	case p.Broker == "" && len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return parts[0], parts[1], true
	}
	return "", "", false
}

// publishFast serves a publish route on the HTTP/1 path. tt, nil without
// tracing, carries the request's server span, the parent of the publish.
func (s *Server) publishFast(ctx *fasthttp.RequestCtx, rt *routeSnap, tt *tryTracer) {
	broker, topic, ok := publishTarget(rt, string(ctx.Path()))
	if !ok {
		localReply(ctx, http.StatusNotFound, "publish to PREFIX/{broker}/{topic}\n")
		return
	}
	if ctx.Request.Header.ContentLength() > maxPublishBody {
		localReply(ctx, http.StatusRequestEntityTooLarge, "message too large\n")
		return
	}
	// Not the RequestCtx: fasthttp reuses it once the handler returns.
	base, tracer := context.Background(), trace.Tracer(nil)
	if tt != nil {
		base, tracer = tt.parent, tt.tr
	}
	pctx, cancel := context.WithTimeout(base, rt.timeout)
	defer cancel()
	status, msg := s.msg.publish(pctx, tracer, string(ctx.Method()), broker, topic, func(name string) string {
		return string(ctx.Request.Header.Peek(name))
	}, ctx.Request.Body())
	if status == http.StatusNoContent {
		ctx.Response.SetStatusCode(status)
		return
	}
	localReply(ctx, status, msg)
}

const maxPublishBody = 8 << 20

// publishHTTP serves a publish route on the HTTP/2 path; tt as for
// publishFast.
func (s *Server) publishHTTP(rw *respWriter, r *http.Request, rt *routeSnap, tt *tryTracer) {
	broker, topic, ok := publishTarget(rt, r.URL.Path)
	if !ok {
		rw.local(http.StatusNotFound, "publish to PREFIX/{broker}/{topic}\n", grpcUnimplemented)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPublishBody+1))
	if err != nil {
		rw.local(http.StatusBadRequest, "read body: "+err.Error()+"\n", grpcInternal)
		return
	}
	if len(body) > maxPublishBody {
		rw.local(http.StatusRequestEntityTooLarge, "message too large\n", grpcResourceExhausted)
		return
	}
	ctx, tracer := r.Context(), trace.Tracer(nil)
	if tt != nil {
		ctx, tracer = trace.ContextWithSpan(ctx, trace.SpanFromContext(tt.parent)), tt.tr
	}
	ctx, cancel := context.WithTimeout(ctx, rt.timeout)
	defer cancel()
	status, msg := s.msg.publish(ctx, tracer, r.Method, broker, topic, r.Header.Get, body)
	if status == http.StatusNoContent {
		rw.WriteHeader(status)
		return
	}
	rw.local(status, msg, grpcFromHTTP(status))
}

// Broker returns a broker of the config in force by name, for programs
// that embed the data plane and want to publish or inspect directly.
func (s *Server) Broker(name string) (brokers.Broker, bool) { return s.msg.get(name) }

// adminPublish is meshctl pub: the same publish as the gateway's, from the
// admin API (broker and topic as query parameters).
func (s *Server) adminPublish(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPublishBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	status, msg := s.msg.publish(r.Context(), s.trace.get(), http.MethodPost, q.Get("broker"), q.Get("topic"), r.Header.Get, body)
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	http.Error(w, strings.TrimSpace(msg), status)
}

// TailMessage is one line of /messaging/tail.
type TailMessage struct {
	ID      string            `json:"id"`
	Key     string            `json:"key,omitempty"`
	Type    string            `json:"type,omitempty"`
	Source  string            `json:"source,omitempty"`
	Time    time.Time         `json:"time"`
	Attempt int               `json:"attempt"`
	Headers map[string]string `json:"headers,omitempty"`
	Payload string            `json:"payload"`
}

// adminTail is meshctl sub: it consumes topic in its own group (a queue
// for RabbitMQ, where it competes with other consumers) and streams each
// message as a JSON line, acking it, until the client goes away.
func (s *Server) adminTail(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	b, ok := s.msg.get(q.Get("broker"))
	if !ok {
		http.Error(w, fmt.Sprintf("no broker %q", q.Get("broker")), http.StatusNotFound)
		return
	}
	group := q.Get("group")
	opts := brokers.SubscribeOptions{Group: group, Start: brokers.StartLatest}
	if group == "" {
		opts.Group = "meshctl-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if q.Get("from") == "earliest" {
		opts.Start = brokers.StartEarliest
	}
	ch, err := b.Subscribe(r.Context(), q.Get("topic"), opts)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	flush()
	enc := json.NewEncoder(w)
	for d := range ch {
		m := d.Message
		_ = enc.Encode(TailMessage{ID: m.ID, Key: m.Key, Type: m.Type, Source: m.Source, Time: m.Time, Attempt: d.Attempt, Headers: m.Headers, Payload: string(m.Payload)})
		flush()
		_ = d.Ack(r.Context())
	}
}
