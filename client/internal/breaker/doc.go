// Package breaker is the circuit breaker of the client SDK: one per
// endpoint, closed → open after consecutive failures or a failure ratio,
// half-open after a cool-down with a bounded number of probes, closed again
// when the probes succeed. The clock is injectable so the state machine is
// tested without sleeping.
package breaker
