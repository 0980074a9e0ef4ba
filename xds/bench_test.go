package xds

import (
	"fmt"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/wasmesh/wasmesh/conf"
	"github.com/wasmesh/wasmesh/xds/internal/translate"
	"google.golang.org/protobuf/proto"
)

// BenchmarkTranslateAndAssemble measures what one full update costs the
// client before Apply: translating a snapshot of 200 EDS clusters (3
// endpoints each), one listener and a route configuration with 200 routes,
// assembling the config and validating it.
func BenchmarkTranslateAndAssemble(b *testing.B) {
	s := spec{version: "1", listen: "127.0.0.1:10000", clusters: map[string][]string{}}
	for i := range 200 {
		name := fmt.Sprintf("c%03d", i)
		s.routes = append(s.routes, prefixRoute(fmt.Sprintf("/svc/%03d/", i), name))
		s.clusters[name] = []string{fmt.Sprintf("10.0.%d.1:80", i), fmt.Sprintf("10.0.%d.2:80", i), fmt.Sprintf("10.0.%d.3:80", i)}
	}
	s.routes = append(s.routes, &routev3.Route{Match: s.routes[0].Match, Action: s.routes[0].Action})
	var msgs []proto.Message
	for _, rs := range s.resources() {
		for _, r := range rs {
			msgs = append(msgs, r.(proto.Message))
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		set := translate.NewSet()
		t := &translate.T{}
		for _, m := range msgs {
			if err := addResource(t, set, m); err != nil {
				b.Fatal(err)
			}
		}
		cfg, _, err := set.Assemble(nil)
		if err != nil {
			b.Fatal(err)
		}
		if ps := conf.Validate(cfg); len(ps) > 0 {
			b.Fatal(ps)
		}
	}
}
