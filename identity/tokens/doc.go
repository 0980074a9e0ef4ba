// Package tokens supplies the JWTs meshd attaches to outgoing requests, so
// that a call through the mesh is authenticated at the application layer
// too, with no code in the calling service.
//
// Every source implements Source. Three are provided:
//
//   - File: a token file re-read when it changes (the Kubernetes projected
//     service-account token pattern, or any agent that writes a token file).
//   - ClientCredentials: the OAuth2 client-credentials grant against an
//     issuer's token endpoint, cached until shortly before expiry, refreshed
//     in the background with one request in flight at a time, and served
//     from the cache while the issuer is down until the token expires.
//   - SelfSigned: short-lived JWTs that meshd signs with a local key for its
//     own identity (subject = its SPIFFE ID, audience = the target service),
//     with the public key served as a JWKS for receivers to verify.
package tokens
