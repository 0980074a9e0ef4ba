package dataplane

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// h2Preface is what an HTTP/2 client with prior knowledge sends first.
var h2Preface = []byte(http2.ClientPreface)

// chanListener hands connections that meshd accepted (and unwrapped from
// TLS, or peeked at) to the fasthttp server.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

func (l *chanListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

// peekedConn replays bytes read while telling HTTP/1.1 from HTTP/2.
type peekedConn struct {
	net.Conn
	prefix []byte
}

func (c *peekedConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// sniffH2 reads just enough of a cleartext connection to know whether it
// starts with the HTTP/2 preface. Most HTTP/1.1 requests differ at the
// first byte.
func sniffH2(c net.Conn, timeout time.Duration) (net.Conn, bool, error) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 0, len(h2Preface))
	tmp := make([]byte, len(h2Preface))
	for len(buf) < len(h2Preface) {
		n, err := c.Read(tmp[:len(h2Preface)-len(buf)])
		buf = append(buf, tmp[:n]...)
		if !bytes.HasPrefix(h2Preface, buf) {
			return &peekedConn{Conn: c, prefix: buf}, false, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
	return &peekedConn{Conn: c, prefix: buf}, true, nil
}

// acceptLoop takes raw connections, terminates TLS, picks the protocol and
// hands each connection to the HTTP/1.1 or the HTTP/2 server.
func (s *Server) acceptLoop(l *listener) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		go s.dispatch(l, c)
	}
}

func (s *Server) dispatch(l *listener, c net.Conn) {
	timeout := l.idle
	ts := l.tlsState.Load()
	if ts != nil && ts.plain {
		// Permissive mTLS: a TLS handshake starts with a 0x16 record.
		_ = c.SetReadDeadline(time.Now().Add(timeout))
		var first [1]byte
		n, err := c.Read(first[:])
		_ = c.SetReadDeadline(time.Time{})
		if err != nil || n == 0 {
			c.Close()
			return
		}
		c = &peekedConn{Conn: c, prefix: first[:n]}
		if first[0] != 0x16 {
			s.dispatchPlain(l, c, timeout)
			return
		}
	}
	if ts != nil {
		tc := tls.Server(c, ts.cfg)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			s.log.Debug("TLS handshake failed", "listener", l.name, "remote", c.RemoteAddr().String(), "error", err)
			l.tlsFailures.Inc()
			c.Close()
			return
		}
		_ = tc.SetDeadline(time.Time{})
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			s.serveH2(l, tc)
			return
		}
		l.h1.push(tc)
		return
	}
	s.dispatchPlain(l, c, timeout)
}

func (s *Server) dispatchPlain(l *listener, c net.Conn, timeout time.Duration) {
	switch l.protocol {
	case "http1":
		l.h1.push(c)
	case "http2":
		s.serveH2(l, c)
	default:
		pc, isH2, err := sniffH2(c, timeout)
		if err != nil {
			c.Close()
			return
		}
		if isH2 {
			s.serveH2(l, pc)
			return
		}
		l.h1.push(pc)
	}
}

// h2State is a listener's HTTP/2 side: the server, its connections and the
// requests in flight, so a drain can wait for them.
type h2State struct {
	srv    *http2.Server
	base   *http.Server
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	active atomic.Int64 // requests in flight
}

func (s *Server) serveH2(l *listener, c net.Conn) {
	h := l.h2
	h.mu.Lock()
	if h.conns == nil {
		h.mu.Unlock()
		c.Close()
		return
	}
	h.conns[c] = struct{}{}
	h.mu.Unlock()
	l.conns.Inc()
	defer func() {
		l.conns.Dec()
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
	}()
	h.srv.ServeConn(c, &http2.ServeConnOpts{Context: s.ctx, BaseConfig: h.base, Handler: h.base.Handler})
}

// shutdownH2 sends GOAWAY on every HTTP/2 connection, waits for requests in
// flight (or ctx), then closes what is left.
func (h *h2State) shutdown(ctx context.Context) error {
	h.mu.Lock()
	conns := h.conns
	h.conns = nil
	h.mu.Unlock()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	_ = h.base.Shutdown(sctx) // triggers GOAWAY on connections served with it
	cancel()
	var err error
	for h.active.Load() > 0 {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-time.After(5 * time.Millisecond):
			continue
		}
		break
	}
	for c := range conns {
		c.Close()
	}
	return err
}
