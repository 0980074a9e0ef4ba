# Wasmesh build. `make run` starts the demo; `make test` is what CI runs.
SHELL := /bin/bash
GO ?= go
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)

FILTER_DIRS := $(wildcard filters/*/main.go)
FILTERS := $(patsubst filters/%/main.go,build/filters/%.wasm,$(FILTER_DIRS))
# A filter's logic lives in a package under its folder (filters/bundle
# imports all of them), so every filter source is a dependency.
FILTER_SRCS := $(shell find filters -name '*.go' -not -name '*_test.go')

.PHONY: all build filters run test test-sdk vet bench clean

all: build

build: filters
	@mkdir -p bin
	$(GO) build -o bin/meshd ./cmd/meshd
	$(GO) build -o bin/meshctl ./cmd/meshctl
	$(GO) build -o bin/demo-upstream ./cmd/demo-upstream

filters: $(FILTERS)

build/filters/%.wasm: $(FILTER_SRCS) filters/go.mod wasm-sdk/*.go wasm-sdk/internal/hostabi/*.go
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

# --- tools -----------------------------------------------------------------
# protoc comes from Debian (apt-get install protobuf-compiler); the two Go
# plugins are pinned as tool dependencies in go.mod (`go get -tool`), so
# `go tool -n` builds them at the pinned version and prints their path.
PROTO_FILES := $(shell find examples proto -name '*.proto' 2>/dev/null)

.PHONY: proto tools
tools:
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler"; exit 1; }
	$(GO) tool -n protoc-gen-go >/dev/null
	$(GO) tool -n protoc-gen-go-grpc >/dev/null

proto: tools
	protoc -I . \
		--plugin=protoc-gen-go=$$($(GO) tool -n protoc-gen-go) \
		--plugin=protoc-gen-go-grpc=$$($(GO) tool -n protoc-gen-go-grpc) \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		$(PROTO_FILES)
