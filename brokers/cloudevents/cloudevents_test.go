package cloudevents

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/brokers"
)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestDecode(t *testing.T) {
	tp := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	tests := []struct {
		name    string
		h       http.Header
		body    string
		mode    Mode
		n       int
		check   func(t *testing.T, m *brokers.Message)
		wantBad bool
	}{
		{
			name: "binary",
			h: hdr("ce-specversion", "1.0", "ce-id", "A-1", "ce-source", "/orders", "ce-type", "order.created",
				"ce-subject", "o%201", "ce-time", "2026-01-02T03:04:05Z", "ce-partitionkey", "cust-7",
				"Content-Type", "application/json", "traceparent", tp),
			body: `{"n":1}`, mode: Binary, n: 1,
			check: func(t *testing.T, m *brokers.Message) {
				if m.ID != "A-1" || m.Source != "/orders" || m.Type != "order.created" || m.Subject != "o 1" ||
					m.Key != "cust-7" || m.DataContentType != "application/json" || string(m.Payload) != `{"n":1}` ||
					!m.Time.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) || m.TraceParent() != tp {
					t.Fatalf("%+v", m)
				}
			},
		},
		{
			name: "structured json data",
			h:    hdr("Content-Type", "application/cloudevents+json; charset=utf-8"),
			body: `{"specversion":"1.0","id":"B","source":"/s","type":"t","datacontenttype":"application/json","data":{"a":[1,2]},"traceparent":"` + tp + `","priority":3}`,
			mode: Structured, n: 1,
			check: func(t *testing.T, m *brokers.Message) {
				if m.ID != "B" || string(m.Payload) != `{"a":[1,2]}` || m.TraceParent() != tp || m.Header("priority") != "3" {
					t.Fatalf("%+v", m)
				}
			},
		},
		{
			name: "structured base64 data",
			h:    hdr("Content-Type", ContentTypeStructured),
			body: `{"specversion":"1.0","id":"C","source":"/s","type":"t","datacontenttype":"application/octet-stream","data_base64":"AAEC"}`,
			mode: Structured, n: 1,
			check: func(t *testing.T, m *brokers.Message) {
				if string(m.Payload) != "\x00\x01\x02" {
					t.Fatalf("payload %q", m.Payload)
				}
			},
		},
		{
			name: "structured text data",
			h:    hdr("Content-Type", ContentTypeStructured),
			body: `{"specversion":"1.0","id":"D","source":"/s","type":"t","datacontenttype":"text/plain","data":"hello"}`,
			mode: Structured, n: 1,
			check: func(t *testing.T, m *brokers.Message) {
				if string(m.Payload) != "hello" {
					t.Fatalf("payload %q", m.Payload)
				}
			},
		},
		{
			name: "batch",
			h:    hdr("Content-Type", ContentTypeBatch),
			body: `[{"specversion":"1.0","id":"1","source":"/s","type":"t"},{"specversion":"1.0","id":"2","source":"/s","type":"t"}]`,
			mode: Batch, n: 2,
		},
		{
			name: "plain", h: hdr("Content-Type", "text/plain", "traceparent", tp), body: "hi", mode: Plain, n: 1,
			check: func(t *testing.T, m *brokers.Message) {
				if m.ID == "" || string(m.Payload) != "hi" || m.DataContentType != "text/plain" || m.TraceParent() != tp {
					t.Fatalf("%+v", m)
				}
			},
		},
		{name: "binary missing type", h: hdr("ce-specversion", "1.0", "ce-id", "x", "ce-source", "/s"), mode: Binary, wantBad: true},
		{name: "binary bad version", h: hdr("ce-specversion", "0.3", "ce-id", "x", "ce-source", "/s", "ce-type", "t"), mode: Binary, wantBad: true},
		{name: "binary bad time", h: hdr("ce-specversion", "1.0", "ce-id", "x", "ce-source", "/s", "ce-type", "t", "ce-time", "yesterday"), mode: Binary, wantBad: true},
		{name: "structured bad json", h: hdr("Content-Type", ContentTypeStructured), body: `{"id":`, mode: Structured, wantBad: true},
		{name: "batch with a bad event", h: hdr("Content-Type", ContentTypeBatch), body: `[{"specversion":"1.0"}]`, mode: Batch, wantBad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, mode, err := Decode(tt.h.Get, []byte(tt.body))
			if mode != tt.mode {
				t.Fatalf("mode %v, want %v", mode, tt.mode)
			}
			if tt.wantBad {
				if !errors.Is(err, brokers.ErrBadInput) {
					t.Fatalf("got %v, want ErrBadInput", err)
				}
				return
			}
			if err != nil || len(msgs) != tt.n {
				t.Fatalf("err %v, %d messages", err, len(msgs))
			}
			if tt.check != nil {
				tt.check(t, msgs[0])
			}
		})
	}
}

func TestEncodeBinaryRoundTrip(t *testing.T) {
	m := &brokers.Message{ID: "id 1", Key: "k", Source: "/s", Type: "t", Subject: "naïve \"quoted\"",
		DataContentType: "application/json", Time: time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC), Payload: []byte(`{}`),
		Headers: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tenant": "acme", "Not-An-Extension": "x"}}
	hs, body := EncodeBinary(m)
	h := http.Header{}
	var names []string
	for k, v := range hs {
		h.Set(k, v)
		names = append(names, k)
	}
	if _, ok := hs["ce-Not-An-Extension"]; ok {
		t.Fatal("an invalid extension name was sent as a ce- header")
	}
	msgs, mode, err := Decode(h.Get, body)
	if err != nil || mode != Binary {
		t.Fatalf("decode: %v %v", mode, err)
	}
	got := msgs[0]
	if err := DecodeBinaryExtensions(names, h.Get, got); err != nil {
		t.Fatal(err)
	}
	if got.ID != m.ID || got.Subject != m.Subject || got.Key != m.Key || !got.Time.Equal(m.Time) ||
		got.Header("tenant") != "acme" || got.TraceParent() != m.TraceParent() || string(got.Payload) != "{}" {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
	}
}
