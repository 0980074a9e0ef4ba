package filelog

import (
	"fmt"
	"log/slog"
	"time"
)

// Durability says when an append is acknowledged relative to fsync.
type Durability int

const (
	// SyncGroup (the default) acknowledges an append after an fsync that
	// covers it; appends that arrive while one fsync runs share the next.
	// An acknowledged append survives a process crash and a power loss.
	SyncGroup Durability = iota
	// SyncEveryAppend writes and fsyncs each append on its own: the same
	// promise as SyncGroup, without batching (much slower under
	// concurrency; useful as a baseline).
	SyncEveryAppend
	// SyncInterval acknowledges once the append is written to the OS and
	// fsyncs every Options.Interval. An acknowledged append survives a
	// process crash; a power loss may lose the last interval.
	SyncInterval
)

// String names the setting as in configs.
func (d Durability) String() string {
	switch d {
	case SyncGroup:
		return "group"
	case SyncEveryAppend:
		return "always"
	case SyncInterval:
		return "interval"
	}
	return fmt.Sprintf("Durability(%d)", int(d))
}

// ParseDurability is String's inverse, for configs.
func ParseDurability(s string) (Durability, error) {
	switch s {
	case "", "group":
		return SyncGroup, nil
	case "always":
		return SyncEveryAppend, nil
	case "interval":
		return SyncInterval, nil
	}
	return 0, fmt.Errorf("filelog: durability %q: want group, always or interval", s)
}

// Options configure a log. The zero value is a good default.
type Options struct {
	// Durability of acknowledged appends; see the constants.
	Durability Durability
	// Interval between fsyncs under SyncInterval (default 100ms).
	Interval time.Duration
	// SegmentBytes is the size past which a new segment file is started
	// (default 64 MiB). A single group commit never spans two segments.
	SegmentBytes int64
	// MaxBatch bounds how many appends one group commit takes (default 4096).
	MaxBatch int
	// VerifyOnOpen re-reads and checks every segment on open instead of
	// trusting the persisted index (slower open, catches bit rot early).
	VerifyOnOpen bool
	// Logger receives recovery notices (torn tail cut, index rebuilt).
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.Durability < SyncGroup || o.Durability > SyncInterval {
		return o, fmt.Errorf("filelog: unknown durability %d", o.Durability)
	}
	if o.Interval < 0 || o.SegmentBytes < 0 || o.MaxBatch < 0 {
		return o, fmt.Errorf("filelog: negative option in %+v", o)
	}
	if o.Interval == 0 {
		o.Interval = 100 * time.Millisecond
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = 64 << 20
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = 4096
	}
	if o.Durability == SyncEveryAppend {
		o.MaxBatch = 1
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
