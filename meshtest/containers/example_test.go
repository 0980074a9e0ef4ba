package containers_test

import (
	"context"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	// The blank import is all it takes: etcdtest and servicetest then
	// fall back to a container when the machine lacks the server.
	_ "github.com/wasmesh/wasmesh/meshtest/containers"
	"github.com/wasmesh/wasmesh/meshtest/etcdtest"
	"github.com/wasmesh/wasmesh/meshtest/servicetest"
)

// A test file that imports meshtest/containers gets the same helpers with
// a container fallback: etcdtest.Start(t) runs the etcd binary if there
// is one, else etcd in a container when a Docker engine answers, else
// skips (fails in CI) saying what to install. The New forms used here
// behave the same outside a test. Not run by go test (no Output): it
// needs the etcd binary, or Docker.
func Example() {
	dir, _ := os.MkdirTemp("", "containers-example")
	defer os.RemoveAll(dir)
	srv, err := etcdtest.New(dir)
	if err != nil {
		fmt.Println(err) // says: apt-get install -y etcd-server, or docker.io
		return
	}
	defer srv.Close() // also removes the container, if one was started

	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = cli.Put(ctx, "/services/api/a", "127.0.0.1:8080")
	fmt.Println("put:", err)

	// servicetest too: the machine's Redis, else a redis:7-alpine container.
	r, cleanup, err := servicetest.NewRedis("example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cleanup()
	fmt.Println(r.Client.Set(ctx, r.Key("greeting"), "hello", 0).Err())
}
