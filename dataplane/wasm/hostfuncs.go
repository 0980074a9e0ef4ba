package wasm

import (
	"context"
	"encoding/binary"
	"log/slog"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmesh/wasmesh/dataplane/wasm/internal/abi"
)

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

func i32s(n int) []api.ValueType {
	out := make([]api.ValueType, n)
	for i := range out {
		out[i] = i32
	}
	return out
}

type hostFn struct {
	name   string
	params []api.ValueType
	fn     func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status
}

// instantiateEnv binds the proxy_* imports as the "env" module. Every
// function is bound with WithGoModuleFunction (no reflection).
func instantiateEnv(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder("env")
	for _, h := range hostFns {
		h := h
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
			v, _ := ctx.Value(vmKey{}).(*vm)
			if v == nil {
				stack[0] = uint64(abi.StatusInternalFailure)
				return
			}
			stack[0] = uint64(h.fn(ctx, v, mod.Memory(), stack))
		}), h.params, []api.ValueType{i32}).Export(h.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

func u32(x uint64) uint32 { return uint32(x) }

// readString copies guest bytes (a view would go stale if the guest grows
// its memory during a nested malloc).
func readString(m api.Memory, ptr, size uint64) (string, bool) {
	b, ok := m.Read(u32(ptr), u32(size))
	if !ok {
		return "", false
	}
	return string(b), true
}

func readBytes(m api.Memory, ptr, size uint64) ([]byte, bool) {
	b, ok := m.Read(u32(ptr), u32(size))
	if !ok {
		return nil, false
	}
	return append([]byte(nil), b...), true
}

// alloc asks the guest for size bytes. A guest failure panics, so the
// enclosing guest call fails and the VM is replaced.
func (v *vm) alloc(ctx context.Context, size int) uint32 {
	v.mstack[0] = uint64(size)
	if err := v.fn.malloc.CallWithStack(ctx, v.mstack[:]); err != nil {
		panic(err)
	}
	return uint32(v.mstack[0])
}

// out hands data to the guest: malloc in the guest, copy, store the pointer
// and size at retPtr/retSize. The memory is re-read after malloc.
func (v *vm) out(ctx context.Context, data []byte, str string, retPtr, retSize uint64) abi.Status {
	n := len(data) + len(str)
	var ptr uint32
	if n > 0 {
		ptr = v.alloc(ctx, n)
		if ptr == 0 {
			return abi.StatusInternalFailure
		}
		m := v.mod.Memory()
		if data != nil {
			if !m.Write(ptr, data) {
				return abi.StatusInvalidMemoryAccess
			}
		} else if !m.WriteString(ptr, str) {
			return abi.StatusInvalidMemoryAccess
		}
	}
	m := v.mod.Memory()
	if !m.WriteUint32Le(u32(retPtr), ptr) || !m.WriteUint32Le(u32(retSize), uint32(n)) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}

func (v *vm) headerMap(t uint32) HeaderMap {
	s := v.eff
	switch t {
	case abi.MapCallResponseHeaders:
		if v.callResp != nil {
			return &v.callResp.headers
		}
		return nil
	case abi.MapCallResponseTrailers:
		if v.callResp != nil {
			return &Headers{}
		}
		return nil
	}
	if s == nil {
		return nil
	}
	switch t {
	case abi.MapRequestHeaders:
		return s.reqHeaders
	case abi.MapRequestTrailers:
		return s.reqTrailers
	case abi.MapResponseHeaders:
		return s.respHeaders
	case abi.MapResponseTrailers:
		return s.respTrailers
	}
	return nil
}

func (v *vm) buffer(t uint32) ([]byte, bool) {
	switch t {
	case abi.BufferRequestBody:
		if v.eff != nil {
			return v.eff.reqBody, true
		}
	case abi.BufferResponseBody:
		if v.eff != nil {
			return v.eff.respBody, true
		}
	case abi.BufferCallResponseBody:
		if v.callResp != nil {
			return v.callResp.body, true
		}
	case abi.BufferVMConfiguration, abi.BufferPluginConfig:
		return v.cfgBuf, true
	case abi.BufferCallData:
		return v.callData, v.callData != nil
	}
	return nil, false
}

func le64(n int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(n)) }

