package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/internal/prep"
	"github.com/wasmesh/wasmesh/eventlog/internal/subscribe"
)

// Config says where the store lives.
type Config struct {
	// DSN is a libpq-style connection string or URL
	// (pool options such as pool_max_conns are accepted).
	DSN string
	// Schema holds the store's tables (created if missing; default
	// "eventlog"). Separate schemas are separate stores.
	Schema string
	// PollInterval bounds how long a live subscription waits when a
	// notification is lost (listener down, reconnecting); default 1s.
	PollInterval time.Duration
	// Logger receives listener reconnects; default slog.Default().
	Logger *slog.Logger
}

// Store is an eventlog.Store in PostgreSQL.
type Store struct {
	pool    *pgxpool.Pool
	cfg     Config
	t       tables
	channel string
	lockKey int64

	mu       sync.Mutex
	notify   chan struct{}
	notified int64 // highest position announced by NOTIFY

	stop context.CancelFunc
	done chan struct{}

	reqs       chan *appendReq
	closing    chan struct{}
	closeOnce  sync.Once
	writerDone chan struct{}
}

type tables struct{ events, checkpoints, snapshots string }

var _ eventlog.Store = (*Store)(nil)

// Open connects, creates the schema and tables if needed, and starts the
// LISTEN connection for live subscriptions.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Schema == "" {
		cfg.Schema = "eventlog"
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	pool, err := pgxpool.New(ctx, cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres eventlog: connect: %w", err)
	}
	schema := pgx.Identifier{cfg.Schema}.Sanitize()
	s := &Store{
		pool: pool,
		cfg:  cfg,
		t: tables{
			events:      schema + ".events",
			checkpoints: schema + ".checkpoints",
			snapshots:   schema + ".snapshots",
		},
		channel:    "eventlog_" + cfg.Schema,
		notify:     make(chan struct{}),
		done:       make(chan struct{}),
		reqs:       make(chan *appendReq, maxBatch),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	if len(s.channel) > 63 {
		s.channel = s.channel[:63]
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	lctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go s.listen(lctx)
	go s.writer()
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	ddl := fmt.Sprintf(`
SELECT pg_advisory_xact_lock(hashtext('wasmesh-eventlog-migrate'));
CREATE SCHEMA IF NOT EXISTS %[1]s;
CREATE TABLE IF NOT EXISTS %[2]s (
	position       bigint PRIMARY KEY,
	id             uuid NOT NULL UNIQUE,
	stream         text NOT NULL,
	version        bigint NOT NULL,
	type           text NOT NULL,
	time           timestamptz NOT NULL,
	correlation_id text NOT NULL,
	causation_id   text NOT NULL,
	schema_version int NOT NULL,
	metadata       jsonb NOT NULL,
	data           bytea NOT NULL,
	UNIQUE (stream, version)
);
CREATE TABLE IF NOT EXISTS %[3]s (name text PRIMARY KEY, position bigint NOT NULL);
CREATE TABLE IF NOT EXISTS %[4]s (
	stream text PRIMARY KEY, version bigint NOT NULL, schema_version int NOT NULL,
	time timestamptz NOT NULL, data bytea NOT NULL
);`, pgx.Identifier{s.cfg.Schema}.Sanitize(), s.t.events, s.t.checkpoints, s.t.snapshots)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres eventlog: migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, ddl, pgx.QueryExecModeSimpleProtocol); err != nil {
		return fmt.Errorf("postgres eventlog: create tables in %s: %w", s.cfg.Schema, err)
	}
	if err := tx.QueryRow(ctx, `SELECT hashtext($1)::bigint`, "wasmesh-eventlog-append:"+s.cfg.Schema).Scan(&s.lockKey); err != nil {
		return fmt.Errorf("postgres eventlog: lock key: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres eventlog: migrate: %w", err)
	}
	return nil
}

// Close finishes the appends already queued, stops the listener and closes
// the pool.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.writerDone
		// Appends that raced with Close are refused, not left waiting.
		for {
			select {
			case r := <-s.reqs:
				r.err = eventlog.ErrClosed
				close(r.done)
				continue
			default:
			}
			break
		}
		s.stop()
		<-s.done
		s.pool.Close()
	})
	return nil
}

