// Package prep fills and validates the fields of events about to be appended,
// so every backend stamps events the same way.
package prep
