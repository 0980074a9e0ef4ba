package containers

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"

	"github.com/wasmesh/wasmesh/meshtest/internal/provision"
)

// request applies opts the way testcontainers.Run does, without Docker.
func request(t *testing.T, opts []testcontainers.ContainerCustomizer) testcontainers.GenericContainerRequest {
	t.Helper()
	var req testcontainers.GenericContainerRequest
	for _, o := range opts {
		if err := o.Customize(&req); err != nil {
			t.Fatal(err)
		}
	}
	return req
}

// flag returns the value after name in args.
func flag(args []string, name string) string {
	i := slices.Index(args, name)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

func TestImportRegistersEngine(t *testing.T) {
	if provision.Registered() == nil {
		t.Fatal("importing meshtest/containers registered no engine: the helpers would not fall back to containers")
	}
}

func TestEtcdContainer(t *testing.T) {
	cases := []struct {
		name    string
		spec    provision.EtcdSpec
		wantTLS bool
	}{
		{"plain", provision.EtcdSpec{Name: "etcdtest", ClientPort: 23790, Scheme: "http", Flags: []string{"--log-level", "warn"}}, false},
		{"tls", provision.EtcdSpec{Name: "etcdtest", ClientPort: 23791, Scheme: "https",
			CAFile: "/h/ca.pem", CertFile: "/h/server.pem", KeyFile: "/h/server-key.pem"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := request(t, etcdOptions(c.spec))
			cmd := req.Cmd
			if cmd[0] != "/usr/local/bin/etcd" {
				t.Errorf("command %v does not run etcd", cmd)
			}
			port := "2379" // inside
			if got := flag(cmd, "--listen-client-urls"); got != c.spec.Scheme+"://0.0.0.0:"+port {
				t.Errorf("listens on %q: clients outside the container would not reach it", got)
			}
			if got, want := flag(cmd, "--advertise-client-urls"), c.spec.Scheme+"://127.0.0.1:"+strconv.Itoa(c.spec.ClientPort); got != want {
				t.Errorf("advertises %q, want %q (the address Endpoints returns)", got, want)
			}
			if got := flag(cmd, "--initial-cluster"); !strings.HasPrefix(got, c.spec.Name+"=") {
				t.Errorf("initial cluster %q does not name the member %q", got, c.spec.Name)
			}
			for i := 0; i+1 < len(c.spec.Flags); i += 2 {
				if flag(cmd, c.spec.Flags[i]) != c.spec.Flags[i+1] {
					t.Errorf("tuning flag %s missing from %v", c.spec.Flags[i], cmd)
				}
			}
			if !slices.Contains(req.ExposedPorts, "2379/tcp") {
				t.Errorf("exposed %v, want 2379/tcp", req.ExposedPorts)
			}
			var hc container.HostConfig
			req.HostConfigModifier(&hc)
			b := hc.PortBindings[network.MustParsePort("2379/tcp")]
			if len(b) != 1 || b[0].HostIP.String() != "127.0.0.1" || b[0].HostPort != strconv.Itoa(c.spec.ClientPort) {
				t.Errorf("binding %v, want 127.0.0.1:%d, fixed so a restart keeps the address", b, c.spec.ClientPort)
			}
			hasTLS := slices.Contains(cmd, "--client-cert-auth")
			if hasTLS != c.wantTLS {
				t.Fatalf("client-cert-auth %v, want %v", hasTLS, c.wantTLS)
			}
			if !c.wantTLS {
				if len(req.Files) != 0 {
					t.Errorf("files %v copied without TLS", req.Files)
				}
				return
			}
			copied := map[string]string{}
			for _, f := range req.Files {
				copied[f.ContainerFilePath] = f.HostFilePath
			}
			for flagName, host := range map[string]string{"--trusted-ca-file": c.spec.CAFile, "--cert-file": c.spec.CertFile, "--key-file": c.spec.KeyFile} {
				inside := flag(cmd, flagName)
				if copied[inside] != host {
					t.Errorf("%s %s: copied from %q, want %q", flagName, inside, copied[inside], host)
				}
			}
		})
	}
}

func TestEtcdRejectsBadPort(t *testing.T) {
	if _, err := (engine{}).Etcd(provision.EtcdSpec{Name: "etcdtest", Scheme: "http"}); err == nil {
		t.Fatal("no client port: a container whose address nobody knows")
	}
}

func TestServiceContainers(t *testing.T) {
	cases := []struct {
		svc     provision.Service
		image   string
		url     string
		wantEnv map[string]string
	}{
		{provision.RabbitMQ, RabbitMQImage, "amqp://meshtest:meshtest@127.0.0.1:32768/",
			map[string]string{"RABBITMQ_DEFAULT_USER": "meshtest", "RABBITMQ_DEFAULT_PASS": "meshtest"}},
		{provision.Redis, RedisImage, "127.0.0.1:32768", nil},
		{provision.Postgres, PostgresImage, "postgres://postgres@127.0.0.1:32768/test?sslmode=disable",
			map[string]string{"POSTGRES_HOST_AUTH_METHOD": "trust", "POSTGRES_DB": "test"}},
	}
	for _, c := range cases {
		t.Run(string(c.svc), func(t *testing.T) {
			svc, ok := services[c.svc]
			if !ok {
				t.Fatalf("no container for %s", c.svc)
			}
			if svc.image != c.image {
				t.Errorf("image %s, want %s", svc.image, c.image)
			}
			if got := svc.url("127.0.0.1:32768"); got != c.url {
				t.Errorf("url %q, want %q", got, c.url)
			}
			req := request(t, svc.opts)
			for k, v := range c.wantEnv {
				if req.Env[k] != v {
					t.Errorf("env %s=%q, want %q", k, req.Env[k], v)
				}
			}
			if req.WaitingFor == nil {
				t.Error("no wait strategy: the helper would hand out a server that does not accept clients yet")
			}
		})
	}
	if _, err := (engine{}).Service(context.Background(), "nats"); err == nil {
		t.Error("an unknown service started something")
	}
}

// TestHelpersDoNotLinkDocker guards the reason this package exists: the
// other meshtest helpers must not pull testcontainers-go into a user's
// test binary.
func TestHelpersDoNotLinkDocker(t *testing.T) {
	const root = "github.com/wasmesh/wasmesh/meshtest/"
	pkgs := []string{"etcdtest", "servicetest", "kafkatest", "xdstest", "meshdtest", "memregistry"}
	args := []string{"list", "-f", `{{.ImportPath}} {{join .Deps " "}}`}
	for _, p := range pkgs {
		args = append(args, root+p)
	}
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(pkgs) {
		t.Fatalf("go list printed %d packages, want %d:\n%s", len(lines), len(pkgs), out)
	}
	for _, line := range lines {
		pkg, deps, _ := strings.Cut(line, " ")
		for _, dep := range strings.Fields(deps) {
			if strings.HasPrefix(dep, "github.com/testcontainers/") || strings.HasPrefix(dep, "github.com/moby/") {
				t.Errorf("%s links %s; only meshtest/containers may link Docker packages", pkg, dep)
				break
			}
		}
	}
}
