package upstream

import (
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Host is one endpoint: its pool of keep-alive connections and its state.
type Host struct {
	Addr   string
	Client *fasthttp.HostClient
	// Source says where the endpoint came from (config, a registry, xDS).
	Source string

	weight int
	active atomic.Int64

	unhealthy  atomic.Bool
	ejected    atomic.Bool
	ejectUntil atomic.Int64 // unix nanos
	ejections  atomic.Int32 // multiplier for the next ejection time

	consec5xx atomic.Int32
	consecGW  atomic.Int32

	requests atomic.Uint64
	failures atomic.Uint64

	// owned by the health-check loop
	hcFails, hcPasses int
}

// ConnectError marks a failure to establish a connection, so the router can
// tell connect-failure (safe to retry, nothing was sent) from reset.
type ConnectError struct{ Err error }

// Error says the connect failed and why.
func (e *ConnectError) Error() string { return "connect: " + e.Err.Error() }

// Unwrap gives the dial error, for errors.Is.
func (e *ConnectError) Unwrap() error { return e.Err }

// IsConnectFailure reports whether err happened before anything was sent.
func IsConnectFailure(err error) bool {
	var ce *ConnectError
	return errors.As(err, &ce) || errors.Is(err, fasthttp.ErrDialTimeout)
}

type hostKey struct {
	cluster        string
	tls            bool
	addr           string
	weight         int
	connectTimeout time.Duration
	maxConns       int
}

func newHost(k hostKey, source string) *Host {
	ct := k.connectTimeout
	h := &Host{Addr: k.addr, weight: max(k.weight, 1), Source: source}
	h.Client = &fasthttp.HostClient{
		Addr: k.addr,
		Dial: func(addr string) (net.Conn, error) {
			c, err := fasthttp.DialTimeout(addr, ct)
			if err != nil {
				return nil, &ConnectError{Err: err}
			}
			return c, nil
		},
		MaxConns:                  k.maxConns,
		MaxConnWaitTimeout:        ct,
		MaxIdleConnDuration:       60 * time.Second,
		MaxIdemponentCallAttempts: 2,
		ReadBufferSize:            16 << 10,
		WriteBufferSize:           16 << 10,
		// Response bodies stream through as they arrive; the connection
		// returns to the pool when the downstream write has finished.
		StreamResponseBody:       true,
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true,
		// Only a reused keep-alive connection that the upstream had closed
		// is retried here; every other retry is the route's policy.
		RetryIfErr: func(req *fasthttp.Request, attempts int, err error) (bool, bool) {
			return false, attempts < 2 && errors.Is(err, fasthttp.ErrConnectionClosed) && !req.IsBodyStream()
		},
	}
	return h
}

// Weight implements lb.Host.
func (h *Host) Weight() int { return h.weight }

// Available implements lb.Host: healthy and not ejected.
func (h *Host) Available() bool { return !h.unhealthy.Load() && !h.ejected.Load() }

// ActiveRequests implements lb.Host.
func (h *Host) ActiveRequests() int64 { return h.active.Load() }

// Begin counts a request to the host; End must follow.
func (h *Host) Begin() { h.active.Add(1) }

// End ends a request begun with Begin.
func (h *Host) End() { h.active.Add(-1) }

// Healthy reports the active health-check state.
func (h *Host) Healthy() bool { return !h.unhealthy.Load() }

// Ejected reports whether outlier detection has ejected the host.
func (h *Host) Ejected() bool { return h.ejected.Load() }

// SuccessRate is the share of non-5xx answers so far, for /clusters.
func (h *Host) SuccessRate() float64 {
	n := h.requests.Load()
	if n == 0 {
		return 1
	}
	return 1 - float64(h.failures.Load())/float64(n)
}

// Requests is the number of tries sent to the host.
func (h *Host) Requests() uint64 { return h.requests.Load() }

// HashKey places the host on ring_hash and maglev tables by its address,
// so it keeps its keys whatever order a registry or reload lists it in.
func (h *Host) HashKey() string { return h.Addr }
