package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/wasmesh/wasmesh/eventlog"
)

// Metadata keys written on replicated events: where they came from.
const (
	MetaSource        = "replicated-from"
	MetaSourceVersion = "replicated-version"
)

// Conflict is what a strategy decides on: remote events for a stream that
// the replica also wrote locally since the last replicated event.
type Conflict struct {
	Stream string
	// Remote is the source event being applied.
	Remote eventlog.Event
	// Local are the replica's own events after the last replicated one.
	Local []eventlog.Event
}

// Decision is a strategy's answer.
type Decision struct {
	// Events to append to the replica's stream (after Local); none means
	// the remote event is not applied.
	Events []eventlog.Event
	// Reason is reported with the conflict.
	Reason string
}

// Strategy resolves a conflict.
type Strategy func(ctx context.Context, c Conflict) (Decision, error)

// RejectAndReport keeps the replica unchanged; the conflict is reported
// (OnConflict, the Conflicts counter) for a person or a process to settle.
// Later remote events of that stream conflict again until it is settled.
func RejectAndReport() Strategy {
	return func(context.Context, Conflict) (Decision, error) {
		return Decision{Reason: "rejected: stream written on both sides"}, nil
	}
}

// LastWriterWins applies the remote event if it is newer than the newest
// local one (by event time), and drops it otherwise.
func LastWriterWins() Strategy {
	return func(_ context.Context, c Conflict) (Decision, error) {
		newest := c.Local[len(c.Local)-1]
		if c.Remote.Time.After(newest.Time) {
			return Decision{Events: []eventlog.Event{c.Remote}, Reason: "remote is newer"}, nil
		}
		return Decision{Reason: "local is newer"}, nil
	}
}

// Merge lets user code decide: it returns the events to append (for
// example compensating or combined events); none skips the remote event.
func Merge(f func(ctx context.Context, c Conflict) ([]eventlog.Event, error)) Strategy {
	return func(ctx context.Context, c Conflict) (Decision, error) {
		evs, err := f(ctx, c)
		return Decision{Events: evs, Reason: "merged"}, err
	}
}

// Replicator applies events from a source to Target.
type Replicator struct {
	// Source names the origin (written into replicated events' metadata);
	// it is also the name of the replica's checkpoint.
	Source string
	// Target is the replica.
	Target eventlog.Store
	// Strategy resolves conflicts (default RejectAndReport).
	Strategy Strategy
	// OnConflict, if set, is told about every conflict and its decision.
	OnConflict func(Conflict, Decision)
	Logger     *slog.Logger

	applied, conflicts, skipped atomic.Int64
	lastPos                     atomic.Int64
	lastTime                    atomic.Int64 // unix nanos of the last applied event
	sourceHead                  atomic.Int64
}

// Stats are counters for metrics.
type Stats struct {
	// Applied events, Conflicts met, Skipped repeats.
	Applied, Conflicts, Skipped int64
	// Position is the last source position applied.
	Position int64
	// LagEvents is the source head minus Position (Run only).
	LagEvents int64
	// LagTime is how old the last applied event was when applied.
	LagTime time.Duration
}

// Stats returns the counters and the lag.
func (r *Replicator) Stats() Stats {
	s := Stats{Applied: r.applied.Load(), Conflicts: r.conflicts.Load(), Skipped: r.skipped.Load(), Position: r.lastPos.Load()}
	if h := r.sourceHead.Load(); h > s.Position {
		s.LagEvents = h - s.Position
	}
	if t := r.lastTime.Load(); t > 0 {
		s.LagTime = time.Duration(t)
	}
	return s
}

func (r *Replicator) checkpointName() string { return "replication-" + r.Source }

// Run follows source from the replica's checkpoint and applies every event
// until ctx ends.
func (r *Replicator) Run(ctx context.Context, source eventlog.Store) error {
	from, err := r.Target.Checkpoint(ctx, r.checkpointName())
	if err != nil {
		return err
	}
	r.lastPos.Store(from)
	stop := make(chan struct{})
	defer close(stop)
	go func() { // keep the source head fresh for LagEvents
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if h, err := source.Head(ctx); err == nil {
				r.sourceHead.Store(h)
			}
			select {
			case <-t.C:
			case <-stop:
				return
			}
		}
	}()
	return source.Subscribe(ctx, eventlog.SubscribeOptions{From: from}, func(ctx context.Context, e eventlog.Event) error {
		if err := r.Apply(ctx, e); err != nil {
			return err
		}
		return r.Target.SaveCheckpoint(ctx, r.checkpointName(), e.Position)
	})
}

