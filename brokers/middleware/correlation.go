package middleware

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/wasmesh/wasmesh/brokers"
)

type correlationKey struct{}

// CorrelationID puts the message's correlation id in the handler's context
// (CorrelationIDFrom reads it), taking the correlation-id header or, when
// absent, the message id, and sets the header on the delivered message so
// that anything the handler publishes from it can copy it along.
func CorrelationID() brokers.Middleware {
	return func(next brokers.Handler) brokers.Handler {
		return func(ctx context.Context, d *brokers.Delivery) error {
			id := d.Message.Header(brokers.HeaderCorrelationID)
			if id == "" {
				id = d.Message.ID
				d.Message.SetHeader(brokers.HeaderCorrelationID, id)
			}
			return next(context.WithValue(ctx, correlationKey{}, id), d)
		}
	}
}

// CorrelationIDFrom returns the correlation id CorrelationID stored, or "".
func CorrelationIDFrom(ctx context.Context) string {
	s, _ := ctx.Value(correlationKey{}).(string)
	return s
}

// Trace starts a consumer span per message, child of the publisher's span
// carried in the W3C traceparent/tracestate headers (TracePublisher writes
// them), so one trace follows a message from publisher through the broker
// to the handler. A nil tracer uses the global OpenTelemetry provider.
func Trace(tracer trace.Tracer) brokers.Middleware {
	tracer = orGlobal(tracer)
	return func(next brokers.Handler) brokers.Handler {
		return func(ctx context.Context, d *brokers.Delivery) error {
			ctx = traceContext.Extract(ctx, propagation.MapCarrier(d.Message.Headers))
			attrs := []attribute.KeyValue{
				attribute.String("messaging.operation.name", "process"),
				attribute.String("messaging.destination.name", d.Topic),
				attribute.String("messaging.message.id", d.Message.ID),
				attribute.Int("messaging.delivery.attempt", d.Attempt),
			}
			if sys := d.System(); sys != "" {
				attrs = append(attrs, attribute.String("messaging.system", sys))
			}
			ctx, span := tracer.Start(ctx, "process "+d.Topic, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
			defer span.End()
			err := next(ctx, d)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			return err
		}
	}
}
