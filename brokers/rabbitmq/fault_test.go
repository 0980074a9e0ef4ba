package rabbitmq_test

import (
	"context"
	"fmt"
	neturl "net/url"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wasmesh/wasmesh/brokers"
	"github.com/wasmesh/wasmesh/brokers/rabbitmq"
)

// vhost creates a throw-away virtual host so that
// `rabbitmqctl close_all_connections -p <vhost>` hits only this test's
// connections, not those of other tests sharing the server.
func vhost(t *testing.T) (string, string) {
	t.Helper()
	requireRabbit(t)
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("rabbitmqctl is needed for the fault tests (it comes with rabbitmq-server)")
		}
		t.Skip("rabbitmqctl not found")
	}
	name := "wasmesh-test-" + uuid.NewString()[:8]
	ctl(t, "add_vhost", name)
	t.Cleanup(func() { ctl(t, "delete_vhost", name) })
	ctl(t, "set_permissions", "-p", name, "guest", ".*", ".*", ".*")
	return name, "amqp://guest:guest@127.0.0.1:5672/" + neturl.PathEscape(name)
}

func ctl(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		t.Errorf("rabbitmqctl %v: %v\n%s", args, err, out)
	}
}

// The server closes every connection mid-stream, twice, while 10,000
// messages are published with confirms: every confirmed message is consumed.
func TestFaultConnectionsClosedMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	vh, vurl := vhost(t)
	ctx := context.Background()
	b := open(t, rabbitmq.Options{URL: vurl, Prefetch: 200, Topology: rabbitmq.Topology{
		Exchanges: []rabbitmq.Exchange{{Name: "orders", Type: "direct"}},
		Queues:    []rabbitmq.Queue{{Name: "orders.q", Type: "quorum"}},
		Bindings:  []rabbitmq.Binding{{Exchange: "orders", Queue: "orders.q", RoutingKey: "k"}},
	}})
	defer b.Close(ctx)

	var mu sync.Mutex
	consumed := map[string]bool{}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- brokers.Serve(sctx, b, "orders.q", brokers.SubscribeOptions{}, func(_ context.Context, d *brokers.Delivery) error {
			mu.Lock()
			consumed[d.Message.ID] = true
			mu.Unlock()
			return nil
		}, brokers.ServeOptions{Concurrency: 4})
	}()

	const total, workers, batch = 10000, 4, 25
	confirmed := make([][]string, workers)
	// rabbitmqctl takes seconds to start; so that both closes land while
	// publishing is still going on, publishers hold their last 10% until
	// the second close has been made.
	killsDone := make(chan struct{})
	var nConfirmed, publishErrors atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; i < total/workers; i += batch {
				if i == total/workers*9/10 {
					<-killsDone
				}
				msgs := make([]*brokers.Message, batch)
				for j := range msgs {
					msgs[j] = brokers.NewMessage([]byte(fmt.Sprint(w, "-", i+j)))
					msgs[j].Key = "k"
				}
				for {
					pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
					err := b.Publish(pctx, "orders", msgs...)
					pcancel()
					if err == nil {
						break
					}
					// Not confirmed: the caller retries (at-least-once).
					publishErrors.Add(1)
				}
				for _, m := range msgs {
					confirmed[w] = append(confirmed[w], m.ID)
				}
				nConfirmed.Add(batch)
			}
		})
	}
	killed := make(chan struct{})
	var midStream atomic.Int32
	go func() {
		defer close(killed)
		defer close(killsDone)
		for _, at := range []int64{1000, 3000} {
			for nConfirmed.Load() < at {
				time.Sleep(5 * time.Millisecond)
			}
			ctl(t, "close_all_connections", "-p", vh, "test")
			if nConfirmed.Load() < total {
				midStream.Add(1)
			}
		}
	}()
	wg.Wait()
	<-killed

	want := 0
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing := 0
		mu.Lock()
		for _, ids := range confirmed {
			for _, id := range ids {
				if !consumed[id] {
					missing++
				}
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d confirmed messages never consumed", missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, ids := range confirmed {
		want += len(ids)
	}
	if want != total {
		t.Fatalf("confirmed %d, want %d", want, total)
	}
	if midStream.Load() != 2 {
		t.Fatalf("%d of 2 closes happened while publishing was still going on", midStream.Load())
	}
	for b.Reconnects() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if b.Reconnects() < 2 {
		t.Fatalf("reconnected %d times, want 2 (were the connections closed?)", b.Reconnects())
	}
	t.Logf("10000 confirmed and consumed; %d reconnects (%d while publishing), %d publish calls retried by the caller", b.Reconnects(), midStream.Load(), publishErrors.Load())
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}
