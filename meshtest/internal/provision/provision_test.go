package provision

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// recorder is a testing.TB that records how End ended the test instead
// of ending the real one.
type recorder struct {
	testing.TB
	mu              sync.Mutex
	failed, skipped bool
	msg             string
}

func (r *recorder) end(skip bool, a ...any) {
	r.mu.Lock()
	r.failed, r.skipped, r.msg = !skip, skip, fmt.Sprint(a...)
	r.mu.Unlock()
	runtime.Goexit()
}
func (r *recorder) Fatal(a ...any) { r.end(false, a...) }
func (r *recorder) Skip(a ...any)  { r.end(true, a...) }

// TestDecide runs the decision over the whole matrix: the machine's
// binary or service present or not, Docker support linked in or not, an
// engine answering or not, CI true or false.
func TestDecide(t *testing.T) {
	errNoBinary := errors.New("etcd binary not found: apt-get install -y etcd-server")
	present := func() error { return nil }
	absent := func() error { return fmt.Errorf("wrapped: %w", errNoBinary) }
	reachable := func(context.Context) error { return nil }
	unreachable := func(context.Context) error { return errors.New("cannot connect to /var/run/docker.sock") }

	cases := []struct {
		name     string
		local    func() error
		docker   func(context.Context) error
		want     Path
		wantMsgs []string // for Missing
	}{
		{"binary present, no docker support", present, nil, Local, nil},
		{"binary present, docker reachable", present, reachable, Local, nil},
		{"binary present, docker unreachable", present, unreachable, Local, nil},
		{"no binary, docker reachable", absent, reachable, Container, nil},
		{"no binary, docker unreachable", absent, unreachable, Missing,
			[]string{"etcd-server", "docker.io", "DOCKER_HOST", "/var/run/docker.sock"}},
		{"no binary, no docker support", absent, nil, Missing,
			[]string{"etcd-server", "meshtest/containers"}},
	}
	for _, c := range cases {
		for _, ci := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/CI=%v", c.name, ci), func(t *testing.T) {
				dockerProbed := false
				p := Probes{Local: c.local}
				if c.docker != nil {
					p.Docker = func(ctx context.Context) error { dockerProbed = true; return c.docker(ctx) }
				}
				path, err := Decide(context.Background(), p)
				if path != c.want {
					t.Fatalf("path %v, want %v (err %v)", path, c.want, err)
				}
				if path == Local && dockerProbed {
					t.Fatal("Docker probed although the local server is usable")
				}
				if path != Missing {
					if err != nil {
						t.Fatalf("err %v for path %v", err, path)
					}
					return
				}
				if !errors.Is(err, errNoBinary) {
					t.Fatalf("error %v does not wrap the local error", err)
				}
				r := &recorder{TB: t}
				done := make(chan struct{})
				go func() { defer close(done); End(r, ci, err) }()
				<-done
				if r.failed != ci || r.skipped == ci {
					t.Fatalf("failed=%v skipped=%v, want a failure only in CI", r.failed, r.skipped)
				}
				for _, m := range c.wantMsgs {
					if !strings.Contains(r.msg, m) {
						t.Errorf("message %q does not mention %q", r.msg, m)
					}
				}
			})
		}
	}
}

func TestCI(t *testing.T) {
	for env, want := range map[string]bool{"true": true, "": false, "false": false, "1": false} {
		t.Setenv("CI", env)
		if got := CI(); got != want {
			t.Errorf("CI=%q: CI() = %v, want %v", env, got, want)
		}
	}
}

type fakeEngine struct {
	Engine
	err error
}

func (f fakeEngine) Reachable(context.Context) error { return f.err }

func TestDockerProbe(t *testing.T) {
	if DockerProbe(nil) != nil {
		t.Fatal("a probe without an engine: Decide would think Docker support is linked in")
	}
	down := errors.New("down")
	if err := DockerProbe(fakeEngine{err: down})(context.Background()); !errors.Is(err, down) {
		t.Fatalf("probe = %v, want the engine's answer", err)
	}
}
