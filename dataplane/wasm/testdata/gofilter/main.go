// Command gofilter is a test guest built with the SDK: it allocates on
// demand (for the memory test), panics on demand, and makes http calls.
package main

import (
	"errors"
	"strconv"
	"time"

	sdk "github.com/wasmesh/wasmesh/wasm-sdk"
)

func init() { sdk.SetNewPlugin(func(uint32) sdk.Plugin { return &plugin{} }) }

func main() {}

type plugin struct{}

func (p *plugin) OnConfigure(cfg []byte) error {
	if string(cfg) == "refuse" {
		return errors.New("refused on purpose")
	}
	return nil
}

func (p *plugin) NewHTTPFilter(uint32) sdk.HTTPFilter { return &filter{} }

type filter struct{ sdk.DefaultHTTPFilter }

var sink [][]byte

func (f *filter) OnRequestHeaders(n int, end bool) sdk.Action {
	mode, _ := sdk.RequestHeader("x-mode")
	switch mode {
	case "alloc":
		// x-alloc-bytes of garbage per request (in 64-byte pieces).
		size := 16384
		if v, ok := sdk.RequestHeader("x-alloc-bytes"); ok {
			size, _ = strconv.Atoi(v)
		}
		total := 0
		for total < size {
			b := make([]byte, 64)
			b[0] = byte(total)
			sink = append(sink, b)
			total += len(b)
		}
		sink = sink[:0]
		sdk.SetRequestHeader("x-allocated", strconv.Itoa(total))
	case "leak":
		// Keep 1 MiB blocks until the Go runtime runs out of memory.
		for {
			b := make([]byte, 1<<20)
			b[0] = 1
			sink = append(sink, b)
		}
	case "panic":
		panic("boom")
	case "call":
		err := sdk.HTTPCall("upstream", [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "upstream"}}, nil, 2*time.Second,
			func(r sdk.HTTPCallResponse) {
				sdk.SetRequestHeader("x-call-status", strconv.Itoa(r.Status))
				sdk.SetRequestHeader("x-call-body", string(r.Body))
				sdk.ResumeRequest()
			})
		if err != nil {
			sdk.SendLocalResponse(500, nil, []byte(err.Error()))
		}
		return sdk.Pause
	default:
		sdk.AddRequestHeader("x-go", "1")
		sdk.Infof("go filter saw %d headers", n)
	}
	return sdk.Continue
}
