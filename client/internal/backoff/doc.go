// Package backoff computes retry delays (exponential, full jitter) and
// keeps the retry budget that stops retries from multiplying load when an
// upstream is already struggling.
package backoff
