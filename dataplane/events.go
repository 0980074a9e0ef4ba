package dataplane

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"github.com/wasmesh/wasmesh/eventlog"
	evconfig "github.com/wasmesh/wasmesh/eventlog/config"
	"github.com/wasmesh/wasmesh/eventlog/filelog"
	"github.com/wasmesh/wasmesh/eventlog/instrument"
	evmetrics "github.com/wasmesh/wasmesh/eventlog/metrics"
)

// eventStore is the event log meshd serves: opened once, kept across
// reloads while its config stays the same. The store is instrumented, so
// an append or read made for a traced request is a span under the
// request's, and every append lands in meshd_eventlog_append_duration_seconds.
type eventStore struct {
	mu    sync.Mutex
	key   string
	store eventlog.Store
	// reg and metrics are meshd's registry and the event log's collectors
	// on it; fileStats is the file log's collector while a file log serves.
	reg       prometheus.Registerer
	metrics   *evmetrics.Metrics
	fileStats prometheus.Collector
}

// register puts the event log's metrics on meshd's registry, as
// meshd_eventlog_*.
func (es *eventStore) register(reg prometheus.Registerer) {
	es.reg, es.metrics = reg, evmetrics.New("meshd")
	reg.MustRegister(es.metrics)
}

// logName names the configured log in metrics and spans: its backend.
func logName(c *evconfig.Config) string {
	if c == nil || c.Backend == "" {
		return "file"
	}
	return c.Backend
}

func (es *eventStore) prepare(ctx context.Context, c *evconfig.Config) (eventlog.Store, string, error) {
	es.mu.Lock()
	defer es.mu.Unlock()
	if c == nil {
		return nil, "", nil
	}
	k := jsonKey(c)
	if es.store != nil && es.key == k {
		return es.store, k, nil
	}
	st, err := evconfig.Open(ctx, *c)
	if err != nil {
		return nil, "", fmt.Errorf("eventlog: %w", err)
	}
	return instrument.Wrap(st, instrument.Options{Name: logName(c), Metrics: es.metrics}), k, nil
}

func (es *eventStore) commit(st eventlog.Store, key string) {
	es.mu.Lock()
	defer es.mu.Unlock()
	if st == es.store {
		return
	}
	if es.store != nil {
		old := es.store
		go func() { time.Sleep(30 * time.Second); old.Close() }()
	}
	es.store, es.key = st, key
	es.swapFileStats(st)
}

// swapFileStats exports the counters of the file log now serving, if it is
// one, in place of the previous log's.
func (es *eventStore) swapFileStats(st eventlog.Store) {
	if es.reg == nil {
		return
	}
	if es.fileStats != nil {
		es.reg.Unregister(es.fileStats)
		es.fileStats = nil
	}
	in, ok := st.(*instrument.Store)
	if !ok {
		return
	}
	if l, ok := in.Unwrap().(*filelog.Log); ok {
		c := es.metrics.FileLog(logName(nil), l)
		if err := es.reg.Register(c); err == nil {
			es.fileStats = c
		}
	}
}

func (es *eventStore) get() eventlog.Store {
	es.mu.Lock()
	defer es.mu.Unlock()
	return es.store
}

func (es *eventStore) close() {
	es.mu.Lock()
	defer es.mu.Unlock()
	if es.store != nil {
		es.store.Close()
		es.store = nil
	}
}

