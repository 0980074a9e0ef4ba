package discovery_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/discovery"
)

func TestFilterMatch(t *testing.T) {
	inst := discovery.Instance{Tags: []string{"v2", "canary"}, Metadata: map[string]string{"zone": "eu-1"}}
	tests := []struct {
		name string
		f    discovery.Filter
		want bool
	}{
		{"zero filter", discovery.Filter{}, true},
		{"one tag", discovery.Filter{Tags: []string{"v2"}}, true},
		{"all tags", discovery.Filter{Tags: []string{"canary", "v2"}}, true},
		{"missing tag", discovery.Filter{Tags: []string{"v3"}}, false},
		{"metadata", discovery.Filter{Metadata: map[string]string{"zone": "eu-1"}}, true},
		{"metadata other value", discovery.Filter{Metadata: map[string]string{"zone": "us-1"}}, false},
		{"metadata missing key", discovery.Filter{Metadata: map[string]string{"rack": "1"}}, false},
		{"tag and metadata", discovery.Filter{Tags: []string{"v2"}, Metadata: map[string]string{"zone": "eu-1"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Match(inst); got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestInstanceValidate(t *testing.T) {
	ok := discovery.Instance{Service: "api", ID: "a", Address: "10.0.0.1", Port: 80}
	tests := []struct {
		name   string
		mutate func(*discovery.Instance)
		valid  bool
	}{
		{"valid", func(*discovery.Instance) {}, true},
		{"no service", func(i *discovery.Instance) { i.Service = "" }, false},
		{"no id", func(i *discovery.Instance) { i.ID = "" }, false},
		{"no address", func(i *discovery.Instance) { i.Address = "" }, false},
		{"port 0", func(i *discovery.Instance) { i.Port = 0 }, false},
		{"port too big", func(i *discovery.Instance) { i.Port = 70000 }, false},
		{"http check without interval", func(i *discovery.Instance) { i.Check.HTTP = "http://x/health" }, false},
		{"http check", func(i *discovery.Instance) { i.Check = discovery.Check{HTTP: "http://x/h", Interval: time.Second} }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst := ok.Clone()
			tt.mutate(&inst)
			err := inst.Validate()
			if (err == nil) != tt.valid {
				t.Fatalf("Validate = %v, want valid=%v", err, tt.valid)
			}
			if err != nil && !errors.Is(err, discovery.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestDecodeOptionsIsStrict(t *testing.T) {
	type opts struct {
		Address string             `json:"address"`
		TTL     discovery.Duration `json:"ttl"`
	}
	var o opts
	if err := discovery.DecodeOptions(map[string]any{"address": "a:1", "ttl": "3s"}, &o); err != nil {
		t.Fatal(err)
	}
	if o.Address != "a:1" || o.TTL.Std() != 3*time.Second {
		t.Fatalf("decoded %+v", o)
	}
	for name, in := range map[string]map[string]any{
		"unknown key":    {"adress": "a:1"},
		"bad duration":   {"ttl": "3 parsecs"},
		"number for ttl": {"ttl": 3},
	} {
		if err := discovery.DecodeOptions(in, &o); !errors.Is(err, discovery.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestOpenUnknownBackend(t *testing.T) {
	_, err := discovery.Open(context.Background(), discovery.BackendConfig{Backend: "zookeeper"})
	if !errors.Is(err, discovery.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
}

func TestTargetValidate(t *testing.T) {
	tests := []struct {
		name  string
		t     discovery.Target
		valid bool
	}{
		{"one backend", discovery.Target{Backend: "consul", Service: "api"}, true},
		{"several", discovery.Target{Backends: []string{"consul", "kubernetes"}, Service: "api"}, true},
		{"no service", discovery.Target{Backend: "consul"}, false},
		{"no backend", discovery.Target{Service: "api"}, false},
		{"both", discovery.Target{Backend: "consul", Backends: []string{"etcd"}, Service: "api"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.t.Validate(); (err == nil) != tt.valid {
				t.Fatalf("Validate = %v, want valid=%v", err, tt.valid)
			}
		})
	}
}
