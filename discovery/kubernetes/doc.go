// Package kubernetes is the Kubernetes discovery backend (registered as
// "kubernetes"), built on k8s.io/client-go.
//
// It reads the EndpointSlices of a Service through a shared informer per
// namespace (a watch, no polling) and honours the endpoint conditions: an
// endpoint is used while ready; when a service has no ready endpoint left,
// its serving-and-terminating endpoints are used, as kube-proxy does, so a
// rollout does not drop traffic on the floor. Registration is the
// platform's job: Register, Deregister and SetStatus return
// discovery.ErrUnsupported.
package kubernetes
