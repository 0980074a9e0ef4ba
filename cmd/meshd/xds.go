package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/dataplane"
	"github.com/wasmesh/wasmesh/xds"
)

// xdsFlags are meshd's flags for running under an Envoy control plane or
// from an Envoy bootstrap file, instead of -c.
type xdsFlags struct {
	bootstrap   string
	server      string
	nodeID      string
	nodeCluster string
	nodeMeta    string
	delta       bool
	admin       string
	tlsCA       string
	tlsCert     string
	tlsKey      string
	tlsName     string
}

func registerXDSFlags() *xdsFlags {
	f := &xdsFlags{}
	flag.StringVar(&f.bootstrap, "bootstrap", "", "Envoy v3 bootstrap file (YAML or JSON): static_resources, and dynamic_resources with ads_config")
	flag.StringVar(&f.server, "xds-server", "", "ADS management server host:port (gRPC; TLS with --xds-ca), instead of or overriding the bootstrap's")
	flag.StringVar(&f.nodeID, "node-id", os.Getenv("MESHD_NODE_ID"), "xDS node id (or MESHD_NODE_ID); overrides the bootstrap's")
	flag.StringVar(&f.nodeCluster, "node-cluster", "", "xDS node cluster; overrides the bootstrap's")
	flag.StringVar(&f.nodeMeta, "node-metadata", "", `xDS node metadata as a JSON object, e.g. {"zone":"a"}`)
	flag.BoolVar(&f.delta, "xds-delta", false, "use the incremental (delta) xDS protocol with --xds-server")
	flag.StringVar(&f.tlsCA, "xds-ca", "", "PEM CA that signs the management server's certificate: connect with TLS (overrides the bootstrap's)")
	flag.StringVar(&f.tlsCert, "xds-cert", "", "PEM client certificate for mutual TLS to the management server (with --xds-key)")
	flag.StringVar(&f.tlsKey, "xds-key", "", "PEM key of --xds-cert")
	flag.StringVar(&f.tlsName, "xds-server-name", "", "name checked in the management server's certificate (default: the host of --xds-server)")
	flag.StringVar(&f.admin, "admin", "", "admin API address with --xds-server or --bootstrap (default the bootstrap's, else "+conf.DefaultAdminAddress+")")
	return f
}

func (f *xdsFlags) active() bool { return f.bootstrap != "" || f.server != "" }

// runXDS is meshd's main loop when its config comes from xDS or an Envoy
// bootstrap: the data plane, the admin API and signals as with -c, the
// config from the ADS client (or the bootstrap's static_resources).
func runXDS(f *xdsFlags, logLevel string) error {
	level := &slog.LevelVar{}
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	bs := &xds.Bootstrap{Base: &conf.Config{}}
	if f.bootstrap != "" {
		var err error
		if bs, err = xds.LoadBootstrap(f.bootstrap); err != nil {
			return err
		}
		for _, w := range bs.Warnings {
			log.Warn("bootstrap field ignored", "detail", w)
		}
	}
	if f.server != "" {
		var keep *xds.TLS
		if bs.ADS != nil {
			keep = bs.ADS.TLS
		}
		bs.ADS = &xds.ADS{Server: f.server, Delta: f.delta, TLS: keep}
	}
	if f.tlsCA != "" || f.tlsCert != "" || f.tlsKey != "" || f.tlsName != "" {
		if bs.ADS == nil {
			return errors.New("--xds-ca/--xds-cert/--xds-key need an ADS server (--xds-server, or dynamic_resources in the bootstrap)")
		}
		t, err := xds.TLSFromFiles(f.tlsCA, f.tlsCert, f.tlsKey, f.tlsName)
		if err != nil {
			return err
		}
		bs.ADS.TLS = t
	}
	if f.nodeID != "" {
		bs.Node.ID = f.nodeID
	}
	if f.nodeCluster != "" {
		bs.Node.Cluster = f.nodeCluster
	}
	if f.nodeMeta != "" {
		if err := json.Unmarshal([]byte(f.nodeMeta), &bs.Node.Metadata); err != nil {
			return fmt.Errorf("--node-metadata: not a JSON object: %w", err)
		}
	}
	if f.admin != "" {
		bs.Base.Admin.Address = f.admin
	}
	base := *bs.Base
	base.SetDefaults()

	opts := dataplane.Options{Logger: log, Level: level}
	static := func() (*conf.Config, string, error) {
		if f.bootstrap != "" {
			b, err := xds.LoadBootstrap(f.bootstrap)
			if err != nil {
				return nil, "", err
			}
			b.Base.Admin = bs.Base.Admin
			bs = b
		}
		cfg, warns, err := bs.Config()
		for _, w := range warns {
			log.Warn("bootstrap", "detail", w)
		}
		return cfg, versionOf(f.bootstrap, ""), err
	}
	if bs.ADS == nil {
		opts.Reload = static
	}
	srv := dataplane.New(opts)
	if bs.ADS == nil {
		cfg, version, err := static()
		if err != nil {
			return err
		}
		if err := srv.Apply(cfg, version); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	done := make(chan struct{})
	drain := func() {
		once.Do(func() {
			log.Info("draining", "timeout", base.DrainTimeout.D())
			dctx, dcancel := context.WithTimeout(context.Background(), base.DrainTimeout.D())
			defer dcancel()
			cancel()
			if err := srv.Shutdown(dctx); err != nil {
				log.Warn("drain ended with requests still open", "error", err)
			}
			close(done)
		})
	}
	if _, err := srv.ServeAdmin(base.Admin.Address, drain); err != nil {
		return err
	}
	if bs.ADS != nil {
		if bs.Node.ID == "" {
			return errors.New("--node-id (or node.id in the bootstrap) is required with xDS")
		}
		client, err := xds.New(xds.Options{Server: bs.ADS.Server, Delta: bs.ADS.Delta, TLS: bs.ADS.TLS, Node: bs.Node, Base: bs.Base, Static: bs.Static,
			Apply: srv.Apply, Logger: log, Registerer: srv.Registry()})
		if err != nil {
			return err
		}
		srv.AddStatus("xds", func() any { return client.Status() })
		go func() { _ = client.Run(ctx) }()
		log.Info("meshd started", "xds_server", bs.ADS.Server, "node", bs.Node.ID, "delta", bs.ADS.Delta, "tls", bs.ADS.TLS != nil)
	} else {
		log.Info("meshd started", "bootstrap", f.bootstrap)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				if bs.ADS == nil {
					_ = srv.Reload()
				} else {
					log.Info("SIGHUP ignored: the config comes from xDS")
				}
				continue
			}
			go drain()
		case <-done:
			log.Info("meshd stopped")
			return nil
		}
	}
}
