#!/usr/bin/env bash
# All of quarry's benchmarks against its peers in one go, then the plots (make bench; make bench-quick).
#
#   scripts/bench/all.sh                          # full run: an hour or more on 2 cores; results in docs/bench
#   QUARRY_BENCH_QUICK=1 scripts/bench/all.sh     # smoke run (minutes): small sizes, results in build/bench/quick
#
# Steps (QUARRY_BENCH_STEPS, default all, in this order):
#   encode        scripts/bench/encode.py: quarry vs sentence-transformers encode     -> encode.json
#   encode-sweep  quarry bench encode: batch-size sweep and text-length sweep         -> encode-batch.json, encode-length.json
#   search        scripts/bench/search.py: quarry vs numpy/faiss exact search, sweep  -> search.json
#   rerank        scripts/bench/rerank.py: quarry vs sentence-transformers CrossEncoder -> rerank.json
#   index         quarry bench index --synthetic N for each N (peak RSS vs corpus size) -> index.json
#   memory        scripts/bench/memory.sh: max RSS of index and of a 20-id delete at 30k and 1M
#                 short documents (tiny model: the engine's memory, not the model's)    -> memory.json
#   serve         scripts/bench/serve.sh: quarry serve under 1-200 clients vs infinity-emb, search over HTTP
#                 vs in-process, the targets' PASS/FAIL lines (real all-MiniLM-L6-v2)  -> serve.json
#   plot          copy this run's results to $QUARRY_BENCH_DOCS, go run ./scripts/bench/plot there -> *.svg
# Each step's JSON goes to $QUARRY_BENCH_OUT, its log to $QUARRY_BENCH_OUT/logs/STEP.log and its result lines
# to $QUARRY_BENCH_OUT/STEP.txt; the plot step copies those of this run to $QUARRY_BENCH_DOCS and draws the
# plots there. A failing step is reported and the others still run (exit status 1 at the end).
#
# Environment (defaults: full run / QUARRY_BENCH_QUICK=1):
#   PYTHON                    the torch venv's python (~/.cache/quarry/torch-venv/bin/python; make torch-venv)
#   QUARRY_BENCH_OUT          JSON and logs (build/bench / build/bench/quick)
#   QUARRY_BENCH_DOCS         published JSON, STEP.txt and SVGs (docs/bench / build/bench/quick/docs)
#   QUARRY_BENCH_THREADS      threads on every side (nproc)
#   QUARRY_BENCH_MODEL        bi-encoder GGUF (the generated MiniLM-L6 shape twin, f32, seed 7, as encode.py)
#   QUARRY_BENCH_ROUNDS       alternating rounds / timed passes, best kept (each script's default / 1)
#   QUARRY_BENCH_ENCODE_N     encode.py sentences (2000 / 200)
#   QUARRY_BENCH_SWEEP_N      quarry bench encode sentences per point (512 / 64)
#   QUARRY_BENCH_BATCHES      batch sizes of the batch sweep (1,8,32,128,512 / 1,8,32)
#   QUARRY_BENCH_WORDS        word ranges of the length sweep, at batch 32 (5-10,20-30,50-60,100-120,180-200 / 5-10,20-30,50-60)
#   QUARRY_BENCH_SIZES        search corpus sizes (10000,100000,1000000 / 10000)
#   QUARRY_BENCH_Q1, _QB      search queries per pass at 1 and 100 queries/call (50, 200 / 20, 100)
#   QUARRY_BENCH_SEARCH_SWEEP rescoring candidates of the recall-vs-QPS sweep (search.py's / 10,50,100,500)
#   QUARRY_BENCH_RERANK_N     rerank pairs (512 / 64)
#   QUARRY_BENCH_INDEX_SIZES  synthetic documents per index run (10000,100000 / 500,2000)
#   QUARRY_BENCH_INDEX_WORDS  words per synthetic document (20-120)
#   QUARRY_BENCH_MEMORY_SIZES documents per memory run (30000 1000000 / 3000 30000)
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

