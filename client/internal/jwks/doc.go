// Package jwks fetches and caches a JSON Web Key Set (RFC 7517) and turns
// its keys into crypto public keys for JWT verification: RSA, EC (P-256,
// P-384, P-521) and Ed25519. The set is fetched again on a timer and when
// a token names a key id it does not know (rate-limited), which is how
// issuers announce a key rotation.
package jwks
