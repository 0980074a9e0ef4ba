package etcdtest_test

import (
	"context"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/wasmesh/wasmesh/meshtest/etcdtest"
)

// Start a real etcd and use it with the official client. In a test,
// etcdtest.Start(t) skips (or fails in CI) without the binary and stops the
// server at t.Cleanup; this example needs the etcd binary installed.
func Example() {
	dir, _ := os.MkdirTemp("", "etcdtest-example")
	defer os.RemoveAll(dir)
	srv, err := etcdtest.New(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

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
	resp, err := cli.Get(ctx, "/services/api/a")
	if err != nil || len(resp.Kvs) != 1 {
		fmt.Println("get:", err)
		return
	}
	fmt.Println("get:", string(resp.Kvs[0].Value))
	// Output:
	// put: <nil>
	// get: 127.0.0.1:8080
}
