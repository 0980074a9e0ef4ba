package brokers

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Handler processes one delivery. Returning nil acks it; returning an error
// nacks it with requeue, unless the error is Permanent (then without
// requeue). A Handler run by Serve must not call Ack or Nack itself.
type Handler func(ctx context.Context, d *Delivery) error

// Middleware wraps a Handler with cross-cutting behaviour (see
// brokers/middleware). It is the one contract all consumer middleware
// shares, so it composes the same way for every adapter.
type Middleware func(Handler) Handler

// Chain composes middleware so that the first one listed is the outermost:
// Chain(a, b)(h) runs a, then b, then h.
func Chain(mws ...Middleware) Middleware {
	return func(h Handler) Handler {
		for i := len(mws) - 1; i >= 0; i-- {
			h = mws[i](h)
		}
		return h
	}
}

// ServeOptions tune Serve.
type ServeOptions struct {
	// Concurrency is how many deliveries are handled at once (default 1,
	// which keeps per-key order on adapters that promise it).
	Concurrency int
	// Logger receives settle failures; nil means slog.Default().
	Logger *slog.Logger
}

// Serve subscribes to topic and runs h for every delivery until ctx is
// cancelled or the broker closes, settling each delivery from h's result.
// It returns after every handler in flight has returned. The error is nil
// on a normal stop (ctx cancelled or broker closed), or the Subscribe error.
// Serve is where every adapter's deliveries meet their handler, so it is
// what times them: messaging_process_duration_seconds, for adapters
// opened with Metrics.
func Serve(ctx context.Context, s Subscriber, topic string, opts SubscribeOptions, h Handler, so ServeOptions) error {
	ch, err := s.Subscribe(ctx, topic, opts)
	if err != nil {
		return err
	}
	n := so.Concurrency
	if n < 1 {
		n = 1
	}
	log := so.Logger
	if log == nil {
		log = slog.Default()
	}
	system := ""
	if sy, ok := s.(interface{ System() string }); ok {
		system = sy.System()
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for d := range ch {
				if d.system == "" {
					d.system = system
				}
				settle(ctx, d, h, log)
			}
		})
	}
	wg.Wait()
	return nil
}

func settle(ctx context.Context, d *Delivery, h Handler, log *slog.Logger) {
	start := time.Now()
	herr := h(ctx, d)
	d.observeProcess(time.Since(start), herr)
	// Settle even when ctx was cancelled mid-handler: the broker should learn
	// the outcome, and a dead context would make the ack fail for nothing.
	sctx := context.WithoutCancel(ctx)
	var err error
	switch {
	case d.Settled():
		return
	case herr == nil:
		err = d.Ack(sctx)
	default:
		err = d.Nack(sctx, !IsPermanent(herr))
	}
	if err != nil && !errors.Is(err, ErrSettled) {
		log.Warn("brokers: settle failed", "topic", d.Topic, "id", d.Message.ID, "err", err)
	}
}
