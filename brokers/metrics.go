package brokers

import (
	"context"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the counters every adapter updates. It is one
// prometheus.Collector so meshd registers it once for all brokers; labels
// carry the broker's configured name and the topic. A nil *Metrics is valid
// and records nothing, so adapters and tests need no special case.
type Metrics struct {
	published     *prometheus.CounterVec
	publishErrors *prometheus.CounterVec
	consumed      *prometheus.CounterVec
	acked         *prometheus.CounterVec
	nacked        *prometheus.CounterVec
	deadLettered  *prometheus.CounterVec
	lag           *prometheus.GaugeVec
	connected     *prometheus.GaugeVec
}

// NewMetrics creates the collectors under namespace (e.g. "wasmesh"); the
// metric names are <namespace>_broker_<name>.
func NewMetrics(namespace string) *Metrics {
	bt := []string{"broker", "topic"}
	c := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "broker", Name: name, Help: help}, bt)
	}
	return &Metrics{
		published:     c("published_total", "Messages published and confirmed by the broker."),
		publishErrors: c("publish_errors_total", "Messages whose publish failed or was not confirmed."),
		consumed:      c("consumed_total", "Messages delivered to consumers."),
		acked:         c("acked_total", "Deliveries acknowledged."),
		nacked:        c("nacked_total", "Deliveries negatively acknowledged."),
		deadLettered:  c("dead_lettered_total", "Messages sent to a dead-letter queue or topic."),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "broker", Name: "consumer_lag",
			Help: "Messages not yet consumed by a group (Kafka: per partition)."}, []string{"broker", "topic", "group", "partition"}),
		connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "broker", Name: "connected",
			Help: "1 when the broker connection is up, 0 otherwise."}, []string{"broker"}),
	}
}

func (m *Metrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.published, m.publishErrors, m.consumed, m.acked, m.nacked, m.deadLettered, m.lag, m.connected}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.all() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.all() {
		c.Collect(ch)
	}
}

// Published counts n confirmed messages.
func (m *Metrics) Published(broker, topic string, n int) {
	if m != nil {
		m.published.WithLabelValues(broker, topic).Add(float64(n))
	}
}

// PublishFailed counts n messages whose publish failed.
func (m *Metrics) PublishFailed(broker, topic string, n int) {
	if m != nil {
		m.publishErrors.WithLabelValues(broker, topic).Add(float64(n))
	}
}

// Consumed counts one delivery handed to a consumer.
func (m *Metrics) Consumed(broker, topic string) {
	if m != nil {
		m.consumed.WithLabelValues(broker, topic).Inc()
	}
}

// DeadLettered counts one message sent to a dead-letter destination.
func (m *Metrics) DeadLettered(broker, topic string) {
	if m != nil {
		m.deadLettered.WithLabelValues(broker, topic).Inc()
	}
}

// SetLag records a group's lag on one partition (use -1 for "whole topic").
func (m *Metrics) SetLag(broker, topic, group string, partition int32, lag int64) {
	if m != nil {
		m.lag.WithLabelValues(broker, topic, group, strconv.Itoa(int(partition))).Set(float64(lag))
	}
}

// SetConnected records whether the broker connection is up.
func (m *Metrics) SetConnected(broker string, up bool) {
	if m != nil {
		v := 0.0
		if up {
			v = 1
		}
		m.connected.WithLabelValues(broker).Set(v)
	}
}

// Acker wraps an adapter's Acknowledger so that acks and nacks are counted;
// adapters pass the result to NewDelivery.
func (m *Metrics) Acker(broker, topic string, a Acknowledger) Acknowledger {
	if m == nil {
		return a
	}
	return countingAcker{m: m, broker: broker, topic: topic, a: a}
}

type countingAcker struct {
	m             *Metrics
	broker, topic string
	a             Acknowledger
}

func (c countingAcker) Ack(ctx context.Context) error {
	err := c.a.Ack(ctx)
	if err == nil {
		c.m.acked.WithLabelValues(c.broker, c.topic).Inc()
	}
	return err
}

func (c countingAcker) Nack(ctx context.Context, requeue bool) error {
	err := c.a.Nack(ctx, requeue)
	if err == nil {
		c.m.nacked.WithLabelValues(c.broker, c.topic).Inc()
	}
	return err
}
