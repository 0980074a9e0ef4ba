// Package middleware holds consumer middleware that composes around a
// brokers.Handler the same way for every adapter: retry with exponential
// backoff and full jitter, dead-letter after N attempts, de-duplication by
// message id (in memory or in Redis), rate and concurrency limits, a
// per-message timeout, panic recovery, a correlation id and a consumer trace
// span; and TracePublisher, the publishing side of that span, which wraps a
// brokers.Publisher.
//
// A typical chain, outermost first:
//
//	h := brokers.Chain(
//		middleware.Recover(nil),
//		middleware.CorrelationID(),
//		middleware.Trace(nil),
//		middleware.DeadLetter(broker, "orders.dlq", middleware.DeadLetterOptions{MaxAttempts: 5}),
//		middleware.Dedup(middleware.NewMemoryStore(), middleware.DedupOptions{Window: time.Hour}),
//		middleware.Retry(middleware.RetryOptions{MaxAttempts: 3}),
//		middleware.Timeout(10*time.Second),
//	)(handler)
package middleware
