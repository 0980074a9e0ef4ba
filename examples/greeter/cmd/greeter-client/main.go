// Command greeter-client calls the Greeter through the SDK, with every
// kind of call, balancing over static endpoints.
//
//	greeter-client -endpoints 127.0.0.1:50051,127.0.0.1:50052 -insecure -name Ada
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/wasmesh/wasmesh/client"
	"github.com/wasmesh/wasmesh/client/grpcmesh"
	"github.com/wasmesh/wasmesh/examples/greeter"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "greeter-client:", err)
		os.Exit(1)
	}
}

func run() error {
	endpoints := flag.String("endpoints", "127.0.0.1:50051", "comma-separated host:port list")
	config := flag.String("config", "", "static resolver YAML file (instead of -endpoints)")
	service := flag.String("service", "greeter", "service name")
	name := flag.String("name", "world", "who to greet")
	count := flag.Int("count", 3, "replies and requests per stream")
	cert := flag.String("cert", "", "client certificate (PEM), for mTLS")
	key := flag.String("key", "", "client key (PEM)")
	ca := flag.String("ca", "", "CA that signed the server certificate")
	tokenFile := flag.String("token-file", "", "file holding a bearer JWT (reloaded when it changes)")
	plain := flag.Bool("insecure", false, "plaintext")
	flag.Parse()

	var res client.Resolver
	if *config != "" {
		r, err := client.LoadStaticResolver(*config)
		if err != nil {
			return err
		}
		res = r
	} else {
		var eps []client.Endpoint
		for _, a := range strings.Split(*endpoints, ",") {
			eps = append(eps, client.Endpoint{Address: strings.TrimSpace(a)})
		}
		res = client.NewStaticResolver(map[string][]client.Endpoint{*service: eps})
	}
	var opts []grpcmesh.Option
	if *plain {
		opts = append(opts, grpcmesh.WithInsecure())
	} else {
		opts = append(opts, grpcmesh.WithTLS(client.TLSFiles{CertFile: *cert, KeyFile: *key, CAFile: *ca}))
	}
	if *tokenFile != "" {
		ts, err := client.NewFileToken(*tokenFile, time.Second)
		if err != nil {
			return err
		}
		opts = append(opts, grpcmesh.WithTokenSource(ts))
	}
	g, err := greeter.Dial(*service, res, opts...)
	if err != nil {
		return err
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := g.All(ctx, *name, *count)
	for _, line := range out {
		fmt.Println(line)
	}
	if errors.Is(err, client.ErrUnauthenticated) {
		return fmt.Errorf("not allowed (check -token-file): %w", err)
	}
	return err
}
