// Package hostabi is the seam between the SDK and whatever runs it: the
// Proxy-Wasm host through wasm imports (in a wasip1 build), or the native
// test harness (sdktest). The SDK only talks to H, and the runner only calls
// the SDK through G.
package hostabi

// Status is a Proxy-Wasm result code.
type Status uint32

// Result codes of the ABI.
const (
	OK                  Status = 0
	NotFound            Status = 1
	BadArgument         Status = 2
	SerializationFailed Status = 3
	ParseFailure        Status = 4
	InvalidMemoryAccess Status = 6
	Empty               Status = 7
	CasMismatch         Status = 8
	InternalFailure     Status = 10
	Unimplemented       Status = 12
)

// Host is the host side of the ABI with Go types instead of pointers.
type Host interface {
	Log(level uint32, msg string) Status
	GetHeader(mapType uint32, key string) (string, Status)
	GetHeaders(mapType uint32) ([][2]string, Status)
	SetHeaders(mapType uint32, pairs [][2]string) Status
	AddHeader(mapType uint32, key, value string) Status
	ReplaceHeader(mapType uint32, key, value string) Status
	RemoveHeader(mapType uint32, key string) Status
	GetBuffer(bufferType uint32, start, max uint32) ([]byte, Status)
	SetBuffer(bufferType uint32, start, size uint32, data []byte) Status
	SendLocalResponse(status uint32, details string, body []byte, headers [][2]string, grpcStatus int32) Status
	ContinueStream(streamType uint32) Status
	HTTPCall(cluster string, headers [][2]string, body []byte, trailers [][2]string, timeoutMs uint32) (uint32, Status)
	SetTickPeriod(ms uint32) Status
	GetSharedData(key string) ([]byte, uint32, Status)
	SetSharedData(key string, value []byte, cas uint32) Status
	RegisterQueue(name string) (uint32, Status)
	ResolveQueue(vmID, name string) (uint32, Status)
	Enqueue(token uint32, data []byte) Status
	Dequeue(token uint32) ([]byte, Status)
	GetProperty(path []string) ([]byte, Status)
	SetProperty(path []string, value []byte) Status
	DefineMetric(kind uint32, name string) (uint32, Status)
	IncrementMetric(id uint32, delta int64) Status
	RecordMetric(id uint32, value int64) Status
	GetMetric(id uint32) (int64, Status)
	CurrentTimeNanos() int64
	CallForeignFunction(name string, args []byte) ([]byte, Status)
	SetEffectiveContext(id uint32) Status
}

// Guest is the SDK's dispatcher of ABI callbacks.
type Guest interface {
	OnContextCreate(id, parent uint32)
	OnVMStart(root, size uint32) bool
	OnConfigure(root, size uint32) bool
	OnTick(root uint32)
	OnRequestHeaders(id, n uint32, end bool) uint32
	OnRequestBody(id, size uint32, end bool) uint32
	OnRequestTrailers(id, n uint32) uint32
	OnResponseHeaders(id, n uint32, end bool) uint32
	OnResponseBody(id, size uint32, end bool) uint32
	OnResponseTrailers(id, n uint32) uint32
	OnHTTPCallResponse(id, token, nh, bodySize, nt uint32)
	OnQueueReady(root, token uint32)
	OnDone(id uint32) bool
	OnLog(id uint32)
	OnDelete(id uint32)
}

// H is the host in use; G is the SDK's dispatcher.
var (
	H Host
	G Guest
)