// Append writes events; see eventlog.Store. Concurrent appends on one Store
// are committed together (group commit: one transaction, one WAL flush);
// each keeps its own all-or-nothing outcome.
func (s *Store) Append(ctx context.Context, stream string, expected eventlog.ExpectedVersion, events ...eventlog.Event) (eventlog.AppendResult, error) {
	evs, err := prep.Events(ctx, stream, events)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	req := &appendReq{ctx: ctx, stream: stream, expected: expected, events: evs, done: make(chan struct{})}
	select {
	case s.reqs <- req:
	case <-s.closing:
		return eventlog.AppendResult{}, eventlog.ErrClosed
	case <-ctx.Done():
		return eventlog.AppendResult{}, ctx.Err()
	}
	select {
	case <-req.done:
	case <-s.writerDone:
		select {
		case <-req.done: // committed just before the writer stopped
		default:
			return eventlog.AppendResult{}, eventlog.ErrClosed
		}
	}
	return req.res, req.err
}

// appendReq is one Append waiting for the writer.
type appendReq struct {
	ctx      context.Context
	stream   string
	expected eventlog.ExpectedVersion
	events   []eventlog.Event
	done     chan struct{}
	res      eventlog.AppendResult
	err      error
	follow   *appendReq // a retry of an append in the same transaction
}

// maxBatch bounds the appends one transaction takes.
const maxBatch = 256

// writer commits queued appends in groups until the store closes.
func (s *Store) writer() {
	defer close(s.writerDone)
	for {
		var first *appendReq
		select {
		case first = <-s.reqs:
		case <-s.closing:
			return
		}
		batch := []*appendReq{first}
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.commit(batch)
		for _, r := range batch {
			if r.follow != nil {
				r.res, r.err = r.follow.res, r.follow.err
			}
			close(r.done)
		}
	}
}

