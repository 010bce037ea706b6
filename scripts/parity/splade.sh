#!/usr/bin/env bash
# SPLADE parity of quarry with sentence-transformers' SparseEncoder (make parity-splade).
#
# Needs bin/quarry (make build) and the torch venv of scripts/parity (TORCH_VENV, default
# ~/.cache/quarry/torch-venv; created from scripts/parity/requirements.txt when missing: ~6 GB).
# Writes out/parity-splade/. Extra arguments go to splade.py (--texts, --reps, --bias-mean, ...).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${TORCH_VENV:-$HOME/.cache/quarry/torch-venv}
THREADS=${THREADS:-$(nproc)}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sentence_transformers, faker' 2>/dev/null; then
  echo "== creating $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r scripts/parity/requirements.txt
fi
[ -x bin/quarry ] || { echo "bin/quarry missing: run make build" >&2; exit 1; }
exec "$VENV/bin/python" scripts/parity/splade.py --threads "$THREADS" "$@"
