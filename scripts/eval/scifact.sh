#!/usr/bin/env bash
# quarry eval on BEIR SciFact (test split: 300 queries, 5,183 documents, 339 judgments).
#
#   SCIFACT_DIR=/path/to/scifact scripts/eval/scifact.sh [extra quarry eval flags]
#
# SCIFACT_DIR is a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv). The data is
# CC BY-NC 2.0 and is not part of this repository: see scripts/eval/README.md for where it
# comes from and scripts/eval/scifact_assemble.py to rebuild and verify it.
# MODEL (default models/all-MiniLM-L6-v2-f32.gguf, made by `make models`) is the bi-encoder;
# INDEX (default $SCIFACT_DIR/.quarry-index-<model name>) keeps the index between runs;
# RUNS (default: none) receives one TREC run per mode.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${SCIFACT_DIR:?set SCIFACT_DIR to a BEIR SciFact folder}"
MODEL=${MODEL:-models/all-MiniLM-L6-v2-f32.gguf}
INDEX=${INDEX:-$SCIFACT_DIR/.quarry-index-$(basename "$MODEL" .gguf)}
for f in corpus.jsonl queries.jsonl qrels/test.tsv; do
  [ -f "$SCIFACT_DIR/$f" ] || { echo "scifact.sh: $SCIFACT_DIR/$f is missing" >&2; exit 2; }
done
[ -x bin/quarry ] || make build
args=(eval beir "$SCIFACT_DIR" --model "$MODEL" --index "$INDEX" --split test)
[ -n "${RUNS:-}" ] && args+=(--runs "$RUNS")
exec bin/quarry "${args[@]}" "$@"
