package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/wasmesh/wasmesh/eventlog"
)

// Outcome is what an awaited event says about a step.
type Outcome int

const (
	// Pending: the event is not about this step.
	Pending Outcome = iota
	// Succeeded: the step is done.
	Succeeded
	// Failed: the step failed; compensation starts.
	Failed
)

// Step is one forward action and its compensation.
type Step struct {
	// Name identifies the step in keys and logs.
	Name string
	// Do performs the step, typically by dispatching a command whose
	// idempotency key is in.Key(step name). An error is retried up to
	// Definition.Attempts times, then fails the saga; an error wrapping
	// ErrPermanent fails it at once.
	Do func(ctx context.Context, in *Instance) error
	// Await, when set, makes the saga wait after Do for a correlated event
	// that settles the step.
	Await func(e eventlog.Event) Outcome
	// Compensate undoes the step (nil: nothing to undo). It must be
	// idempotent and tolerate a Do that had no effect. Errors are retried
	// on the next tick.
	Compensate func(ctx context.Context, in *Instance) error
}

// ErrPermanent marks a step error that retrying cannot fix.
var ErrPermanent = errors.New("saga: permanent step failure")

// Definition describes a saga.
type Definition struct {
	// Name of the saga; its instances' streams are "saga.<Name>-<id>".
	Name string
	// Start recognises an event that starts an instance and returns the
	// instance id and its input data.
	Start func(e eventlog.Event) (id string, data []byte, ok bool)
	// Correlate maps an event awaited by a step to its instance id.
	Correlate func(e eventlog.Event) (id string, ok bool)
	// Steps run in order.
	Steps []Step
	// Timeout bounds an instance from its start; past it, the saga
	// compensates. 0 means no timeout.
	Timeout time.Duration
	// Attempts per step before it fails (default 3).
	Attempts int
}

// Instance is one running saga, as steps see it.
type Instance struct {
	ID   string
	Data []byte

	def      *Definition
	stream   string
	version  int64
	deadline time.Time
	done     []bool
	invoked  []bool
	comp     []bool
	failed   int // index of the failed step, -1 if none
	reason   string
	timedOut bool
	finished bool
	outcome  map[int]Outcome

	startPending bool
	pendingStart []byte
	trigger      eventlog.Event
}

// Key returns a stable idempotency key for step of this instance.
func (in *Instance) Key(step string) string {
	return "saga/" + in.def.Name + "/" + in.ID + "/" + step
}

// EventID derives a deterministic event id from an idempotency key, so an
// append repeated after a crash is recognised by the store as a retry.
func EventID(key string) uuid.UUID {
	return uuid.NewSHA1(sagaNS, []byte(key))
}

var sagaNS = uuid.MustParse("6b1f3c5e-9a47-4d1e-8a2b-3c4d5e6f7a8b")

// Status summarises an instance for tests and operators.
type Status struct {
	Finished, Compensated, TimedOut bool
	FailedStep                      string
	Reason                          string
}

// Saga event types (the instance's own stream).
const (
	evStarted     = "SagaStarted"
	evInvoked     = "StepInvoked"
	evDone        = "StepDone"
	evFailed      = "StepFailed"
	evTimedOut    = "SagaTimedOut"
	evCompensated = "StepCompensated"
	evCompleted   = "SagaCompleted"
	evRolledBack  = "SagaCompensated"
)

