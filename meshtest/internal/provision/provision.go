package provision

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// Path is where a helper's server comes from.
type Path int

const (
	// Local is the machine's binary or running service (today's behaviour).
	Local Path = iota
	// Container is a container that meshtest/containers starts.
	Container
	// Missing means neither: the test skips, or fails in CI.
	Missing
)

func (p Path) String() string {
	switch p {
	case Local:
		return "local"
	case Container:
		return "container"
	default:
		return "missing"
	}
}

// Probes are the facts Decide rests on, as functions so tests inject them.
type Probes struct {
	// Local returns nil when the machine's binary or service can be used,
	// else an error saying what to install (wrapping the helper's
	// sentinel, e.g. etcdtest.ErrNoBinary).
	Local func() error
	// Docker returns nil when a Docker engine answers. Nil when no engine
	// support is linked in (meshtest/containers not imported).
	Docker func(context.Context) error
}

// InstallDocker is what Decide's message asks for when no engine answers.
const InstallDocker = "apt-get install -y docker.io && service docker start, or set DOCKER_HOST"

// Decide picks the server's path: Local when Probes.Local succeeds, else
// Container when a Docker engine answers, else Missing. For Missing the
// error wraps Local's (so errors.Is on the helper's sentinel holds) and
// adds how to get a container instead.
func Decide(ctx context.Context, p Probes) (Path, error) {
	localErr := p.Local()
	if localErr == nil {
		return Local, nil
	}
	if p.Docker == nil {
		return Missing, fmt.Errorf("%w; or, with a Docker engine, import _ \"github.com/wasmesh/wasmesh/meshtest/containers\" "+
			"to start a container instead", localErr)
	}
	if err := p.Docker(ctx); err != nil {
		return Missing, fmt.Errorf("%w; no Docker engine answers either (%v): to start a container instead, %s",
			localErr, err, InstallDocker)
	}
	return Container, nil
}

// CI reports whether the tests run in CI (CI=true), where a missing server
// fails the test instead of skipping it.
func CI() bool { return os.Getenv("CI") == "true" }

// End ends t because its server is Missing: a failure when ci (CI must run
// every test), a skip otherwise.
func End(t testing.TB, ci bool, err error) {
	t.Helper()
	if ci {
		t.Fatal(err)
	}
	t.Skip(err)
}

// Process is one etcd member as etcdtest drives it: the local binary or
// a container.
type Process interface {
	// Start starts etcd, again after Stop with the same data and ports.
	// It returns once etcd runs, not once it is healthy (etcdtest polls
	// /health). exited is closed if etcd stops by itself; nil when the
	// process cannot tell (the health poll then times out instead).
	Start(ctx context.Context) (exited <-chan struct{}, err error)
	// Stop stops etcd and waits for it: SIGKILL when kill, else SIGTERM.
	Stop(ctx context.Context, kill bool) error
	// Log returns the tail of etcd's output, for error messages.
	Log() string
	// Close releases what Start created beyond the data (a container).
	Close() error
}

// EtcdSpec is what a container needs to run etcd the way etcdtest's
// binary path does.
type EtcdSpec struct {
	// Name is the member's name (--name, --initial-cluster).
	Name string
	// ClientPort is the 127.0.0.1 port clients reach; the container
	// publishes its client port there, the same across restarts.
	ClientPort int
	// Scheme is "http", or "https" with the TLS files below.
	Scheme string
	// CAFile, CertFile and KeyFile are the server's PEM files on the host,
	// empty without TLS; clients must present a certificate from CAFile.
	CAFile, CertFile, KeyFile string
	// Flags are the tuning flags etcdtest also gives the binary (timing,
	// logging), without URLs, data dir and TLS.
	Flags []string
}

// Service is a server servicetest isolates tests on.
type Service string

// The servers servicetest knows.
const (
	RabbitMQ Service = "rabbitmq"
	Redis    Service = "redis"
	Postgres Service = "postgres"
)

// Server is a server a container runs for one servicetest call.
type Server struct {
	// URL is the server's address in the form of the helper's environment
	// variable: RABBITMQ_URL (amqp://user:pass@host:port/), REDIS_ADDR
	// (host:port), POSTGRES_DSN (postgres://…).
	URL string
	// Exec runs a command in the server's container (rabbitmqctl) and
	// returns its combined output; the error includes a non-zero exit.
	Exec func(ctx context.Context, cmd ...string) ([]byte, error)
	// What names the container for logs ("container redis:7-alpine").
	What string
	// Close stops and removes the container.
	Close func() error
}

// Engine starts containers; meshtest/containers registers the one
// implementation.
type Engine interface {
	// Reachable returns nil when a Docker engine answers.
	Reachable(ctx context.Context) error
	// Etcd prepares etcd in a container per spec; its Start creates and
	// runs the container, Close removes it.
	Etcd(spec EtcdSpec) (Process, error)
	// Service starts s in a container and waits until it accepts clients.
	Service(ctx context.Context, s Service) (Server, error)
}

var (
	mu     sync.Mutex
	engine Engine
)

// Register makes e the engine Decide's Docker probe and the helpers'
// container path use. meshtest/containers calls it from init.
func Register(e Engine) {
	mu.Lock()
	defer mu.Unlock()
	engine = e
}

// Registered returns the registered engine, or nil.
func Registered() Engine {
	mu.Lock()
	defer mu.Unlock()
	return engine
}

// DockerProbe is the Docker probe for Probes: nil without an engine, else
// the engine's Reachable under a timeout, so a missing engine answers in
// seconds.
func DockerProbe(e Engine) func(context.Context) error {
	if e == nil {
		return nil
	}
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return e.Reachable(ctx)
	}
}
