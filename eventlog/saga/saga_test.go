package saga_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/cqrs"
	"github.com/wasmesh/wasmesh/eventlog/filelog"
	"github.com/wasmesh/wasmesh/eventlog/saga"
)

// A money transfer: debit the source, credit the target, then (when the
// definition says so) wait for a confirmation. Compensations: refund the
// debit, reverse the credit.

type transfer struct {
	From, To string
	Amount   int
}

// Commands carry the saga step's idempotency key.
type Debit struct {
	Account, Key string
	Amount       int
}
type Credit Debit
type Refund Debit
type ReverseCredit Debit

type moveData struct{ Amount int }

// newBus wires account commands: each appends one event whose id is derived
// from the command's key, so a repeated command is stored once.
func newBus(store eventlog.Store, closed map[string]bool) *cqrs.CommandBus {
	bus := cqrs.NewCommandBus()
	appendMove := func(ctx context.Context, typ string, c Debit) error {
		if closed[c.Account] && typ == "Credited" {
			return cqrs.Reject("account %s is closed", c.Account)
		}
		d, _ := json.Marshal(moveData{c.Amount})
		e := eventlog.NewEvent(typ, d)
		e.ID = saga.EventID(c.Key)
		_, err := store.Append(ctx, "acct-"+c.Account, eventlog.Any, e)
		return err
	}
	_ = cqrs.Handle(bus, func(ctx context.Context, c Debit) error { return appendMove(ctx, "Debited", c) })
	_ = cqrs.Handle(bus, func(ctx context.Context, c Credit) error { return appendMove(ctx, "Credited", Debit(c)) })
	_ = cqrs.Handle(bus, func(ctx context.Context, c Refund) error { return appendMove(ctx, "Refunded", Debit(c)) })
	_ = cqrs.Handle(bus, func(ctx context.Context, c ReverseCredit) error { return appendMove(ctx, "CreditReversed", Debit(c)) })
	return bus
}

func permanent(err error) error {
	if errors.Is(err, cqrs.ErrRejected) {
		return fmt.Errorf("%w: %v", saga.ErrPermanent, err)
	}
	return err
}

// definition builds the transfer saga. beforeCredit runs inside the credit
// step (the crash test uses it to stop there).
func definition(bus *cqrs.CommandBus, confirm bool, timeout time.Duration, beforeCredit, afterCredit func()) saga.Definition {
	data := func(in *saga.Instance) transfer {
		var t transfer
		_ = json.Unmarshal(in.Data, &t)
		return t
	}
	steps := []saga.Step{
		{
			Name: "debit",
			Do: func(ctx context.Context, in *saga.Instance) error {
				t := data(in)
				return permanent(bus.Dispatch(ctx, Debit{t.From, in.Key("debit"), t.Amount}))
			},
			Compensate: func(ctx context.Context, in *saga.Instance) error {
				t := data(in)
				return bus.Dispatch(ctx, Refund{t.From, in.Key("refund"), t.Amount})
			},
		},
		{
			Name: "credit",
			Do: func(ctx context.Context, in *saga.Instance) error {
				if beforeCredit != nil {
					beforeCredit()
				}
				t := data(in)
				err := permanent(bus.Dispatch(ctx, Credit{t.To, in.Key("credit"), t.Amount}))
				if err == nil && afterCredit != nil {
					afterCredit()
				}
				return err
			},
			Compensate: func(ctx context.Context, in *saga.Instance) error {
				t := data(in)
				return bus.Dispatch(ctx, ReverseCredit{t.To, in.Key("reverse"), t.Amount})
			},
		},
	}
	if confirm {
		steps = append(steps, saga.Step{
			Name: "confirm",
			Do:   func(context.Context, *saga.Instance) error { return nil },
			Await: func(e eventlog.Event) saga.Outcome {
				switch e.Type {
				case "TransferConfirmed":
					return saga.Succeeded
				case "TransferDenied":
					return saga.Failed
				}
				return saga.Pending
			},
		})
	}
	return saga.Definition{
		Name: "transfer",
		Start: func(e eventlog.Event) (string, []byte, bool) {
			if e.Type != "TransferRequested" {
				return "", nil, false
			}
			return strings.TrimPrefix(e.Stream, "transfer-"), e.Data, true
		},
		Correlate: func(e eventlog.Event) (string, bool) {
			if eventlog.Category(e.Stream) != "transfer" || e.Type == "TransferRequested" {
				return "", false
			}
			return strings.TrimPrefix(e.Stream, "transfer-"), true
		},
		Steps:   steps,
		Timeout: timeout,
	}
}

