package tracing

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// spanContext is the part of a trace context that crosses a hop.
type spanContext struct {
	traceID string // 32 lower-case hex
	spanID  string // 16 lower-case hex
	sampled bool
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	zero := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			if c != '0' {
				zero = false
			}
		default:
			return false
		}
	}
	return !zero // all-zero ids are invalid
}

// parseTraceparent reads a W3C traceparent: version-traceid-parentid-flags.
func parseTraceparent(v string) (spanContext, bool) {
	parts := strings.Split(strings.TrimSpace(v), "-")
	if len(parts) < 4 || len(parts[0]) != 2 || parts[0] == "ff" {
		return spanContext{}, false
	}
	if parts[0] == "00" && len(parts) != 4 {
		return spanContext{}, false
	}
	if !isHex(parts[1], 32) || !isHex(parts[2], 16) || len(parts[3]) != 2 {
		return spanContext{}, false
	}
	flags, err := hex.DecodeString(parts[3])
	if err != nil {
		return spanContext{}, false
	}
	return spanContext{traceID: parts[1], spanID: parts[2], sampled: flags[0]&1 == 1}, true
}

func (sc spanContext) traceparent() string {
	flags := "00"
	if sc.sampled {
		flags = "01"
	}
	return "00-" + sc.traceID + "-" + sc.spanID + "-" + flags
}

// b3TraceID accepts 64- or 128-bit B3 trace ids.
func b3TraceID(s string) (string, bool) {
	s = strings.ToLower(s)
	if len(s) == 16 {
		s = strings.Repeat("0", 16) + s
	}
	return s, isHex(s, 32)
}

// parseB3Single reads the single "b3" header: traceid-spanid[-sampled[-parent]].
func parseB3Single(v string) (spanContext, bool) {
	parts := strings.Split(strings.TrimSpace(v), "-")
	if len(parts) < 2 {
		return spanContext{}, false
	}
	tid, ok := b3TraceID(parts[0])
	if !ok || !isHex(strings.ToLower(parts[1]), 16) {
		return spanContext{}, false
	}
	sampled := true
	if len(parts) > 2 {
		sampled = parts[2] == "1" || parts[2] == "d"
	}
	return spanContext{traceID: tid, spanID: strings.ToLower(parts[1]), sampled: sampled}, true
}

// parseB3Multi reads x-b3-traceid / x-b3-spanid / x-b3-sampled / x-b3-flags.
func parseB3Multi(get func(string) (string, bool)) (spanContext, bool) {
	t, ok1 := get("x-b3-traceid")
	s, ok2 := get("x-b3-spanid")
	if !ok1 || !ok2 {
		return spanContext{}, false
	}
	tid, ok := b3TraceID(t)
	if !ok || !isHex(strings.ToLower(s), 16) {
		return spanContext{}, false
	}
	sampled := true
	if v, ok := get("x-b3-sampled"); ok {
		sampled = v == "1" || v == "true"
	}
	if v, ok := get("x-b3-flags"); ok && v == "1" {
		sampled = true
	}
	return spanContext{traceID: tid, spanID: strings.ToLower(s), sampled: sampled}, true
}

func randomHex(n int) string {
	b := make([]byte, n)
	for {
		rand.Read(b)
		for _, c := range b {
			if c != 0 {
				return hex.EncodeToString(b)
			}
		}
	}
}

// uuid4 makes a random (version 4) UUID for x-request-id.
func uuid4() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
