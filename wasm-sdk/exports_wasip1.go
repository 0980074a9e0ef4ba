//go:build wasip1

package sdk

import (
	"unsafe"

	"github.com/wasmesh/wasmesh/wasm-sdk/internal/hostabi"
)

func b(x uint32) bool { return x != 0 }

func u(x bool) uint32 {
	if x {
		return 1
	}
	return 0
}

//go:wasmexport proxy_abi_version_0_2_1
func proxyABIVersion021() {}

//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size uint32) uint32 {
	if size == 0 {
		size = 1
	}
	buf := make([]byte, size)
	allocs = append(allocs, buf)
	return uint32(uintptr(unsafe.Pointer(&buf[0])))
}

//go:wasmexport wasmesh_gc
func wasmeshGC() { gc() }

//go:wasmexport proxy_on_context_create
func proxyOnContextCreate(id, parent uint32) { hostabi.G.OnContextCreate(id, parent) }

//go:wasmexport proxy_on_vm_start
func proxyOnVMStart(root, size uint32) uint32 { return u(hostabi.G.OnVMStart(root, size)) }

//go:wasmexport proxy_on_configure
func proxyOnConfigure(root, size uint32) uint32 { return u(hostabi.G.OnConfigure(root, size)) }

//go:wasmexport proxy_on_tick
func proxyOnTick(root uint32) { hostabi.G.OnTick(root) }

//go:wasmexport proxy_on_request_headers
func proxyOnRequestHeaders(id, n, end uint32) uint32 {
	return hostabi.G.OnRequestHeaders(id, n, b(end))
}

//go:wasmexport proxy_on_request_body
func proxyOnRequestBody(id, size, end uint32) uint32 {
	return hostabi.G.OnRequestBody(id, size, b(end))
}

//go:wasmexport proxy_on_request_trailers
func proxyOnRequestTrailers(id, n uint32) uint32 { return hostabi.G.OnRequestTrailers(id, n) }

//go:wasmexport proxy_on_response_headers
func proxyOnResponseHeaders(id, n, end uint32) uint32 {
	return hostabi.G.OnResponseHeaders(id, n, b(end))
}

//go:wasmexport proxy_on_response_body
func proxyOnResponseBody(id, size, end uint32) uint32 {
	return hostabi.G.OnResponseBody(id, size, b(end))
}

//go:wasmexport proxy_on_response_trailers
func proxyOnResponseTrailers(id, n uint32) uint32 { return hostabi.G.OnResponseTrailers(id, n) }

//go:wasmexport proxy_on_http_call_response
func proxyOnHTTPCallResponse(id, token, nh, size, nt uint32) {
	hostabi.G.OnHTTPCallResponse(id, token, nh, size, nt)
}

//go:wasmexport proxy_on_queue_ready
func proxyOnQueueReady(root, token uint32) { hostabi.G.OnQueueReady(root, token) }

// proxy_on_done is not exported: the SDK would always answer true, which is
// what hosts assume when it is missing, and it saves a call per request.

//go:wasmexport proxy_on_log
func proxyOnLog(id uint32) { hostabi.G.OnLog(id) }

//go:wasmexport proxy_on_delete
func proxyOnDelete(id uint32) { hostabi.G.OnDelete(id) }
