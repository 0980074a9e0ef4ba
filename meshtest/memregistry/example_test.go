package memregistry_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/wasmesh/wasmesh/discovery"
	"github.com/wasmesh/wasmesh/meshtest/memregistry"
)

// A service registers itself, a caller watches it, and the test takes the
// registry down to see what the caller gets.
func Example() {
	ctx := context.Background()
	b := memregistry.New() // in a test: memregistry.Start(t)
	defer b.Close()

	app := b.Registry()
	_ = app.Register(ctx, discovery.Instance{Service: "api", ID: "api-1", Address: "127.0.0.1", Port: 8080})

	caller := b.Registry()
	defer caller.Close()
	ch, _ := caller.Watch(ctx, "api", discovery.Filter{})
	u := <-ch
	fmt.Println("first set:", len(u.Instances), "instance(s), err:", u.Err)

	b.SetDown(errors.New("network partition"))
	u = <-ch
	fmt.Println("while down:", len(u.Instances), "last known, unavailable:", errors.Is(u.Err, discovery.ErrUnavailable))
	b.SetDown(nil)
	u = <-ch
	fmt.Println("recovered, err:", u.Err)

	b.FailNext(memregistry.OpRegister, 1, nil)
	err := app.Register(ctx, discovery.Instance{Service: "api", ID: "api-2", Address: "127.0.0.1", Port: 8081})
	fmt.Println("injected failure:", errors.Is(err, discovery.ErrUnavailable))

	_ = app.Close() // deregisters api-1
	u = <-ch
	fmt.Println("after the app left:", len(u.Instances), "instance(s)")
	// Output:
	// first set: 1 instance(s), err: <nil>
	// while down: 1 last known, unavailable: true
	// recovered, err: <nil>
	// injected failure: true
	// after the app left: 0 instance(s)
}
