package dataplane

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/memory"
)

// app is the service behind meshd that receives deliveries.
type app struct {
	*backend
	mu   sync.Mutex
	got  []http.Header
	body []string
}

func startApp(t *testing.T, status func(n int) int) *app {
	a := &app{backend: startBackend(t, "app")}
	n := 0
	a.set(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.got = append(a.got, r.Header.Clone())
		a.body = append(a.body, string(b))
		n++
		code := status(n)
		a.mu.Unlock()
		w.WriteHeader(code)
	})
	return a
}

func (a *app) deliveries() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.got)
}

func gatewayConfig(appAddr, subs string) string {
	return fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
brokers:
  - {name: mem, type: memory}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes:
      - {match: {prefix: /v1/publish/}, publish: {}}
      - {match: {prefix: /events/}, cluster: app}
clusters:
  - {name: app, endpoints: [{address: %s}]}
subscriptions:
%s`, appAddr, subs)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func post(t *testing.T, url, body string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestGatewayPublishAndDeliver(t *testing.T) {
	a := startApp(t, func(int) int { return 200 })
	_, url := startMeshd(t, gatewayConfig(a.addr, `  - {name: to-app, broker: mem, topic: orders, ordered: true, deliver: {listener: ingress, path: /events/orders}}`))
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	// Binary mode.
	code, body := post(t, url+"/v1/publish/mem/orders", `{"id":42}`,
		"Content-Type", "application/json", "ce-id", "evt-1", "ce-source", "/shop", "ce-type", "order.created", "ce-specversion", "1.0", "traceparent", tp)
	if code != 204 {
		t.Fatalf("publish: %d %s", code, body)
	}
	// Structured mode.
	code, body = post(t, url+"/v1/publish/mem/orders", `{"specversion":"1.0","id":"evt-2","source":"/shop","type":"order.paid","datacontenttype":"application/json","data":{"id":43}}`,
		"Content-Type", "application/cloudevents+json")
	if code != 204 {
		t.Fatalf("structured publish: %d %s", code, body)
	}
	waitFor(t, "two deliveries", func() bool { return a.deliveries() == 2 })
	a.mu.Lock()
	defer a.mu.Unlock()
	h := a.got[0]
	if h.Get("Ce-Id") != "evt-1" || h.Get("Ce-Type") != "order.created" || a.body[0] != `{"id":42}` {
		t.Errorf("first delivery: %v %q", h, a.body[0])
	}
	if !strings.HasPrefix(h.Get("Traceparent"), "00-4bf92f3577b34da6a3ce929d0e0e4736-") {
		t.Errorf("trace context not carried to the subscriber: %q", h.Get("Traceparent"))
	}
	if a.got[1].Get("Ce-Id") != "evt-2" || a.body[1] != `{"id":43}` {
		t.Errorf("second delivery: %v %q", a.got[1], a.body[1])
	}
}

func TestGatewayBadInputAndUnavailable(t *testing.T) {
	a := startApp(t, func(int) int { return 200 })
	srv, url := startMeshd(t, gatewayConfig(a.addr, `  - {name: to-app, broker: mem, topic: orders, deliver: {listener: ingress, path: /events/orders}}`))
	tests := []struct {
		path, body string
		hdr        []string
		want       int
	}{
		{"/v1/publish/nope/orders", `{}`, []string{"Content-Type", "application/json"}, 404},
		{"/v1/publish/mem/", `{}`, nil, 404},
		{"/v1/publish/mem/orders", `{"specversion":"1.0"`, []string{"Content-Type", "application/cloudevents+json"}, 400},
	}
	for _, tt := range tests {
		if code, body := post(t, url+tt.path, tt.body, tt.hdr...); code != tt.want {
			t.Errorf("POST %s: %d %s, want %d", tt.path, code, body, tt.want)
		}
	}
	b, _ := srv.Broker("mem")
	b.(*memory.Broker).FailPublishes(1, nil)
	if code, body := post(t, url+"/v1/publish/mem/orders", `x`, "Content-Type", "text/plain"); code != 503 || !strings.Contains(body, "unavailable") {
		t.Errorf("broker down: %d %q, want 503", code, body)
	}
	resp, _ := client.Get(url + "/v1/publish/mem/orders")
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET publish: %d", resp.StatusCode)
	}
}

func dlq(t *testing.T, srv *Server, topic string) <-chan *brokers.Delivery {
	t.Helper()
	b, _ := srv.Broker("mem")
	ch, err := b.Subscribe(t.Context(), topic, brokers.SubscribeOptions{Group: "inspect"})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestGatewayPermanentRefusalDeadLetteredAtOnce(t *testing.T) {
	a := startApp(t, func(int) int { return 422 })
	srv, url := startMeshd(t, gatewayConfig(a.addr, `  - {name: to-app, broker: mem, topic: orders, max_attempts: 5, backoff: {base: 1ms, max: 2ms}, deliver: {listener: ingress, path: /events/orders}}`))
	dead := dlq(t, srv, "orders.dlq")
	if code, _ := post(t, url+"/v1/publish/mem/orders", `bad`, "Content-Type", "text/plain", "ce-id", "e1", "ce-source", "/s", "ce-type", "t", "ce-specversion", "1.0"); code != 204 {
		t.Fatal(code)
	}
	select {
	case d := <-dead:
		d.Ack(context.Background())
		if d.Message.ID != "e1" || string(d.Message.Payload) != "bad" {
			t.Errorf("dead letter: %+v", d.Message)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no dead letter")
	}
	if n := a.deliveries(); n != 1 {
		t.Errorf("a permanent refusal was delivered %d times, want 1", n)
	}
}

func TestGatewayRetriesThenDeadLetters(t *testing.T) {
	a := startApp(t, func(n int) int {
		if n <= 2 {
			return 503
		}
		return 200
	})
	srv, url := startMeshd(t, gatewayConfig(a.addr, `  - {name: to-app, broker: mem, topic: orders, max_attempts: 4, backoff: {base: 1ms, max: 2ms}, deliver: {listener: ingress, path: /events/orders}}`))
	post(t, url+"/v1/publish/mem/orders", `m1`, "Content-Type", "text/plain")
	waitFor(t, "delivery after two failures", func() bool { return a.deliveries() == 3 })
	// A message the app always fails goes to the dead-letter topic after
	// max_attempts.
	a.set(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.got = append(a.got, r.Header)
		a.mu.Unlock()
		w.WriteHeader(500)
	})
	dead := dlq(t, srv, "orders.dlq")
	post(t, url+"/v1/publish/mem/orders", `m2`, "Content-Type", "text/plain")
	select {
	case d := <-dead:
		d.Ack(context.Background())
		if string(d.Message.Payload) != "m2" {
			t.Errorf("dead letter payload %q", d.Message.Payload)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no dead letter after max_attempts")
	}
}