type payload struct {
	Step     int       `json:"step,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Data     []byte    `json:"data,omitempty"`
	Deadline time.Time `json:"deadline,omitzero"`
}

// Manager runs the instances of one saga definition.
type Manager struct {
	store eventlog.Store
	def   Definition
	log   *slog.Logger
	tick  time.Duration
	now   func() time.Time

	instances map[string]*Instance
}

// Options tune a Manager.
type Options struct {
	// Tick is how often timeouts and failed compensations are looked at
	// (default 100ms).
	Tick   time.Duration
	Logger *slog.Logger
}

// NewManager checks the definition and returns its manager.
func NewManager(store eventlog.Store, def Definition, opts Options) (*Manager, error) {
	if def.Name == "" || def.Start == nil || len(def.Steps) == 0 {
		return nil, errors.New("saga: a definition needs a name, a start function and steps")
	}
	if strings.Contains(def.Name, "-") {
		return nil, fmt.Errorf("saga %q: the name may not contain '-' (it ends the stream category)", def.Name)
	}
	for i, s := range def.Steps {
		if s.Name == "" || s.Do == nil {
			return nil, fmt.Errorf("saga %s: step %d needs a name and Do", def.Name, i)
		}
		if s.Await != nil && def.Correlate == nil {
			return nil, fmt.Errorf("saga %s: step %s awaits events but there is no Correlate", def.Name, s.Name)
		}
	}
	if def.Attempts <= 0 {
		def.Attempts = 3
	}
	if opts.Tick <= 0 {
		opts.Tick = 100 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Manager{store: store, def: def, log: opts.Logger, tick: opts.Tick, now: time.Now, instances: map[string]*Instance{}}, nil
}

func (m *Manager) category() string { return "saga." + m.def.Name }

// Run replays the log to rebuild every instance (doing nothing while
// replaying), then drives the unfinished ones and reacts to new events
// until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	head, err := m.store.Head(ctx)
	if err != nil {
		return err
	}
	caughtUp := head == 0
	if caughtUp {
		m.driveAll(ctx)
	}
	events := make(chan eventlog.Event)
	subErr := make(chan error, 1)
	subCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		subErr <- m.store.Subscribe(subCtx, eventlog.SubscribeOptions{}, func(ctx context.Context, e eventlog.Event) error {
			select {
			case events <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	t := time.NewTicker(m.tick)
	defer t.Stop()
	for {
		select {
		case e := <-events:
			m.handle(ctx, e, caughtUp)
			if !caughtUp && e.Position >= head {
				caughtUp = true
				m.driveAll(ctx)
			}
		case <-t.C:
			if caughtUp {
				m.driveAll(ctx)
			}
		case err := <-subErr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Status reads an instance's status from the store (so any process can ask,
// and it never races with a running manager).
func (m *Manager) Status(ctx context.Context, id string) (Status, bool, error) {
	tmp := &Manager{def: m.def, instances: map[string]*Instance{}}
	in := tmp.instance(id)
	for {
		evs, err := m.store.ReadStream(ctx, in.stream, in.version+1, eventlog.Forward, 512)
		if err != nil {
			return Status{}, false, err
		}
		for _, e := range evs {
			tmp.apply(in, e)
		}
		if len(evs) < 512 {
			break
		}
	}
	if in.version == 0 {
		return Status{}, false, nil
	}
	st := Status{Finished: in.finished, TimedOut: in.timedOut, Reason: in.reason}
	if in.failed >= 0 {
		st.FailedStep = m.def.Steps[in.failed].Name
	}
	st.Compensated = in.finished && (in.failed >= 0 || in.timedOut)
	return st, true, nil
}

func (m *Manager) handle(ctx context.Context, e eventlog.Event, live bool) {
	if eventlog.Category(e.Stream) == m.category() {
		if len(e.Stream) <= len(m.category())+1 {
			return // "saga.<name>" or "saga.<name>-": not an instance
		}
		id := e.Stream[len(m.category())+1:]
		in := m.instance(id)
		if e.Version <= in.version {
			return // applied already when we appended it
		}
		m.apply(in, e)
		return
	}
	if id, data, ok := m.def.Start(e); ok {
		in := m.instance(id)
		if in.version == 0 {
			// While replaying, the instance's own SagaStarted may still
			// come; start it after the replay if it does not.
			in.startPending, in.pendingStart, in.trigger = true, data, e
			if live {
				m.start(ctx, in)
			}
		}
		return
	}
	if m.def.Correlate == nil {
		return
	}
	if id, ok := m.def.Correlate(e); ok {
		in, known := m.instances[id]
		if !known || in.finished {
			return
		}
		i := in.next()
		if i < len(m.def.Steps) && m.def.Steps[i].Await != nil {
			if o := m.def.Steps[i].Await(e); o != Pending {
				in.outcome[i] = o
				if live {
					m.drive(eventlog.CausedBy(ctx, e), in)
				}
			}
		}
	}
}

func (m *Manager) start(ctx context.Context, in *Instance) {
	p := payload{Data: in.pendingStart}
	if m.def.Timeout > 0 {
		p.Deadline = m.now().Add(m.def.Timeout).UTC()
	}
	ctx = eventlog.CausedBy(ctx, in.trigger)
	if err := m.record(ctx, in, evStarted, p); err == nil {
		in.startPending = false
		m.drive(ctx, in)
	}
}

func (m *Manager) instance(id string) *Instance {
	in, ok := m.instances[id]
	if !ok {
		n := len(m.def.Steps)
		in = &Instance{
			ID: id, def: &m.def, stream: m.category() + "-" + id, failed: -1,
			done: make([]bool, n), invoked: make([]bool, n), comp: make([]bool, n),
			outcome: map[int]Outcome{},
		}
		m.instances[id] = in
	}
	return in
}

// next is the first step not done.
func (in *Instance) next() int {
	for i, d := range in.done {
		if !d {
			return i
		}
	}
	return len(in.done)
}

func (m *Manager) apply(in *Instance, e eventlog.Event) {
	in.version = e.Version
	var p payload
	_ = json.Unmarshal(e.Data, &p)
	switch e.Type {
	case evStarted:
		in.Data, in.deadline = p.Data, p.Deadline
		in.startPending = false
	case evInvoked:
		in.invoked[p.Step] = true
	case evDone:
		in.done[p.Step] = true
		delete(in.outcome, p.Step)
	case evFailed:
		in.failed, in.reason = p.Step, p.Reason
	case evTimedOut:
		in.timedOut = true
	case evCompensated:
		in.comp[p.Step] = true
	case evCompleted, evRolledBack:
		in.finished = true
	}
}

// record appends one saga event (with a deterministic id, so a repeat
// after a crash is dropped) and applies it locally.
func (m *Manager) record(ctx context.Context, in *Instance, typ string, p payload) error {
	data, _ := json.Marshal(p)
	e := eventlog.NewEvent(typ, data)
	e.ID = EventID(fmt.Sprintf("%s/%s/%d", in.Key("saga"), typ, p.Step))
	res, err := m.store.Append(ctx, in.stream, eventlog.Exact(in.version), e)
	if err != nil {
		m.log.Warn("saga: cannot record progress; will reload", "saga", m.def.Name, "id", in.ID, "event", typ, "err", err)
		m.reload(ctx, in)
		return err
	}
	e.Stream, e.Version, e.Position = in.stream, res.LastVersion, res.LastPosition
	m.apply(in, e)
	return nil
}

// reload re-reads an instance's stream after a conflict.
func (m *Manager) reload(ctx context.Context, in *Instance) {
	evs, err := m.store.ReadStream(ctx, in.stream, in.version+1, eventlog.Forward, 1000)
	if err != nil {
		return
	}
	for _, e := range evs {
		m.apply(in, e)
	}
}

func (m *Manager) driveAll(ctx context.Context) {
	for _, in := range m.instances {
		switch {
		case in.version == 0 && in.startPending:
			m.start(ctx, in)
		case in.version > 0 && !in.finished:
			m.drive(ctx, in)
		}
	}
}

// drive moves an instance as far as it can go now.
func (m *Manager) drive(ctx context.Context, in *Instance) {
	for !in.finished && ctx.Err() == nil {
		if in.failed >= 0 || in.timedOut {
			m.compensate(ctx, in)
			return
		}
		if !in.deadline.IsZero() && m.now().After(in.deadline) {
			if m.record(ctx, in, evTimedOut, payload{}) != nil {
				return
			}
			continue
		}
		i := in.next()
		if i == len(m.def.Steps) {
			_ = m.record(ctx, in, evCompleted, payload{})
			return
		}
		step := m.def.Steps[i]
		if in.invoked[i] {
			switch in.outcome[i] {
			case Succeeded:
				if m.record(ctx, in, evDone, payload{Step: i}) != nil {
					return
				}
				continue
			case Failed:
				if m.record(ctx, in, evFailed, payload{Step: i, Reason: "awaited event reported failure"}) != nil {
					return
				}
				continue
			}
			return // still waiting
		}
		if err := m.do(ctx, in, step); err != nil {
			if ctx.Err() != nil {
				return
			}
			if m.record(ctx, in, evFailed, payload{Step: i, Reason: err.Error()}) != nil {
				return
			}
			continue
		}
		typ := evDone
		if step.Await != nil {
			typ = evInvoked
		}
		if m.record(ctx, in, typ, payload{Step: i}) != nil {
			return
		}
	}
}

func (m *Manager) do(ctx context.Context, in *Instance, step Step) error {
	var err error
	for attempt := 1; attempt <= m.def.Attempts; attempt++ {
		if err = step.Do(ctx, in); err == nil || errors.Is(err, ErrPermanent) || ctx.Err() != nil {
			return err
		}
		m.log.Warn("saga: step failed; retrying", "saga", m.def.Name, "id", in.ID, "step", step.Name, "attempt", attempt, "err", err)
		select {
		case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

// compensate undoes, newest first, every step that was done or invoked
// (a step that failed outright had no effect to undo).
func (m *Manager) compensate(ctx context.Context, in *Instance) {
	for i := len(m.def.Steps) - 1; i >= 0; i-- {
		if in.comp[i] || !(in.done[i] || (in.invoked[i] && i != in.failed)) {
			continue
		}
		if c := m.def.Steps[i].Compensate; c != nil {
			if err := c(ctx, in); err != nil {
				m.log.Warn("saga: compensation failed; will retry", "saga", m.def.Name, "id", in.ID, "step", m.def.Steps[i].Name, "err", err)
				return
			}
		}
		if m.record(ctx, in, evCompensated, payload{Step: i}) != nil {
			return
		}
	}
	_ = m.record(ctx, in, evRolledBack, payload{})
}
