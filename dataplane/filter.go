package dataplane

import (
	"context"
	"encoding/json"
	"time"

	"github.com/wasmesh/wasmesh/dataplane/wasm"
)

// filterChain is a listener's Wasm filters, in order. Each filter knows
// every route's override (other config, or switched off), so one chain
// serves the whole listener and the route picks its behaviour by name.
type filterChain struct {
	filters []*wasmFilter
}

// wasmFilter is one configured filter: the plugin's current version,
// swapped by its reloader when the .wasm file changes.
type wasmFilter struct {
	name string
	rl   *wasm.Reloader
}

// filterRun is one request's pass through the chain.
type filterRun struct {
	streams []*wasm.Stream
	names   []string
	// bound is how long a filter may keep the request paused.
	bound time.Duration
}

// start makes each filter's stream for the request.
func (fc *filterChain) start(info wasm.StreamInfo, bound time.Duration) *filterRun {
	fr := &filterRun{streams: make([]*wasm.Stream, 0, len(fc.filters)), bound: bound}
	for _, f := range fc.filters {
		fr.streams = append(fr.streams, f.rl.Plugin().NewStream(info))
		fr.names = append(fr.names, f.name)
	}
	return fr
}

// settle turns Pause into the filter's final answer, waiting at most the
// bound.
func (fr *filterRun) settle(s *wasm.Stream, a wasm.Action) wasm.Action {
	if a != wasm.Pause {
		return a
	}
	ctx, cancel := context.WithTimeout(context.Background(), fr.bound)
	defer cancel()
	return s.Wait(ctx)
}

// request runs the request headers (and a held body) through each filter.
// It returns the local response of the filter that stopped the request
// (and that filter's name), or nil to go on.
func (fr *filterRun) request(h wasm.HeaderMap, body []byte, setBody func([]byte)) (*wasm.LocalResponse, string) {
	for i, s := range fr.streams {
		a := fr.settle(s, s.OnRequestHeaders(h, len(body) == 0))
		if a == wasm.SendLocalResponse {
			return s.LocalResponse(), fr.names[i]
		}
		if len(body) > 0 {
			a, nb := s.OnRequestBody(body, true)
			if nb != nil {
				body = nb
				setBody(nb)
			}
			if fr.settle(s, a) == wasm.SendLocalResponse {
				return s.LocalResponse(), fr.names[i]
			}
		}
	}
	return nil, ""
}

// claims are the JWT claims a filter verified (jwt-auth sets them as the
// wasmesh.jwt_claims property), for authorization policies.
func (fr *filterRun) claims() map[string]any {
	if fr == nil {
		return nil
	}
	for _, s := range fr.streams {
		if b, ok := s.Property("wasmesh.jwt_claims"); ok {
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				return m
			}
		}
	}
	return nil
}

// response runs the response headers through the filters in reverse.
func (fr *filterRun) response(h wasm.HeaderMap) *wasm.LocalResponse {
	for i := len(fr.streams) - 1; i >= 0; i-- {
		s := fr.streams[i]
		if fr.settle(s, s.OnResponseHeaders(h, false)) == wasm.SendLocalResponse {
			return s.LocalResponse()
		}
	}
	return nil
}

// done ends every stream (proxy_on_log, proxy_on_done, VMs returned).
func (fr *filterRun) done() {
	for _, s := range fr.streams {
		s.Done()
	}
}
