// Package static is the discovery backend with a fixed instance list taken
// from config, for tests and small setups that have no registry. It
// registers itself as "static"; Register and friends return
// discovery.ErrUnsupported because the config owns the list.
package static
