// Package authz decides whether a request may pass, from authorization
// policies shaped like Istio's AuthorizationPolicy: rules that allow or deny
// by source identity (the SPIFFE ID proven by mTLS), JWT claims, method,
// path, headers and source IP.
//
// Policies are compiled once, when a config snapshot is built, into an
// Engine whose Evaluate does not allocate. The order is Istio's: every DENY
// policy first (any match denies), then the ALLOW policies; when at least
// one ALLOW policy selects the request's route and none matches, the request
// is denied (default deny); when no policy selects the route, it is allowed.
package authz
