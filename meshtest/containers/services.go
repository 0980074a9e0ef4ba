package containers

import (
	"context"
	"fmt"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/wasmesh/wasmesh/meshtest/internal/provision"
)

// service is how to run one of servicetest's servers in a container.
type service struct {
	image string
	port  string // the container port clients use
	opts  []testcontainers.ContainerCustomizer
	// url turns the published host:port into the form of the helper's
	// environment variable (RABBITMQ_URL, REDIS_ADDR, POSTGRES_DSN).
	url func(hostPort string) string
}

// services are servicetest's servers as containers. RabbitMQ gets a user
// of its own because guest may only log in from localhost, which a
// published port is not; rabbitmqctl then runs inside the container.
var services = map[provision.Service]service{
	provision.RabbitMQ: {
		image: RabbitMQImage,
		port:  "5672/tcp",
		opts: []testcontainers.ContainerCustomizer{
			testcontainers.WithEnv(map[string]string{"RABBITMQ_DEFAULT_USER": "meshtest", "RABBITMQ_DEFAULT_PASS": "meshtest"}),
			testcontainers.WithWaitStrategy(wait.ForLog("Server startup complete"), wait.ForListeningPort("5672/tcp")),
		},
		url: func(hp string) string { return "amqp://meshtest:meshtest@" + hp + "/" },
	},
	provision.Redis: {
		image: RedisImage,
		port:  "6379/tcp",
		opts: []testcontainers.ContainerCustomizer{
			testcontainers.WithWaitStrategy(wait.ForLog("Ready to accept connections"), wait.ForListeningPort("6379/tcp")),
		},
		url: func(hp string) string { return hp },
	},
	provision.Postgres: {
		image: PostgresImage,
		port:  "5432/tcp",
		opts: []testcontainers.ContainerCustomizer{
			testcontainers.WithEnv(map[string]string{"POSTGRES_HOST_AUTH_METHOD": "trust", "POSTGRES_DB": "test"}),
			// The image's init starts the server once, stops it, then
			// starts it for real: the second "ready" is the one to wait for.
			testcontainers.WithWaitStrategy(
				wait.ForLog("database system is ready to accept connections").WithOccurrence(2),
				wait.ForListeningPort("5432/tcp")),
		},
		url: func(hp string) string { return "postgres://postgres@" + hp + "/test?sslmode=disable" },
	},
}

func (engine) Service(ctx context.Context, s provision.Service) (provision.Server, error) {
	svc, ok := services[s]
	if !ok {
		return provision.Server{}, fmt.Errorf("containers: no container for %q", s)
	}
	opts := append([]testcontainers.ContainerCustomizer{testcontainers.WithExposedPorts(svc.port)}, svc.opts...)
	ctr, err := testcontainers.Run(ctx, svc.image, opts...)
	if err != nil {
		logs := ""
		if ctr != nil {
			logs = "\n" + logTail(ctx, ctr)
		}
		_ = testcontainers.TerminateContainer(ctr)
		return provision.Server{}, fmt.Errorf("containers: run %s: %w%s", svc.image, err, logs)
	}
	hostPort, err := ctr.PortEndpoint(ctx, svc.port, "")
	if err != nil {
		_ = testcontainers.TerminateContainer(ctr)
		return provision.Server{}, fmt.Errorf("containers: %s address: %w", svc.image, err)
	}
	return provision.Server{
		URL:   svc.url(hostPort),
		Exec:  execIn(ctr),
		What:  "container " + svc.image,
		Close: func() error { return testcontainers.TerminateContainer(ctr) },
	}, nil
}
