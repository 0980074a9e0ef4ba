// Package memstore is an in-memory eventlog.Store: the same semantics as
// the durable backends (it passes the same conformance suite), no
// durability. For tests of code built on eventlog, and for the meshtest kit.
package memstore
