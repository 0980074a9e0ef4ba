package dataplane

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	// The real adapters the gateway opens by type name.
	_ "github.com/wasmesh/wasmesh/brokers/rabbitmq"
	_ "github.com/wasmesh/wasmesh/brokers/redis"
)

// needService fails in CI and skips elsewhere when a server is not up.
func needService(t *testing.T, name, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not reachable at %s: %v (.ci/run starts it)", name, addr, err)
	}
	t.Skipf("%s is not reachable at %s", name, addr)
}

// TestGatewayDeliversFromNodeProducer has an independent producer — a
// Node.js service using amqplib — publish to RabbitMQ, and checks the
// messages reach the app through a meshd subscription, with their ids and
// trace context.
func TestGatewayDeliversFromNodeProducer(t *testing.T) {
	needService(t, "RabbitMQ", "127.0.0.1:5672")
	node := findTool(t, "node", "apt-get install nodejs")
	dir, _ := filepath.Abs("testdata/amqp-producer")
	if !fileExists(filepath.Join(dir, "node_modules", "amqplib", "package.json")) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("amqplib is not installed: npm ci --prefix %s (.ci/run does this)", dir)
		}
		t.Skipf("amqplib is not installed: npm ci --prefix %s", dir)
	}
	const url = "amqp://guest:guest@127.0.0.1:5672/"
	id := uuid.NewString()[:8]
	ex, q := "wm-gw-"+id, "wm-gw-"+id+".app"
	t.Cleanup(func() {
		conn, err := amqp.Dial(url)
		if err != nil {
			return
		}
		defer conn.Close()
		ch, _ := conn.Channel()
		ch.QueueDelete(q, false, false, false)
		ch.QueueDelete(q+".dlq", false, false, false)
		ch.ExchangeDelete(ex, false, false)
	})
	a := startApp(t, func(int) int { return 200 })
	startMeshd(t, fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
brokers:
  - name: rabbit
    type: rabbitmq
    url: %s
    options:
      exchanges: [{name: %s, type: topic}]
      queues: [{name: %s}, {name: %s.dlq}]
      bindings: [{exchange: %s, queue: %s, routingKey: "order.#"}]
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes: [{match: {prefix: /events/}, cluster: app}]
clusters:
  - {name: app, endpoints: [{address: %s}]}
subscriptions:
  - {name: orders, broker: rabbit, topic: %s, deliver: {listener: ingress, path: /events/orders}}
`, url, ex, q, q, ex, q, a.addr, q))
	out, err := exec.Command(node, filepath.Join(dir, "producer.js"), url, ex, "order.created", "20").CombinedOutput()
	if err != nil {
		t.Fatalf("node producer: %v\n%s", err, out)
	}
	waitFor(t, "20 deliveries", func() bool { return a.deliveries() >= 20 })
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := map[string]bool{}
	for i, h := range a.got {
		ids[h.Get("Ce-Id")] = true
		if h.Get("Traceparent") != "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" {
			t.Errorf("delivery %d lost the producer's trace context: %q", i, h.Get("Traceparent"))
		}
	}
	for i := range 20 {
		if !ids[fmt.Sprintf("node-%d", i)] {
			t.Errorf("message node-%d never reached the app", i)
		}
	}
}

// TestGatewayPublishReadByRedisCLI publishes through meshd to a Redis
// stream and reads the entries back with redis-cli, an independent client.
func TestGatewayPublishReadByRedisCLI(t *testing.T) {
	needService(t, "Redis", "127.0.0.1:6379")
	cli := findTool(t, "redis-cli", "apt-get install redis-tools")
	stream := "wm-gw-" + uuid.NewString()[:8]
	t.Cleanup(func() { exec.Command(cli, "-h", "127.0.0.1", "DEL", stream).Run() })
	_, url := startMeshd(t, `
logging: {access_log: false}
drain_grace: 1ms
brokers:
  - {name: cache, type: redis, url: "redis://127.0.0.1:6379/0"}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes: [{match: {prefix: /v1/publish/}, publish: {}}]
clusters: []
`)
	for i := range 3 {
		code, body := post(t, fmt.Sprintf("%s/v1/publish/cache/%s", url, stream), fmt.Sprintf(`{"n":%d}`, i),
			"Content-Type", "application/json", "ce-id", fmt.Sprintf("r-%d", i), "ce-source", "/t", "ce-type", "t", "ce-specversion", "1.0")
		if code != 204 {
			t.Fatalf("publish %d: %d %s", i, code, body)
		}
	}
	out, err := exec.Command(cli, "-h", "127.0.0.1", "XRANGE", stream, "-", "+").CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli: %v %s", err, out)
	}
	for i := range 3 {
		if !strings.Contains(string(out), fmt.Sprintf(`{"n":%d}`, i)) || !strings.Contains(string(out), fmt.Sprintf("r-%d", i)) {
			t.Errorf("redis-cli XRANGE lacks message %d:\n%s", i, out)
		}
	}
}
