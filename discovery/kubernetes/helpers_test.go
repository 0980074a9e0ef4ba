package kubernetes

import (
	"k8s.io/apimachinery/pkg/watch"
	discoveryclient "k8s.io/client-go/kubernetes/typed/discovery/v1"
)

type (
	watchIface  = watch.Interface
	sliceClient = discoveryclient.EndpointSliceInterface
)
