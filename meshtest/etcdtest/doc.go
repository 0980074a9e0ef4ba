// Package etcdtest starts a real etcd server for a test: the `etcd` binary
// (Debian package etcd-server) on free loopback ports with a data dir under
// t.TempDir, stopped at t.Cleanup. It can stop and restart the server on
// the same ports and data, so tests can prove a client survives a restart.
//
// When the binary is missing and the test binary imports meshtest/containers,
// etcd runs in a container instead (if a Docker engine answers). Otherwise
// the test is skipped, or fails when CI=true.
package etcdtest
