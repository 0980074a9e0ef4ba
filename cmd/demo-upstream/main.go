// Command demo-upstream runs small HTTP services on several addresses, so
// `make run` has something for meshd to balance across. Each instance
// answers with its own name, and has /healthz, a slow path and a failing
// path to try timeouts, retries and outlier detection by hand.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	addrs := flag.String("addrs", "127.0.0.1:18081,127.0.0.1:18082,127.0.0.1:18083,127.0.0.1:18084", "comma-separated listen addresses")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	var servers []*http.Server
	var wg sync.WaitGroup
	for i, a := range strings.Split(*addrs, ",") {
		name := fmt.Sprintf("upstream-%d", i+1)
		srv := &http.Server{Addr: a, Handler: handler(name, a), ReadHeaderTimeout: 5 * time.Second}
		servers = append(servers, srv)
		wg.Add(1)
		go func() {
			defer wg.Done()
			log.Info("demo upstream listening", "name", name, "address", a)
			if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
				log.Error("demo upstream failed", "name", name, "error", err)
				os.Exit(1)
			}
		}()
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(ctx)
	}
	wg.Wait()
}

func handler(name, addr string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if ms, err := strconv.Atoi(r.URL.Query().Get("sleep_ms")); err == nil && ms > 0 {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		if code, err := strconv.Atoi(r.URL.Query().Get("status")); err == nil && code >= 200 && code < 600 {
			w.WriteHeader(code)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"instance":   name,
			"address":    addr,
			"method":     r.Method,
			"path":       r.URL.Path,
			"request_id": r.Header.Get("X-Request-Id"),
		})
	})
	return mux
}
