package telemetry

// LatencyBuckets are the histogram buckets, in seconds, of every duration
// metric Wasmesh writes (0.25 ms to 30 s). One set everywhere means a p99
// from meshd and one from the client SDK or a broker are comparable, and
// histograms from several processes can be summed.
var LatencyBuckets = []float64{.00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Outcome label values. Every duration histogram and every throughput
// counter carries an "outcome" label with one of these, so the error rate
// of anything is sum(rate(x{outcome="error"})) / sum(rate(x)), whatever the
// protocol.
const (
	// Success is a request answered below 500, an RPC whose status is not
	// a server fault, a confirmed publish, an acknowledged delivery.
	Success = "success"
	// Error is a 5xx or no response at all, a gRPC server fault, a failed
	// or unconfirmed publish, a delivery the handler failed.
	Error = "error"
)

// LabelOutcome is the label name that carries Success or Error.
const LabelOutcome = "outcome"

// HTTPOutcome maps an HTTP status to an outcome: 5xx, and 0 for "no
// response", are errors; a 4xx is the caller's fault, not the mesh's
// (OpenTelemetry's rule for server spans).
func HTTPOutcome(status int) string {
	if status >= 500 || status < 100 {
		return Error
	}
	return Success
}

// GRPCOutcome maps a gRPC status code to an outcome with the codes
// OpenTelemetry treats as server errors (UNKNOWN, DEADLINE_EXCEEDED,
// UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS); the others, like a 4xx,
// are the caller's.
func GRPCOutcome(code int) string {
	switch code {
	case 2, 4, 12, 13, 14, 15:
		return Error
	}
	return Success
}

// ErrOutcome maps an error to an outcome, for operations without a status.
func ErrOutcome(err error) string {
	if err != nil {
		return Error
	}
	return Success
}

// CodeClasses are the code_class label values, indexed by CodeClass; index
// 0 is never returned.
var CodeClasses = [6]string{"0xx", "1xx", "2xx", "3xx", "4xx", "5xx"}

// CodeClass maps an HTTP status to its index in CodeClasses. No response
// (0) and statuses out of range count as 5xx: to the caller they are a
// server fault, and meshd and the SDK must agree on that.
func CodeClass(status int) int {
	c := status / 100
	if c < 1 || c > 5 {
		return 5
	}
	return c
}
