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
	"syscall"
	"testing"
	"time"
)

// Server is one running (or stopped) single-member etcd.
type Server struct {
	bin        string
	dir        string
	clientURL  string
	peerURL    string
	logPath    string
	mu         sync.Mutex
	cmd        *exec.Cmd
	exited     chan struct{}
	startCount int
	withTLS    bool
	httpClient *http.Client

	// TLS is set when the server was started WithTLS.
	TLS *TLSFiles
}

// ErrNoBinary means there is no etcd binary to run; the error wrapping it
// says how to install one.
var ErrNoBinary = errors.New("etcdtest: etcd binary not found")

func findBinary() (string, error) {
	if p := os.Getenv("ETCD_BIN"); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("etcd")
	if err != nil {
		return "", fmt.Errorf("%w: install it with `apt-get install -y etcd-server` (or set ETCD_BIN)", ErrNoBinary)
	}
	return p, nil
}

// Binary returns the path of the etcd binary, or fails/skips t (fails when
// CI=true) with install instructions when there is none.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := findBinary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return p
}

// Start runs a fresh etcd and waits until it serves. It is stopped, and its
// data removed, at t.Cleanup.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := launch(Binary(t), filepath.Join(t.TempDir(), "etcd"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// New is Start without a test (TestMain, examples): the data goes under
// dir, and the caller must Close the server. A missing binary is an error
// wrapping ErrNoBinary.
func New(dir string, opts ...Option) (*Server, error) {
	bin, err := findBinary()
	if err != nil {
		return nil, err
	}
	return launch(bin, filepath.Join(dir, "etcd"), opts)
}

// Close kills the server (its data dir stays where the caller put it).
func (s *Server) Close() { s.stop(syscall.SIGKILL) }

func launch(bin, dir string, opts []Option) (*Server, error) {
	s := &Server{bin: bin, dir: dir}
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
	peerPort, err := freePort()
	if err != nil {
		return nil, err
	}
	s.clientURL = scheme + "://127.0.0.1:" + strconv.Itoa(clientPort)
	s.peerURL = "http://127.0.0.1:" + strconv.Itoa(peerPort)
	s.logPath = s.dir + ".log"
	if err := s.start(); err != nil {
		s.stop(syscall.SIGKILL)
		return nil, fmt.Errorf("etcdtest: %w\n%s", err, s.logTail())
	}
	return s, nil
}

// Endpoints are the client URLs to give clientv3.Config.
func (s *Server) Endpoints() []string { return []string{s.clientURL} }

// Stop shuts the server down gracefully (SIGTERM) and waits for it.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.stop(syscall.SIGTERM)
}

// Kill stops the server abruptly (SIGKILL), as a crash would.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.stop(syscall.SIGKILL)
}

// Restart starts a stopped server again with the same data and ports.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("etcdtest: restart: %v\n%s", err, s.logTail())
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logf.Close()
	args := []string{
		"--name", "etcdtest",
		"--data-dir", s.dir,
		"--listen-client-urls", s.clientURL,
		"--advertise-client-urls", s.clientURL,
		"--listen-peer-urls", s.peerURL,
		"--initial-advertise-peer-urls", s.peerURL,
		"--initial-cluster", "etcdtest=" + s.peerURL,
		"--initial-cluster-state", "new",
		"--heartbeat-interval", "50",
		"--election-timeout", "500",
		"--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
	}
	if s.TLS != nil {
		args = append(args, "--cert-file", s.TLS.ServerCertFile, "--key-file", s.TLS.ServerKeyFile,
			"--trusted-ca-file", s.TLS.CAFile, "--client-cert-auth")
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	s.startCount++

	deadline := time.Now().Add(20 * time.Second)
	client := s.httpClient
	for {
		select {
		case <-exited:
			s.cmd = nil
			return errors.New("etcd exited during start")
		default:
		}
		resp, err := client.Get(s.clientURL + "/health")
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

func (s *Server) stop(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("etcdtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
