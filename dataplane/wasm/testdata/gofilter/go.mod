module example.com/gofilter

go 1.26

require github.com/wasmesh/wasmesh/wasm-sdk v0.0.0

replace github.com/wasmesh/wasmesh/wasm-sdk => ../../../../wasm-sdk
