package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/meshtest/internal/provision"
)

// Server is one running (or stopped) single-member etcd.
type Server struct {
	dir        string
	clientURL  string
	mu         sync.Mutex
	proc       provision.Process
	running    bool
	withTLS    bool
	httpClient *http.Client

	// TLS is set when the server was started WithTLS.
	TLS *TLSFiles
}

// ErrNoBinary means there is no etcd binary to run (and no container could
// be started instead); the error wrapping it says how to install one.
var ErrNoBinary = errors.New("etcdtest: etcd binary not found")

func findBinary() (string, error) {
	name := "etcd"
	if p := os.Getenv("ETCD_BIN"); p != "" {
		name = p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: no %s (%v): install it with `apt-get install -y etcd-server` (or set ETCD_BIN)", ErrNoBinary, name, err)
	}
	return p, nil
}

// Binary returns the path of the etcd binary, or fails/skips t (fails when
// CI=true) with install instructions when there is none.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := findBinary()
	if err != nil {
		provision.End(t, provision.CI(), err)
	}
	return p
}

// Start runs a fresh etcd and waits until it serves. It is stopped, and its
// data removed, at t.Cleanup. It runs the etcd binary; without one, a
// container when the test binary imports meshtest/containers and a Docker
// engine answers; else the test skips, or fails when CI=true.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, path, err := open(filepath.Join(t.TempDir(), "etcd"), opts)
	if path == provision.Missing {
		provision.End(t, provision.CI(), err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// New is Start without a test (TestMain, examples): the data goes under
// dir, and the caller must Close the server. No binary and no container
// is an error wrapping ErrNoBinary.
func New(dir string, opts ...Option) (*Server, error) {
	s, _, err := open(filepath.Join(dir, "etcd"), opts)
	return s, err
}

// open decides where etcd runs and starts it there.
func open(dir string, opts []Option) (*Server, provision.Path, error) {
	var bin string
	engine := provision.Registered()
	path, err := provision.Decide(context.Background(), provision.Probes{
		Local:  func() (err error) { bin, err = findBinary(); return err },
		Docker: provision.DockerProbe(engine),
	})
	if path == provision.Missing {
		return nil, path, err
	}
	if path == provision.Local {
		engine = nil
	}
	s, err := launch(bin, engine, dir, opts)
	return s, path, err
}

// Close kills the server (its data dir stays where the caller put it) and
// removes its container, if it runs in one.
func (s *Server) Close() {
	s.stop(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.proc.Close()
}

// flags tune etcd for tests: fast elections, warnings only.
var flags = []string{
	"--heartbeat-interval", "50",
	"--election-timeout", "500",
	"--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
}

// launch starts etcd: the binary bin, or a container from engine when it
// is not nil.
func launch(bin string, engine provision.Engine, dir string, opts []Option) (*Server, error) {
	s := &Server{dir: dir}
	for _, o := range opts {
		o(s)
	}
	scheme := "http"
	s.httpClient = &http.Client{Timeout: time.Second}
	if s.withTLS {
		files, err := makeTLS(s.dir + "-tls")
		if err != nil {
			return nil, fmt.Errorf("etcdtest: certificates: %w", err)
		}
		cfg, err := files.ClientTLS()
		if err != nil {
			return nil, fmt.Errorf("etcdtest: client TLS: %w", err)
		}
		s.TLS, scheme = files, "https"
		s.httpClient.Transport = &http.Transport{TLSClientConfig: cfg}
	}
	clientPort, err := freePort()
	if err != nil {
		return nil, err
	}
	s.clientURL = scheme + "://127.0.0.1:" + strconv.Itoa(clientPort)
	if engine != nil {
		spec := provision.EtcdSpec{Name: "etcdtest", ClientPort: clientPort, Scheme: scheme, Flags: flags}
		if s.TLS != nil {
			spec.CAFile, spec.CertFile, spec.KeyFile = s.TLS.CAFile, s.TLS.ServerCertFile, s.TLS.ServerKeyFile
		}
		if s.proc, err = engine.Etcd(spec); err != nil {
			return nil, fmt.Errorf("etcdtest: container: %w", err)
		}
	} else {
		peerPort, err := freePort()
		if err != nil {
			return nil, err
		}
		s.proc = s.binary(bin, "http://127.0.0.1:"+strconv.Itoa(peerPort))
	}
	if err := s.start(); err != nil {
		log := s.proc.Log()
		s.Close()
		return nil, fmt.Errorf("etcdtest: %w\n%s", err, log)
	}
	return s, nil
}

// Endpoints are the client URLs to give clientv3.Config.
func (s *Server) Endpoints() []string { return []string{s.clientURL} }

// Stop shuts the server down gracefully (SIGTERM) and waits for it.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.stop(false)
}

// Kill stops the server abruptly (SIGKILL), as a crash would.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.stop(true)
}

// Restart starts a stopped server again with the same data and ports.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("etcdtest: restart: %v\n%s", err, s.proc.Log())
	}
}

// start starts the process and waits until /health answers OK.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return errors.New("already running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a first image pull takes a while
	defer cancel()
	exited, err := s.proc.Start(ctx)
	if err != nil {
		return err
	}
	s.running = true

	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-exited:
			s.running = false
			return errors.New("etcd exited during start")
		default:
		}
		resp, err := s.httpClient.Get(s.clientURL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd at %s not healthy after 20s (last error %v)", s.clientURL, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) stop(kill bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = s.proc.Stop(ctx, kill)
	s.running = false
}

func freePort() (int, error) {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("etcdtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
