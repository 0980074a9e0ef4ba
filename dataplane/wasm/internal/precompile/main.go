// Command precompile fills a wazero compilation cache with the given .wasm
// files. Tests built with -race run it (as a normal build) before loading a
// Go guest, because the compiler instrumented by -race is ~50x slower.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/tetratelabs/wazero"
)

func main() {
	dir := flag.String("cache", "", "compilation cache directory")
	flag.Parse()
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache).WithCloseOnContextDone(true))
	for _, f := range flag.Args() {
		b, err := os.ReadFile(f)
		if err == nil {
			_, err = r.CompileModule(ctx, b)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, f, err)
			os.Exit(1)
		}
	}
}