QUICK=${QUARRY_BENCH_QUICK:-0}
q() { if [ "$QUICK" = 1 ]; then echo "$2"; else echo "$1"; fi; }  # q FULL QUICK
PYTHON=${PYTHON:-${TORCH_VENV:-$HOME/.cache/quarry/torch-venv}/bin/python}
OUT=${QUARRY_BENCH_OUT:-$(q build/bench build/bench/quick)}
DOCS=${QUARRY_BENCH_DOCS:-$(q docs/bench build/bench/quick/docs)}
THREADS=${QUARRY_BENCH_THREADS:-$(nproc)}
STEPS=${QUARRY_BENCH_STEPS:-encode encode-sweep search rerank index memory serve plot}
STEPS=${STEPS//,/ }
# The JSON files each step writes.
declare -A OUTPUTS=([encode]="encode.json" [encode-sweep]="encode-batch.json encode-length.json" [search]="search.json"
  [rerank]="rerank.json" [index]="index.json" [memory]="memory.json" [serve]="serve.json" [plot]="")
for step in $STEPS; do
  if [ -z "${OUTPUTS[$step]+x}" ]; then
    echo "all.sh: unknown step $step (want: encode encode-sweep search rerank index memory serve plot)" >&2; exit 2
  fi
done
ROUNDS=${QUARRY_BENCH_ROUNDS:-$(q "" 1)}
ENCODE_N=${QUARRY_BENCH_ENCODE_N:-$(q 2000 200)}
SWEEP_N=${QUARRY_BENCH_SWEEP_N:-$(q 512 64)}
BATCHES=${QUARRY_BENCH_BATCHES:-$(q 1,8,32,128,512 1,8,32)}
WORDS=${QUARRY_BENCH_WORDS:-$(q 5-10,20-30,50-60,100-120,180-200 5-10,20-30,50-60)}
export QUARRY_BENCH_SIZES=${QUARRY_BENCH_SIZES:-$(q 10000,100000,1000000 10000)}
export QUARRY_BENCH_Q1=${QUARRY_BENCH_Q1:-$(q 50 20)}
export QUARRY_BENCH_QB=${QUARRY_BENCH_QB:-$(q 200 100)}
SEARCH_SWEEP=${QUARRY_BENCH_SEARCH_SWEEP:-$(q "" 10,50,100,500)}
RERANK_N=${QUARRY_BENCH_RERANK_N:-$(q 512 64)}
INDEX_SIZES=${QUARRY_BENCH_INDEX_SIZES:-$(q 10000,100000 500,2000)}
INDEX_WORDS=${QUARRY_BENCH_INDEX_WORDS:-20-120}
# Quiet Hugging Face progress bars in the logs.
export HF_HUB_DISABLE_PROGRESS_BARS=1 TRANSFORMERS_VERBOSITY=error TQDM_DISABLE=1 TOKENIZERS_PARALLELISM=false

if [ ! -x "$PYTHON" ] && [[ " $STEPS " =~ \ (encode|search|rerank)\  ]]; then
  echo "all.sh: $PYTHON not found: create the torch venv with 'make torch-venv' or set PYTHON" >&2
  exit 1
fi
[ -x bin/quarry ] || make build || exit 1
QBIN=$ROOT/bin/quarry
mkdir -p "$OUT/logs" "$DOCS"

MODEL=${QUARRY_BENCH_MODEL:-}
model() {
  if [ -z "$MODEL" ]; then
    MODEL=$OUT/models/minilm-mean-f32.gguf
    [ -f "$MODEL" ] || go run ./testdata/gen -out "$OUT/models" -preset minilm -kind mean -type f32 -seed 7 >/dev/null || return 1
  fi
}

step_encode() {
  local args=(--threads "$THREADS" -n "$ENCODE_N" --latency "$((ENCODE_N < 50 ? ENCODE_N : 50))" --json "$OUT/encode.json")
  [ -n "${QUARRY_BENCH_MODEL:-}" ] && args+=(--model "$QUARRY_BENCH_MODEL")
  [ -n "$ROUNDS" ] && args+=(--repeat "$ROUNDS")
  "$PYTHON" scripts/bench/encode.py "${args[@]}"
}

step_encode_sweep() {
  model || return 1
  local rep=(); [ -n "$ROUNDS" ] && rep=(--repeat "$ROUNDS")
  echo "== batch sweep ($BATCHES), words 10-60"
  "$QBIN" bench encode -m "$MODEL" --threads "$THREADS" --batch "$BATCHES" --words 10-60 --n "$SWEEP_N" "${rep[@]}" \
    --json "$OUT/encode-batch.json" >/dev/null || return 1
  echo "== length sweep ($WORDS), batch 32"
  "$QBIN" bench encode -m "$MODEL" --threads "$THREADS" --batch 32 --words "$WORDS" --n "$SWEEP_N" "${rep[@]}" \
    --json "$OUT/encode-length.json" >/dev/null
}

step_search() {
  local args=(--threads "$THREADS" --json "$OUT/search.json")
  [ -n "$SEARCH_SWEEP" ] && args+=(--sweep "$SEARCH_SWEEP")
  [ -n "$ROUNDS" ] && args+=(--rounds "$ROUNDS")
  "$PYTHON" scripts/bench/search.py "${args[@]}"
}

step_rerank() {
  local args=(--threads "$THREADS" -n "$RERANK_N" --json "$OUT/rerank.json")
  [ -n "$ROUNDS" ] && args+=(--rounds "$ROUNDS")
  "$PYTHON" scripts/bench/rerank.py "${args[@]}"
}

step_index() {
  model || return 1
  local files=() n
  for n in ${INDEX_SIZES//,/ }; do
    echo "== quarry bench index --synthetic $n"
    "$QBIN" bench index -m "$MODEL" --threads "$THREADS" --synthetic "$n" --words "$INDEX_WORDS" --json "$OUT/index-$n.json" >/dev/null || return 1
    files+=("$OUT/index-$n.json")
  done
  # One file: {"bench": "index", "runs": [one quarry bench index result per size]}.
  { echo '{"bench": "index", "runs": ['; local sep=""
    for f in "${files[@]}"; do printf '%s' "$sep"; cat "$f"; sep=","; done
    echo ']}'; } > "$OUT/index.json"
  rm -f "${files[@]}"
}

step_memory() {
  QUARRY="$QBIN" scripts/bench/memory.sh -n "${QUARRY_BENCH_MEMORY_SIZES:-$(q "30000 1000000" "3000 30000")}" \
    -o "$OUT/memory" -j "$OUT/memory.json"
}

step_serve() {
  QUARRY_BENCH_OUT="$OUT" QUARRY_BENCH_THREADS="$THREADS" scripts/bench/serve.sh
}

# plot: publishes this run's results (JSON and STEP.txt result lines) to $DOCS, then draws every plot whose
# JSON is there (results of steps not run this time stay as they were).
step_plot() {
  local f
  for f in encode.json encode-batch.json encode-length.json search.json rerank.json index.json serve.json \
    encode.txt encode-sweep.txt search.txt rerank.txt index.txt serve.txt; do
    if [ -f "$OUT/$f" ]; then cp "$OUT/$f" "$DOCS/$f"; fi
  done
  go run ./scripts/bench/plot -in "$DOCS" -out "$DOCS"
}

FAILED=()
echo "quarry benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ), $("$QBIN" --version 2>/dev/null), $THREADS threads, steps: $STEPS$( [ "$QUICK" = 1 ] && echo '; QUICK (smoke sizes, not for publication)')"
for step in $STEPS; do
  for f in ${OUTPUTS[$step]} $step.txt; do rm -f "$OUT/$f"; done  # nothing stale from an earlier run gets published
  echo; echo "=== $step  ($(date -u +%H:%M:%S))"
  t0=$SECONDS
  "step_${step//-/_}" 2>&1 | tee "$OUT/logs/$step.log"
  rc=${PIPESTATUS[0]}
  if [ $rc -ne 0 ]; then
    echo "=== $step FAILED (exit $rc; log: $OUT/logs/$step.log)" >&2; FAILED+=("$step")
  else
    echo "=== $step done in $((SECONDS - t0))s"
    # The result lines, published next to the JSON.
    [ "$step" = plot ] || grep -vE '^\s*$|^wrote |^data: |^go: ' "$OUT/logs/$step.log" > "$OUT/$step.txt"
  fi
done
echo
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "all.sh: failed steps: ${FAILED[*]}" >&2
  exit 1
fi
echo "all.sh: results in $OUT; published copies and plots in $DOCS"
