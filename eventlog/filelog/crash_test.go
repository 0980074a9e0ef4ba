package filelog_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/filelog"
)

const crashDirEnv = "FILELOG_CRASH_CHILD_DIR"

// TestCrashChild is the writer process of TestCrashRecovery: it appends from
// several goroutines and prints "ACK id stream version" for every append the
// log acknowledged, until it is killed. Run alone it does nothing.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashRecovery")
	}
	d, _ := filelog.ParseDurability(os.Getenv("FILELOG_CRASH_DURABILITY"))
	l, err := filelog.Open(dir, filelog.Options{Durability: d, SegmentBytes: 32 << 10})
	if err != nil {
		fmt.Println("OPEN-FAILED", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	out := os.Stdout
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				stream := fmt.Sprintf("crash-%d", (w+i)%5)
				n := 1 + i%3
				evs := make([]eventlog.Event, n)
				for k := range evs {
					evs[k] = eventlog.NewEvent("Tick", []byte(strings.Repeat("x", 20+rand.IntN(200))))
					evs[k].ID = uuid.Must(uuid.NewV7())
				}
				r, err := l.Append(context.Background(), stream, eventlog.Any, evs...)
				if err != nil {
					fmt.Println("APPEND-FAILED", err)
					os.Exit(4)
				}
				mu.Lock()
				for k := range evs {
					fmt.Fprintf(out, "ACK %s %s %d %d\n", evs[k].ID, stream, r.FirstVersion+int64(k), r.FirstPosition+int64(k))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

type acked struct {
	id       string
	stream   string
	version  int64
	position int64
}

// TestCrashRecovery kills a writing process with SIGKILL at random moments,
// many times, sometimes also leaving a half-written record at the tail, and
// after every kill reopens the log: every acknowledged append must be there
// at its acknowledged place, every record must pass its checksum, and the
// torn tail must be cut.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	if d := os.Getenv("FILELOG_CRASH_KEEP"); d != "" {
		dir = d
	}
	var all []acked
	kills := 24
	for round := 0; round < kills; round++ {
		durability := "group"
		if round%3 == 2 {
			durability = "interval" // also promises survival of a process crash
		}
		acks := runAndKill(t, dir, durability, time.Duration(20+rand.IntN(120))*time.Millisecond)
		all = append(all, acks...)

		var tornSeg string
		var tornSize int64
		if round%2 == 1 {
			tornSeg, tornSize = tearTail(t, dir)
		}
		l, err := filelog.Open(dir, filelog.Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if tornSeg != "" {
			st, err := os.Stat(tornSeg)
			// Cut at the end of the last record: at most the size before
			// the tear (zero-filled space ahead of the records may go too).
			if err != nil || st.Size() > tornSize {
				t.Fatalf("round %d: torn tail not cut: size %d, want <= %d (%v)", round, st.Size(), tornSize, err)
			}
		}
		verify(t, round, l, all)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d kills, %d acknowledged events, all recovered", kills, len(all))
}

func runAndKill(t *testing.T, dir, durability string, after time.Duration) []acked {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, "FILELOG_CRASH_DURABILITY="+durability)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var acks []acked
	var timer <-chan time.Time
	killed := false
	for line := range lines {
		if !strings.HasPrefix(line, "ACK ") {
			if strings.Contains(line, "FAILED") {
				t.Fatalf("child: %s", line)
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) != 5 {
			continue // cut by the kill mid-line
		}
		v, _ := strconv.ParseInt(f[3], 10, 64)
		p, _ := strconv.ParseInt(f[4], 10, 64)
		acks = append(acks, acked{f[1], f[2], v, p})
		if timer == nil {
			timer = time.After(after)
		}
		if !killed {
			select {
			case <-timer:
				_ = cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			default:
			}
		}
	}
	if !killed {
		_ = cmd.Process.Signal(syscall.SIGKILL)
	}
	_ = cmd.Wait()
	if len(acks) == 0 {
		t.Fatal("child acknowledged nothing")
	}
	return acks
}

// tearTail appends the first part of a record to the last segment, as a
// write cut short by a crash would leave it, and returns the segment and
// the size it must be cut back to.
func tearTail(t *testing.T, dir string) (string, int64) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	sort.Strings(segs)
	last := segs[len(segs)-1]
	st, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A header promising 300 bytes, then only some of them.
	torn := []byte{44, 1, 0, 0, 0xde, 0xad, 0xbe, 0xef}
	torn = append(torn, make([]byte, rand.IntN(200))...)
	if _, err := f.Write(torn); err != nil {
		t.Fatal(err)
	}
	return last, st.Size()
}

func verify(t *testing.T, round int, l *filelog.Log, acks []acked) {
	t.Helper()
	ctx := context.Background()
	head, _ := l.Head(ctx)
	var events []eventlog.Event
	for from := int64(1); from <= head; {
		page, err := l.ReadAll(ctx, from, 1000)
		if err != nil {
			t.Fatalf("round %d: read after recovery: %v", round, err)
		}
		events = append(events, page...)
		from += int64(len(page))
	}
	if int64(len(events)) != head {
		t.Fatalf("round %d: read %d events, head %d", round, len(events), head)
	}
	versions := map[string]int64{}
	for i, e := range events {
		if e.Position != int64(i+1) || e.Version != versions[e.Stream]+1 {
			t.Fatalf("round %d: event %d at position %d version %d (stream at %d)", round, i, e.Position, e.Version, versions[e.Stream])
		}
		versions[e.Stream] = e.Version
	}
	for _, a := range acks {
		if a.position > head {
			t.Fatalf("round %d: acknowledged position %d lost (head %d)", round, a.position, head)
		}
		e := events[a.position-1]
		if e.ID.String() != a.id || e.Stream != a.stream || e.Version != a.version {
			t.Fatalf("round %d: acknowledged %s %s v%d @%d, found %s %s v%d", round, a.id, a.stream, a.version, a.position, e.ID, e.Stream, e.Version)
		}
	}
}
