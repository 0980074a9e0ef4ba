package wasm

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero/api"
)

// Stream is one request's pass through a plugin. Its On* methods are called
// by one goroutine, in request order, and each returns an Action:
//
//   - Continue: go on;
//   - Pause: call Wait, which blocks until the filter resumes (after its http
//     call completes) and returns Continue or SendLocalResponse;
//   - SendLocalResponse: answer with LocalResponse instead of forwarding.
//
// A failed guest gives Continue (fail open) or SendLocalResponse with a 503
// (fail closed). Done must be called at the end, also after a local response.
type Stream struct {
	p        *Plugin
	v        *vm
	id       uint32
	info     StreamInfo
	disabled bool
	failed   bool
	failErr  string

	// guarded by v.mu
	reqHeaders, reqTrailers   HeaderMap
	respHeaders, respTrailers HeaderMap
	reqBody, respBody         []byte
	local                     *LocalResponse
	paused, continued         bool
	finished                  bool
	props                     map[string][]byte
	resume                    chan Action
}

// Info returns the StreamInfo the stream was made with.
func (s *Stream) Info() *StreamInfo { return &s.info }

// LocalResponse is the response to send after SendLocalResponse.
func (s *Stream) LocalResponse() *LocalResponse { return s.local }

// Property returns a property the filter set with proxy_set_property (path
// segments joined by "."), for the data plane to read after a callback.
func (s *Stream) Property(path string) ([]byte, bool) {
	if s.v == nil {
		return nil, false
	}
	s.v.mu.Lock()
	defer s.v.mu.Unlock()
	b, ok := s.props[path]
	return b, ok
}

func (s *Stream) failAction(reason string) Action {
	s.failed = true
	s.failErr = reason
	if s.p.cfg.FailOpen {
		return Continue
	}
	s.local = &LocalResponse{
		Status:     503,
		Details:    "wasm_filter_failed",
		Headers:    [][2]string{{"content-type", "text/plain; charset=utf-8"}},
		Body:       fmt.Appendf(nil, "filter %q failed (%s); request refused\n", s.p.cfg.Name, reason),
		GrpcStatus: 14, // UNAVAILABLE
	}
	return SendLocalResponse
}

// run calls a stream callback and turns its result into an Action.
func (s *Stream) run(fn func(*vm) api.Function, args ...uint64) Action {
	if s.disabled {
		return Continue
	}
	if s.failed {
		if s.local != nil {
			return SendLocalResponse
		}
		return s.failAction(s.failErr)
	}
	v := s.v
	v.mu.Lock()
	if v.dead.Load() {
		a := s.failAction(v.failMsg)
		v.mu.Unlock()
		return a
	}
	f := fn(v)
	if f == nil {
		v.mu.Unlock()
		return Continue
	}
	v.setEff(s.id, s)
	s.continued = false
	r, err := v.invoke(s.p.cfg.CallDeadline, f, args...)
	v.clearEff()
	if err != nil {
		v.fail(err)
		a := s.failAction(v.failMsg)
		v.mu.Unlock()
		return a
	}
	a := Continue
	switch {
	case s.local != nil:
		a = SendLocalResponse
	case uint32(r) != 0 && !s.continued:
		s.paused = true
		a = Pause
	}
	s.continued = false
	pending := v.takePending()
	v.startTicks()
	v.mu.Unlock()
	s.p.dispatch(v, pending)
	return a
}

// settle resumes a paused stream after an async callback that continued it
// or sent a local response; v.mu must be held.
func (s *Stream) settle() {
	if !s.paused {
		return
	}
	switch {
	case s.local != nil:
		s.paused = false
		s.resume <- SendLocalResponse
	case s.continued:
		s.paused = false
		s.continued = false
		s.resume <- Continue
	}
}

