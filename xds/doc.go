// Package xds lets an Envoy control plane drive meshd. It has an ADS
// client (state-of-the-world and delta) for listeners, route
// configurations, clusters and endpoints, and loads Envoy v3 bootstrap
// files. Both go through the same translation into conf.Config, so a
// config reaches the data plane the same way whatever its source: one
// whole config at a time, validated, applied atomically.
//
// The client ACKs an update only when it translated, validated and
// applied (or is warming in Envoy's order: clusters wait for their
// endpoints, listeners for their route configuration); otherwise it NACKs
// with the reason and the last good config keeps serving.
package xds
