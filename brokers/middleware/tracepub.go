package middleware

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/wasmesh/wasmesh/brokers"
)

// traceContext is the W3C propagator both sides use: TracePublisher
// writes traceparent/tracestate into message headers, Trace reads them.
var traceContext = propagation.TraceContext{}

func orGlobal(tracer trace.Tracer) trace.Tracer {
	if tracer == nil {
		return otel.Tracer("github.com/wasmesh/wasmesh/brokers")
	}
	return tracer
}

// TracePublisher wraps pub so that every Publish call has a producer span,
// "publish <topic>", child of the span in the caller's context, and writes
// that span's W3C trace context (traceparent, tracestate) into the headers
// of every message it sends. The consumer span Trace starts is then the
// producer span's child, so a trace goes from the publishing request
// through the broker to the handler. It is the one place trace context
// enters a message: publish through it rather than setting the headers by
// hand.
//
// The span carries the OpenTelemetry messaging attributes
// messaging.system (when pub says, as every brokers.Broker does),
// messaging.destination.name, messaging.operation.name "publish",
// messaging.operation.type "send", and messaging.message.id for a single
// message or messaging.batch.message_count for a batch (one span per call,
// whose context every message of the batch carries). A failed publish ends
// the span with error status. A nil tracer uses the global OpenTelemetry
// provider.
func TracePublisher(pub brokers.Publisher, tracer trace.Tracer) brokers.Publisher {
	tp := &tracedPublisher{pub: pub, tracer: orGlobal(tracer)}
	if s, ok := pub.(interface{ System() string }); ok {
		tp.system = s.System()
	}
	return tp
}

type tracedPublisher struct {
	pub    brokers.Publisher
	tracer trace.Tracer
	system string
}

// System passes the wrapped broker's messaging system on, so that wrappers
// stack.
func (p *tracedPublisher) System() string { return p.system }

func (p *tracedPublisher) Publish(ctx context.Context, topic string, msgs ...*brokers.Message) error {
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs,
		attribute.String("messaging.operation.name", brokers.OpPublish),
		attribute.String("messaging.operation.type", "send"),
		attribute.String("messaging.destination.name", topic))
	if p.system != "" {
		attrs = append(attrs, attribute.String("messaging.system", p.system))
	}
	if len(msgs) != 1 {
		attrs = append(attrs, attribute.Int("messaging.batch.message_count", len(msgs)))
	}
	ctx, span := p.tracer.Start(ctx, "publish "+topic, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	defer span.End()
	for _, m := range msgs {
		if m == nil {
			continue
		}
		if m.Headers == nil {
			m.Headers = map[string]string{}
		}
		traceContext.Inject(ctx, propagation.MapCarrier(m.Headers))
	}
	err := p.pub.Publish(ctx, topic, msgs...)
	// Publish fills empty ids in place, so the id is known now.
	if len(msgs) == 1 && msgs[0] != nil && msgs[0].ID != "" {
		span.SetAttributes(attribute.String("messaging.message.id", msgs[0].ID))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}
