// Package meshdtest runs a meshd in-process from a YAML config string, the
// way cmd/meshd runs it from a file: the same config loader and
// validation, the same data plane, the same admin API and the same broker
// and registry backends. Listeners and the admin API may use port 0;
// URL and AdminURL return where they are bound. Reload applies a new YAML
// string as a file change or SIGHUP would, and the meshd drains at
// t.Cleanup.
//
// The discovery backend "memory" of meshtest/memregistry is available too,
// so a test can drive a cluster's endpoints, and inject registry faults,
// without a registry server.
package meshdtest
