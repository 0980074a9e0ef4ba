package cloudevents

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/url"
	"strings"
	"time"

	"github.com/wasmesh/wasmesh/brokers"
)

// Content types of the structured and batch modes.
const (
	ContentTypeStructured = "application/cloudevents+json"
	ContentTypeBatch      = "application/cloudevents-batch+json"
)

// Mode says how a request carried its event(s).
type Mode int

const (
	// Plain: no CloudEvents attributes at all; the body is the payload and
	// the message gets a generated id. Callers that require CloudEvents
	// reject it.
	Plain Mode = iota
	// Binary: ce-* headers and the payload as body.
	Binary
	// Structured: one JSON event as body.
	Structured
	// Batch: a JSON array of events as body.
	Batch
)

// String names the mode for logs and error messages.
func (m Mode) String() string {
	return [...]string{"plain", "binary", "structured", "batch"}[m]
}

// Header reads a request header by name (case-insensitively, as
// http.Header.Get and fasthttp's Peek do).
type Header func(name string) string

// Decode turns a request (its headers and body) into messages. It returns
// ErrBadInput with the reason for a malformed event: a missing required
// attribute (id, source, type), an unsupported specversion, bad JSON, a bad
// time. Plain requests are accepted (Mode Plain) so the caller decides.
func Decode(h Header, body []byte) ([]*brokers.Message, Mode, error) {
	ct := h("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	switch {
	case mt == ContentTypeStructured:
		m, err := decodeStructured(body)
		if err != nil {
			return nil, Structured, err
		}
		return []*brokers.Message{m}, Structured, nil
	case mt == ContentTypeBatch:
		var raw []json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			return nil, Batch, badf("batch: %v", err)
		}
		msgs := make([]*brokers.Message, len(raw))
		for i, r := range raw {
			m, err := decodeStructured(r)
			if err != nil {
				return nil, Batch, fmt.Errorf("batch[%d]: %w", i, err)
			}
			msgs[i] = m
		}
		return msgs, Batch, nil
	case h("ce-specversion") != "":
		m, err := decodeBinary(h, ct, body)
		if err != nil {
			return nil, Binary, err
		}
		return []*brokers.Message{m}, Binary, nil
	}
	m := brokers.NewMessage(body)
	m.DataContentType = ct
	traceHeaders(h, m)
	return []*brokers.Message{m}, Plain, nil
}

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: cloudevents: %s", brokers.ErrBadInput, fmt.Sprintf(format, args...))
}

func traceHeaders(h Header, m *brokers.Message) {
	for _, n := range []string{brokers.HeaderTraceParent, brokers.HeaderTraceState} {
		if v := h(n); v != "" {
			m.SetHeader(n, v)
		}
	}
}

// binaryAttrs are the ce- headers decodeBinary understands; the rest of the
// ce- headers are extensions.
var binaryAttrs = []string{"id", "source", "type", "subject", "time", "specversion", "partitionkey"}

func decodeBinary(h Header, ct string, body []byte) (*brokers.Message, error) {
	get := func(n string) (string, error) {
		v, err := url.PathUnescape(h("ce-" + n))
		if err != nil {
			return "", badf("header ce-%s: %v", n, err)
		}
		return v, nil
	}
	attrs := map[string]string{}
	for _, n := range binaryAttrs {
		v, err := get(n)
		if err != nil {
			return nil, err
		}
		attrs[n] = v
	}
	m := &brokers.Message{Payload: body, DataContentType: ct, Headers: map[string]string{}}
	if err := fill(m, attrs); err != nil {
		return nil, err
	}
	traceHeaders(h, m)
	return m, nil
}

// DecodeBinaryExtensions adds the ce-* extension headers of a binary-mode
// request to m. Decode cannot enumerate headers through a getter, so a
// caller that has the header names passes them here.
func DecodeBinaryExtensions(names []string, h Header, m *brokers.Message) error {
	for _, n := range names {
		ln := strings.ToLower(n)
		if !strings.HasPrefix(ln, "ce-") {
			continue
		}
		attr := ln[3:]
		if isCore(attr) {
			continue
		}
		v, err := url.PathUnescape(h(n))
		if err != nil {
			return badf("header %s: %v", n, err)
		}
		m.SetHeader(attr, v)
	}
	return nil
}