// commit runs one transaction for batch: under the store's advisory lock
// (so positions are assigned, and become visible, in commit order), it reads
// what every request needs to be checked, checks them in order as if they
// ran one by one, and inserts the accepted events with one statement.
func (s *Store) commit(batch []*appendReq) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fail := func(err error) {
		for _, r := range batch {
			if r.err == nil && r.follow == nil && r.res == (eventlog.AppendResult{}) {
				r.err = err
			}
		}
	}
	var ids, streams []string
	seenStream := map[string]bool{}
	for _, r := range batch {
		for _, e := range r.events {
			ids = append(ids, e.ID.String())
		}
		if !seenStream[r.stream] {
			seenStream[r.stream] = true
			streams = append(streams, r.stream)
		}
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		fail(fmt.Errorf("postgres eventlog: begin: %w", err))
		return
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.lockKey); err != nil {
		fail(fmt.Errorf("postgres eventlog: lock: %w", err))
		return
	}
	// One statement after the lock (a fresh snapshot): stored ids among
	// the batch's, the versions of its streams and the global head.
	rows, err := tx.Query(ctx, fmt.Sprintf(`
SELECT 0, e.id::text, e.stream, e.version, e.position FROM %[1]s e WHERE e.id = ANY($1::uuid[])
UNION ALL SELECT 1, '', stream, max(version), 0 FROM %[1]s WHERE stream = ANY($2::text[]) GROUP BY stream
UNION ALL SELECT 2, '', '', 0, coalesce(max(position), 0) FROM %[1]s`, s.t.events), ids, streams)
	if err != nil {
		fail(fmt.Errorf("postgres eventlog: read state: %w", err))
		return
	}
	found := map[string]stored{}
	versions := map[string]int64{}
	var head int64
	for rows.Next() {
		var kind int
		var id, st string
		var v, p int64
		if err := rows.Scan(&kind, &id, &st, &v, &p); err != nil {
			rows.Close()
			fail(fmt.Errorf("postgres eventlog: read state: %w", err))
			return
		}
		switch kind {
		case 0:
			found[id] = stored{st, v, p}
		case 1:
			versions[st] = v
		case 2:
			head = p
		}
	}
	if err := rows.Err(); err != nil {
		fail(fmt.Errorf("postgres eventlog: read state: %w", err))
		return
	}

	var ins insertRows
	pending := map[string]*appendReq{} // event id → request in this batch
	next := head + 1
	var accepted []*appendReq
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if checkStored(r, found) || checkPending(r, pending) {
			continue
		}
		cur := versions[r.stream]
		if !r.expected.Check(cur) {
			r.err = &eventlog.ConcurrencyError{Stream: r.stream, Expected: r.expected, Actual: cur}
			continue
		}
		n := int64(len(r.events))
		r.res = eventlog.AppendResult{FirstVersion: cur + 1, LastVersion: cur + n, FirstPosition: next, LastPosition: next + n - 1}
		for i, e := range r.events {
			if err := ins.add(e, next+int64(i), cur+1+int64(i)); err != nil {
				r.err, r.res = err, eventlog.AppendResult{}
				break
			}
		}
		if r.err != nil {
			continue
		}
		for _, e := range r.events {
			pending[e.ID.String()] = r
		}
		versions[r.stream] = cur + n
		next += n
		accepted = append(accepted, r)
	}
	if len(accepted) == 0 {
		return
	}
	b := &pgx.Batch{}
	b.Queue(fmt.Sprintf(`
INSERT INTO %s (position, id, stream, version, type, time, correlation_id, causation_id, schema_version, metadata, data)
SELECT p, i, s, v, t, tm, c, k, sv, m::jsonb, d
FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[], $7::text[], $8::text[], $9::int[], $10::text[], $11::bytea[])
	AS u(p, i, s, v, t, tm, c, k, sv, m, d)`, s.t.events),
		ins.positions, ins.ids, ins.streams, ins.versions, ins.types, ins.times, ins.corrs, ins.causes, ins.schemas, ins.metas, ins.datas)
	b.Queue(`SELECT pg_notify($1, $2)`, s.channel, strconv.FormatInt(next-1, 10))
	err = tx.SendBatch(ctx, b).Close()
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			// Only reachable if something wrote without the lock.
			err = fmt.Errorf("%w: %v", eventlog.ErrConcurrency, err)
		}
		for _, r := range accepted {
			r.res, r.err = eventlog.AppendResult{}, fmt.Errorf("postgres eventlog: append: %w", err)
		}
	}
}

type stored struct {
	stream       string
	version, pos int64
}

// checkStored settles r if its first event id is already stored: the
// original result for an exact retry, ErrDuplicateEvent otherwise; also
// ErrDuplicateEvent if any other of its ids is stored.
func checkStored(r *appendReq, found map[string]stored) bool {
	first, ok := found[r.events[0].ID.String()]
	if !ok {
		for _, e := range r.events {
			if _, dup := found[e.ID.String()]; dup {
				r.err = fmt.Errorf("%w: %s in append to %q", eventlog.ErrDuplicateEvent, e.ID, r.stream)
				return true
			}
		}
		return false
	}
	for i, e := range r.events {
		f, has := found[e.ID.String()]
		if !has || f.stream != r.stream || f.version != first.version+int64(i) || f.pos != first.pos+int64(i) {
			r.err = fmt.Errorf("%w: %s in append to %q", eventlog.ErrDuplicateEvent, e.ID, r.stream)
			return true
		}
	}
	n := int64(len(r.events))
	r.res = eventlog.AppendResult{FirstVersion: first.version, LastVersion: first.version + n - 1, FirstPosition: first.pos, LastPosition: first.pos + n - 1}
	return true
}

// checkPending settles r if it retries (or collides with) an append
// accepted earlier in the same transaction.
func checkPending(r *appendReq, pending map[string]*appendReq) bool {
	prev, ok := pending[r.events[0].ID.String()]
	if !ok {
		for _, e := range r.events {
			if _, dup := pending[e.ID.String()]; dup {
				r.err = fmt.Errorf("%w: %s in append to %q", eventlog.ErrDuplicateEvent, e.ID, r.stream)
				return true
			}
		}
		return false
	}
	if prev.stream == r.stream && len(prev.events) == len(r.events) {
		same := true
		for i := range r.events {
			same = same && prev.events[i].ID == r.events[i].ID
		}
		if same {
			r.follow = prev
			return true
		}
	}
	r.err = fmt.Errorf("%w: %s in append to %q", eventlog.ErrDuplicateEvent, r.events[0].ID, r.stream)
	return true
}

