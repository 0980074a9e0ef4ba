// Package testpki makes throw-away certificate authorities and
// certificates as PEM files, for the SDK's TLS and mTLS tests: real
// handshakes with real certificates, made fresh per test.
package testpki