func splitHostPort(a string) (string, int64) {
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return a, 0
	}
	var port int64
	for _, c := range a[i+1:] {
		if c < '0' || c > '9' {
			return a, 0
		}
		port = port*10 + int64(c-'0')
	}
	return strings.Trim(a[:i], "[]"), port
}

// property resolves a proxy_get_property path (Envoy attribute names).
func (v *vm) property(path []string) ([]byte, bool) {
	key := strings.Join(path, ".")
	p := v.p
	switch key {
	case "plugin_name":
		return []byte(p.cfg.Name), true
	case "plugin_vm_id":
		return []byte(p.ns), true
	case "plugin_root_id":
		return []byte(p.cfg.Name), true
	}
	s := v.eff
	if s == nil {
		return nil, false
	}
	if b, ok := s.props[key]; ok {
		return b, true
	}
	in := &s.info
	hdr := func(k, def string) ([]byte, bool) {
		if s.reqHeaders != nil {
			if val, ok := s.reqHeaders.Get(k); ok {
				return []byte(val), true
			}
		}
		return []byte(def), def != ""
	}
	switch key {
	case "request.path":
		return hdr(":path", in.Path)
	case "request.url_path":
		b, ok := hdr(":path", in.Path)
		if i := strings.IndexByte(string(b), '?'); i >= 0 {
			b = b[:i]
		}
		return b, ok
	case "request.query":
		b, _ := hdr(":path", in.Path)
		if i := strings.IndexByte(string(b), '?'); i >= 0 {
			return b[i+1:], true
		}
		return nil, true
	case "request.method":
		return hdr(":method", in.Method)
	case "request.host":
		return hdr(":authority", in.Authority)
	case "request.scheme":
		return hdr(":scheme", in.Scheme)
	case "request.protocol":
		return []byte(in.Protocol), in.Protocol != ""
	case "request.id":
		return hdr("x-request-id", in.RequestID)
	case "request.time":
		return le64(in.StartTime.UnixNano()), !in.StartTime.IsZero()
	case "source.address":
		return []byte(in.SourceAddress), in.SourceAddress != ""
	case "source.port":
		_, port := splitHostPort(in.SourceAddress)
		return le64(port), in.SourceAddress != ""
	case "destination.address":
		return []byte(in.DestinationAddress), in.DestinationAddress != ""
	case "destination.port":
		_, port := splitHostPort(in.DestinationAddress)
		return le64(port), in.DestinationAddress != ""
	case "connection.mtls":
		if in.PeerIdentity != "" {
			return []byte{1}, true
		}
		return []byte{0}, true
	case "connection.uri_san_peer_certificate", "connection.peer_identity", "source.principal":
		return []byte(in.PeerIdentity), in.PeerIdentity != ""
	case "route_name", "xds.route_name":
		return []byte(in.RouteName), in.RouteName != ""
	case "cluster_name", "xds.cluster_name":
		return []byte(in.ClusterName), in.ClusterName != ""
	}
	if len(path) == 3 && path[0] == "request" && path[1] == "headers" && s.reqHeaders != nil {
		if val, ok := s.reqHeaders.Get(path[2]); ok {
			return []byte(val), true
		}
		return nil, false
	}
	if len(path) == 3 && path[0] == "response" && path[1] == "headers" && s.respHeaders != nil {
		if val, ok := s.respHeaders.Get(path[2]); ok {
			return []byte(val), true
		}
		return nil, false
	}
	if in.Properties != nil {
		return in.Properties(path)
	}
	return nil, false
}

var logLevels = [...]slog.Level{slog.LevelDebug - 4, slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError, slog.LevelError + 4}