// insertRows are the columns of one multi-row INSERT.
type insertRows struct {
	positions, versions  []int64
	ids, streams, types  []string
	corrs, causes, metas []string
	times                []time.Time
	schemas              []int32
	datas                [][]byte
}

func (ins *insertRows) add(e eventlog.Event, pos, version int64) error {
	meta := "{}"
	if len(e.Metadata) > 0 {
		b, err := json.Marshal(e.Metadata)
		if err != nil {
			return fmt.Errorf("postgres eventlog: metadata: %w", err)
		}
		meta = string(b)
	}
	data := e.Data
	if data == nil {
		data = []byte{}
	}
	ins.positions = append(ins.positions, pos)
	ins.versions = append(ins.versions, version)
	ins.ids = append(ins.ids, e.ID.String())
	ins.streams = append(ins.streams, e.Stream)
	ins.types = append(ins.types, e.Type)
	ins.corrs = append(ins.corrs, e.CorrelationID)
	ins.causes = append(ins.causes, e.CausationID)
	ins.metas = append(ins.metas, meta)
	ins.times = append(ins.times, e.Time)
	ins.schemas = append(ins.schemas, int32(e.SchemaVersion))
	ins.datas = append(ins.datas, data)
	return nil
}

const columns = `position, id, stream, version, type, time, correlation_id, causation_id, schema_version, metadata, data`

func scanEvents(rows pgx.Rows) ([]eventlog.Event, error) {
	defer rows.Close()
	var out []eventlog.Event
	for rows.Next() {
		var e eventlog.Event
		var meta []byte
		var schema int32
		if err := rows.Scan(&e.Position, &e.ID, &e.Stream, &e.Version, &e.Type, &e.Time,
			&e.CorrelationID, &e.CausationID, &schema, &meta, &e.Data); err != nil {
			return nil, fmt.Errorf("postgres eventlog: scan: %w", err)
		}
		e.Time = e.Time.UTC()
		e.SchemaVersion = int(schema)
		if len(e.Data) == 0 {
			e.Data = nil
		}
		if len(meta) > 2 {
			if err := json.Unmarshal(meta, &e.Metadata); err != nil {
				return nil, fmt.Errorf("%w: metadata of position %d: %v", eventlog.ErrCorrupt, e.Position, err)
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres eventlog: read: %w", err)
	}
	return out, nil
}

// ReadStream reads stream in dir order from version from.
func (s *Store) ReadStream(ctx context.Context, stream string, from int64, dir eventlog.Direction, limit int) ([]eventlog.Event, error) {
	var q string
	switch dir {
	case eventlog.Forward:
		q = `SELECT ` + columns + ` FROM ` + s.t.events + ` WHERE stream = $1 AND version >= $2 ORDER BY version LIMIT $3`
	case eventlog.Backward:
		q = `SELECT ` + columns + ` FROM ` + s.t.events + ` WHERE stream = $1 AND version <= $2 ORDER BY version DESC LIMIT $3`
	default:
		return nil, fmt.Errorf("%w: direction %d", eventlog.ErrInvalid, dir)
	}
	rows, err := s.pool.Query(ctx, q, stream, from, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres eventlog: read %q: %w", stream, err)
	}
	return scanEvents(rows)
}

// ReadAll reads in global order from position from.
func (s *Store) ReadAll(ctx context.Context, from int64, limit int) ([]eventlog.Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM `+s.t.events+` WHERE position >= $1 ORDER BY position LIMIT $2`, from, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres eventlog: read all from %d: %w", from, err)
	}
	return scanEvents(rows)
}

// Head returns the last global position.
func (s *Store) Head(ctx context.Context) (int64, error) {
	var h int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM `+s.t.events).Scan(&h); err != nil {
		return 0, fmt.Errorf("postgres eventlog: head: %w", err)
	}
	return h, nil
}

// Subscribe runs a catch-up-then-live subscription; see eventlog.Store.
func (s *Store) Subscribe(ctx context.Context, opts eventlog.SubscribeOptions, h eventlog.Handler) error {
	return subscribe.Run(ctx, source{s}, opts, h)
}

type source struct{ *Store }

// Wait returns on a NOTIFY past after, or after the poll interval.
func (s source) Wait(ctx context.Context, after int64) error {
	s.mu.Lock()
	ch, notified := s.notify, s.notified
	s.mu.Unlock()
	if notified > after {
		return nil
	}
	t := time.NewTimer(s.cfg.PollInterval)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return eventlog.ErrClosed
	}
	return nil
}

