#!/usr/bin/env bash
# The official clients against `quarry serve` (docs/serve.md "Clients"):
# the OpenAI Python SDK's embeddings.create, float and base64 (its default),
# must give exactly `quarry embed`'s vectors; dimensions, errors and token ids.
#
#   scripts/serve/clients.sh            (make serve-clients)
#
# The clients live in a virtualenv outside the repository (CLIENTS_VENV,
# default ~/.cache/quarry/clients-venv, pinned by scripts/serve/requirements.txt).
# The model: the real models/all-MiniLM-L6-v2-f16.gguf when present (make
# models), and always a generated tiny one. QUARRY: the binary (bin/quarry).
set -euo pipefail
cd "$(dirname "$0")/../.."
QUARRY=${QUARRY:-bin/quarry}
VENV=${CLIENTS_VENV:-$HOME/.cache/quarry/clients-venv}
PY=${PY:-python3}
[ -x "$QUARRY" ] || make build
if [ ! -f "$VENV/.ok" ] || [ scripts/serve/requirements.txt -nt "$VENV/.ok" ]; then
	echo "== installing the clients into $VENV"
	"$PY" -m venv "$VENV"
	"$VENV/bin/pip" install -q --disable-pip-version-check -r scripts/serve/requirements.txt
	touch "$VENV/.ok"
fi
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
go run ./testdata/gen -out "$tmp" -preset tiny -kind mean -type f32 -seed 5 >/dev/null
models=("tiny=$tmp/tiny-mean-f32.gguf")
[ -f models/all-MiniLM-L6-v2-f16.gguf ] && models+=("minilm=models/all-MiniLM-L6-v2-f16.gguf")
cat >"$tmp/texts.txt" <<'TEXTS'
search for models that can transcribe french audio
a python library for http requests
Ein schneller Parser für JSON-Dateien
数据库服务器
emoji 🎉 and accents: café, naïve
the quick brown fox jumps over the lazy dog
TEXTS
key=k-$RANDOM$RANDOM
port=$((20000 + RANDOM % 20000))
args=()
for m in "${models[@]}"; do args+=(--model "$m"); done
"$QUARRY" serve "${args[@]}" --addr "127.0.0.1:$port" --api-key "$key" --quiet 2>"$tmp/serve.log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
fail=0
for m in "${models[@]}"; do
	name=${m%%=*} path=${m#*=}
	echo "== $name ($path)"
	"$QUARRY" embed -q -m "$path" --format npy -o "$tmp/$name.npy" "$tmp/texts.txt"
	"$VENV/bin/python" scripts/serve/clients.py "http://127.0.0.1:$port" "$key" "$name" "$tmp/texts.txt" "$tmp/$name.npy" || fail=1
done
[ "$fail" = 0 ] && echo "clients: all checks passed" || { echo "clients: FAILED"; cat "$tmp/serve.log"; }
exit "$fail"
