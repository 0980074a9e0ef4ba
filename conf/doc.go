// Package conf is meshd's user-facing configuration: the YAML schema, the
// environment overlays (demo.yaml + demo.prod.yaml), strict decoding with
// file/line and "did you mean" hints, semantic validation with suggestions,
// and a file watcher that drives hot reload.
//
// The Config type is also the one internal model every config source feeds:
// the xDS translator and the Envoy bootstrap loader build a Config too, so
// one Validate covers them all and the data plane compiles one shape.
package conf
