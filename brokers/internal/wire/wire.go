package wire

import (
	"strings"
	"time"

	"github.com/wasmesh/wasmesh/brokers"
)

// Header names of the CloudEvents attributes (binary content mode, the
// Kafka protocol binding's "ce_" prefix, used for every transport).
const (
	CEPrefix      = "ce_"
	CEID          = "ce_id"
	CESource      = "ce_source"
	CEType        = "ce_type"
	CESubject     = "ce_subject"
	CETime        = "ce_time"
	CESpecVersion = "ce_specversion"
	ContentType   = "content-type"
)

// ToHeaders returns the message headers plus its CloudEvents attributes.
func ToHeaders(m *brokers.Message) map[string]string {
	h := make(map[string]string, len(m.Headers)+7)
	for k, v := range m.Headers {
		h[k] = v
	}
	h[CESpecVersion] = "1.0"
	h[CEID] = m.ID
	set := func(k, v string) {
		if v != "" {
			h[k] = v
		}
	}
	set(CESource, m.Source)
	set(CEType, m.Type)
	set(CESubject, m.Subject)
	set(ContentType, m.DataContentType)
	if !m.Time.IsZero() {
		h[CETime] = m.Time.UTC().Format(time.RFC3339Nano)
	}
	return h
}

// FromHeaders rebuilds a message from headers produced by ToHeaders; the
// CloudEvents headers move back into fields and the rest stay headers.
func FromHeaders(h map[string]string, payload []byte) *brokers.Message {
	m := &brokers.Message{Payload: payload, Headers: make(map[string]string, len(h))}
	for k, v := range h {
		switch k {
		case CEID:
			m.ID = v
		case CESource:
			m.Source = v
		case CEType:
			m.Type = v
		case CESubject:
			m.Subject = v
		case ContentType:
			m.DataContentType = v
		case CETime:
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				m.Time = t
			}
		case CESpecVersion:
		default:
			if !strings.HasPrefix(k, "x-wasmesh-internal-") {
				m.Headers[k] = v
			}
		}
	}
	return m
}
