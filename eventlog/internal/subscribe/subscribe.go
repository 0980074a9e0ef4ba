package subscribe

import (
	"context"
	"fmt"

	"github.com/wasmesh/wasmesh/eventlog"
)

// Batch is how many events one read fetches; the checkpoint is saved after
// each batch, so it is also the most a crash can make a subscriber repeat.
const Batch = 256

// Source is what a backend provides to run subscriptions.
type Source interface {
	ReadAll(ctx context.Context, from int64, limit int) ([]eventlog.Event, error)
	Checkpoint(ctx context.Context, name string) (int64, error)
	SaveCheckpoint(ctx context.Context, name string, position int64) error
	// Wait returns when the head may have moved past after: at once if it
	// already has, else on a new append, or after a backend-chosen polling
	// interval. It returns ctx.Err() when ctx is done.
	Wait(ctx context.Context, after int64) error
}

// Run is Store.Subscribe for a backend.
func Run(ctx context.Context, src Source, opts eventlog.SubscribeOptions, h eventlog.Handler) error {
	pos := opts.From
	if opts.Name != "" {
		cp, err := src.Checkpoint(ctx, opts.Name)
		if err != nil {
			return fmt.Errorf("subscription %q: load checkpoint: %w", opts.Name, err)
		}
		if cp > 0 {
			pos = cp
		}
	}
	saved := pos
	save := func() error {
		if opts.Name == "" || saved == pos {
			return nil
		}
		// Saved even when ctx was just cancelled: the work is done.
		if err := src.SaveCheckpoint(context.WithoutCancel(ctx), opts.Name, pos); err != nil {
			return fmt.Errorf("subscription %q: save checkpoint %d: %w", opts.Name, pos, err)
		}
		saved = pos
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		evs, err := src.ReadAll(ctx, pos+1, Batch)
		if err != nil {
			return fmt.Errorf("subscription %q: read from %d: %w", opts.Name, pos+1, err)
		}
		if len(evs) == 0 {
			if err := src.Wait(ctx, pos); err != nil {
				return err
			}
			continue
		}
		for _, e := range evs {
			if opts.Filter.Match(e.Stream) {
				if err := h(ctx, e); err != nil {
					if serr := save(); serr != nil {
						return serr
					}
					return err
				}
			}
			pos = e.Position
		}
		if err := save(); err != nil {
			return err
		}
	}
}
