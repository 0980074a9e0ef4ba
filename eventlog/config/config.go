package config

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/filelog"
	"github.com/wasmesh/wasmesh/eventlog/postgres"
)

// Config selects and configures a backend.
//
//	backend: file            # file (default) | postgres
//	file:
//	  dir: /var/lib/wasmesh/events
//	  durability: group      # group (default) | always | interval
//	  interval: 100ms        # fsync period for durability: interval
//	  segment_bytes: 67108864
//	postgres:
//	  dsn: postgres://app@db:5432/app
//	  schema: eventlog
//	  poll_interval: 1s
type Config struct {
	Backend  string         `json:"backend,omitempty" yaml:"backend,omitempty"`
	File     FileConfig     `json:"file,omitzero" yaml:"file,omitempty"`
	Postgres PostgresConfig `json:"postgres,omitzero" yaml:"postgres,omitempty"`
}

// FileConfig configures the embedded file log.
type FileConfig struct {
	Dir          string `json:"dir,omitempty" yaml:"dir,omitempty"`
	Durability   string `json:"durability,omitempty" yaml:"durability,omitempty"`
	Interval     string `json:"interval,omitempty" yaml:"interval,omitempty"`
	SegmentBytes int64  `json:"segment_bytes,omitempty" yaml:"segment_bytes,omitempty"`
}

// PostgresConfig configures the PostgreSQL backend.
type PostgresConfig struct {
	DSN          string `json:"dsn,omitempty" yaml:"dsn,omitempty"`
	Schema       string `json:"schema,omitempty" yaml:"schema,omitempty"`
	PollInterval string `json:"poll_interval,omitempty" yaml:"poll_interval,omitempty"`
}

// Decode reads a JSON config strictly: unknown fields are errors, so a typo
// is reported instead of silently ignored.
func Decode(r io.Reader) (Config, error) {
	var c Config
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("eventlog config: %w", err)
	}
	if dec.More() {
		return Config{}, errors.New("eventlog config: trailing data after the object")
	}
	return c, c.Validate()
}

// DecodeBytes is Decode on a byte slice.
func DecodeBytes(b []byte) (Config, error) { return Decode(bytes.NewReader(b)) }

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	switch c.Backend {
	case "", "file":
		if c.File.Dir == "" {
			errs = append(errs, errors.New("file.dir is required for the file backend"))
		}
		if _, err := filelog.ParseDurability(c.File.Durability); err != nil {
			errs = append(errs, fmt.Errorf("file.durability: %w", err))
		}
		if _, err := duration(c.File.Interval); err != nil {
			errs = append(errs, fmt.Errorf("file.interval: %w", err))
		}
		if c.File.SegmentBytes < 0 || (c.File.SegmentBytes > 0 && c.File.SegmentBytes < 4096) {
			errs = append(errs, fmt.Errorf("file.segment_bytes %d: want 0 (default) or at least 4096", c.File.SegmentBytes))
		}
	case "postgres":
		if c.Postgres.DSN == "" {
			errs = append(errs, errors.New("postgres.dsn is required for the postgres backend"))
		}
		if _, err := duration(c.Postgres.PollInterval); err != nil {
			errs = append(errs, fmt.Errorf("postgres.poll_interval: %w", err))
		}
	default:
		errs = append(errs, fmt.Errorf("backend %q: want file or postgres", c.Backend))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("eventlog config: %w", err)
	}
	return nil
}

func duration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d <= 0 {
		err = fmt.Errorf("%s is not positive", s)
	}
	return d, err
}

// Open validates c and opens its store.
func Open(ctx context.Context, c Config) (eventlog.Store, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Backend == "postgres" {
		poll, _ := duration(c.Postgres.PollInterval)
		return postgres.Open(ctx, postgres.Config{DSN: c.Postgres.DSN, Schema: c.Postgres.Schema, PollInterval: poll})
	}
	d, _ := filelog.ParseDurability(c.File.Durability)
	interval, _ := duration(c.File.Interval)
	return filelog.Open(c.File.Dir, filelog.Options{Durability: d, Interval: interval, SegmentBytes: c.File.SegmentBytes})
}
