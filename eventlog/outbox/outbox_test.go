package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/filelog"
	"github.com/wasmesh/wasmesh/eventlog/outbox"
)

func TestMessageRoundTrip(t *testing.T) {
	ctx := eventlog.WithCorrelationID(context.Background(), "corr")
	l, _ := filelog.Open(t.TempDir(), filelog.Options{})
	defer l.Close()
	e := eventlog.NewEvent("Paid", []byte("{}"))
	e.Metadata = map[string]string{"tenant": "t"}
	e.SchemaVersion = 2
	r, err := l.Append(ctx, "pay-1", eventlog.Any, e)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := l.ReadAll(ctx, r.FirstPosition, 1)
	got, err := outbox.FromMessage(outbox.ToMessage(stored[0]))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", stored[0]) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, stored[0])
	}
	if _, err := outbox.FromMessage(outbox.Message{ID: "x"}); err == nil {
		t.Fatal("garbage message decoded")
	}
}

// flaky is an in-memory broker that refuses some publishes and checks that
// every message it accepts is already in the store.
type flaky struct {
	store eventlog.Store
	mu    sync.Mutex
	calls int
	got   []outbox.Message
	err   error
}

func (f *flaky) Publish(ctx context.Context, topic string, msgs ...outbox.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls%3 == 0 {
		return errors.New("broker unavailable")
	}
	for _, m := range msgs {
		e, err := outbox.FromMessage(m)
		if err != nil {
			return err
		}
		stored, err := f.store.ReadAll(context.Background(), e.Position, 1)
		if err != nil || len(stored) != 1 || stored[0].ID.String() != m.ID {
			f.err = fmt.Errorf("message %s published before it was stored", m.ID)
		}
		if topic != eventlog.Category(e.Stream) {
			f.err = fmt.Errorf("topic %q for stream %q", topic, e.Stream)
		}
		f.got = append(f.got, m)
	}
	return nil
}

func (f *flaky) messages() []outbox.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]outbox.Message(nil), f.got...)
}

// TestRelayNeverLosesNorReorders: writers append while the relay publishes
// through a broker that fails every third call; the relay is stopped and the
// store closed and reopened half-way. Every event must be published (ids
// unique after de-duplication), each stream in order, none before stored.
func TestRelayNeverLosesNorReorders(t *testing.T) {
	dir := t.TempDir()
	open := func() *filelog.Log {
		l, err := filelog.Open(dir, filelog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	pub := &flaky{}
	total := 0
	for round := 0; round < 2; round++ {
		store := open()
		pub.mu.Lock()
		pub.store = store
		pub.mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		relay := &outbox.Relay{Store: store, Publisher: pub, MaxBackoff: 20 * time.Millisecond}
		done := make(chan error, 1)
		go func() { done <- relay.Run(ctx) }()
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					if _, err := store.Append(ctx, fmt.Sprintf("order-%d", rand.IntN(5)), eventlog.Any, eventlog.NewEvent("E", nil)); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		total += 80
		if round == 0 {
			time.Sleep(20 * time.Millisecond) // stop it somewhere in the middle
		} else {
			waitDistinct(t, pub, total)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("relay: %v", err)
		}
		store.Close()
	}
	if pub.err != nil {
		t.Fatal(pub.err)
	}
	seen := map[string]bool{}
	last := map[string]int64{}
	for _, m := range pub.messages() {
		e, _ := outbox.FromMessage(m)
		if seen[m.ID] {
			continue // a repeat after the restart: consumers de-duplicate by id
		}
		seen[m.ID] = true
		if e.Version != last[e.Stream]+1 {
			t.Fatalf("stream %s: version %d published after %d", e.Stream, e.Version, last[e.Stream])
		}
		last[e.Stream] = e.Version
	}
	if len(seen) != total {
		t.Fatalf("%d distinct events published, want %d", len(seen), total)
	}
}

func waitDistinct(t *testing.T, pub *flaky, n int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		ids := map[string]bool{}
		for _, m := range pub.messages() {
			ids[m.ID] = true
		}
		if len(ids) >= n {
			return
		}
	}
	t.Fatalf("relay did not publish %d events", n)
}

// jsPublisher publishes to NATS JetStream with the event id as Nats-Msg-Id,
// so JetStream itself drops repeats.
type jsPublisher struct{ js jetstream.JetStream }

func (p jsPublisher) Publish(ctx context.Context, topic string, msgs ...outbox.Message) error {
	for _, m := range msgs {
		msg := nats.NewMsg(topic)
		msg.Data = m.Payload
		for k, v := range m.Headers {
			msg.Header.Set(k, v)
		}
		if _, err := p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(m.ID)); err != nil {
			return err
		}
	}
	return nil
}

// TestRelayToJetStream publishes through a real broker, then replays the
// whole log (checkpoint reset): the broker keeps each event once.
func TestRelayToJetStream(t *testing.T) {
	if c, err := net.DialTimeout("tcp", "127.0.0.1:4222", time.Second); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("NATS JetStream not reachable at 127.0.0.1:4222: start nats-server -js (%v)", err)
		}
		t.Skipf("NATS not reachable: %v", err)
	} else {
		c.Close()
	}
	nc, err := nats.Connect("nats://127.0.0.1:4222")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("OUTBOX_TEST_%d", rand.IntN(1e9))
	cat := fmt.Sprintf("ob%d", rand.IntN(1e9))
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{cat}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	defer js.DeleteStream(context.Background(), name)

	store, _ := filelog.Open(t.TempDir(), filelog.Options{})
	defer store.Close()
	for i := 0; i < 30; i++ {
		if _, err := store.Append(ctx, fmt.Sprintf("%s-%d", cat, i%3), eventlog.Any, eventlog.NewEvent("E", []byte{byte(i)})); err != nil {
			t.Fatal(err)
		}
	}
	for run := 0; run < 2; run++ {
		if run == 1 {
			_ = store.SaveCheckpoint(ctx, "outbox", 0) // replay everything
		}
		rctx, stop := context.WithCancel(ctx)
		relay := &outbox.Relay{Store: store, Publisher: jsPublisher{js}}
		done := make(chan struct{})
		go func() { relay.Run(rctx); close(done) }()
		for relay.Stats().Published < 30 && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		<-done
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 30 {
		t.Fatalf("JetStream holds %d messages after a full replay, want 30 (de-duplicated by event id)", info.State.Msgs)
	}
	first, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if first.Header.Get(outbox.HeaderVersion) != "1" || first.Header.Get(outbox.HeaderStream) != cat+"-0" {
		t.Fatalf("first message headers = %v", first.Header)
	}
}
