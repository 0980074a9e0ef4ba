package static_test

import (
	"context"
	"fmt"

	"github.com/wasmesh/wasmesh/discovery"
	_ "github.com/wasmesh/wasmesh/discovery/static" // registers "static"
)

// Open a backend by name from config, resolve with a filter, and read the
// first set of a watch.
func Example() {
	ctx := context.Background()
	reg, err := discovery.Open(ctx, discovery.BackendConfig{
		Backend: "static",
		Options: map[string]any{"instances": []any{
			map[string]any{"service": "api", "id": "api-1", "address": "10.0.0.1", "port": 8080, "tags": []any{"v2"}},
			map[string]any{"service": "api", "id": "api-2", "address": "10.0.0.2", "port": 8080, "tags": []any{"v1"}},
		}},
	})
	if err != nil {
		panic(err)
	}
	defer reg.Close()

	v2, _ := reg.Resolve(ctx, "api", discovery.Filter{Tags: []string{"v2"}})
	for _, inst := range v2 {
		fmt.Println("v2:", inst.ID, inst.HostPort(), "from", inst.Source)
	}

	ch, _ := reg.Watch(ctx, "api", discovery.Filter{})
	u := <-ch
	fmt.Println("watched:", len(u.Instances), "instances, err:", u.Err)
	// Output:
	// v2: api-1 10.0.0.1:8080 from static
	// watched: 2 instances, err: <nil>
}
