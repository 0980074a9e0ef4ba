module github.com/wasmesh/wasmesh/wasm-sdk

go 1.26
