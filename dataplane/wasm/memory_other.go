//go:build !linux

package wasm

import "github.com/tetratelabs/wazero/experimental"

// mmapAllocator is nil off Linux: wazero's default slice-backed memory.
var mmapAllocator experimental.MemoryAllocator
