package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/identity/authz"
)

// Kinds of denial.
const (
	KindAuthentication = "authentication"
	KindAuthorization  = "authorization"
	KindRateLimit      = "rate_limit"
)

// Reason codes: short, fixed strings, because they label a metric. Put
// the free-form explanation in Event.Detail.
const (
	ReasonMissingToken      = "missing_token"
	ReasonInvalidToken      = "invalid_token"
	ReasonNoClientCert      = "no_client_certificate"
	ReasonUntrustedPeer     = "untrusted_peer"
	ReasonPolicyDenied      = "policy_denied"
	ReasonDefaultDeny       = "default_deny"
	ReasonRateLimited       = "rate_limited"
	ReasonTokenUnavailable  = "token_unavailable"
	reasonOther             = "other"
	maxReasonLabels         = 64
	defaultQueueSize        = 1024
	defaultBatchSize        = 64
	defaultPublishTimeout   = 5 * time.Second
	publishErrorLogInterval = 10 * time.Second
)

// Event is one denied request. Its JSON form is the payload published to
// the broker; the same fields are the log record's attributes.
type Event struct {
	Time time.Time `json:"time"`
	// Kind is one of the Kind* constants; Reason a short code (the
	// Reason* constants or a filter's own); Detail the human explanation.
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
	// Who: the mTLS peer's SPIFFE ID, the JWT subject and issuer, the
	// source address.
	Principal string `json:"principal,omitempty"`
	Subject   string `json:"subject,omitempty"`
	Issuer    string `json:"issuer,omitempty"`
	SourceIP  string `json:"source_ip,omitempty"`
	// What.
	Listener string `json:"listener,omitempty"`
	Route    string `json:"route,omitempty"`
	Method   string `json:"method,omitempty"`
	Path     string `json:"path,omitempty"`
	Host     string `json:"host,omitempty"`
	// Which: the authorization policy and rule, or the filter that denied.
	Policy string `json:"policy,omitempty"`
	Rule   string `json:"rule,omitempty"`
	Filter string `json:"filter,omitempty"`
	// Status is the HTTP status answered (401, 403, 429 ...).
	Status int `json:"status,omitempty"`
	// TraceID (W3C, 32 hex digits) and RequestID join the event to the
	// trace and the access log.
	TraceID   string `json:"trace_id,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// FromAuthz builds the event for a request an authz.Engine denied.
func FromAuthz(d authz.Decision, r *authz.Request) Event {
	ev := Event{
		Kind: KindAuthorization, Reason: ReasonPolicyDenied, Detail: d.Reason,
		Principal: r.Principal, Route: r.Route, Method: r.Method, Path: r.Path, Host: r.Host,
		Policy: d.Policy, Rule: d.Rule, Status: 403,
	}
	if d.Reason == authz.ReasonDefaultDeny {
		ev.Reason = ReasonDefaultDeny
	}
	if r.SourceIP.IsValid() {
		ev.SourceIP = r.SourceIP.String()
	}
	ev.Subject, _ = r.Claims["sub"].(string)
	ev.Issuer, _ = r.Claims["iss"].(string)
	return ev
}

// Config configures an Auditor. The zero value logs through
// slog.Default() and publishes nothing.
type Config struct {
	// Logger receives one record per event (nil: slog.Default()).
	Logger *slog.Logger
	// Publisher and Topic, when both set, publish every event.
	Publisher brokers.Publisher
	Topic     string
	// Source is the CloudEvents source of published events, e.g.
	// "meshd/node-1" (empty: "meshd").
	Source string
	// QueueSize bounds the events waiting to be published (0: 1024).
	QueueSize int
	// BatchSize bounds the events per Publish call (0: 64).
	BatchSize int
	// PublishTimeout bounds one Publish call (0: 5s).
	PublishTimeout time.Duration
	// Metrics counts; nil makes a private set (see NewMetrics).
	Metrics *Metrics
}

// EventType is the CloudEvents type of published audit events.
const EventType = "io.wasmesh.audit.request_denied.v1"

// Auditor records denials. Safe for concurrent use.
type Auditor struct {
	cfg     Config
	log     *slog.Logger
	m       *Metrics
	queue   chan Event
	stop    chan struct{}
	done    chan struct{}
	closed  atomic.Bool
	once    sync.Once
	lastLog atomic.Int64 // unix nanos of the last publish-error log
}

// New starts an Auditor; with a publisher it starts the goroutine that
// publishes, which Close stops.
func New(cfg Config) (*Auditor, error) {
	if (cfg.Publisher == nil) != (cfg.Topic == "") {
		return nil, errors.New("audit: set both a publisher and a topic, or neither")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Source == "" {
		cfg.Source = "meshd"
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = defaultQueueSize
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = defaultBatchSize
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = defaultPublishTimeout
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics("wasmesh")
	}
	a := &Auditor{cfg: cfg, log: cfg.Logger, m: cfg.Metrics, stop: make(chan struct{}), done: make(chan struct{})}
	if cfg.Publisher != nil {
		a.queue = make(chan Event, cfg.QueueSize)
		go a.run()
	} else {
		close(a.done)
	}
	return a, nil
}

// Metrics returns the counters, for registering with prometheus.
func (a *Auditor) Metrics() *Metrics { return a.m }

// Record logs ev, counts it and queues it for publishing. It never
// blocks: with the queue full the event is dropped from the broker (it is
// still logged and counted).
func (a *Auditor) Record(ctx context.Context, ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	a.m.denied(ev.Kind, ev.Reason)
	a.log.LogAttrs(ctx, slog.LevelInfo, "request denied",
		slog.String("audit", "denied"),
		slog.String("kind", ev.Kind), slog.String("reason", ev.Reason), slog.String("detail", ev.Detail),
		slog.String("principal", ev.Principal), slog.String("subject", ev.Subject), slog.String("source_ip", ev.SourceIP),
		slog.String("route", ev.Route), slog.String("method", ev.Method), slog.String("path", ev.Path),
		slog.String("policy", ev.Policy), slog.String("rule", ev.Rule), slog.String("filter", ev.Filter),
		slog.Int("status", ev.Status), slog.String("trace_id", ev.TraceID), slog.String("request_id", ev.RequestID),
	)
	if a.queue == nil {
		return
	}
	if a.closed.Load() {
		a.m.dropped.Inc()
		return
	}
	select {
	case a.queue <- ev:
	default:
		a.m.dropped.Inc()
	}
}

// Close stops queueing, publishes what is queued (until ctx ends; the
// rest is counted as dropped) and stops the publisher goroutine.
func (a *Auditor) Close(ctx context.Context) error {
	a.once.Do(func() {
		a.closed.Store(true)
		close(a.stop)
	})
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit: close: %w", ctx.Err())
	}
}

func (a *Auditor) run() {
	defer close(a.done)
	batch := make([]Event, 0, a.cfg.BatchSize)
	// ctx ends publishes still running when Close gives up waiting.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for {
		select {
		case ev := <-a.queue:
			batch = append(batch[:0], ev)
		case <-a.stop:
			a.drain(ctx, batch[:0])
			return
		}
	fill:
		for len(batch) < a.cfg.BatchSize {
			select {
			case ev := <-a.queue:
				batch = append(batch, ev)
			default:
				break fill
			}
		}
		a.publish(ctx, batch)
	}
}

func (a *Auditor) drain(ctx context.Context, batch []Event) {
	for {
		select {
		case ev := <-a.queue:
			batch = append(batch, ev)
			if len(batch) < a.cfg.BatchSize {
				continue
			}
		default:
		}
		if len(batch) == 0 {
			return
		}
		a.publish(ctx, batch)
		batch = batch[:0]
	}
}

func (a *Auditor) publish(ctx context.Context, batch []Event) {
	msgs := make([]*brokers.Message, 0, len(batch))
	for i := range batch {
		ev := &batch[i]
		b, err := json.Marshal(ev)
		if err != nil {
			a.m.publishErrors.Inc()
			continue
		}
		m := brokers.NewMessage(b)
		m.Type, m.Source, m.Time, m.DataContentType = EventType, a.cfg.Source, ev.Time, "application/json"
		m.Subject = ev.Principal
		if m.Subject == "" {
			m.Subject = ev.Subject
		}
		m.Key = m.Subject
		if ev.RequestID != "" {
			m.SetHeader(brokers.HeaderCorrelationID, ev.RequestID)
		}
		if ev.TraceID != "" {
			m.SetHeader("trace-id", ev.TraceID)
		}
		msgs = append(msgs, m)
	}
	pctx, cancel := context.WithTimeout(ctx, a.cfg.PublishTimeout)
	err := a.cfg.Publisher.Publish(pctx, a.cfg.Topic, msgs...)
	cancel()
	if err != nil {
		a.m.publishErrors.Add(float64(len(msgs)))
		now := time.Now().UnixNano()
		if last := a.lastLog.Load(); now-last > int64(publishErrorLogInterval) && a.lastLog.CompareAndSwap(last, now) {
			a.log.Warn("audit: cannot publish audit events; they are in the log only", "topic", a.cfg.Topic, "events", len(msgs), "error", err)
		}
		return
	}
	a.m.published.Add(float64(len(msgs)))
}

// Metrics are the audit counters. It implements prometheus.Collector,
// so meshd registers it once.
type Metrics struct {
	deniedVec     *prometheus.CounterVec
	dropped       prometheus.Counter
	publishErrors prometheus.Counter
	published     prometheus.Counter

	mu      sync.Mutex
	reasons map[string]bool
}

// NewMetrics makes the counters, prefixed with the process's namespace
// ("meshd" inside meshd, "wasmesh" by default):
//
//	<namespace>_audit_denied_requests_total{kind,reason}
//	<namespace>_audit_events_published_total
//	<namespace>_audit_events_dropped_total
//	<namespace>_audit_publish_errors_total
func NewMetrics(namespace string) *Metrics {
	return &Metrics{
		deniedVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "audit_denied_requests_total", Help: "Requests denied, by kind (authentication, authorization, rate_limit) and reason.",
		}, []string{"kind", "reason"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "audit_events_dropped_total", Help: "Audit events not published because the queue was full or the auditor closed (they were logged).",
		}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "audit_publish_errors_total", Help: "Audit events whose publish to the broker failed (they were logged).",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "audit_events_published_total", Help: "Audit events published to the broker.",
		}),
		reasons: map[string]bool{},
	}
}

// denied counts one denial. Reasons beyond the first 64 distinct ones are
// counted as "other", so a filter inventing reasons cannot blow up the
// metric's cardinality.
func (m *Metrics) denied(kind, reason string) {
	m.mu.Lock()
	if !m.reasons[reason] {
		if len(m.reasons) >= maxReasonLabels {
			reason = reasonOther
		} else {
			m.reasons[reason] = true
		}
	}
	m.mu.Unlock()
	m.deniedVec.WithLabelValues(kind, reason).Inc()
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.deniedVec.Describe(ch)
	m.dropped.Describe(ch)
	m.publishErrors.Describe(ch)
	m.published.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.deniedVec.Collect(ch)
	m.dropped.Collect(ch)
	m.publishErrors.Collect(ch)
	m.published.Collect(ch)
}
