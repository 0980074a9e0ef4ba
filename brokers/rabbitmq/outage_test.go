package rabbitmq_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/rabbitmq"
)

// proxy is a TCP forwarder to RabbitMQ that the test can cut and restore,
// to make the server unreachable without stopping it.
type proxy struct {
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
	target string
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String(), target: target}
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); _ = u.Close() }()
			go func() { _, _ = io.Copy(c, u); _ = c.Close() }()
		}
	}()
}

// cut closes the listener and every proxied connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// restore listens again on the same address.
func (p *proxy) restore(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The server becomes unreachable: Health and Publish report ErrUnavailable
// (never a silent drop); when it comes back the consumer resumes by
// itself; Close while unreachable returns promptly.
func TestUnreachableThenRecovered(t *testing.T) {
	requireRabbit(t)
	ctx := context.Background()
	px := newProxy(t, "127.0.0.1:5672")
	b := open(t, rabbitmq.Options{URL: "amqp://guest:guest@" + px.addr + "/"})
	tp := pair(t, b, url, "quorum")
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := b.Subscribe(sctx, tp.Sub, brokers.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}

	px.cut()
	waitFor(t, "health to fail", func() bool { return errors.Is(b.Health(ctx), brokers.ErrUnavailable) })
	pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = b.Publish(pctx, tp.Pub, brokers.NewMessage([]byte("lost?")))
	pcancel()
	if !errors.Is(err, brokers.ErrUnavailable) {
		t.Fatalf("publish while unreachable: %v, want ErrUnavailable", err)
	}

	px.restore(t)
	waitFor(t, "health to recover", func() bool { return b.Health(ctx) == nil })
	m := brokers.NewMessage([]byte("after"))
	if err := b.Publish(ctx, tp.Pub, m); err != nil {
		t.Fatal(err)
	}
	// The failed publish may or may not have reached the queue before the
	// cut; "after" must arrive on the subscription opened before the outage.
	for {
		select {
		case d := <-ch:
			_ = d.Ack(ctx)
			if d.Message.ID != m.ID {
				continue
			}
		case <-time.After(15 * time.Second):
			t.Fatal("consumer did not resume after reconnect")
		}
		break
	}
	if b.Reconnects() < 1 {
		t.Fatalf("reconnects %d", b.Reconnects())
	}

	px.cut()
	waitFor(t, "health to fail again", func() bool { return b.Health(ctx) != nil })
	blocked := make(chan error, 1)
	go func() { blocked <- b.Publish(ctx, tp.Pub, brokers.NewMessage(nil)) }()
	time.Sleep(100 * time.Millisecond)
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	defer ccancel()
	if err := b.Close(cctx); err != nil {
		t.Fatalf("close while unreachable: %v", err)
	}
	if err := <-blocked; !errors.Is(err, brokers.ErrClosed) {
		t.Fatalf("publish waiting for a reconnect when Close came: %v, want ErrClosed", err)
	}
}
