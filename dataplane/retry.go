package dataplane

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/wasmesh/wasmesh/dataplane/internal/upstream"
)

// upstreamCall is one request's way of sending a try: fasthttp for
// HTTP/1.1, net/http for HTTP/2 and gRPC. The policy around it — picking,
// breakers, deadlines, retries, outlier detection, metrics — is shared.
type upstreamCall interface {
	// send makes one try to h. status is the HTTP status; grpc is the
	// grpc-status of a trailers-only answer, or -1.
	send(h *upstream.Host, deadline time.Time, perTry time.Duration, attempt int) (status, grpc int, err error)
	// canResend says whether the request may go out again after a try
	// that failed this way (a streamed body cannot, unless nothing was
	// sent).
	canResend(connectFail bool) bool
}

// callResult is what the loop ends with.
type callResult struct {
	host     *upstream.Host
	attempts int
	status   int
	grpc     int
	err      error
	// refused is the breaker limit (or "no_healthy_upstream") that kept
	// the request from being sent, when it was not.
	refused string
	// perTryTimeout is true when err is a per-try (not total) timeout.
	perTryTimeout bool
}

const refusedNoHost = "no_healthy_upstream"

// errPerTryTimeout marks a try cut by its own timeout, as opposed to the
// route's total timeout.
var errPerTryTimeout = errors.New("per-try timeout")

func isTimeout(err error) bool {
	return errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, errPerTryTimeout) || errors.Is(err, errTotalTimeout)
}

var errTotalTimeout = errors.New("route timeout")

// call runs the route's retry policy around c. The caller has admitted
// the request into cl (Admit) and holds it until it has written the
// response.
func (s *Server) call(rt *routeSnap, cl *upstream.Cluster, c upstreamCall, hash uint64, deadline time.Time) callResult {
	var (
		r        callResult
		prev     *upstream.Host
		inRetry  bool
		maxTries = 1
	)
	if rt.retry != nil {
		maxTries = rt.retry.attempts
	}
	defer func() {
		if inRetry {
			cl.RetryDone()
		}
	}()
	per := rt.perTry
	if per == 0 {
		per = rt.idle
	}
	for r.attempts = 1; ; r.attempts++ {
		h := cl.Pick(hash, prev)
		if h == nil {
			r.refused = refusedNoHost
			return r
		}
		r.host = h
		ok, reason, waiting := cl.AdmitTry(h)
		if !ok {
			r.refused = reason
			return r
		}
		tryDeadline := deadline
		perTry := time.Duration(0)
		if per > 0 && (tryDeadline.IsZero() || time.Now().Add(per).Before(tryDeadline)) {
			perTry = per
		}
		h.Begin()
		t0 := time.Now()
		r.status, r.grpc, r.err = c.send(h, tryDeadline, perTry, r.attempts)
		h.End()
		cl.TryDone(waiting)
		tryTime := time.Since(t0).Seconds()

		outcome := upstream.OutcomeOK
		connectFail := false
		r.perTryTimeout = false
		switch {
		case r.err != nil:
			outcome = upstream.OutcomeGatewayError
			cl.M.Duration.Observe(0, true, tryTime)
			switch {
			case upstream.IsConnectFailure(r.err):
				connectFail = true
				cl.M.ErrConnect.Inc()
			case isTimeout(r.err):
				if perTry > 0 && !errors.Is(r.err, errTotalTimeout) && (deadline.IsZero() || time.Now().Before(deadline)) {
					r.perTryTimeout = true
					cl.M.TimeoutTry.Inc()
				} else {
					cl.M.TimeoutTotal.Inc()
				}
			case errors.Is(r.err, fasthttp.ErrNoFreeConns):
				cl.M.Overflow[upstream.OverflowConnections].Inc()
			default:
				cl.M.ErrReset.Inc()
			}
		case r.status >= 500 || grpcServerError(r.grpc):
			outcome = upstream.Outcome5xx
			if r.status == 502 || r.status == 503 || r.status == 504 || r.grpc == grpcUnavailable {
				outcome = upstream.OutcomeGatewayError
			}
			cl.M.Duration.Observe(r.status, true, tryTime)
		default:
			cl.M.Duration.Observe(r.status, false, tryTime)
		}
		cl.Record(h, outcome)

		if r.attempts >= maxTries || !shouldRetry(rt.retry, r, connectFail) || !c.canResend(connectFail) {
			return r
		}
		if inRetry {
			cl.RetryDone()
			inRetry = false
		}
		if ok, _ := cl.AdmitRetry(); !ok {
			return r
		}
		inRetry = true
		if !sleepBackoff(rt.retry, r.attempts, deadline) {
			return r
		}
		prev = h
	}
}

func shouldRetry(p *retryPolicy, r callResult, connectFail bool) bool {
	if p == nil {
		return false
	}
	if r.err != nil {
		switch {
		case connectFail:
			return p.onConnect
		case isTimeout(r.err):
			return r.perTryTimeout && (p.on5xx || p.onGW || p.grpc[grpcDeadlineExceeded])
		default:
			return p.onReset
		}
	}
	if r.grpc > 0 && r.grpc < len(p.grpc) && p.grpc[r.grpc] {
		return true
	}
	return p.retriableStatus(r.status)
}

// sleepBackoff waits base·2^(n-1) with full jitter, capped at max, and
// reports false when the route's deadline would pass first.
func sleepBackoff(p *retryPolicy, attempt int, deadline time.Time) bool {
	d := p.base << (attempt - 1)
	if d > p.max || d <= 0 {
		d = p.max
	}
	if d > 0 {
		d = time.Duration(rand.Int64N(int64(d) + 1))
	}
	if !deadline.IsZero() && time.Now().Add(d).After(deadline) {
		return false
	}
	if d > 0 {
		t := time.NewTimer(d)
		<-t.C
	}
	return true
}

// gRPC status codes meshd acts on.
const (
	grpcOK                = 0
	grpcCancelled         = 1
	grpcUnknown           = 2
	grpcDeadlineExceeded  = 4
	grpcPermissionDenied  = 7
	grpcResourceExhausted = 8
	grpcUnimplemented     = 12
	grpcInternal          = 13
	grpcUnavailable       = 14
	grpcUnauthenticated   = 16
)

func grpcServerError(code int) bool {
	return code == grpcUnavailable || code == grpcInternal || code == grpcUnknown || code == grpcDeadlineExceeded
}

// grpcFromHTTP maps a local HTTP status to a gRPC status, as the gRPC
// spec's HTTP-to-gRPC table does, with meshd's own timeouts as
// DEADLINE_EXCEEDED.
func grpcFromHTTP(status int) int {
	switch status {
	case 400:
		return grpcInternal
	case 401:
		return grpcUnauthenticated
	case 403:
		return grpcPermissionDenied
	case 404:
		return grpcUnimplemented
	case 429:
		return grpcResourceExhausted
	case 504:
		return grpcDeadlineExceeded
	case 502, 503:
		return grpcUnavailable
	}
	if status >= 200 && status < 300 {
		return grpcOK
	}
	return grpcUnknown
}
