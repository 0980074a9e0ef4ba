//go:build wasip1

package sdk

import (
	"runtime"
	"unsafe"

	"github.com/wasmesh/wasmesh/wasm-sdk/internal/hostabi"
)

// allocs keeps the buffers the host asked for (through
// proxy_on_memory_allocate) reachable until the SDK reads them.
var allocs [][]byte

// Return slots the host writes into. They are package variables so they
// never move (a goroutine stack can) while the host holds their address.
var (
	retPtr, retSize, retCas, retU32 uint32
	retU64                          uint64
)

// taken returns the buffer the host just filled, and forgets the others.
func taken(size uint32) []byte {
	var out []byte
	if size > 0 && len(allocs) > 0 {
		out = allocs[len(allocs)-1][:size]
	}
	clear(allocs)
	allocs = allocs[:0]
	return out
}

func sp(s string) (unsafe.Pointer, uint32) {
	if len(s) == 0 {
		return nil, 0
	}
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

func bp(b []byte) (unsafe.Pointer, uint32) {
	if len(b) == 0 {
		return nil, 0
	}
	return unsafe.Pointer(&b[0]), uint32(len(b))
}

//go:wasmimport env proxy_log
func proxyLog(level uint32, msg unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func proxyGetHeaderMapValue(mapType uint32, key unsafe.Pointer, keySize uint32, retPtr *uint32, retSize *uint32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func proxyGetHeaderMapPairs(mapType uint32, retPtr *uint32, retSize *uint32) uint32

//go:wasmimport env proxy_set_header_map_pairs
func proxySetHeaderMapPairs(mapType uint32, ptr unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_add_header_map_value
func proxyAddHeaderMapValue(mapType uint32, key unsafe.Pointer, keySize uint32, val unsafe.Pointer, valSize uint32) uint32

//go:wasmimport env proxy_replace_header_map_value
func proxyReplaceHeaderMapValue(mapType uint32, key unsafe.Pointer, keySize uint32, val unsafe.Pointer, valSize uint32) uint32

//go:wasmimport env proxy_remove_header_map_value
func proxyRemoveHeaderMapValue(mapType uint32, key unsafe.Pointer, keySize uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(bufferType, start, max uint32, retPtr *uint32, retSize *uint32) uint32

//go:wasmimport env proxy_set_buffer_bytes
func proxySetBufferBytes(bufferType, start, size uint32, data unsafe.Pointer, dataSize uint32) uint32

//go:wasmimport env proxy_send_local_response
func proxySendLocalResponse(status uint32, details unsafe.Pointer, detailsSize uint32, body unsafe.Pointer, bodySize uint32, headers unsafe.Pointer, headersSize uint32, grpcStatus int32) uint32

//go:wasmimport env proxy_continue_stream
func proxyContinueStream(streamType uint32) uint32

//go:wasmimport env proxy_http_call
func proxyHTTPCall(upstream unsafe.Pointer, upstreamSize uint32, headers unsafe.Pointer, headersSize uint32, body unsafe.Pointer, bodySize uint32, trailers unsafe.Pointer, trailersSize uint32, timeout uint32, retToken *uint32) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func proxySetTickPeriodMilliseconds(ms uint32) uint32

//go:wasmimport env proxy_get_shared_data
func proxyGetSharedData(key unsafe.Pointer, keySize uint32, retPtr *uint32, retSize *uint32, retCas *uint32) uint32

//go:wasmimport env proxy_set_shared_data
func proxySetSharedData(key unsafe.Pointer, keySize uint32, val unsafe.Pointer, valSize uint32, cas uint32) uint32

//go:wasmimport env proxy_register_shared_queue
func proxyRegisterSharedQueue(name unsafe.Pointer, nameSize uint32, retToken *uint32) uint32

//go:wasmimport env proxy_resolve_shared_queue
func proxyResolveSharedQueue(vmID unsafe.Pointer, vmIDSize uint32, name unsafe.Pointer, nameSize uint32, retToken *uint32) uint32

//go:wasmimport env proxy_enqueue_shared_queue
func proxyEnqueueSharedQueue(token uint32, data unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_dequeue_shared_queue
func proxyDequeueSharedQueue(token uint32, retPtr *uint32, retSize *uint32) uint32

//go:wasmimport env proxy_get_property
func proxyGetProperty(path unsafe.Pointer, pathSize uint32, retPtr *uint32, retSize *uint32) uint32

//go:wasmimport env proxy_set_property
func proxySetProperty(path unsafe.Pointer, pathSize uint32, val unsafe.Pointer, valSize uint32) uint32

//go:wasmimport env proxy_define_metric
func proxyDefineMetric(kind uint32, name unsafe.Pointer, nameSize uint32, retID *uint32) uint32

//go:wasmimport env proxy_increment_metric
func proxyIncrementMetric(id uint32, delta int64) uint32

//go:wasmimport env proxy_record_metric
func proxyRecordMetric(id uint32, value int64) uint32

//go:wasmimport env proxy_get_metric
func proxyGetMetric(id uint32, ret *uint64) uint32

//go:wasmimport env proxy_get_current_time_nanoseconds
func proxyGetCurrentTimeNanoseconds(ret *uint64) uint32

//go:wasmimport env proxy_call_foreign_function
func proxyCallForeignFunction(name unsafe.Pointer, nameSize uint32, args unsafe.Pointer, argsSize uint32, retPtr *uint32, retSize *uint32) uint32

//go:wasmimport env proxy_set_effective_context
func proxySetEffectiveContext(id uint32) uint32

type wasmHost struct{}

func init() { hostabi.H = wasmHost{} }

func st(x uint32) hostabi.Status { return hostabi.Status(x) }

func (wasmHost) Log(level uint32, msg string) hostabi.Status {
	p, n := sp(msg)
	r := proxyLog(level, p, n)
	runtime.KeepAlive(msg)
	return st(r)
}

func (wasmHost) GetHeader(m uint32, key string) (string, hostabi.Status) {
	p, n := sp(key)
	r := proxyGetHeaderMapValue(m, p, n, &retPtr, &retSize)
	runtime.KeepAlive(key)
	b := taken(retSize)
	return string(b), st(r)
}

func (wasmHost) GetHeaders(m uint32) ([][2]string, hostabi.Status) {
	r := proxyGetHeaderMapPairs(m, &retPtr, &retSize)
	b := taken(retSize)
	if r != 0 {
		return nil, st(r)
	}
	return decodePairs(b), hostabi.OK
}

func (wasmHost) SetHeaders(m uint32, pairs [][2]string) hostabi.Status {
	b := encodePairs(pairs)
	p, n := bp(b)
	r := proxySetHeaderMapPairs(m, p, n)
	runtime.KeepAlive(b)
	return st(r)
}

func (wasmHost) AddHeader(m uint32, key, value string) hostabi.Status {
	kp, kn := sp(key)
	vp, vn := sp(value)
	r := proxyAddHeaderMapValue(m, kp, kn, vp, vn)
	runtime.KeepAlive(key)
	runtime.KeepAlive(value)
	return st(r)
}

func (wasmHost) ReplaceHeader(m uint32, key, value string) hostabi.Status {
	kp, kn := sp(key)
	vp, vn := sp(value)
	r := proxyReplaceHeaderMapValue(m, kp, kn, vp, vn)
	runtime.KeepAlive(key)
	runtime.KeepAlive(value)
	return st(r)
}

func (wasmHost) RemoveHeader(m uint32, key string) hostabi.Status {
	kp, kn := sp(key)
	r := proxyRemoveHeaderMapValue(m, kp, kn)
	runtime.KeepAlive(key)
	return st(r)
}

func (wasmHost) GetBuffer(t, start, max uint32) ([]byte, hostabi.Status) {
	r := proxyGetBufferBytes(t, start, max, &retPtr, &retSize)
	return taken(retSize), st(r)
}

func (wasmHost) SetBuffer(t, start, size uint32, data []byte) hostabi.Status {
	p, n := bp(data)
	r := proxySetBufferBytes(t, start, size, p, n)
	runtime.KeepAlive(data)
	return st(r)
}

func (wasmHost) SendLocalResponse(status uint32, details string, body []byte, headers [][2]string, grpc int32) hostabi.Status {
	h := encodePairs(headers)
	dp, dn := sp(details)
	bpp, bn := bp(body)
	hp, hn := bp(h)
	r := proxySendLocalResponse(status, dp, dn, bpp, bn, hp, hn, grpc)
	runtime.KeepAlive(details)
	runtime.KeepAlive(body)
	runtime.KeepAlive(h)
	return st(r)
}

func (wasmHost) ContinueStream(t uint32) hostabi.Status { return st(proxyContinueStream(t)) }

func (wasmHost) HTTPCall(cluster string, headers [][2]string, body []byte, trailers [][2]string, timeout uint32) (uint32, hostabi.Status) {
	h, tr := encodePairs(headers), encodePairs(trailers)
	cp, cn := sp(cluster)
	hp, hn := bp(h)
	bpp, bn := bp(body)
	tp, tn := bp(tr)
	r := proxyHTTPCall(cp, cn, hp, hn, bpp, bn, tp, tn, timeout, &retU32)
	runtime.KeepAlive(cluster)
	runtime.KeepAlive(h)
	runtime.KeepAlive(body)
	runtime.KeepAlive(tr)
	return retU32, st(r)
}

func (wasmHost) SetTickPeriod(ms uint32) hostabi.Status {
	return st(proxySetTickPeriodMilliseconds(ms))
}

func (wasmHost) GetSharedData(key string) ([]byte, uint32, hostabi.Status) {
	kp, kn := sp(key)
	r := proxyGetSharedData(kp, kn, &retPtr, &retSize, &retCas)
	runtime.KeepAlive(key)
	return taken(retSize), retCas, st(r)
}

func (wasmHost) SetSharedData(key string, value []byte, cas uint32) hostabi.Status {
	kp, kn := sp(key)
	vp, vn := bp(value)
	r := proxySetSharedData(kp, kn, vp, vn, cas)
	runtime.KeepAlive(key)
	runtime.KeepAlive(value)
	return st(r)
}

func (wasmHost) RegisterQueue(name string) (uint32, hostabi.Status) {
	np, nn := sp(name)
	r := proxyRegisterSharedQueue(np, nn, &retU32)
	runtime.KeepAlive(name)
	return retU32, st(r)
}

func (wasmHost) ResolveQueue(vmID, name string) (uint32, hostabi.Status) {
	vp, vn := sp(vmID)
	np, nn := sp(name)
	r := proxyResolveSharedQueue(vp, vn, np, nn, &retU32)
	runtime.KeepAlive(vmID)
	runtime.KeepAlive(name)
	return retU32, st(r)
}

func (wasmHost) Enqueue(tok uint32, data []byte) hostabi.Status {
	p, n := bp(data)
	r := proxyEnqueueSharedQueue(tok, p, n)
	runtime.KeepAlive(data)
	return st(r)
}

func (wasmHost) Dequeue(tok uint32) ([]byte, hostabi.Status) {
	r := proxyDequeueSharedQueue(tok, &retPtr, &retSize)
	return taken(retSize), st(r)
}

func (wasmHost) GetProperty(path []string) ([]byte, hostabi.Status) {
	b := joinPath(path)
	p, n := bp(b)
	r := proxyGetProperty(p, n, &retPtr, &retSize)
	runtime.KeepAlive(b)
	return taken(retSize), st(r)
}

func (wasmHost) SetProperty(path []string, value []byte) hostabi.Status {
	b := joinPath(path)
	p, n := bp(b)
	vp, vn := bp(value)
	r := proxySetProperty(p, n, vp, vn)
	runtime.KeepAlive(b)
	runtime.KeepAlive(value)
	return st(r)
}

func (wasmHost) DefineMetric(kind uint32, name string) (uint32, hostabi.Status) {
	np, nn := sp(name)
	r := proxyDefineMetric(kind, np, nn, &retU32)
	runtime.KeepAlive(name)
	return retU32, st(r)
}

func (wasmHost) IncrementMetric(id uint32, delta int64) hostabi.Status {
	return st(proxyIncrementMetric(id, delta))
}

func (wasmHost) RecordMetric(id uint32, v int64) hostabi.Status { return st(proxyRecordMetric(id, v)) }

func (wasmHost) GetMetric(id uint32) (int64, hostabi.Status) {
	r := proxyGetMetric(id, &retU64)
	return int64(retU64), st(r)
}

func (wasmHost) CurrentTimeNanos() int64 {
	proxyGetCurrentTimeNanoseconds(&retU64)
	return int64(retU64)
}

func (wasmHost) CallForeignFunction(name string, args []byte) ([]byte, hostabi.Status) {
	np, nn := sp(name)
	ap, an := bp(args)
	r := proxyCallForeignFunction(np, nn, ap, an, &retPtr, &retSize)
	runtime.KeepAlive(name)
	runtime.KeepAlive(args)
	return taken(retSize), st(r)
}

func (wasmHost) SetEffectiveContext(id uint32) hostabi.Status {
	return st(proxySetEffectiveContext(id))
}
