package containers

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"

	"github.com/wasmesh/wasmesh/meshtest/internal/provision"
)

// The images the helpers run, pinned to a major version so a test run
// does not change server under the tests' feet by a pull. Pull them ahead
// of time to keep the first test fast; TESTCONTAINERS_HUB_IMAGE_NAME_PREFIX
// points them at a registry mirror.
const (
	EtcdImage     = "gcr.io/etcd-development/etcd:v3.5.21"
	RabbitMQImage = "rabbitmq:3-alpine"
	RedisImage    = "redis:7-alpine"
	PostgresImage = "postgres:16-alpine"
)

func init() { provision.Register(engine{}) }

// engine is the provision.Engine that runs containers with
// testcontainers-go.
type engine struct{}

// Reachable returns nil when a Docker engine answers (testcontainers'
// provider health check: DOCKER_HOST, ~/.testcontainers.properties, or the
// usual sockets such as /var/run/docker.sock), else why not. Tests and
// TestMain can use it to decide whether container tests can run.
func Reachable(ctx context.Context) error { return engine{}.Reachable(ctx) }

func (engine) Reachable(ctx context.Context) (err error) {
	// testcontainers panics on some broken environments; a missing engine
	// is an answer, not a crash.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("containers: docker provider: %v", r)
		}
	}()
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		// testcontainers reports the last place it looked (often "rootless
		// Docker not found"); say where the usual engine would be too.
		return fmt.Errorf("containers: no Docker engine found (DOCKER_HOST=%q, no answer at /var/run/docker.sock): %w",
			os.Getenv("DOCKER_HOST"), err)
	}
	defer p.Close()
	if err := p.Health(ctx); err != nil {
		return fmt.Errorf("containers: docker engine: %w", err)
	}
	return nil
}

// execIn runs a command in ctr and returns its combined output; a non-zero
// exit is an error.
func execIn(ctr testcontainers.Container) func(ctx context.Context, cmd ...string) ([]byte, error) {
	return func(ctx context.Context, cmd ...string) ([]byte, error) {
		code, r, err := ctr.Exec(ctx, cmd, tcexec.Multiplexed())
		if err != nil {
			return nil, fmt.Errorf("exec %v: %w", cmd, err)
		}
		out, err := io.ReadAll(r)
		if err != nil {
			return out, fmt.Errorf("exec %v: read output: %w", cmd, err)
		}
		if code != 0 {
			return out, fmt.Errorf("exec %v: exit status %d", cmd, code)
		}
		return out, nil
	}
}

// logTail is the end of ctr's output, for error messages.
func logTail(ctx context.Context, ctr testcontainers.Container) string {
	rc, err := ctr.Logs(ctx)
	if err != nil {
		return fmt.Sprintf("(no container logs: %v)", err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
