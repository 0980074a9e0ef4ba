// Package identity is Wasmesh's service identity: SPIFFE IDs, the
// mesh-wide mTLS mode (strict, permissive, off — Istio's
// PeerAuthentication) as pure functions the data plane applies to its
// listeners and clusters, descriptions of the certificates in force for
// `meshctl certs` and the admin API's /certs, and a metric that warns
// before they expire.
//
// Sub-packages hold the other parts: authz (authorization policies),
// tokens (JWTs attached on the way out) and audit (events for every
// denied request).
package identity