var hostFns = []hostFn{
	{"proxy_log", i32s(3), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		lvl := slog.LevelInfo
		if u32(s[0]) < uint32(len(logLevels)) {
			lvl = logLevels[u32(s[0])]
		}
		if !v.p.log.Enabled(ctx, lvl) {
			return abi.StatusOK
		}
		msg, ok := readString(m, s[1], s[2])
		if !ok {
			return abi.StatusInvalidMemoryAccess
		}
		if v.eff != nil && v.eff.info.RequestID != "" {
			v.p.log.Log(ctx, lvl, msg, "request_id", v.eff.info.RequestID)
		} else {
			v.p.log.Log(ctx, lvl, msg)
		}
		return abi.StatusOK
	}},
	{"proxy_get_log_level", i32s(1), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		lvl := uint32(abi.LogCritical)
		for i := len(logLevels) - 1; i >= 0; i-- {
			if v.p.log.Enabled(ctx, logLevels[i]) {
				lvl = uint32(i)
			}
		}
		if !m.WriteUint32Le(u32(s[0]), lvl) {
			return abi.StatusInvalidMemoryAccess
		}
		return abi.StatusOK
	}},
	{"proxy_get_current_time_nanoseconds", i32s(1), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		if !m.WriteUint64Le(u32(s[0]), uint64(time.Now().UnixNano())) {
			return abi.StatusInvalidMemoryAccess
		}
		return abi.StatusOK
	}},
	{"proxy_set_tick_period_milliseconds", i32s(1), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		if v.eff != nil || v.effID == 0 {
			return abi.StatusBadArgument // only a root context ticks
		}
		t := v.ticks[v.effID]
		if t == nil {
			t = &tick{}
			v.ticks[v.effID] = t
		}
		if t.running {
			close(t.stop)
			t.running = false
		}
		t.period = time.Duration(u32(s[0])) * time.Millisecond
		return abi.StatusOK // started by startTicks after the callback
	}},
	{"proxy_set_effective_context", i32s(1), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		id := u32(s[0])
		if st, ok := v.streams[id]; ok {
			v.setEff(id, st)
			return abi.StatusOK
		}
		for _, r := range v.roots {
			if r == id {
				v.setEff(id, nil)
				return abi.StatusOK
			}
		}
		return abi.StatusBadArgument
	}},
	{"proxy_done", nil, func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status { return abi.StatusOK }},
	{"proxy_get_status", i32s(3), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		m.WriteUint32Le(u32(s[0]), 0)
		m.WriteUint32Le(u32(s[1]), 0)
		m.WriteUint32Le(u32(s[2]), 0)
		return abi.StatusOK
	}},
	{"proxy_call_foreign_function", i32s(6), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		name, ok1 := readString(m, s[0], s[1])
		args, ok2 := readBytes(m, s[2], s[3])
		if !ok1 || !ok2 {
			return abi.StatusInvalidMemoryAccess
		}
		f, ok := v.p.rt.cfg.ForeignFunctions[name]
		if !ok {
			return abi.StatusNotFound
		}
		res, err := f(ctx, args)
		if err != nil {
			v.p.log.Warn("wasm foreign function failed", "function", name, "err", err)
			return abi.StatusInternalFailure
		}
		if res == nil {
			res = []byte{}
		}
		return v.out(ctx, res, "", s[4], s[5])
	}},
	{"proxy_get_property", i32s(4), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		b, ok := m.Read(u32(s[0]), u32(s[1]))
		if !ok {
			return abi.StatusInvalidMemoryAccess
		}
		val, found := v.property(abi.SplitPath(b))
		if !found {
			return abi.StatusNotFound
		}
		if val == nil {
			val = []byte{}
		}
		return v.out(ctx, val, "", s[2], s[3])
	}},
	{"proxy_set_property", i32s(4), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		b, ok1 := m.Read(u32(s[0]), u32(s[1]))
		val, ok2 := readBytes(m, s[2], s[3])
		if !ok1 || !ok2 {
			return abi.StatusInvalidMemoryAccess
		}
		if v.eff == nil {
			return abi.StatusBadArgument
		}
		if v.eff.props == nil {
			v.eff.props = make(map[string][]byte)
		}
		v.eff.props[strings.Join(abi.SplitPath(b), ".")] = val
		return abi.StatusOK
	}},
	{"proxy_continue_stream", i32s(1), contStream},
	{"proxy_continue_request", nil, contStream},
	{"proxy_continue_response", nil, contStream},
	{"proxy_close_stream", i32s(1), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		if v.eff == nil {
			return abi.StatusNotFound
		}
		if v.eff.local == nil {
			v.eff.local = &LocalResponse{Status: 503, Details: "closed_by_wasm_filter", GrpcStatus: -1}
		}
		return abi.StatusOK
	}},
	{"proxy_clear_route_cache", nil, func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status { return abi.StatusOK }},
	{"proxy_send_local_response", i32s(8), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		details, ok1 := readString(m, s[1], s[2])
		body, ok2 := readBytes(m, s[3], s[4])
		hb, ok3 := m.Read(u32(s[5]), u32(s[6]))
		if !ok1 || !ok2 || !ok3 {
			return abi.StatusInvalidMemoryAccess
		}
		hdrs, err := abi.DecodePairs(hb)
		if err != nil {
			return abi.StatusBadArgument
		}
		if v.eff == nil {
			return abi.StatusNotFound
		}
		v.eff.local = &LocalResponse{Status: int(u32(s[0])), Details: details, Headers: hdrs, Body: body, GrpcStatus: int32(u32(s[7]))}
		return abi.StatusOK
	}},
	{"proxy_get_header_map_value", i32s(5), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		h := v.headerMap(u32(s[0]))
		if h == nil {
			return abi.StatusNotFound
		}
		key, ok := readString(m, s[1], s[2])
		if !ok {
			return abi.StatusInvalidMemoryAccess
		}
		val, found := h.Get(key)
		if !found {
			return abi.StatusNotFound
		}
		if val == "" {
			return v.out(ctx, []byte{}, "", s[3], s[4])
		}
		return v.out(ctx, nil, val, s[3], s[4])
	}},
	{"proxy_get_header_map_pairs", i32s(3), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		h := v.headerMap(u32(s[0]))
		if h == nil {
			return abi.StatusNotFound
		}
		v.pairs = h.Pairs(v.pairs[:0])
		v.scratch = abi.AppendPairs(v.scratch[:0], v.pairs)
		return v.out(ctx, v.scratch, "", s[1], s[2])
	}},
	{"proxy_set_header_map_pairs", i32s(3), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		h := v.headerMap(u32(s[0]))
		if h == nil {
			return abi.StatusNotFound
		}
		b, ok := m.Read(u32(s[1]), u32(s[2]))
		if !ok {
			return abi.StatusInvalidMemoryAccess
		}
		pairs, err := abi.DecodePairs(b)
		if err != nil {
			return abi.StatusBadArgument
		}
		v.pairs = h.Pairs(v.pairs[:0])
		for _, p := range v.pairs {
			h.Remove(p[0])
		}
		for _, p := range pairs {
			h.Add(p[0], p[1])
		}
		return abi.StatusOK
	}},
	{"proxy_add_header_map_value", i32s(5), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		return editHeader(v, m, s, func(h HeaderMap, k, val string) { h.Add(k, val) })
	}},
	{"proxy_replace_header_map_value", i32s(5), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		return editHeader(v, m, s, func(h HeaderMap, k, val string) { h.Set(k, val) })
	}},
	{"proxy_remove_header_map_value", i32s(3), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		h := v.headerMap(u32(s[0]))
		if h == nil {
			return abi.StatusNotFound
		}
		key, ok := readString(m, s[1], s[2])
		if !ok {
			return abi.StatusInvalidMemoryAccess
		}
		h.Remove(key)
		return abi.StatusOK
	}},
	{"proxy_get_header_map_size", i32s(2), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		h := v.headerMap(u32(s[0]))
		if h == nil {
			return abi.StatusNotFound
		}
		v.pairs = h.Pairs(v.pairs[:0])
		if !m.WriteUint32Le(u32(s[1]), uint32(abi.PairsSize(v.pairs))) {
			return abi.StatusInvalidMemoryAccess
		}
		return abi.StatusOK
	}},
	{"proxy_get_buffer_bytes", i32s(5), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		buf, ok := v.buffer(u32(s[0]))
		if !ok {
			return abi.StatusNotFound
		}
		start, max := int(u32(s[1])), int(u32(s[2]))
		if start > len(buf) {
			return abi.StatusBadArgument
		}
		end := len(buf)
		if max < end-start {
			end = start + max
		}
		b := buf[start:end]
		if len(b) == 0 {
			b = []byte{}
		}
		return v.out(ctx, b, "", s[3], s[4])
	}},
	{"proxy_get_buffer_status", i32s(3), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		buf, ok := v.buffer(u32(s[0]))
		if !ok {
			return abi.StatusNotFound
		}
		if !m.WriteUint32Le(u32(s[1]), uint32(len(buf))) || !m.WriteUint32Le(u32(s[2]), 0) {
			return abi.StatusInvalidMemoryAccess
		}
		return abi.StatusOK
	}},
	{"proxy_set_buffer_bytes", i32s(5), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		data, ok := readBytes(m, s[3], s[4])
		if !ok {
			return abi.StatusInvalidMemoryAccess
		}
		if v.eff == nil {
			return abi.StatusNotFound
		}
		var buf *[]byte
		switch u32(s[0]) {
		case abi.BufferRequestBody:
			buf = &v.eff.reqBody
		case abi.BufferResponseBody:
			buf = &v.eff.respBody
		default:
			return abi.StatusBadArgument
		}
		// Replace [start, start+size) with data, clamped to the buffer.
		start, size := int(u32(s[1])), int(u32(s[2]))
		old := *buf
		if start > len(old) {
			start = len(old)
		}
		end := len(old)
		if size < end-start {
			end = start + size
		}
		nb := make([]byte, 0, start+len(data)+len(old)-end)
		nb = append(append(append(nb, old[:start]...), data...), old[end:]...)
		*buf = nb
		return abi.StatusOK
	}},
	{"proxy_get_configuration", i32s(2), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		return v.out(ctx, append([]byte{}, v.cfgBuf...), "", s[0], s[1])
	}},
	{"proxy_http_call", i32s(10), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		cluster, ok1 := readString(m, s[0], s[1])
		hb, ok2 := m.Read(u32(s[2]), u32(s[3]))
		if !ok1 || !ok2 {
			return abi.StatusInvalidMemoryAccess
		}
		hdrs, err := abi.DecodePairs(hb)
		if err != nil {
			return abi.StatusBadArgument
		}
		body, ok := readBytes(m, s[4], s[5])
		if !ok {
			return abi.StatusInvalidMemoryAccess
		}
		if v.p.host == nil || v.effID == 0 {
			return abi.StatusBadArgument
		}
		timeout := time.Duration(u32(s[8])) * time.Millisecond
		if timeout <= 0 {
			timeout = 5 * time.Second
		}
		v.token++
		v.pending = append(v.pending, pendingCall{token: v.token, ctxID: v.effID, stream: v.eff,
			cluster: cluster, headers: hdrs, body: body, timeout: timeout})
		if !m.WriteUint32Le(u32(s[9]), v.token) {
			return abi.StatusInvalidMemoryAccess
		}
		return abi.StatusOK
	}},
	{"proxy_set_shared_data", i32s(5), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		key, ok1 := readString(m, s[0], s[1])
		val, ok2 := m.Read(u32(s[2]), u32(s[3]))
		if !ok1 || !ok2 {
			return abi.StatusInvalidMemoryAccess
		}
		return v.p.rt.data.Set(v.p.ns, key, val, u32(s[4]))
	}},
	{"proxy_get_shared_data", i32s(5), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		key, ok := readString(m, s[0], s[1])
		if !ok {
			return abi.StatusInvalidMemoryAccess
		}
		val, cas, found := v.p.rt.data.Get(v.p.ns, key)
		if !found {
			return abi.StatusNotFound
		}
		if val == nil {
			val = []byte{}
		}
		if st := v.out(ctx, val, "", s[2], s[3]); st != abi.StatusOK {
			return st
		}
		if !v.mod.Memory().WriteUint32Le(u32(s[4]), cas) {
			return abi.StatusInvalidMemoryAccess
		}
		return abi.StatusOK
	}},
	{"proxy_register_shared_queue", i32s(3), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		name, ok := readString(m, s[0], s[1])
		if !ok {
			return abi.StatusInvalidMemoryAccess
		}
		if v.eff != nil || v.effID == 0 {
			return abi.StatusBadArgument // queues belong to root contexts
		}
		tok := v.p.rt.queues.Register(v.p.ns, name, v.queueNotify(v.effID))
		if !m.WriteUint32Le(u32(s[2]), tok) {
			return abi.StatusInvalidMemoryAccess
		}
		return abi.StatusOK
	}},
	{"proxy_resolve_shared_queue", i32s(5), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		vmID, ok1 := readString(m, s[0], s[1])
		name, ok2 := readString(m, s[2], s[3])
		if !ok1 || !ok2 {
			return abi.StatusInvalidMemoryAccess
		}
		if vmID == "" {
			vmID = v.p.ns
		}
		tok, found := v.p.rt.queues.Resolve(vmID, name)
		if !found {
			return abi.StatusNotFound
		}
		if !m.WriteUint32Le(u32(s[4]), tok) {
			return abi.StatusInvalidMemoryAccess
		}
		return abi.StatusOK
	}},
	{"proxy_enqueue_shared_queue", i32s(3), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		data, ok := m.Read(u32(s[1]), u32(s[2]))
		if !ok {
			return abi.StatusInvalidMemoryAccess
		}
		return v.p.rt.queues.Enqueue(u32(s[0]), data)
	}},
	{"proxy_dequeue_shared_queue", i32s(3), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		data, st := v.p.rt.queues.Dequeue(u32(s[0]))
		if st != abi.StatusOK {
			return st
		}
		if data == nil {
			data = []byte{}
		}
		return v.out(ctx, data, "", s[1], s[2])
	}},
	{"proxy_define_metric", i32s(4), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		name, ok := readString(m, s[1], s[2])
		if !ok {
			return abi.StatusInvalidMemoryAccess
		}
		id, st := v.p.rt.metrics.define(u32(s[0]), name)
		if st != abi.StatusOK {
			return st
		}
		if !m.WriteUint32Le(u32(s[3]), id) {
			return abi.StatusInvalidMemoryAccess
		}
		return abi.StatusOK
	}},
	{"proxy_increment_metric", []api.ValueType{i32, i64}, func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		g := v.p.rt.metrics.get(u32(s[0]))
		if g == nil {
			return abi.StatusNotFound
		}
		if g.kind == abi.MetricHistogram {
			return abi.StatusBadArgument
		}
		g.value.Add(int64(s[1]))
		return abi.StatusOK
	}},
	{"proxy_record_metric", []api.ValueType{i32, i64}, func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		g := v.p.rt.metrics.get(u32(s[0]))
		if g == nil {
			return abi.StatusNotFound
		}
		g.record(int64(s[1]))
		return abi.StatusOK
	}},
	{"proxy_get_metric", i32s(2), func(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
		g := v.p.rt.metrics.get(u32(s[0]))
		if g == nil {
			return abi.StatusNotFound
		}
		if !m.WriteUint64Le(u32(s[1]), uint64(g.value.Load())) {
			return abi.StatusInvalidMemoryAccess
		}
		return abi.StatusOK
	}},
	// gRPC calls are not supported; the imports exist so modules that link
	// them (the Rust SDK does) still instantiate.
	{"proxy_grpc_call", i32s(12), unimplemented},
	{"proxy_grpc_stream", i32s(9), unimplemented},
	{"proxy_grpc_send", i32s(4), unimplemented},
	{"proxy_grpc_cancel", i32s(1), unimplemented},
	{"proxy_grpc_close", i32s(1), unimplemented},
}

func unimplemented(context.Context, *vm, api.Memory, []uint64) abi.Status {
	return abi.StatusUnimplemented
}

func contStream(ctx context.Context, v *vm, m api.Memory, s []uint64) abi.Status {
	if v.eff == nil {
		return abi.StatusNotFound
	}
	v.eff.continued = true
	return abi.StatusOK
}

func editHeader(v *vm, m api.Memory, s []uint64, f func(HeaderMap, string, string)) abi.Status {
	h := v.headerMap(u32(s[0]))
	if h == nil {
		return abi.StatusNotFound
	}
	key, ok1 := readString(m, s[1], s[2])
	val, ok2 := readString(m, s[3], s[4])
	if !ok1 || !ok2 {
		return abi.StatusInvalidMemoryAccess
	}
	f(h, key, val)
	return abi.StatusOK
}
