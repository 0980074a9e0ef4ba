package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/filelog"
	"github.com/wasmesh/wasmesh/eventlog/postgres"
)

const pgDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&pool_max_conns=70"

var payload = []byte(`{"order":"4711","sku":"ABC-123","qty":2,"price":1999,"note":"a typical small event payload of ~100 B"}`)

func need(b *testing.B, addr, what string) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		return
	}
	if os.Getenv("CI") == "true" {
		b.Fatalf("%s not reachable at %s: %v", what, addr, err)
	}
	b.Skipf("%s not reachable at %s: %v", what, addr, err)
}

// appender is one backend's durable append of one event by writer w.
type appender func(ctx context.Context, w int) error

// runWriters spreads b.N appends over n concurrent writers and reports
// appends per second.
func runWriters(b *testing.B, n int, app appender) {
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := app(ctx, w); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

func openFileLog(b *testing.B) *filelog.Log {
	l, err := filelog.Open(b.TempDir(), filelog.Options{Durability: filelog.SyncGroup})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

func openPG(b *testing.B) *postgres.Store {
	need(b, "127.0.0.1:5432", "PostgreSQL")
	schema := fmt.Sprintf("eventlog_bench_%d", rand.IntN(1e9))
	s, err := postgres.Open(context.Background(), postgres.Config{DSN: pgDSN, Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		s.Close()
		ctx := context.Background()
		if c, err := pgx.Connect(ctx, pgDSN); err == nil {
			c.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			c.Close(ctx)
		}
	})
	return s
}

// jetStreamFixture is a fresh file-backed stream.
type jetStreamFixture struct {
	js     jetstream.JetStream
	stream string
}

func openJS(b *testing.B) *jetStreamFixture {
	need(b, "127.0.0.1:4222", "NATS JetStream")
	nc, err := nats.Connect("nats://127.0.0.1:4222")
	if err != nil {
		b.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	name := fmt.Sprintf("EVBENCH_%d", rand.IntN(1e9))
	ctx := context.Background()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.FileStorage,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		js.DeleteStream(context.Background(), name)
		nc.Close()
	})
	return &jetStreamFixture{js: js, stream: name}
}

func storeAppender(s eventlog.Store) appender {
	return func(ctx context.Context, w int) error {
		_, err := s.Append(ctx, fmt.Sprintf("bench-%d", w), eventlog.Any, eventlog.NewEvent("Bench", payload))
		return err
	}
}

func (f *jetStreamFixture) appender() appender {
	return func(ctx context.Context, w int) error {
		_, err := f.js.Publish(ctx, fmt.Sprintf("%s.bench-%d", f.stream, w), payload)
		return err
	}
}

// BenchmarkAppend: durable appends per second (acknowledged after fsync for
// the file log and PostgreSQL; after JetStream's PubAck from a file-backed
// stream for the baseline).
func BenchmarkAppend(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("filelog/writers=%d", writers), func(b *testing.B) {
			l := openFileLog(b)
			runWriters(b, writers, storeAppender(l))
			st := l.Stats()
			if st.Syncs > 0 {
				b.ReportMetric(float64(st.Appends)/float64(st.Syncs), "appends/fsync")
			}
		})
		b.Run(fmt.Sprintf("postgres/writers=%d", writers), func(b *testing.B) {
			runWriters(b, writers, storeAppender(openPG(b)))
		})
		b.Run(fmt.Sprintf("jetstream/writers=%d", writers), func(b *testing.B) {
			runWriters(b, writers, openJS(b).appender())
		})
	}
}

const readSet = 20000

// prefill appends readSet events in batches (not timed).
func prefill(b *testing.B, s eventlog.Store) {
	ctx := context.Background()
	batch := make([]eventlog.Event, 100)
	for i := range batch {
		batch[i] = eventlog.NewEvent("Bench", payload)
	}
	for i := 0; i < readSet/len(batch); i++ {
		if _, err := s.Append(ctx, fmt.Sprintf("read-%d", i%10), eventlog.Any, batch...); err != nil {
			b.Fatal(err)
		}
	}
}

// readStore reads b.N events in global order, 100 per call, wrapping around.
func readStore(b *testing.B, s eventlog.Store) {
	ctx := context.Background()
	b.ResetTimer()
	from := int64(1)
	for n := 0; n < b.N; {
		page, err := s.ReadAll(ctx, from, min(100, b.N-n))
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			from = 1
			continue
		}
		n += len(page)
		from = page[len(page)-1].Position + 1
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

// BenchmarkRead: events read per second in order, in batches of 100.
func BenchmarkRead(b *testing.B) {
	b.Run("filelog", func(b *testing.B) {
		l := openFileLog(b)
		prefill(b, l)
		readStore(b, l)
	})
	b.Run("postgres", func(b *testing.B) {
		s := openPG(b)
		prefill(b, s)
		readStore(b, s)
	})
	b.Run("jetstream", func(b *testing.B) {
		f := openJS(b)
		ctx := context.Background()
		for i := 0; i < readSet; i += 1000 {
			acks := make([]jetstream.PubAckFuture, 0, 1000)
			for k := 0; k < 1000; k++ {
				a, err := f.js.PublishAsync(f.stream+".read", payload)
				if err != nil {
					b.Fatal(err)
				}
				acks = append(acks, a)
			}
			for _, a := range acks {
				select {
				case <-a.Ok():
				case err := <-a.Err():
					b.Fatal(err)
				}
			}
		}
		b.ResetTimer()
		var cons jetstream.Consumer
		left := 0
		for n := 0; n < b.N; {
			if left == 0 {
				var err error
				if cons, err = f.js.OrderedConsumer(ctx, f.stream, jetstream.OrderedConsumerConfig{}); err != nil {
					b.Fatal(err)
				}
				left = readSet
			}
			batch, err := cons.Fetch(min(100, b.N-n, left), jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				b.Fatal(err)
			}
			got := 0
			for range batch.Messages() {
				got++
			}
			if err := batch.Error(); err != nil {
				b.Fatal(err)
			}
			if got == 0 {
				b.Fatal("JetStream fetch returned nothing")
			}
			n += got
			left -= got
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
	})
}