// listen holds a LISTEN connection, reconnecting with backoff; while it is
// down, subscriptions still progress by polling.
func (s *Store) listen(ctx context.Context) {
	defer close(s.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		s.cfg.Logger.Warn("postgres eventlog: LISTEN connection lost; polling until it is back", "err", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return err
	}
	defer func() {
		// The connection goes back to the pool: stop listening first.
		if ctx.Err() == nil {
			_, _ = conn.Exec(context.Background(), "UNLISTEN *")
		} else {
			conn.Conn().Close(context.Background())
		}
	}()
	// Wake waiters once on (re)connect, in case something was missed.
	s.wake(0)
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		pos, _ := strconv.ParseInt(n.Payload, 10, 64)
		s.wake(pos)
	}
}

func (s *Store) wake(pos int64) {
	s.mu.Lock()
	if pos > s.notified {
		s.notified = pos
	}
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
}

// Checkpoint returns subscriber name's stored checkpoint.
func (s *Store) Checkpoint(ctx context.Context, name string) (int64, error) {
	var p int64
	err := s.pool.QueryRow(ctx, `SELECT position FROM `+s.t.checkpoints+` WHERE name = $1`, name).Scan(&p)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("postgres eventlog: checkpoint %q: %w", name, err)
	}
	return p, nil
}

// SaveCheckpoint stores subscriber name's checkpoint.
func (s *Store) SaveCheckpoint(ctx context.Context, name string, position int64) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO `+s.t.checkpoints+` (name, position) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position`, name, position)
	if err != nil {
		return fmt.Errorf("postgres eventlog: save checkpoint %q: %w", name, err)
	}
	return nil
}

// SaveSnapshot replaces the stream's snapshot.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventlog.Snapshot) error {
	if snap.Stream == "" {
		return fmt.Errorf("%w: snapshot without stream", eventlog.ErrInvalid)
	}
	if snap.Time.IsZero() {
		snap.Time = time.Now().UTC()
	}
	if snap.Data == nil {
		snap.Data = []byte{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO `+s.t.snapshots+` (stream, version, schema_version, time, data) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version, schema_version = EXCLUDED.schema_version, time = EXCLUDED.time, data = EXCLUDED.data`,
		snap.Stream, snap.Version, snap.SchemaVersion, snap.Time, snap.Data)
	if err != nil {
		return fmt.Errorf("postgres eventlog: save snapshot of %q: %w", snap.Stream, err)
	}
	return nil
}

// LoadSnapshot returns the stream's snapshot if one is stored.
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (eventlog.Snapshot, bool, error) {
	snap := eventlog.Snapshot{Stream: stream}
	var schema int32
	err := s.pool.QueryRow(ctx, `SELECT version, schema_version, time, data FROM `+s.t.snapshots+` WHERE stream = $1`, stream).
		Scan(&snap.Version, &schema, &snap.Time, &snap.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventlog.Snapshot{}, false, nil
	}
	if err != nil {
		return eventlog.Snapshot{}, false, fmt.Errorf("postgres eventlog: load snapshot of %q: %w", stream, err)
	}
	snap.SchemaVersion, snap.Time = int(schema), snap.Time.UTC()
	return snap, true, nil
}