// NewEvent is one event in an append request.
type NewEvent struct {
	ID            string            `json:"id,omitempty"`
	Type          string            `json:"type"`
	Data          json.RawMessage   `json:"data,omitempty"`
	SchemaVersion int               `json:"schema_version,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
}

// appendEvents handles POST {stream}: a JSON event or array of events, the
// Expected-Version header (any, no-stream or a number). 201 with the
// result; 409 on a version conflict, saying the stream's version.
func appendEvents(ctx context.Context, st eventlog.Store, stream, expected, correlation string, body []byte) (int, any) {
	ev, err := eventlog.ParseExpectedVersion(expected)
	if err != nil {
		return http.StatusBadRequest, errBody(err)
	}
	var in []NewEvent
	trimmed := strings.TrimSpace(string(body))
	if strings.HasPrefix(trimmed, "{") {
		var one NewEvent
		err = json.Unmarshal(body, &one)
		in = []NewEvent{one}
	} else {
		err = json.Unmarshal(body, &in)
	}
	if err != nil {
		return http.StatusBadRequest, errBody(fmt.Errorf("body: want an event {type, data} or an array of them: %w", err))
	}
	events := make([]eventlog.Event, 0, len(in))
	for _, e := range in {
		out := eventlog.Event{Type: e.Type, Data: []byte(e.Data), SchemaVersion: e.SchemaVersion, Metadata: e.Metadata}
		if e.ID != "" {
			id, err := uuid.Parse(e.ID)
			if err != nil {
				return http.StatusBadRequest, errBody(fmt.Errorf("event id %q: %w", e.ID, err))
			}
			out.ID = id
		}
		events = append(events, out)
	}
	if correlation != "" {
		ctx = eventlog.WithCorrelationID(ctx, correlation)
	}
	res, err := st.Append(ctx, stream, ev, events...)
	var ce *eventlog.ConcurrencyError
	switch {
	case errors.As(err, &ce):
		return http.StatusConflict, map[string]any{"error": err.Error(), "stream": ce.Stream, "actual_version": ce.Actual}
	case errors.Is(err, eventlog.ErrInvalid), errors.Is(err, eventlog.ErrDuplicateEvent):
		return http.StatusBadRequest, errBody(err)
	case err != nil:
		return http.StatusServiceUnavailable, errBody(err)
	}
	return http.StatusCreated, res
}

// EventView is an event as the HTTP API shows it: data inline when it is
// JSON (as it usually is), base64 in data_base64 otherwise.
type EventView struct {
	ID            string            `json:"id"`
	Stream        string            `json:"stream"`
	Type          string            `json:"type"`
	Version       int64             `json:"version"`
	Position      int64             `json:"position"`
	Time          time.Time         `json:"time"`
	CorrelationID string            `json:"correlation_id,omitempty"`
	CausationID   string            `json:"causation_id,omitempty"`
	SchemaVersion int               `json:"schema_version"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	Data          json.RawMessage   `json:"data,omitempty"`
	DataBase64    []byte            `json:"data_base64,omitempty"`
}

func viewOf(e eventlog.Event) EventView {
	v := EventView{ID: e.ID.String(), Stream: e.Stream, Type: e.Type, Version: e.Version, Position: e.Position, Time: e.Time,
		CorrelationID: e.CorrelationID, CausationID: e.CausationID, SchemaVersion: e.SchemaVersion, Metadata: e.Metadata}
	if len(e.Data) > 0 {
		if json.Valid(e.Data) {
			v.Data = json.RawMessage(e.Data)
		} else {
			v.DataBase64 = e.Data
		}
	}
	return v
}

func errBody(err error) map[string]string { return map[string]string{"error": err.Error()} }

// readEvents handles GET {stream}?from=&direction=&limit=; "$all" reads the
// global order from a position.
func readEvents(ctx context.Context, st eventlog.Store, stream string, q url.Values) (int, any) {
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	from, _ := strconv.ParseInt(q.Get("from"), 10, 64)
	var evs []eventlog.Event
	var err error
	if stream == "$all" {
		evs, err = st.ReadAll(ctx, from, limit)
	} else {
		dir := eventlog.Forward
		if q.Get("direction") == "backward" {
			dir = eventlog.Backward
			if from == 0 {
				from = eventlog.StreamEnd
			}
		}
		evs, err = st.ReadStream(ctx, stream, from, dir, limit)
	}
	if err != nil {
		if errors.Is(err, eventlog.ErrInvalid) {
			return http.StatusBadRequest, errBody(err)
		}
		return http.StatusServiceUnavailable, errBody(err)
	}
	out := make([]EventView, 0, len(evs))
	for _, e := range evs {
		out = append(out, viewOf(e))
	}
	return http.StatusOK, out
}

// subscribeEvents streams events as server-sent events: catch-up from
// ?from= (a global position), then live, until the client goes away.
func subscribeEvents(ctx context.Context, st eventlog.Store, stream string, q url.Values, w *bufio.Writer, flush func() error) error {
	from, _ := strconv.ParseInt(q.Get("from"), 10, 64)
	opts := eventlog.SubscribeOptions{From: from, Filter: eventlog.StreamFilter(stream)}
	if stream == "$all" {
		f, err := eventlog.ParseFilter(q.Get("filter"))
		if err != nil {
			return err
		}
		opts.Filter = f
	}
	if err := writeSSE(w, "ready", "0", []byte("{}")); err == nil {
		err = flush()
	}
	return st.Subscribe(ctx, opts, func(ctx context.Context, e eventlog.Event) error {
		b, _ := json.Marshal(viewOf(e))
		if err := writeSSE(w, e.Type, strconv.FormatInt(e.Position, 10), b); err != nil {
			return err
		}
		return flush()
	})
}

