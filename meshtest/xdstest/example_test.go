package xdstest_test

import (
	"context"
	"fmt"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/wasmesh/wasmesh/meshtest/xdstest"
)

// Publish a listener, its routes, a cluster and its endpoints for node
// "meshd-1"; a meshd started with --xds-server srv.Addr() --node meshd-1
// serves them. In a test, xdstest.Start(t) stops the server at t.Cleanup.
func Example() {
	srv, err := xdstest.New()
	if err != nil {
		panic(err)
	}
	defer srv.Stop()

	err = srv.SetSnapshot(context.Background(), "meshd-1", "v1",
		xdstest.HTTPListener("ingress", "127.0.0.1:10000", "routes"),
		xdstest.RouteConfig("routes", xdstest.PrefixRoute("/api/", "api")),
		xdstest.EDSCluster("api"),
		xdstest.Endpoints("api", "127.0.0.1:8081", "127.0.0.1:8082"),
	)
	fmt.Println("set:", err)
	snap, _ := srv.Cache().GetSnapshot("meshd-1")
	fmt.Println("clusters version:", snap.GetVersion(resourcev3.ClusterType))
	fmt.Println("endpoints:", len(snap.GetResources(resourcev3.EndpointType)))
	// Output:
	// set: <nil>
	// clusters version: v1
	// endpoints: 1
}
