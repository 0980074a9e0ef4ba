package filelog

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/filelog/internal/record"
)

const (
	checkpointFile = "checkpoints.log"
	// compactAfter is how many checkpoint records the file may hold before
	// it is rewritten with only the latest of each.
	compactAfter = 10000
)

// metaStore keeps subscriber checkpoints (an append-only file of framed
// records, last one wins, compacted when long) and snapshots (one file per
// stream, replaced atomically).
type metaStore struct {
	dir string
	log *slog.Logger

	mu      sync.Mutex
	f       *os.File
	records int
	cps     map[string]int64
}

func openMeta(dir string, log *slog.Logger) (*metaStore, error) {
	m := &metaStore{dir: dir, log: log, cps: make(map[string]int64)}
	path := filepath.Join(dir, checkpointFile)
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("filelog: read checkpoints: %w", err)
	}
	p := 0
	for p < len(data) {
		payload, size, err := record.ReadFrame(data[p:])
		if err != nil {
			// A cut-short last save; older values stand (a subscriber
			// then repeats a little, which at-least-once allows).
			log.Warn("filelog: cutting bad checkpoint record", "offset", p, "err", err)
			break
		}
		name, pos, err := record.DecodeCheckpoint(payload)
		if err != nil {
			log.Warn("filelog: cutting undecodable checkpoint record", "offset", p)
			break
		}
		m.cps[name] = pos
		m.records++
		p += size
	}
	if p < len(data) || m.records > compactAfter {
		if err := m.rewrite(); err != nil {
			return nil, err
		}
		return m, nil
	}
	if m.f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return nil, fmt.Errorf("filelog: open checkpoints: %w", err)
	}
	return m, nil
}

// rewrite replaces the checkpoint file with one record per subscriber.
func (m *metaStore) rewrite() error {
	var buf []byte
	for name, pos := range m.cps {
		buf = record.AppendFrame(buf, record.AppendCheckpoint(nil, name, pos))
	}
	if m.f != nil {
		m.f.Close()
		m.f = nil
	}
	if err := writeFileAtomic(m.dir, checkpointFile, buf); err != nil {
		return err
	}
	m.records = len(m.cps)
	f, err := os.OpenFile(filepath.Join(m.dir, checkpointFile), os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("filelog: open checkpoints: %w", err)
	}
	m.f = f
	return nil
}

func (m *metaStore) checkpoint(name string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cps[name]
}

func (m *metaStore) saveCheckpoint(name string, pos int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f == nil {
		return eventlog.ErrClosed
	}
	frame := record.AppendFrame(nil, record.AppendCheckpoint(nil, name, pos))
	if _, err := m.f.Write(frame); err != nil {
		return fmt.Errorf("filelog: write checkpoint %q: %w", name, err)
	}
	if err := fdatasync(m.f); err != nil {
		return fmt.Errorf("filelog: fsync checkpoint %q: %w", name, err)
	}
	m.cps[name] = pos
	m.records++
	if m.records > compactAfter {
		return m.rewrite()
	}
	return nil
}

func snapshotPath(dir, stream string) string {
	h := sha256.Sum256([]byte(stream))
	return filepath.Join(dir, "snapshots", hex.EncodeToString(h[:16])+".snap")
}

func (m *metaStore) saveSnapshot(s eventlog.Snapshot) error {
	if s.Stream == "" {
		return fmt.Errorf("%w: snapshot without stream", eventlog.ErrInvalid)
	}
	path := snapshotPath(m.dir, s.Stream)
	data := record.AppendFrame(nil, record.AppendSnapshot(nil, &s))
	return writeFileAtomic(filepath.Dir(path), filepath.Base(path), data)
}

func (m *metaStore) loadSnapshot(stream string) (eventlog.Snapshot, bool, error) {
	path := snapshotPath(m.dir, stream)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return eventlog.Snapshot{}, false, nil
	}
	if err != nil {
		return eventlog.Snapshot{}, false, fmt.Errorf("filelog: read snapshot: %w", err)
	}
	payload, size, err := record.ReadFrame(data)
	if err == nil && size != len(data) {
		err = record.ErrLength
	}
	var s eventlog.Snapshot
	if err == nil {
		s, err = record.DecodeSnapshot(payload)
	}
	if err == nil && s.Stream != stream {
		err = fmt.Errorf("snapshot file holds stream %q", s.Stream)
	}
	if err != nil {
		// A snapshot is only a cache of the stream: ignore a bad one and
		// let the loader replay, but say so.
		m.log.Warn("filelog: ignoring corrupt snapshot", "path", path, "err", err)
		return eventlog.Snapshot{}, false, nil
	}
	return s, true, nil
}

func (m *metaStore) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f == nil {
		return nil
	}
	err := m.f.Close()
	m.f = nil
	return err
}
