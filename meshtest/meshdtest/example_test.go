package meshdtest_test

import (
	"fmt"
	"io"
	"net/http"

	"github.com/wasmesh/wasmesh/meshtest/meshdtest"
)

// Run a meshd from a YAML string, call it, reload it. In a test,
// meshdtest.Start(t, yaml) fails the test on a bad config and drains the
// meshd at t.Cleanup.
func Example() {
	m, err := meshdtest.New(`
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes:
      - match: {prefix: /}
        direct_response: {status: 200, body: "hello"}
`)
	if err != nil {
		panic(err)
	}
	defer m.Close()

	show := func() {
		resp, err := http.Get(m.URL("ingress") + "/")
		if err != nil {
			panic(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(b))
	}
	show()
	err = m.Reload(`
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes:
      - match: {prefix: /}
        direct_response: {status: 200, body: "reloaded"}
`)
	fmt.Println("reload:", err)
	show()
	resp, _ := http.Get(m.AdminURL() + "/ready")
	resp.Body.Close()
	fmt.Println("admin ready:", resp.StatusCode)
	// Output:
	// 200 hello
	// reload: <nil>
	// 200 reloaded
	// admin ready: 200
}
