package static_test

import (
	"context"
	"errors"
	"testing"

	"github.com/wasmesh/wasmesh/discovery"
	"github.com/wasmesh/wasmesh/discovery/registrytest"
	"github.com/wasmesh/wasmesh/discovery/static"
)

func TestConformance(t *testing.T) {
	registrytest.Run(t, registrytest.Harness{
		New: func(t *testing.T, seed []discovery.Instance) discovery.Registry {
			var cfg static.Config
			for _, i := range seed {
				cfg.Instances = append(cfg.Instances, static.InstanceConfig{
					Service: i.Service, ID: i.ID, Address: i.Address, Port: i.Port,
					Version: i.Version, Tags: i.Tags, Metadata: i.Metadata,
				})
			}
			r, err := static.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
	})
}

func TestOpenFromConfig(t *testing.T) {
	ctx := context.Background()
	r, err := discovery.Open(ctx, discovery.BackendConfig{Backend: "static", Options: map[string]any{
		"instances": []any{
			map[string]any{"service": "api", "id": "a", "address": "10.0.0.1", "port": 80, "tags": []any{"v2"}},
			map[string]any{"service": "api", "id": "b", "address": "10.0.0.2", "port": 80},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.Resolve(ctx, "api", discovery.Filter{Tags: []string{"v2"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "a" || got[0].Source != "static" {
		t.Fatalf("Resolve = %+v, want instance a from static", got)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		opts map[string]any
		want error
	}{
		{"unknown key", map[string]any{"instance": []any{}}, discovery.ErrInvalid},
		{"no port", map[string]any{"instances": []any{map[string]any{"service": "api", "id": "a", "address": "x"}}}, discovery.ErrInvalid},
		{"duplicate id", map[string]any{"instances": []any{
			map[string]any{"service": "api", "id": "a", "address": "x", "port": 1},
			map[string]any{"service": "api", "id": "a", "address": "y", "port": 1},
		}}, discovery.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := discovery.Open(context.Background(), discovery.BackendConfig{Backend: "static", Options: tt.opts})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
