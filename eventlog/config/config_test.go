package config_test

import (
	"context"
	"strings"
	"testing"

	"github.com/wasmesh/wasmesh/eventlog"
	"github.com/wasmesh/wasmesh/eventlog/config"
)

func TestDecode(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, json string
		wantErr    string
	}{
		{"file defaults", `{"file":{"dir":"` + dir + `"}}`, ""},
		{"file interval", `{"backend":"file","file":{"dir":"` + dir + `","durability":"interval","interval":"50ms"}}`, ""},
		{"postgres", `{"backend":"postgres","postgres":{"dsn":"postgres://x@y/z","poll_interval":"2s"}}`, ""},
		{"typo", `{"file":{"dri":"/x"}}`, "unknown field"},
		{"missing dir", `{"file":{}}`, "file.dir is required"},
		{"bad durability", `{"file":{"dir":"/x","durability":"sometimes"}}`, "file.durability"},
		{"bad interval", `{"file":{"dir":"/x","interval":"soon"}}`, "file.interval"},
		{"tiny segments", `{"file":{"dir":"/x","segment_bytes":10}}`, "segment_bytes"},
		{"no dsn", `{"backend":"postgres"}`, "postgres.dsn"},
		{"unknown backend", `{"backend":"mongo"}`, "want file or postgres"},
		{"two objects", `{"file":{"dir":"/x"}} {}`, "trailing data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.DecodeBytes([]byte(tc.json))
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestOpenFile(t *testing.T) {
	c := config.Config{File: config.FileConfig{Dir: t.TempDir(), Durability: "always"}}
	s, err := config.Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Append(context.Background(), "c-1", eventlog.NoStream, eventlog.NewEvent("E", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Open(context.Background(), config.Config{Backend: "nope"}); err == nil {
		t.Fatal("invalid config opened")
	}
}
