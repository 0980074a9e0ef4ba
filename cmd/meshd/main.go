// Command meshd is the Wasmesh data plane: it proxies HTTP for the services
// beside it under the config given with -c, reloads that config on change
// or SIGHUP, and drains on SIGTERM.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/dataplane"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "meshd:", err)
		os.Exit(1)
	}
}

func run() error {
	cfgPath := flag.String("c", "", "config file (YAML)")
	env := flag.String("env", os.Getenv("MESHD_ENV"), "environment overlay: FILE.ENV.yaml beside the config (or MESHD_ENV)")
	watch := flag.Bool("watch", true, "reload when the config file changes")
	logLevel := flag.String("log-level", "info", "debug, info, warn or error")
	xf := registerXDSFlags()
	flag.Parse()
	if xf.active() {
		if *cfgPath != "" {
			return errors.New("-c and --bootstrap/--xds-server are alternatives: give one")
		}
		return runXDS(xf, *logLevel)
	}
	if *cfgPath == "" {
		return errors.New("-c FILE or --bootstrap FILE is required")
	}

	level := &slog.LevelVar{}
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	load := func() (*conf.Config, string, error) {
		src, err := conf.Load(*cfgPath, *env)
		if err != nil {
			return nil, "", err
		}
		return src.Config, versionOf(*cfgPath, *env), nil
	}
	cfg, version, err := load()
	if err != nil {
		if ps, ok := conf.AsProblems(err); ok {
			for _, p := range ps {
				fmt.Fprintln(os.Stderr, p.String())
			}
			return fmt.Errorf("config has %d problem(s); not starting", len(ps))
		}
		return err
	}

	srv := dataplane.New(dataplane.Options{Logger: log, Level: level, Reload: load})
	if err := srv.Apply(cfg, version); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var once sync.Once
	done := make(chan struct{})
	drain := func() {
		once.Do(func() {
			timeout := cfg.DrainTimeout.D()
			log.Info("draining", "timeout", timeout)
			dctx, dcancel := context.WithTimeout(context.Background(), timeout)
			defer dcancel()
			if err := srv.Shutdown(dctx); err != nil {
				log.Warn("drain ended with requests still open", "error", err)
			}
			close(done)
		})
	}
	if _, err := srv.ServeAdmin(cfg.Admin.Address, drain); err != nil {
		return err
	}
	if *watch {
		files := []string{*cfgPath}
		if *env != "" {
			files = append(files, conf.OverlayPath(*cfgPath, *env))
		}
		go func() {
			if err := conf.Watch(ctx, files, 200*time.Millisecond, func() { _ = srv.Reload() }); err != nil {
				log.Error("config watcher stopped", "error", err)
			}
		}()
	}
	log.Info("meshd started", "config", *cfgPath, "env", *env, "version", version)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				_ = srv.Reload()
				continue
			}
			go drain()
		case <-done:
			log.Info("meshd stopped")
			return nil
		}
	}
}

// versionOf names a config by the hash of its files, so /config_dump and
// the config_info metric say which content is in force.
func versionOf(path, env string) string {
	h := sha256.New()
	for _, f := range []string{path, conf.OverlayPath(path, env)} {
		if b, err := os.ReadFile(f); err == nil && (f == path || env != "") {
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
