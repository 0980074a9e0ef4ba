package dataplane

import (
	"errors"

	"github.com/valyala/fasthttp"
	"github.com/wasmesh/wasmesh/conf"
)

// httpFilter is one filter of a listener's chain, run before the router on
// the request path and in reverse on the response path.
type httpFilter interface {
	Name() string
	// NewStream starts the filter's view of one request.
	NewStream(ctx *fasthttp.RequestCtx, info *streamInfo) filterStream
}

// filterStream is a filter's state for one request.
type filterStream interface {
	// OnRequest runs on the request headers and body. When it returns
	// false the filter has written a local response into ctx.Response
	// and the chain stops.
	OnRequest(ctx *fasthttp.RequestCtx) bool
	// OnResponse runs on the response before it is written.
	OnResponse(ctx *fasthttp.RequestCtx)
	// Done ends the stream (access log, span, VM returned to its pool).
	Done(ctx *fasthttp.RequestCtx)
}

// streamInfo is what filters may read of a request beyond its headers.
type streamInfo struct {
	requestID []byte
	listener  string
	route     string
	cluster   string
}

type filterChain struct {
	filters []httpFilter
}

// FilterFactory builds a filter from its config. routeCfg is the
// route-level override (nil when none). meshd wires the Wasm host here.
type FilterFactory func(f conf.Filter, routeCfg map[string]any) (httpFilter, error)

// errNoFilterHost is returned when a config names filters but the server
// was built without a filter host.
var errNoFilterHost = errors.New("this meshd was built without a Wasm filter host")

// chainBuilder compiles filter chains for one snapshot.
type chainBuilder struct {
	factory FilterFactory
}

func (b *chainBuilder) listenerChain(l *conf.Listener) (*filterChain, error) {
	if len(l.Filters) == 0 {
		return nil, nil
	}
	if b.factory == nil {
		return nil, errNoFilterHost
	}
	fc := &filterChain{}
	for _, f := range l.Filters {
		hf, err := b.factory(f, nil)
		if err != nil {
			return nil, err
		}
		fc.filters = append(fc.filters, hf)
	}
	return fc, nil
}

// routeChain applies a route's overrides: a filter switched off, or run
// with other config. Routes without overrides share the listener chain.
func (b *chainBuilder) routeChain(base *filterChain, r *conf.Route) (*filterChain, error) {
	if len(r.Filters) == 0 || base == nil {
		return base, nil
	}
	over := map[string]conf.RouteFilter{}
	for _, f := range r.Filters {
		over[f.Name] = f
	}
	fc := &filterChain{}
	for _, hf := range base.filters {
		o, ok := over[hf.Name()]
		switch {
		case !ok:
			fc.filters = append(fc.filters, hf)
		case o.Disabled:
		default:
			// Built again with the route's config merged over the listener's.
			hf2, err := b.rebuild(hf, o.Config)
			if err != nil {
				return nil, err
			}
			fc.filters = append(fc.filters, hf2)
		}
	}
	return fc, nil
}

func (b *chainBuilder) rebuild(hf httpFilter, cfg map[string]any) (httpFilter, error) {
	type configured interface{ Config() conf.Filter }
	c, ok := hf.(configured)
	if !ok {
		return hf, nil
	}
	return b.factory(c.Config(), cfg)
}
