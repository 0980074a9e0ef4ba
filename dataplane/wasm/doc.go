// Package wasm is Wasmesh's Proxy-Wasm host: it runs HTTP filters compiled to
// WebAssembly (ABI 0.2.1, also 0.2.0 and 0.1.0) on wazero.
//
// The data plane uses it in four steps:
//
//  1. One [Runtime] per process ([NewRuntime]) owns what outlives a plugin
//     version: the on-disk compilation cache, shared data and queues, the
//     metrics, and foreign functions.
//  2. One [Plugin] per configured filter ([Runtime.NewPlugin]) compiles the
//     module and starts a pool of configured VMs. It fails if the module does
//     not compile or its proxy_on_configure refuses the config, so a bad
//     reload is rejected before it replaces the working version.
//  3. One [Stream] per request ([Plugin.NewStream]); the data plane calls its
//     On* methods as the request and response pass, acting on the returned
//     [Action], and calls [Stream.Done] at the end.
//  4. Hot reload: build a new Plugin, swap it in, and Close the old one; a
//     [Reloader] does that when the .wasm file changes.
//
// A guest that traps, runs past its deadline or exhausts its memory fails only
// the callback it was in: the stream gets Continue (fail open) or a 503 local
// response (fail closed), the VM is replaced, and the failure is counted in
// meshd_wasm_vm_failures_total. See RATIONALE.md for the design choices.
package wasm
