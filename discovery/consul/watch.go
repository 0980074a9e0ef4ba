package consul

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wasmesh/wasmesh/discovery"
	"github.com/wasmesh/wasmesh/discovery/internal/watch"
)

// Watch follows the service with blocking queries. It never fails for an
// unreachable agent: it sends an Update with Err and retries with backoff.
func (r *Registry) Watch(ctx context.Context, service string, f discovery.Filter) (<-chan discovery.Update, error) {
	if r.closed() {
		return nil, fmt.Errorf("consul: watch: %w", discovery.ErrClosed)
	}
	s := watch.NewSender()
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(r.ctx, cancel)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer s.Close()
		defer stop()
		defer cancel()
		r.watchLoop(ctx, service, f, s)
	}()
	return s.C(), nil
}

func (r *Registry) watchLoop(ctx context.Context, service string, f discovery.Filter, s *watch.Sender) {
	var (
		index   uint64
		last    []discovery.Instance
		started time.Time
		backoff = 100 * time.Millisecond
	)
	sleep := func(d time.Duration) bool {
		if d <= 0 {
			return true
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for {
		// Rate limit: a query that returns at once (no change, a
		// misbehaving server, an index reset) cannot make a busy loop.
		if !sleep(time.Until(started.Add(r.cfg.MinQueryInterval.Std()))) {
			return
		}
		started = time.Now()
		q := &api.QueryOptions{Datacenter: r.cfg.Datacenter, WaitIndex: index, WaitTime: r.cfg.WaitTime.Std()}
		entries, meta, err := r.client.Health().Service(service, "", true, q.WithContext(ctx))
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.Send(discovery.Update{Instances: last, Err: mapErr("watch "+service, err)})
			if !sleep(backoff) {
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			index = 0 // start over: the state may have changed in any way
			continue
		}
		backoff = 100 * time.Millisecond
		switch {
		case meta.LastIndex < index:
			// The index went backwards (snapshot restore, another
			// server): Consul says reset and read again from scratch.
			r.log.Info("consul index went backwards, resetting", "service", service, "from", index, "to", meta.LastIndex)
			index = 0
			continue
		case meta.LastIndex == 0:
			index = 1 // never block on 0, which would return at once forever
		default:
			index = meta.LastIndex
		}
		last = f.Apply(toInstances(entries))
		s.Send(discovery.Update{Instances: last}) // an unchanged set is dropped by the Sender
	}
}
