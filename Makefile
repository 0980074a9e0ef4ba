# Wasmesh build. `make run` starts the demo; `make test` is what CI runs.
SHELL := /bin/bash
GO ?= go
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)

FILTER_DIRS := $(wildcard filters/*/main.go)
FILTERS := $(patsubst filters/%/main.go,build/filters/%.wasm,$(FILTER_DIRS))

.PHONY: all build filters run test test-sdk vet bench clean

all: build

build: filters
	@mkdir -p bin
	$(GO) build -o bin/meshd ./cmd/meshd
	$(GO) build -o bin/meshctl ./cmd/meshctl
	$(GO) build -o bin/demo-upstream ./cmd/demo-upstream

filters: $(FILTERS)

build/filters/%.wasm: filters/%/*.go filters/go.mod wasm-sdk/*.go wasm-sdk/internal/hostabi/*.go
	@mkdir -p build/filters
	cd filters/$* && GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o ../../build/filters/$*.wasm .

run: build
	./scripts/run-demo.sh

vet:
	$(GO) vet ./...

test: filters vet
	$(GO) test -race -count=1 -timeout 45m ./...
	$(MAKE) test-sdk

test-sdk:
	@if [ -f wasm-sdk/go.mod ]; then cd wasm-sdk && $(GO) vet ./... && $(GO) test -race -count=1 ./...; fi
	@if [ -f filters/go.mod ]; then cd filters && $(GO) vet ./... && $(GO) test -race -count=1 ./...; fi

bench: build
	./bench/run.sh

clean:
	rm -rf bin build