// Wait blocks a paused stream until the filter resumes it, and returns
// Continue or SendLocalResponse. If ctx ends first (bound it by the route's
// timeout) the stream fails by the plugin's fail_open setting.
func (s *Stream) Wait(ctx context.Context) Action {
	select {
	case a := <-s.resume:
		return a
	case <-ctx.Done():
	}
	s.v.mu.Lock()
	if s.paused {
		s.paused = false
		a := s.failAction("paused past its deadline")
		s.v.mu.Unlock()
		return a
	}
	s.v.mu.Unlock()
	return <-s.resume
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// OnRequestHeaders runs proxy_on_request_headers. h stays in use until Done.
func (s *Stream) OnRequestHeaders(h HeaderMap, endOfStream bool) Action {
	return s.onHeaders(&s.reqHeaders, h, endOfStream, func(v *vm) api.Function { return v.fn.onReqHeaders })
}

// OnRequestBody runs proxy_on_request_body with the body received so far
// and returns the action and the body, which the filter may have replaced.
func (s *Stream) OnRequestBody(body []byte, endOfStream bool) (Action, []byte) {
	return s.onBody(&s.reqBody, body, endOfStream, func(v *vm) api.Function { return v.fn.onReqBody })
}

// OnRequestTrailers runs proxy_on_request_trailers.
func (s *Stream) OnRequestTrailers(t HeaderMap) Action {
	return s.onTrailers(&s.reqTrailers, t, func(v *vm) api.Function { return v.fn.onReqTrailers })
}

// OnResponseHeaders runs proxy_on_response_headers. h stays in use until Done.
func (s *Stream) OnResponseHeaders(h HeaderMap, endOfStream bool) Action {
	return s.onHeaders(&s.respHeaders, h, endOfStream, func(v *vm) api.Function { return v.fn.onRespHeaders })
}

// OnResponseBody runs proxy_on_response_body; see OnRequestBody.
func (s *Stream) OnResponseBody(body []byte, endOfStream bool) (Action, []byte) {
	return s.onBody(&s.respBody, body, endOfStream, func(v *vm) api.Function { return v.fn.onRespBody })
}

// OnResponseTrailers runs proxy_on_response_trailers.
func (s *Stream) OnResponseTrailers(t HeaderMap) Action {
	return s.onTrailers(&s.respTrailers, t, func(v *vm) api.Function { return v.fn.onRespTrailers })
}

// onHeaders makes h the stream's map in slot (read by the guest's header
// calls) and runs the headers callback; ABI 0.1.0 guests take no
// end-of-stream argument.
func (s *Stream) onHeaders(slot *HeaderMap, h HeaderMap, endOfStream bool, fn func(*vm) api.Function) Action {
	if s.disabled || s.v == nil {
		return s.run(nil)
	}
	s.v.mu.Lock()
	*slot = h
	s.v.mu.Unlock()
	if s.v.hdr3 {
		return s.run(fn, uint64(s.id), uint64(h.Len()), b2u(endOfStream))
	}
	return s.run(fn, uint64(s.id), uint64(h.Len()))
}

// onBody makes body the stream's buffer in slot, runs the body callback
// and returns the buffer as the guest left it.
func (s *Stream) onBody(slot *[]byte, body []byte, endOfStream bool, fn func(*vm) api.Function) (Action, []byte) {
	if s.disabled || s.v == nil {
		return s.run(nil), body
	}
	s.v.mu.Lock()
	*slot = body
	s.v.mu.Unlock()
	a := s.run(fn, uint64(s.id), uint64(len(body)), b2u(endOfStream))
	s.v.mu.Lock()
	body = *slot
	s.v.mu.Unlock()
	return a, body
}

// onTrailers makes t the stream's trailers in slot and runs the callback.
func (s *Stream) onTrailers(slot *HeaderMap, t HeaderMap, fn func(*vm) api.Function) Action {
	if s.disabled || s.v == nil {
		return s.run(nil)
	}
	s.v.mu.Lock()
	*slot = t
	s.v.mu.Unlock()
	return s.run(fn, uint64(s.id), uint64(t.Len()))
}

// Done ends the stream: it runs proxy_on_done, proxy_on_log and
// proxy_on_delete (Envoy's order; the access-log hook sees the final
// headers) and frees the stream's context. Call it exactly once.
func (s *Stream) Done() {
	if s.disabled {
		return
	}
	defer s.p.inflight.Add(-1)
	v := s.v
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	s.finished = true
	s.paused = false
	if v.dead.Load() {
		delete(v.streams, s.id)
		return
	}
	v.setEff(s.id, s)
	fns := [3]api.Function{v.fn.onDone, v.fn.onLog, v.fn.onDelete}
	for _, f := range fns {
		if _, err := v.invoke(s.p.cfg.CallDeadline, f, uint64(s.id)); err != nil {
			v.fail(err)
			break
		}
	}
	v.clearEff()
	delete(v.streams, s.id)
	s.reqHeaders, s.respHeaders, s.reqTrailers, s.respTrailers = nil, nil, nil, nil
	pending := v.takePending()
	_ = pending // calls made while a stream ends have no one to answer
}
