// Package backoff computes exponential backoff with full jitter (AWS
// architecture blog, "Exponential Backoff And Jitter"): the wait before retry
// n is uniform in [0, min(max, base*2^n)], which spreads retrying clients
// apart better than equal or no jitter.
package backoff
