package wire

import (
	"reflect"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/brokers"
)

func TestRoundTrip(t *testing.T) {
	m := &brokers.Message{ID: "id1", Payload: []byte("x"), Source: "/s", Type: "t", Subject: "sub",
		DataContentType: "application/json", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		Headers: map[string]string{brokers.HeaderTraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "a": "b"}}
	got := FromHeaders(ToHeaders(m), m.Payload)
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
	}
}
