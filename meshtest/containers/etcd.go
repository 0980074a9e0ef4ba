package containers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"

	"github.com/wasmesh/wasmesh/meshtest/internal/provision"
)

// Paths and ports inside the etcd container.
const (
	etcdClientPort = "2379/tcp"
	etcdDataDir    = "/tmp/etcd-data" // the container's own layer: kept across stop and start
	etcdTLSDir     = "/etc/etcdtest"
)

func (engine) Etcd(spec provision.EtcdSpec) (provision.Process, error) {
	if spec.ClientPort <= 0 || spec.ClientPort > 65535 {
		return nil, fmt.Errorf("containers: etcd client port %d", spec.ClientPort)
	}
	return &etcdProcess{opts: etcdOptions(spec)}, nil
}

// etcdOptions is the container etcdtest's binary path would be: the same
// member name and tuning flags, clients on 127.0.0.1:ClientPort (fixed,
// so a restart keeps the address), the TLS files copied in.
func etcdOptions(spec provision.EtcdSpec) []testcontainers.ContainerCustomizer {
	peer := "http://127.0.0.1:2380" // one member: peers never leave the container
	cmd := []string{
		"/usr/local/bin/etcd",
		"--name", spec.Name,
		"--data-dir", etcdDataDir,
		"--listen-client-urls", spec.Scheme + "://0.0.0.0:2379",
		"--advertise-client-urls", spec.Scheme + "://127.0.0.1:" + strconv.Itoa(spec.ClientPort),
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--initial-cluster", spec.Name + "=" + peer,
		"--initial-cluster-state", "new",
	}
	cmd = append(cmd, spec.Flags...)
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts(etcdClientPort),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.PortBindings = network.PortMap{
				network.MustParsePort(etcdClientPort): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: strconv.Itoa(spec.ClientPort)}},
			}
		}),
	}
	if spec.Scheme == "https" {
		files := []testcontainers.ContainerFile{
			{HostFilePath: spec.CAFile, ContainerFilePath: etcdTLSDir + "/ca.pem", FileMode: 0o644},
			{HostFilePath: spec.CertFile, ContainerFilePath: etcdTLSDir + "/server.pem", FileMode: 0o644},
			// Readable by the image's user, whoever it is: a throwaway test key.
			{HostFilePath: spec.KeyFile, ContainerFilePath: etcdTLSDir + "/server-key.pem", FileMode: 0o644},
		}
		opts = append(opts, testcontainers.WithFiles(files...))
		cmd = append(cmd, "--cert-file", etcdTLSDir+"/server.pem", "--key-file", etcdTLSDir+"/server-key.pem",
			"--trusted-ca-file", etcdTLSDir+"/ca.pem", "--client-cert-auth")
	}
	return append(opts, testcontainers.WithCmd(cmd...))
}

// etcdProcess is etcd in a container: created at the first Start, stopped
// and started again in place (the data stays in the container's layer),
// removed at Close.
type etcdProcess struct {
	opts []testcontainers.ContainerCustomizer
	ctr  *testcontainers.DockerContainer
}

func (p *etcdProcess) Start(ctx context.Context) (<-chan struct{}, error) {
	if p.ctr != nil {
		if err := p.ctr.Start(ctx); err != nil {
			return nil, fmt.Errorf("start container: %w", err)
		}
		return nil, nil
	}
	ctr, err := testcontainers.Run(ctx, EtcdImage, p.opts...)
	p.ctr = ctr // set even on error, so Log and Close see it
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", EtcdImage, err)
	}
	return nil, nil
}

// Stop stops the container: kill is `docker stop -t 0`, SIGTERM then
// SIGKILL at once, which is a crash for etcd; otherwise SIGTERM with ten
// seconds to finish.
func (p *etcdProcess) Stop(ctx context.Context, kill bool) error {
	if p.ctr == nil {
		return nil
	}
	timeout := 10 * time.Second
	if kill {
		timeout = 0
	}
	if err := p.ctr.Stop(ctx, &timeout); err != nil {
		return fmt.Errorf("stop container: %w", err)
	}
	return nil
}

func (p *etcdProcess) Log() string {
	if p.ctr == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return logTail(ctx, p.ctr)
}

func (p *etcdProcess) Close() error {
	if p.ctr == nil {
		return nil
	}
	err := testcontainers.TerminateContainer(p.ctr)
	p.ctr = nil
	if err != nil {
		return errors.Join(errors.New("containers: remove etcd container"), err)
	}
	return nil
}