// Apply applies one source event to the replica. Events of a stream must
// come in version order; a repeat is skipped.
func (r *Replicator) Apply(ctx context.Context, e eventlog.Event) error {
	for attempt := 0; ; attempt++ {
		err := r.apply(ctx, e)
		if errors.Is(err, eventlog.ErrConcurrency) && attempt < 5 {
			continue // a local write raced us: look again
		}
		if err == nil {
			r.lastPos.Store(e.Position)
			r.lastTime.Store(int64(time.Since(e.Time)))
		}
		return err
	}
}

func (r *Replicator) apply(ctx context.Context, e eventlog.Event) error {
	replicatedVersion, local, current, err := r.tail(ctx, e.Stream)
	if err != nil {
		return err
	}
	if e.Version <= replicatedVersion {
		r.skipped.Add(1)
		return nil
	}
	if len(local) == 0 {
		_, err := r.Target.Append(ctx, e.Stream, eventlog.Exact(current), r.copy(e, e))
		if errors.Is(err, eventlog.ErrDuplicateEvent) {
			r.skipped.Add(1)
			return nil
		}
		if err == nil {
			r.applied.Add(1)
		}
		return err
	}
	c := Conflict{Stream: e.Stream, Remote: e, Local: local}
	strategy := r.Strategy
	if strategy == nil {
		strategy = RejectAndReport()
	}
	d, err := strategy(ctx, c)
	if err != nil {
		return fmt.Errorf("replication: resolve conflict on %s: %w", e.Stream, err)
	}
	r.conflicts.Add(1)
	if r.OnConflict != nil {
		r.OnConflict(c, d)
	}
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Warn("replication: conflict", "stream", e.Stream, "remote_version", e.Version, "local_events", len(local), "decision", d.Reason, "appended", len(d.Events))
	if len(d.Events) == 0 {
		return nil
	}
	out := make([]eventlog.Event, len(d.Events))
	for i, de := range d.Events {
		out[i] = de
		if i == len(d.Events)-1 {
			// The last one records how far the source has been applied.
			out[i] = r.copy(de, e)
		}
	}
	if _, err := r.Target.Append(ctx, e.Stream, eventlog.Exact(current), out...); err != nil {
		return err
	}
	r.applied.Add(1)
	return nil
}

// copy returns ev marked as carrying the source up to src's version.
func (r *Replicator) copy(ev, src eventlog.Event) eventlog.Event {
	md := make(map[string]string, len(ev.Metadata)+2)
	for k, v := range ev.Metadata {
		md[k] = v
	}
	md[MetaSource] = r.Source
	md[MetaSourceVersion] = strconv.FormatInt(src.Version, 10)
	ev.Metadata = md
	return ev
}

// tail reads the replica's stream back to its newest replicated event:
// the source version it carried, the local events after it, and the
// stream's current version.
func (r *Replicator) tail(ctx context.Context, stream string) (replicated int64, local []eventlog.Event, current int64, err error) {
	from := eventlog.StreamEnd
	for {
		page, err := r.Target.ReadStream(ctx, stream, from, eventlog.Backward, 64)
		if err != nil {
			return 0, nil, 0, fmt.Errorf("replication: read %s: %w", stream, err)
		}
		if current == 0 && len(page) > 0 {
			current = page[0].Version
		}
		for _, e := range page {
			if e.Metadata[MetaSource] == r.Source {
				v, _ := strconv.ParseInt(e.Metadata[MetaSourceVersion], 10, 64)
				reverse(local)
				return v, local, current, nil
			}
			local = append(local, e)
		}
		if len(page) < 64 {
			reverse(local)
			return 0, local, current, nil
		}
		from = page[len(page)-1].Version - 1
	}
}

func reverse(es []eventlog.Event) {
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
}
