package servicetest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"
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
	base, err := url.Parse(env("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/"))
	if err != nil {
		t.Fatalf("servicetest: RABBITMQ_URL: %v", err)
	}
	host := base.Host
	if base.Port() == "" {
		host = net.JoinHostPort(base.Hostname(), "5672")
	}
	if c, err := net.DialTimeout("tcp", host, 2*time.Second); err != nil {
		unavailable(t, "RabbitMQ is not reachable at %s (%v): install and start it "+
			"(apt-get install -y rabbitmq-server && service rabbitmq-server start) or set RABBITMQ_URL", host, err)
	} else {
		c.Close()
	}
	ctl := env("RABBITMQCTL", "rabbitmqctl")
	if _, err := exec.LookPath(ctl); err != nil {
		unavailable(t, "%s not found (%v): it comes with the rabbitmq-server package; "+
			"run the tests where it can manage the server, or set RABBITMQCTL", ctl, err)
	}
	user := base.User.Username()
	vhost := uniqueName(t, "-", 100)
	if err := rabbitmqctl(ctl, "add_vhost", vhost); err != nil {
		unavailable(t, "cannot create a vhost: %v (rabbitmqctl needs root or the server's Erlang cookie)", err)
	}
	t.Cleanup(func() {
		if err := rabbitmqctl(ctl, "delete_vhost", vhost); err != nil {
			t.Errorf("servicetest: %v", err)
		}
	})
	if err := rabbitmqctl(ctl, "set_permissions", "-p", vhost, user, ".*", ".*", ".*"); err != nil {
		t.Fatalf("servicetest: %v", err)
	}
	u := *base
	u.Host = host
	u.Path = "/" + vhost
	u.RawPath = "/" + url.PathEscape(vhost)
	return RabbitMQVHost{URL: u.String(), VHost: vhost}
}

func rabbitmqctl(ctl string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ctl, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("rabbitmqctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
