package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// binaryProcess runs the local etcd binary; it is the default Process.
type binaryProcess struct {
	bin     string
	args    []string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// binary returns the Process for the etcd binary bin with its data in
// s.dir, peers on peerURL and the log beside the data.
func (s *Server) binary(bin, peerURL string) *binaryProcess {
	args := []string{
		"--name", "etcdtest",
		"--data-dir", s.dir,
		"--listen-client-urls", s.clientURL,
		"--advertise-client-urls", s.clientURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "etcdtest=" + peerURL,
		"--initial-cluster-state", "new",
	}
	args = append(args, flags...)
	if s.TLS != nil {
		args = append(args, "--cert-file", s.TLS.ServerCertFile, "--key-file", s.TLS.ServerKeyFile,
			"--trusted-ca-file", s.TLS.CAFile, "--client-cert-auth")
	}
	return &binaryProcess{bin: bin, args: args, logPath: s.dir + ".log"}
}

func (p *binaryProcess) Start(context.Context) (<-chan struct{}, error) {
	if p.cmd != nil {
		select {
		case <-p.exited: // it died by itself: start it again
			p.cmd = nil
		default:
			return nil, errors.New("already running")
		}
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", p.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	p.cmd, p.exited = cmd, exited
	return exited, nil
}

func (p *binaryProcess) Stop(_ context.Context, kill bool) error {
	if p.cmd == nil {
		return nil
	}
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
	return nil
}

func (p *binaryProcess) Log() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (p *binaryProcess) Close() error { return nil }
