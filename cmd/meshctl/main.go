// Command meshctl validates meshd configs and inspects a running meshd
// through its admin API: status, routes, clusters, endpoints, stats, the
// config in force, and reload.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	if err := newRoot(os.Stdout, os.Stderr).Execute(); err != nil {
		var ex exitError
		if errors.As(err, &ex) {
			os.Exit(ex.code)
		}
		fmt.Fprintln(os.Stderr, "meshctl:", err)
		os.Exit(1)
	}
}

// exitError carries an exit code for problems already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }
