// Package registrytest is the conformance suite every discovery backend
// passes. A backend's test builds a Harness (how to open the backend, which
// features it has) and calls Run; the suite adapts to the features, the way
// Watermill's Pub/Sub tests do, so a backend that cannot register (static,
// Kubernetes) still proves resolve, filter and watch.
package registrytest
