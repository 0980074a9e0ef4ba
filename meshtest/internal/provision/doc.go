// Package provision decides, for the meshtest helpers that need a server
// (etcdtest, servicetest), where that server comes from: the machine's own
// binary or service when it is usable (the default), else a container when
// meshtest/containers is linked in and a Docker engine answers, else
// nowhere, with a message saying what to install. It holds the registry
// meshtest/containers fills, so etcdtest and servicetest never import
// testcontainers-go themselves: a test binary carries the Docker client
// only when it imports meshtest/containers.
package provision
