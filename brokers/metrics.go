package brokers

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmesh/wasmesh/internal/telemetry"
)

// Messaging systems, the value of the messaging_system label and of the
// messaging.system span attribute. Each adapter registers under its
// system's name, so the label says which kind a configured broker is.
const (
	SystemMemory   = "memory"
	SystemRabbitMQ = "rabbitmq"
	SystemKafka    = "kafka"
	SystemRedis    = "redis"
)

// Messaging operation names (messaging.operation.name in OpenTelemetry),
// the values of the messaging_operation_name label.
const (
	// OpPublish is a Publish call.
	OpPublish = "publish"
	// OpAck, OpNack and OpDeadLetter are how a delivery was settled.
	OpAck        = "ack"
	OpNack       = "nack"
	OpDeadLetter = "dead_letter"
)

// Label names, OpenTelemetry's messaging attributes with dots as
// underscores (docs/metrics.md, "Conventions").
const (
	labelBroker    = "broker"
	labelSystem    = "messaging_system"
	labelDest      = "messaging_destination_name"
	labelOperation = "messaging_operation_name"
	labelGroup     = "messaging_consumer_group_name"
	labelPartition = "messaging_destination_partition_id"
)

// Metrics holds the messaging families every adapter writes, named after
// OpenTelemetry's messaging semantic conventions. It is one
// prometheus.Collector so a host registers it once for all its brokers;
// adapters record through For, which fixes the broker and
// messaging_system labels. A nil *Metrics is valid and records nothing,
// so adapters and tests need no special case.
type Metrics struct {
	sent       *prometheus.CounterVec   // broker, system, destination, outcome
	opDuration *prometheus.HistogramVec // broker, system, destination, operation, outcome
	consumed   *prometheus.CounterVec   // broker, system, destination
	process    *prometheus.HistogramVec // broker, system, destination, outcome
	settled    *prometheus.CounterVec   // broker, system, destination, operation
	lag        *prometheus.GaugeVec     // broker, system, destination, group, partition
	connected  *prometheus.GaugeVec     // broker, system
}

// NewMetrics creates the collectors under namespace: meshd passes
// "meshd", a program embedding the brokers library "wasmesh". The names
// are <namespace>_messaging_<name> (docs/metrics.md lists them).
func NewMetrics(namespace string) *Metrics {
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: namespace, Subsystem: "messaging", Name: name, Help: help}
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts(opts(name, help)), labels)
	}
	histogram := func(name, help string, labels ...string) *prometheus.HistogramVec {
		o := opts(name, help)
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: o.Namespace, Subsystem: o.Subsystem, Name: o.Name, Help: o.Help,
			Buckets: telemetry.LatencyBuckets}, labels)
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts(opts(name, help)), labels)
	}
	return &Metrics{
		sent: counter("client_sent_messages_total",
			"Messages published: success once the broker confirmed them, error when the publish failed or was not confirmed.",
			labelBroker, labelSystem, labelDest, telemetry.LabelOutcome),
		opDuration: histogram("client_operation_duration_seconds",
			"Duration of a messaging operation; publish: from the Publish call until every message of it was confirmed or it failed (one observation per call, batches included).",
			labelBroker, labelSystem, labelDest, labelOperation, telemetry.LabelOutcome),
		consumed: counter("client_consumed_messages_total",
			"Deliveries handed to consumers (redeliveries included).",
			labelBroker, labelSystem, labelDest),
		process: histogram("process_duration_seconds",
			"Time the consumer's handler ran for one delivery under brokers.Serve; error when it returned an error or the delivery was dead-lettered.",
			labelBroker, labelSystem, labelDest, telemetry.LabelOutcome),
		settled: counter("client_settled_messages_total",
			"Deliveries settled, by how: ack, nack, or dead_letter (moved to a dead-letter destination by the client).",
			labelBroker, labelSystem, labelDest, labelOperation),
		lag: gauge("consumer_lag_messages",
			"Messages not yet consumed by a group (Kafka per partition; Redis Streams per group and RabbitMQ per queue with partition -1).",
			labelBroker, labelSystem, labelDest, labelGroup, labelPartition),
		connected: gauge("broker_connected",
			"1 while the broker connection is up, 0 otherwise.",
			labelBroker, labelSystem),
	}
}

func (m *Metrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.sent, m.opDuration, m.consumed, m.process, m.settled, m.lag, m.connected}
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

// For returns the Recorder an adapter writes through for one broker:
// broker is its configured name, system one of the System constants. A
// nil *Metrics gives a nil *Recorder, which is valid and records nothing.
func (m *Metrics) For(broker, system string) *Recorder {
	if m == nil {
		return nil
	}
	return &Recorder{m: m, broker: broker, system: system,
		producers: map[string]*producerSeries{}, consumers: map[string]*consumerSeries{}}
}

