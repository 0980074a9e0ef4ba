// Package xdstest runs an Envoy xDS management server for a test:
// go-control-plane's server over a snapshot cache, on a loopback port,
// serving ADS (state-of-the-world and delta) and the per-type LDS, RDS,
// CDS and EDS services. SetSnapshot publishes a versioned set of
// resources for a node; the server records every request, so a test can
// see what a client ACKed and NACKed. Small builders (HTTPListener,
// RouteConfig, PrefixRoute, EDSCluster, Endpoints) make the resources a
// meshd needs without writing Envoy protos by hand.
package xdstest
