#!/usr/bin/env bash
# quarry HNSW vs hnswlib and FAISS HNSW (scripts/bench/ann/ann.py; method in its docstring).
#   scripts/bench/ann/run.sh                   # 100k x 384, 1,000 queries: ~10 minutes on 2 cores
#   scripts/bench/ann/run.sh --n 20000 --dim 64 --queries 300    # a quick look
# The peers live in their own virtualenv outside the repository ($ANN_VENV, ~/.cache/quarry/ann-venv).
set -euo pipefail
cd "$(dirname "$0")/../../.."
ANN_VENV=${ANN_VENV:-$HOME/.cache/quarry/ann-venv}
if ! "$ANN_VENV/bin/python" -c 'import hnswlib, faiss, numpy' 2>/dev/null; then
  echo "== creating $ANN_VENV (hnswlib, faiss-cpu, numpy)"
  python3 -m venv "$ANN_VENV"
  "$ANN_VENV/bin/pip" install -q --disable-pip-version-check -r scripts/bench/ann/requirements.txt
fi
if [ -f build/lib/libquarry.a ]; then
  go build -ldflags "-X github.com/quarry-search/quarry/bindings.nativeStamp=$(cat build/lib/*.a | sha256sum | cut -c1-16)" \
    -o bin/quarry ./cmd/quarry
else
  make build
fi
mkdir -p build/bench
exec "$ANN_VENV/bin/python" scripts/bench/ann/ann.py "$@"
