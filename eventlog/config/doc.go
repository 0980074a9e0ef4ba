// Package config opens the configured event store: the user-facing settings
// (backend, directory, durability, PostgreSQL DSN...) as one struct with
// json/yaml tags, strict decoding, validation with clear errors, and Open.
// meshd and meshctl use it so the event log is configured the same way
// everywhere.
package config
