// Package postgres is the event store for many nodes sharing one PostgreSQL
// database (github.com/jackc/pgx/v5). Optimistic concurrency rests on a
// unique (stream, version) constraint; appends take a transaction-level
// advisory lock so global positions are assigned, and become visible, in
// commit order with no gaps; subscriptions wake on LISTEN/NOTIFY and fall
// back to polling. See README.md.
package postgres
