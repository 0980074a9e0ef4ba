package identity

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// PermissiveListener serves mTLS and plaintext on one port, as a
// permissive listener must: a connection whose first byte is a TLS
// handshake record (0x16) is wrapped with tls.Server(cfg); any other is
// passed on as it is, its first byte intact. Callers tell them apart with
// a type assertion to *tls.Conn.
//
// The first byte is read off the accept path, by a goroutine per
// connection, so a client that connects and says nothing blocks nobody;
// it is closed after sniffTimeout (0: 10s).
func PermissiveListener(ln net.Listener, cfg *tls.Config, sniffTimeout time.Duration) net.Listener {
	if sniffTimeout <= 0 {
		sniffTimeout = 10 * time.Second
	}
	p := &permissive{Listener: ln, cfg: cfg, timeout: sniffTimeout, conns: make(chan net.Conn), done: make(chan struct{})}
	go p.acceptLoop()
	return p
}

type permissive struct {
	net.Listener
	cfg     *tls.Config
	timeout time.Duration
	conns   chan net.Conn
	done    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	err     error
}

func (p *permissive) acceptLoop() {
	var delay time.Duration
	for {
		c, err := p.Listener.Accept()
		if err != nil {
			select {
			case <-p.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
				p.Close()
				return
			}
			// Out of file descriptors and the like: back off and retry,
			// as net/http does, rather than stop serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(delay):
			case <-p.done:
				return
			}
			continue
		}
		delay = 0
		go p.sniff(c)
	}
}

func (p *permissive) sniff(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(p.timeout))
	br := bufio.NewReaderSize(c, 1)
	b, err := br.Peek(1)
	if err != nil {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	var out net.Conn = &peekedConn{Conn: c, r: br}
	if b[0] == 0x16 {
		out = tls.Server(out, p.cfg)
	}
	select {
	case p.conns <- out:
	case <-p.done:
		c.Close()
	}
}

// Accept returns the next sniffed connection.
func (p *permissive) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.err != nil {
			return nil, p.err
		}
		return nil, net.ErrClosed
	}
}

// Close closes the underlying listener.
func (p *permissive) Close() error {
	var err error
	p.once.Do(func() {
		close(p.done)
		err = p.Listener.Close()
	})
	return err
}

// peekedConn reads through the buffer that holds the sniffed byte.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(b []byte) (int, error) { return c.r.Read(b) }
