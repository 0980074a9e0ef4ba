package multi

import (
	"context"
	"fmt"
	"time"

	"github.com/wasmesh/wasmesh/discovery"
	"github.com/wasmesh/wasmesh/discovery/internal/watch"
)

type memberUpdate struct {
	i int
	u discovery.Update
}

// memberView is what the merge loop knows of one member for one watch.
type memberView struct {
	heard     bool
	set       []discovery.Instance // last set the member confirmed
	failSince time.Time            // zero while the member's watch is fine
}

// Watch follows service in every member and sends merged sets. The first
// set waits for every member's first answer (bounded by the initial
// wait), so it is never a partial view of a healthy system.
func (r *Registry) Watch(ctx context.Context, service string, f discovery.Filter) (<-chan discovery.Update, error) {
	if r.ctx.Err() != nil {
		return nil, fmt.Errorf("multi: watch: %w", discovery.ErrClosed)
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(r.ctx, cancel)
	in := make(chan memberUpdate)
	for i, m := range r.members {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.follow(ctx, i, m, service, f, in)
		}()
	}
	s := watch.NewSender()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer s.Close()
		defer stop()
		defer cancel()
		r.mergeLoop(ctx, service, in, s)
	}()
	return s.C(), nil
}

// follow forwards one member's updates, re-opening its watch if it fails
// to open or closes while the caller still watches.
func (r *Registry) follow(ctx context.Context, i int, m *member, service string, f discovery.Filter, in chan<- memberUpdate) {
	wait := 100 * time.Millisecond
	forward := func(u discovery.Update) bool {
		select {
		case in <- memberUpdate{i: i, u: u}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil {
		ch, err := m.Registry.Watch(ctx, service, f)
		if err == nil {
			for u := range ch {
				if !forward(u) {
					return
				}
				wait = 100 * time.Millisecond
			}
			if ctx.Err() != nil {
				return
			}
			err = fmt.Errorf("%w: watch closed by the backend", discovery.ErrUnavailable)
		}
		if !forward(discovery.Update{Err: fmt.Errorf("%s: %w", m.Name, err)}) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func (r *Registry) mergeLoop(ctx context.Context, service string, in <-chan memberUpdate, s *watch.Sender) {
	views := make([]memberView, len(r.members))
	heard := 0
	initial := time.NewTimer(r.o.initialWait)
	defer initial.Stop()
	started := false
	expiry := time.NewTimer(time.Hour)
	expiry.Stop()
	defer expiry.Stop()
	defer func() {
		for _, m := range r.members {
			r.o.metrics.instances.DeleteLabelValues(m.Name, service)
			r.o.metrics.stale.DeleteLabelValues(m.Name, service)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case mu := <-in:
			v := &views[mu.i]
			if !v.heard {
				v.heard = true
				heard++
			}
			if mu.u.Err == nil {
				v.set, v.failSince = mu.u.Instances, time.Time{}
			} else if v.failSince.IsZero() {
				v.failSince = time.Now()
				r.o.log.Warn("discovery watch failing, keeping last instances",
					"backend", r.members[mu.i].Name, "service", service, "err", mu.u.Err, "keep_for", r.o.keepStale)
			}
			if !started && heard < len(views) {
				continue
			}
		case <-initial.C:
			if started {
				continue
			}
		case <-expiry.C:
		}
		started = true
		next := r.emit(service, views, s)
		if !next.IsZero() {
			expiry.Reset(time.Until(next))
		}
	}
}

// emit sends the merged set and returns when the next kept stale set
// expires (zero if none).
func (r *Registry) emit(service string, views []memberView, s *watch.Sender) time.Time {
	now := time.Now()
	sets := make([][]discovery.Instance, len(views))
	var failing []string
	var next time.Time
	for i, v := range views {
		name := r.members[i].Name
		stale := 0.0
		switch {
		case !v.heard:
			failing = append(failing, name+" (no answer yet)")
		case v.failSince.IsZero():
			sets[i] = v.set
		default:
			failing = append(failing, name)
			if until := v.failSince.Add(r.o.keepStale); now.Before(until) {
				sets[i], stale = v.set, 1
				if next.IsZero() || until.Before(next) {
					next = until
				}
			}
		}
		r.o.metrics.instances.WithLabelValues(name, service).Set(float64(len(sets[i])))
		r.o.metrics.stale.WithLabelValues(name, service).Set(stale)
	}
	u := discovery.Update{Instances: r.merge(sets)}
	if len(failing) > 0 {
		u.Err = fmt.Errorf("multi: %w: failing backends: %s", discovery.ErrUnavailable, failingNames(failing))
	}
	if s.Send(u) {
		r.o.metrics.updates.WithLabelValues(service).Inc()
	}
	return next
}
