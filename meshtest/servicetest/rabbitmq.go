package servicetest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	osexec "os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/meshtest/internal/provision"
)

// RabbitMQVHost is a test's own virtual host.
type RabbitMQVHost struct {
	// URL is "amqp://user:pass@host:port/<vhost>", for amqp091.Dial and
	// brokers/rabbitmq's Options.URL.
	URL string
	// VHost is the virtual host's name.
	VHost string
}

// RabbitMQ creates a fresh virtual host on the RabbitMQ at RABBITMQ_URL
// (default amqp://guest:guest@127.0.0.1:5672/), grants the URL's user all
// rights in it, and deletes it, queues and exchanges included, at
// t.Cleanup. It needs rabbitmqctl on the machine (RABBITMQCTL overrides
// the path) with rights to manage the server (root, or the server's
// Erlang cookie); each rabbitmqctl call takes a second or two.
func RabbitMQ(t testing.TB) RabbitMQVHost {
	t.Helper()
	v, cleanup, err := NewRabbitMQ(t.Name())
	require(t, err)
	cleanupIn(t, cleanup)
	return v
}

// NewRabbitMQ is RabbitMQ without a test (TestMain, examples): label goes
// into the vhost's name, and the caller runs cleanup. An unreachable
// server or a missing rabbitmqctl, with no container instead, yields an
// error wrapping ErrUnavailable.
func NewRabbitMQ(label string) (RabbitMQVHost, func() error, error) {
	var v RabbitMQVHost
	cleanup, err := provide(provision.RabbitMQ, env("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/"),
		func(rawURL string, exec execFunc) (cleanup func() error, err error) {
			v, cleanup, err = rabbitMQAt(rawURL, label, exec)
			return cleanup, err
		})
	if err != nil {
		return RabbitMQVHost{}, nil, err
	}
	return v, cleanup, nil
}

// rabbitMQAt is NewRabbitMQ on the server at rawURL, managed through exec
// (rabbitmqctl in a container) or, when exec is nil, the machine's
// rabbitmqctl.
func rabbitMQAt(rawURL, label string, exec execFunc) (RabbitMQVHost, func() error, error) {
	base, err := url.Parse(rawURL)
	if err != nil {
		return RabbitMQVHost{}, nil, fmt.Errorf("servicetest: RABBITMQ_URL: %w", err)
	}
	host := base.Host
	if base.Port() == "" {
		host = net.JoinHostPort(base.Hostname(), "5672")
	}
	c, err := net.DialTimeout("tcp", host, 2*time.Second)
	if err != nil {
		return RabbitMQVHost{}, nil, fmt.Errorf("%w: RabbitMQ is not reachable at %s (%v): install and start it "+
			"(apt-get install -y rabbitmq-server && service rabbitmq-server start) or set RABBITMQ_URL",
			ErrUnavailable, host, err)
	}
	c.Close()
	ctl := env("RABBITMQCTL", "rabbitmqctl")
	if exec == nil {
		if _, err := osexec.LookPath(ctl); err != nil {
			return RabbitMQVHost{}, nil, fmt.Errorf("%w: %s not found (%v): it comes with the rabbitmq-server package; "+
				"run the tests where it can manage the server, or set RABBITMQCTL", ErrUnavailable, ctl, err)
		}
		exec = localExec
	} else {
		ctl = "rabbitmqctl"
	}
	run := func(args ...string) error { return rabbitmqctl(exec, ctl, args...) }
	vhost := uniqueName(label, "-", 100)
	if err := run("add_vhost", vhost); err != nil {
		return RabbitMQVHost{}, nil, fmt.Errorf("%w: cannot create a vhost (rabbitmqctl needs root or the server's Erlang cookie): %v",
			ErrUnavailable, err)
	}
	cleanup := func() error { return run("delete_vhost", vhost) }
	if err := run("set_permissions", "-p", vhost, base.User.Username(), ".*", ".*", ".*"); err != nil {
		_ = cleanup()
		return RabbitMQVHost{}, nil, err
	}
	u := *base
	u.Host = host
	u.Path = "/" + vhost // [a-z0-9-] only: nothing to escape
	return RabbitMQVHost{URL: u.String(), VHost: vhost}, cleanup, nil
}

// localExec runs a command on the machine.
func localExec(ctx context.Context, cmd ...string) ([]byte, error) {
	return osexec.CommandContext(ctx, cmd[0], cmd[1:]...).CombinedOutput()
}

func rabbitmqctl(exec execFunc, ctl string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec(ctx, append([]string{ctl}, args...)...)
	if err != nil {
		return fmt.Errorf("servicetest: rabbitmqctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
