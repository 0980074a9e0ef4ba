package etcd

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/wasmesh/wasmesh/discovery"
	"github.com/wasmesh/wasmesh/discovery/internal/watch"
)

// Watch lists the service once and then follows its prefix revision by
// revision. It never fails for an unreachable etcd: it sends an Update
// with Err and keeps retrying.
func (r *Registry) Watch(ctx context.Context, service string, f discovery.Filter) (<-chan discovery.Update, error) {
	if r.closed() {
		return nil, fmt.Errorf("etcd: watch: %w", discovery.ErrClosed)
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
		(&watchLoop{r: r, service: service, filter: f, out: s}).run(ctx)
	}()
	return s.C(), nil
}

type watchLoop struct {
	r       *Registry
	service string
	filter  discovery.Filter
	out     *watch.Sender
	state   map[string]discovery.Instance // by key
	rev     int64                         // last revision applied; 0: list again
	failing error
}

func (w *watchLoop) send() {
	all := make([]discovery.Instance, 0, len(w.state))
	for _, inst := range w.state {
		all = append(all, inst)
	}
	w.out.Send(discovery.Update{Instances: w.filter.Apply(all), Err: w.failing})
}

func (w *watchLoop) fail(err error) {
	w.failing = err
	w.send()
}

func (w *watchLoop) run(ctx context.Context) {
	dir := w.r.serviceDir(w.service)
	wait := 100 * time.Millisecond
	pause := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
			wait = min(2*wait, 2*time.Second)
			return true
		}
	}
	for ctx.Err() == nil {
		if w.rev == 0 {
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			resp, err := w.r.cli.Get(lctx, dir, clientv3.WithPrefix())
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					w.fail(unavailable("list "+w.service, err))
				}
				if !pause() {
					return
				}
				continue
			}
			w.state = map[string]discovery.Instance{}
			for _, kv := range resp.Kvs {
				if inst, err := decode(w.service, string(kv.Key), kv.Value); err == nil {
					w.state[string(kv.Key)] = inst
				}
			}
			w.rev, w.failing = resp.Header.Revision, nil
			w.send()
		}
		if w.follow(ctx, dir) {
			wait = 100 * time.Millisecond
		} else if !pause() {
			return
		}
	}
}

// follow watches from w.rev+1 until the watch breaks; it reports whether
// it made progress (to reset the retry backoff).
func (w *watchLoop) follow(ctx context.Context, dir string) bool {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	// clientv3's Watch blocks until its stream is set up, which it is not
	// while etcd is unreachable; open it aside so health notes still flow.
	opened := make(chan clientv3.WatchChan, 1)
	go func() { opened <- w.r.cli.Watch(wctx, dir, clientv3.WithPrefix(), clientv3.WithRev(w.rev+1)) }()
	var wch clientv3.WatchChan // nil (never ready) until opened
	progressed := false
	for {
		herr, note := w.r.healthState()
		if (herr == nil) != (w.failing == nil) {
			// The monitor's view changed: flag the set as stale, or clear
			// the flag; events missed meanwhile arrive through the
			// resumed watch.
			w.fail(herr)
		}
		select {
		case <-ctx.Done():
			return progressed
		case <-note:
			continue
		case wch = <-opened:
			continue
		case wr, ok := <-wch:
			if !ok {
				return progressed
			}
			if wr.CompactRevision != 0 {
				// Our revision was compacted away: only a fresh list is
				// consistent now.
				w.rev = 0
				return progressed
			}
			if err := wr.Err(); err != nil {
				if ctx.Err() == nil {
					w.fail(unavailable("watch "+w.service, err))
				}
				return progressed
			}
			if wr.IsProgressNotify() || len(wr.Events) == 0 {
				continue
			}
			w.apply(wr.Events)
			progressed = true
			if herr == nil {
				w.failing = nil
			}
			w.send()
		}
	}
}

// apply applies one watch response, which etcd delivers whole for a
// revision, so a transaction never shows half-done.
func (w *watchLoop) apply(events []*clientv3.Event) {
	for _, ev := range events {
		key := string(ev.Kv.Key)
		switch ev.Type {
		case clientv3.EventTypePut:
			inst, err := decode(w.service, key, ev.Kv.Value)
			if err != nil {
				w.r.log.Warn("skipping undecodable entry", "err", err)
				delete(w.state, key)
				continue
			}
			w.state[key] = inst
		case clientv3.EventTypeDelete:
			delete(w.state, key)
		}
		w.rev = ev.Kv.ModRevision
	}
}
