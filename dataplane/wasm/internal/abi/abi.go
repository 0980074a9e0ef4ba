// Package abi holds the Proxy-Wasm ABI constants and wire encodings shared by
// the host: status codes, map and buffer types, and the header-map
// serialization both sides agree on. Values follow the spec's
// abi-versions/v0.2.1/README.md.
package abi

import (
	"encoding/binary"
	"errors"
)

// Status is a proxy_* host call result.
type Status = uint32

// Status codes (WasmResult).
const (
	StatusOK                   Status = 0
	StatusNotFound             Status = 1
	StatusBadArgument          Status = 2
	StatusSerializationFailure Status = 3
	StatusParseFailure         Status = 4
	StatusInvalidMemoryAccess  Status = 6
	StatusEmpty                Status = 7
	StatusCasMismatch          Status = 8
	StatusInternalFailure      Status = 10
	StatusUnimplemented        Status = 12
)

// Map types (proxy_map_type_t).
const (
	MapRequestHeaders       = 0
	MapRequestTrailers      = 1
	MapResponseHeaders      = 2
	MapResponseTrailers     = 3
	MapGrpcInitialMetadata  = 4
	MapGrpcTrailingMetadata = 5
	MapCallResponseHeaders  = 6
	MapCallResponseTrailers = 7
)

// Buffer types (proxy_buffer_type_t).
const (
	BufferRequestBody      = 0
	BufferResponseBody     = 1
	BufferDownstreamData   = 2
	BufferUpstreamData     = 3
	BufferCallResponseBody = 4
	BufferGrpcReceive      = 5
	BufferVMConfiguration  = 6
	BufferPluginConfig     = 7
	BufferCallData         = 8
)

// Stream types for proxy_continue_stream / proxy_close_stream.
const (
	StreamRequest  = 0
	StreamResponse = 1
)

// Metric types.
const (
	MetricCounter   = 0
	MetricGauge     = 1
	MetricHistogram = 2
)

// Log levels.
const (
	LogTrace    = 0
	LogDebug    = 1
	LogInfo     = 2
	LogWarn     = 3
	LogError    = 4
	LogCritical = 5
)

// ErrBadPairs reports a header-map encoding that does not parse.
var ErrBadPairs = errors.New("proxy-wasm: malformed header map encoding")

// PairsSize returns the encoded size of pairs.
func PairsSize(pairs [][2]string) int {
	n := 4
	for _, p := range pairs {
		n += 8 + len(p[0]) + 1 + len(p[1]) + 1
	}
	return n
}

// AppendPairs encodes pairs as the ABI's header map: a u32 count, then a
// (u32 key length, u32 value length) per pair, then each key and value
// followed by a NUL byte. All integers are little-endian.
func AppendPairs(dst []byte, pairs [][2]string) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(pairs)))
	for _, p := range pairs {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(p[0])))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(p[1])))
	}
	for _, p := range pairs {
		dst = append(dst, p[0]...)
		dst = append(dst, 0)
		dst = append(dst, p[1]...)
		dst = append(dst, 0)
	}
	return dst
}

// DecodePairs parses an encoded header map, copying keys and values out of b.
func DecodePairs(b []byte) ([][2]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) < 4 {
		return nil, ErrBadPairs
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < 0 || n > (len(b)-4)/8 {
		return nil, ErrBadPairs
	}
	sizes := b[4 : 4+8*n]
	data := b[4+8*n:]
	out := make([][2]string, n)
	for i := 0; i < n; i++ {
		kl := int(binary.LittleEndian.Uint32(sizes[8*i:]))
		vl := int(binary.LittleEndian.Uint32(sizes[8*i+4:]))
		if kl < 0 || vl < 0 || kl+1 > len(data) {
			return nil, ErrBadPairs
		}
		out[i][0] = string(data[:kl])
		data = data[kl+1:]
		if vl+1 > len(data) {
			return nil, ErrBadPairs
		}
		out[i][1] = string(data[:vl])
		data = data[vl+1:]
	}
	return out, nil
}

// SplitPath splits a property path: segments separated by NUL, with or
// without a trailing NUL (the Go and Rust SDKs differ).
func SplitPath(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			out = append(out, string(b[start:i]))
			start = i + 1
		}
	}
	if start < len(b) {
		out = append(out, string(b[start:]))
	}
	return out
}