func request(t *testing.T, store eventlog.Store, id string, tr transfer) {
	t.Helper()
	d, _ := json.Marshal(tr)
	if _, err := store.Append(context.Background(), "transfer-"+id, eventlog.NoStream, eventlog.NewEvent("TransferRequested", d)); err != nil {
		t.Fatal(err)
	}
}

// moves lists an account's event types in order.
func moves(t *testing.T, store eventlog.Store, account string) []string {
	evs, err := store.ReadStream(context.Background(), "acct-"+account, 1, eventlog.Forward, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func waitFinished(t *testing.T, m *saga.Manager, id string) saga.Status {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		st, ok, err := m.Status(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ok && st.Finished {
			return st
		}
	}
	t.Fatalf("saga %s did not finish", id)
	return saga.Status{}
}

func run(t *testing.T, store eventlog.Store, def saga.Definition) *saga.Manager {
	m, err := saga.NewManager(store, def, saga.Options{Tick: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

func openLog(t *testing.T, dir string) *filelog.Log {
	l, err := filelog.Open(dir, filelog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestSagaOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name        string
		closed      bool
		confirm     string // event appended to the transfer stream, "" for none
		timeout     time.Duration
		wantA       string
		wantB       string
		compensated bool
		timedOut    bool
	}{
		{name: "completes", wantA: "[Debited]", wantB: "[Credited]"},
		{name: "credit rejected: debit refunded", closed: true, wantA: "[Debited Refunded]", wantB: "[]", compensated: true},
		{name: "confirmed", confirm: "TransferConfirmed", timeout: time.Minute, wantA: "[Debited]", wantB: "[Credited]"},
		{name: "denied: compensated in reverse", confirm: "TransferDenied", timeout: time.Minute, wantA: "[Debited Refunded]", wantB: "[Credited CreditReversed]", compensated: true},
		{name: "no confirmation: timeout", confirm: "never", timeout: 300 * time.Millisecond, wantA: "[Debited Refunded]", wantB: "[Credited CreditReversed]", compensated: true, timedOut: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			store := openLog(t, dir)
			defer store.Close()
			bus := newBus(store, map[string]bool{"b": tc.closed})
			m := run(t, store, definition(bus, tc.confirm != "", tc.timeout, nil, nil))
			request(t, store, "1", transfer{From: "a", To: "b", Amount: 10})
			if tc.confirm != "" && tc.confirm != "never" {
				// Let the saga reach the confirm step, then answer.
				for len(moves(t, store, "b")) == 0 {
					time.Sleep(5 * time.Millisecond)
				}
				if _, err := store.Append(context.Background(), "transfer-1", eventlog.Any, eventlog.NewEvent(tc.confirm, nil)); err != nil {
					t.Fatal(err)
				}
			}
			st := waitFinished(t, m, "1")
			if st.Compensated != tc.compensated || st.TimedOut != tc.timedOut {
				t.Fatalf("status = %+v", st)
			}
			if a, b := fmt.Sprint(moves(t, store, "a")), fmt.Sprint(moves(t, store, "b")); a != tc.wantA || b != tc.wantB {
				t.Fatalf("account a %s, b %s; want %s, %s", a, b, tc.wantA, tc.wantB)
			}
			if tc.compensated && tc.wantB != "[]" {
				// Reverse order: the credit is undone before the debit.
				rev, _ := store.ReadStream(context.Background(), "acct-b", 2, eventlog.Forward, 1)
				ref, _ := store.ReadStream(context.Background(), "acct-a", 2, eventlog.Forward, 1)
				if rev[0].Position > ref[0].Position {
					t.Fatalf("refund at %d before credit reversal at %d: not reverse order", ref[0].Position, rev[0].Position)
				}
			}
		})
	}
}

const childEnv = "SAGA_CRASH_CHILD"

// TestSagaCrashChild runs a manager until killed; it prints CREDITING or
// CREDITED at the point the parent kills it. Run alone it does nothing.
func TestSagaCrashChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("helper process for TestSagaSurvivesKill")
	}
	dir := os.Getenv("SAGA_CRASH_DIR")
	store, err := filelog.Open(dir, filelog.Options{})
	if err != nil {
		fmt.Println("FAILED", err)
		os.Exit(3)
	}
	stop := func(msg string) func() {
		return func() {
			fmt.Println(msg)
			time.Sleep(time.Minute) // killed here
		}
	}
	var before, after func()
	if mode == "before-credit" {
		before = stop("CREDITING")
	} else {
		after = stop("CREDITED")
	}
	m, _ := saga.NewManager(store, definition(newBus(store, nil), false, 0, before, after), saga.Options{})
	fmt.Println("RUNNING")
	_ = m.Run(context.Background())
}

// TestSagaSurvivesKill kills the process running a saga in the middle of
// it (before the credit, and after the credit but before it was recorded),
// restarts a manager on the same log, and checks the saga finishes with
// every step done exactly once.
func TestSagaSurvivesKill(t *testing.T) {
	for _, mode := range []string{"before-credit", "after-credit"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			store := openLog(t, dir)
			request(t, store, "7", transfer{From: "a", To: "b", Amount: 5})
			store.Close()

			cmd := exec.Command(os.Args[0], "-test.run=^TestSagaCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), childEnv+"="+mode, "SAGA_CRASH_DIR="+dir)
			out, _ := cmd.StdoutPipe()
			cmd.Stderr = io.Discard
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			want := map[string]string{"before-credit": "CREDITING", "after-credit": "CREDITED"}[mode]
			reached := false
			for sc.Scan() {
				if sc.Text() == want {
					reached = true
					break
				}
			}
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			if !reached {
				t.Fatalf("child never reached %s", want)
			}

			store = openLog(t, dir)
			defer store.Close()
			if got := fmt.Sprint(moves(t, store, "a")); got != "[Debited]" {
				t.Fatalf("after the kill account a = %s", got)
			}
			m := run(t, store, definition(newBus(store, nil), false, 0, nil, nil))
			st := waitFinished(t, m, "7")
			if st.Compensated {
				t.Fatalf("saga compensated after restart: %+v", st)
			}
			if a, b := fmt.Sprint(moves(t, store, "a")), fmt.Sprint(moves(t, store, "b")); a != "[Debited]" || b != "[Credited]" {
				t.Fatalf("after restart a = %s, b = %s; want each step exactly once", a, b)
			}
		})
	}
}

func TestDefinitionChecked(t *testing.T) {
	store := openLog(t, t.TempDir())
	defer store.Close()
	ok := saga.Step{Name: "s", Do: func(context.Context, *saga.Instance) error { return nil }}
	start := func(eventlog.Event) (string, []byte, bool) { return "", nil, false }
	for name, def := range map[string]saga.Definition{
		"no name":          {Start: start, Steps: []saga.Step{ok}},
		"dash in name":     {Name: "a-b", Start: start, Steps: []saga.Step{ok}},
		"no steps":         {Name: "a", Start: start},
		"step without Do":  {Name: "a", Start: start, Steps: []saga.Step{{Name: "x"}}},
		"await, no correl": {Name: "a", Start: start, Steps: []saga.Step{{Name: "x", Do: ok.Do, Await: func(eventlog.Event) saga.Outcome { return saga.Pending }}}},
	} {
		if _, err := saga.NewManager(store, def, saga.Options{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