func writeSSE(w *bufio.Writer, event, id string, data []byte) error {
	_, err := fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", id, event, data)
	return err
}

func eventStream(rt *routeSnap, path string) string {
	return strings.Trim(strings.TrimPrefix(path, rt.cfg.Match.Prefix), "/")
}

// eventsFast serves an events route on HTTP/1.1; tt carries the request's
// server span (nil when tracing is off), the parent of the store's spans.
func (s *Server) eventsFast(ctx *fasthttp.RequestCtx, rt *routeSnap, tt *tryTracer) {
	st := s.events.get()
	stream := eventStream(rt, string(ctx.Path()))
	if st == nil || stream == "" {
		localReply(ctx, http.StatusNotFound, "use PREFIX{stream}\n")
		return
	}
	reply := func(status int, v any) {
		b, _ := json.Marshal(v)
		ctx.Response.SetStatusCode(status)
		ctx.Response.Header.SetContentType("application/json")
		ctx.Response.SetBody(b)
	}
	switch string(ctx.Method()) {
	case http.MethodPost:
		if rt.cfg.Events.ReadOnly {
			localReply(ctx, http.StatusMethodNotAllowed, "this route is read-only\n")
			return
		}
		actx, cancel := context.WithTimeout(tt.within(context.Background()), rt.timeout)
		defer cancel()
		reply(appendEvents(actx, st, stream, string(ctx.Request.Header.Peek("Expected-Version")), string(ctx.Request.Header.Peek("X-Correlation-Id")), ctx.Request.Body()))
	case http.MethodGet:
		q, _ := url.ParseQuery(string(ctx.URI().QueryString()))
		if strings.Contains(string(ctx.Request.Header.Peek("Accept")), "text/event-stream") {
			ctx.Response.Header.SetContentType("text/event-stream")
			ctx.Response.Header.Set("Cache-Control", "no-cache")
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
				sctx, cancel := context.WithCancel(s.ctx)
				defer cancel()
				_ = subscribeEvents(sctx, st, stream, q, w, w.Flush)
			})
			return
		}
		rctx, cancel := context.WithTimeout(tt.within(context.Background()), rt.timeout)
		defer cancel()
		reply(readEvents(rctx, st, stream, q))
	default:
		localReply(ctx, http.StatusMethodNotAllowed, "use GET or POST\n")
	}
}

// serveEventsHTTP is the same for HTTP/2 routes and the admin API (whose
// requests have no server span: tt is nil).
func (s *Server) serveEventsHTTP(w http.ResponseWriter, r *http.Request, tt *tryTracer, stream string, readOnly bool, timeout time.Duration) {
	st := s.events.get()
	if st == nil || stream == "" {
		http.Error(w, "no event log configured, or no stream named", http.StatusNotFound)
		return
	}
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	switch r.Method {
	case http.MethodPost:
		if readOnly {
			http.Error(w, "this route is read-only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxPublishBody))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(tt.within(r.Context()), timeout)
		defer cancel()
		reply(appendEvents(ctx, st, stream, r.Header.Get("Expected-Version"), r.Header.Get("X-Correlation-Id"), body))
	case http.MethodGet:
		if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Cache-Control", "no-cache")
			w.WriteHeader(http.StatusOK)
			bw := bufio.NewWriter(w)
			_ = subscribeEvents(r.Context(), st, stream, r.URL.Query(), bw, func() error {
				if err := bw.Flush(); err != nil {
					return err
				}
				if f, ok := w.(http.Flusher); ok {
					f.Flush()
				}
				return nil
			})
			return
		}
		ctx, cancel := context.WithTimeout(tt.within(r.Context()), timeout)
		defer cancel()
		reply(readEvents(ctx, st, stream, r.URL.Query()))
	default:
		http.Error(w, "use GET or POST", http.StatusMethodNotAllowed)
	}
}

// adminEventStats is GET /events/stats: the backend and the head position.
func (s *Server) adminEventStats(w http.ResponseWriter, r *http.Request) {
	st := s.events.get()
	if st == nil {
		http.Error(w, "no event log configured", http.StatusNotFound)
		return
	}
	head, err := st.Head(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	var c *evconfig.Config
	if sn := s.snap.Load(); sn != nil {
		c = sn.cfg.EventLog
	}
	writeJSON(w, http.StatusOK, map[string]any{"backend": logName(c), "head_position": head})
}