// Recorder is one broker's side of Metrics. It resolves the labelled
// series of a destination once and keeps them, so a publish or a delivery
// costs a map lookup under a read lock instead of a label hash per
// family. A nil *Recorder is valid and records nothing.
type Recorder struct {
	m              *Metrics
	broker, system string

	mu        sync.RWMutex
	producers map[string]*producerSeries
	consumers map[string]*consumerSeries
}

// producerSeries are a destination's publish series, indexed by outcome
// (0 success, 1 error).
type producerSeries struct {
	sent     [2]prometheus.Counter
	duration [2]prometheus.Observer
}

// consumerSeries are a destination's consumer series. A Delivery made by
// Recorder.NewDelivery points at them.
type consumerSeries struct {
	consumed prometheus.Counter
	process  [2]prometheus.Observer // by outcome
	ack      prometheus.Counter
	nack     prometheus.Counter
	dead     prometheus.Counter
}

var outcomes = [2]string{telemetry.Success, telemetry.Error}

func outcomeIndex(failed bool) int {
	if failed {
		return 1
	}
	return 0
}

// series returns the cached value of dest in cache, building it with
// build under the write lock the first time.
func series[T any](r *Recorder, cache map[string]*T, dest string, build func() *T) *T {
	r.mu.RLock()
	s := cache[dest]
	r.mu.RUnlock()
	if s != nil {
		return s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s = cache[dest]; s == nil {
		s = build()
		cache[dest] = s
	}
	return s
}

func (r *Recorder) producer(dest string) *producerSeries {
	return series(r, r.producers, dest, func() *producerSeries {
		s := &producerSeries{}
		for i, o := range outcomes {
			s.sent[i] = r.m.sent.WithLabelValues(r.broker, r.system, dest, o)
			s.duration[i] = r.m.opDuration.WithLabelValues(r.broker, r.system, dest, OpPublish, o)
		}
		return s
	})
}

func (r *Recorder) consumer(dest string) *consumerSeries {
	return series(r, r.consumers, dest, func() *consumerSeries {
		s := &consumerSeries{
			consumed: r.m.consumed.WithLabelValues(r.broker, r.system, dest),
			ack:      r.m.settled.WithLabelValues(r.broker, r.system, dest, OpAck),
			nack:     r.m.settled.WithLabelValues(r.broker, r.system, dest, OpNack),
			dead:     r.m.settled.WithLabelValues(r.broker, r.system, dest, OpDeadLetter),
		}
		for i, o := range outcomes {
			s.process[i] = r.m.process.WithLabelValues(r.broker, r.system, dest, o)
		}
		return s
	})
}

// Published records one Publish call of n messages to dest that began at
// start: n sent messages and one publish duration, both with outcome
// error when err is not nil (failed or not confirmed).
func (r *Recorder) Published(dest string, n int, start time.Time, err error) {
	if r == nil {
		return
	}
	s := r.producer(dest)
	i := outcomeIndex(err != nil)
	s.sent[i].Add(float64(n))
	s.duration[i].Observe(time.Since(start).Seconds())
}

// NewDelivery is NewDelivery for adapters that record metrics: the
// delivery counts its settlement on this broker and topic, and Serve
// times its handler. With a nil Recorder it is plain NewDelivery.
func (r *Recorder) NewDelivery(topic string, msg *Message, attempt int, ack Acknowledger) *Delivery {
	d := NewDelivery(topic, msg, attempt, ack)
	if r != nil {
		d.series = r.consumer(topic)
	}
	return d
}

// Consumed counts d as handed to its consumer; adapters call it once the
// delivery was sent on the subscription's channel. It records nothing for
// a delivery not made by Recorder.NewDelivery.
func (r *Recorder) Consumed(d *Delivery) {
	if d.series != nil {
		d.series.consumed.Inc()
	}
}

// SetLag records a group's lag on one partition of dest (partition -1:
// the whole destination, for queues and Redis streams).
func (r *Recorder) SetLag(dest, group string, partition int32, lag int64) {
	if r != nil {
		r.m.lag.WithLabelValues(r.broker, r.system, dest, group, strconv.Itoa(int(partition))).Set(float64(lag))
	}
}

// SetConnected records whether the broker connection is up.
func (r *Recorder) SetConnected(up bool) {
	if r == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	r.m.connected.WithLabelValues(r.broker, r.system).Set(v)
}

// Enabled reports whether r records anything, for adapters that would
// do extra work (a lag poll) only to feed it.
func (r *Recorder) Enabled() bool { return r != nil }