func isCore(attr string) bool {
	for _, a := range binaryAttrs {
		if a == attr {
			return true
		}
	}
	return attr == "datacontenttype" || attr == "dataschema"
}

func fill(m *brokers.Message, a map[string]string) error {
	if a["specversion"] != "1.0" {
		return badf("specversion %q, want 1.0", a["specversion"])
	}
	for _, req := range []string{"id", "source", "type"} {
		if a[req] == "" {
			return badf("required attribute %q missing", req)
		}
	}
	m.ID, m.Source, m.Type, m.Subject, m.Key = a["id"], a["source"], a["type"], a["subject"], a["partitionkey"]
	if t := a["time"]; t != "" {
		ts, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return badf("time %q: %v", t, err)
		}
		m.Time = ts
	}
	return nil
}

func decodeStructured(body []byte) (*brokers.Message, error) {
	var ev map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&ev); err != nil {
		return nil, badf("structured event: %v", err)
	}
	attrs := map[string]string{}
	m := &brokers.Message{Headers: map[string]string{}}
	for k, raw := range ev {
		switch k {
		case "data", "data_base64":
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			// Extension values may be numbers or booleans: keep their JSON text.
			s = string(raw)
		}
		switch k {
		case "id", "source", "type", "subject", "time", "specversion", "partitionkey":
			attrs[k] = s
		case "datacontenttype":
			m.DataContentType = s
		case "dataschema":
			m.SetHeader("dataschema", s)
		default:
			m.SetHeader(k, s)
		}
	}
	if err := fill(m, attrs); err != nil {
		return nil, err
	}
	if raw, ok := ev["data_base64"]; ok {
		if err := json.Unmarshal(raw, &m.Payload); err != nil {
			return nil, badf("data_base64: %v", err)
		}
	} else if raw, ok := ev["data"]; ok {
		var s string
		if !isJSON(m.DataContentType) && json.Unmarshal(raw, &s) == nil {
			m.Payload = []byte(s) // a string datum of a non-JSON type is the text itself
		} else {
			m.Payload = append([]byte(nil), raw...)
			if m.DataContentType == "" {
				m.DataContentType = "application/json"
			}
		}
	}
	return m, nil
}

func isJSON(ct string) bool {
	mt, _, _ := mime.ParseMediaType(ct)
	return ct == "" || mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// EncodeBinary returns the headers and body of a binary-mode request
// carrying m (how the gateway delivers a message to the app). Header values
// are percent-encoded where the binding requires it.
func EncodeBinary(m *brokers.Message) (map[string]string, []byte) {
	h := map[string]string{"ce-specversion": "1.0", "ce-id": enc(m.ID)}
	set := func(k, v string) {
		if v != "" {
			h[k] = enc(v)
		}
	}
	set("ce-source", m.Source)
	set("ce-type", m.Type)
	set("ce-subject", m.Subject)
	set("ce-partitionkey", m.Key)
	if !m.Time.IsZero() {
		h["ce-time"] = m.Time.UTC().Format(time.RFC3339Nano)
	}
	if m.DataContentType != "" {
		h["Content-Type"] = m.DataContentType
	}
	for k, v := range m.Headers {
		switch k {
		case brokers.HeaderTraceParent, brokers.HeaderTraceState, brokers.HeaderCorrelationID:
			h[k] = v
		default:
			if validExtension(k) {
				h["ce-"+k] = enc(v)
			}
		}
	}
	return h, m.Payload
}

// validExtension: CloudEvents attribute names are lower-case ASCII letters
// and digits; other header names cannot travel as ce- headers.
func validExtension(k string) bool {
	if k == "" || len(k) > 20 {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// enc percent-encodes what the HTTP binding requires: space, '"', '%' and
// anything outside printable ASCII.
func enc(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}
