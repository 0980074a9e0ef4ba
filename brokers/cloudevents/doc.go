// Package cloudevents maps brokers.Message to and from the CloudEvents 1.0
// HTTP protocol binding: binary content mode (attributes in ce-* headers,
// the payload as the body), structured mode (application/cloudevents+json)
// and batch mode (application/cloudevents-batch+json). The meshd messaging
// gateway uses it to turn a publish request into messages and a delivery
// into a request to the app; it works on a header getter and a body, so it
// fits net/http and fasthttp alike.
//
// The partitioning extension ("partitionkey") maps to Message.Key; every
// other extension attribute, and the W3C traceparent and tracestate, map to
// Message.Headers.
package cloudevents
