// Command bundle is the three built-in filters (jwt-auth, rate-limit,
// tracing) in one module. A plugin picks its filter with the "filter" key of
// its configuration; the rest of the configuration is the filter's own:
//
//	{"filter": "rate-limit", "key": ["route"], "local": {"requests": 100, "per_seconds": 1}}
//
// Why: a Go module carries its own Go runtime, fmt, encoding/json and
// reflect, and wazero's machine code for a Go module is about four times
// its size. Three plugins loading this one file share one compiled copy
// (the host shares compiled code between plugins with the same bytes)
// instead of three. See README.md.
package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wasmesh/wasmesh/filters/jwt-auth/jwtauth"
	"github.com/wasmesh/wasmesh/filters/rate-limit/ratelimit"
	"github.com/wasmesh/wasmesh/filters/tracing/tracing"
	sdk "github.com/wasmesh/wasmesh/wasm-sdk"
)

// filters are the bundled filters by the name the "filter" key gives.
var filters = map[string]func(uint32) sdk.Plugin{
	"jwt-auth":   jwtauth.New,
	"rate-limit": ratelimit.New,
	"tracing":    tracing.New,
}

func init() { sdk.SetNewPlugin(func(root uint32) sdk.Plugin { return &selector{root: root} }) }

func main() {}

// selector is a root context that becomes the filter its configuration
// names: it passes every callback on to that filter.
type selector struct {
	root     uint32
	name     string
	inner    sdk.Plugin
	vmConfig []byte
}

// OnVMStart keeps the VM configuration for the filter, which is only known
// once the plugin configuration arrives.
func (s *selector) OnVMStart(vmConfig []byte) error {
	s.vmConfig = append([]byte(nil), vmConfig...)
	return nil
}

// OnConfigure picks the filter and hands it the rest of the configuration.
func (s *selector) OnConfigure(config []byte) error {
	name, rest, err := split(config)
	if err != nil {
		return err
	}
	if s.inner != nil {
		if name != s.name {
			return fmt.Errorf("bundle: filter %q cannot become %q", s.name, name)
		}
		return s.inner.OnConfigure(rest)
	}
	newFilter, ok := filters[name]
	if !ok {
		return fmt.Errorf("bundle: unknown filter %q (jwt-auth, rate-limit, tracing)", name)
	}
	inner := newFilter(s.root)
	if vs, ok := inner.(sdk.VMStarter); ok {
		if err := vs.OnVMStart(s.vmConfig); err != nil {
			return err
		}
	}
	if err := inner.OnConfigure(rest); err != nil {
		return err
	}
	s.name, s.inner = name, inner
	return nil
}

// NewHTTPFilter implements sdk.Plugin.
func (s *selector) NewHTTPFilter(id uint32) sdk.HTTPFilter {
	if s.inner == nil {
		return sdk.DefaultHTTPFilter{}
	}
	return s.inner.NewHTTPFilter(id)
}

// OnTick implements sdk.Ticker for filters that tick.
func (s *selector) OnTick() {
	if t, ok := s.inner.(sdk.Ticker); ok {
		t.OnTick()
	}
}

// OnQueueReady implements sdk.QueueListener for filters that listen.
func (s *selector) OnQueueReady(id uint32) {
	if l, ok := s.inner.(sdk.QueueListener); ok {
		l.OnQueueReady(id)
	}
}

// split takes the "filter" key out of a JSON object configuration. The rest
// is re-encoded (keys sorted, so every VM hands its filter the same bytes).
func split(config []byte) (name string, rest []byte, err error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(config, &m); err != nil {
		return "", nil, fmt.Errorf("bundle: configuration is not a JSON object: %w", err)
	}
	raw, ok := m["filter"]
	if !ok {
		return "", nil, errors.New(`bundle: configuration lacks "filter" (jwt-auth, rate-limit or tracing)`)
	}
	if err := json.Unmarshal(raw, &name); err != nil {
		return "", nil, fmt.Errorf("bundle: \"filter\": %w", err)
	}
	delete(m, "filter")
	if len(m) == 0 {
		return name, nil, nil
	}
	rest, err = json.Marshal(m)
	return name, rest, err
}
