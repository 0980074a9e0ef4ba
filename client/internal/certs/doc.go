// Package certs keeps a certificate, its key and a CA pool loaded from
// files, and loads them again when a file changes, so certificates rotated
// on disk (cert-manager, SPIRE, Vault agents) take effect on the next
// handshake without a restart.
package certs
