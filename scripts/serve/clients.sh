#!/usr/bin/env bash
# The official Python clients against `quarry serve` (make serve-clients): openai's
# embeddings.create (the SDK's default base64, float, explicit base64, dimensions, errors),
# huggingface_hub's InferenceClient.feature_extraction (TEI's POST /) and cohere's rerank
# (ClientV2 -> /v2/rerank, Client -> /v1/rerank), each vector compared bit for bit with
# `quarry embed`'s output and each score with `quarry rerank`'s (scripts/serve/clients.py).
#
#   scripts/serve/clients.sh
#
# Runs on a generated tiny bi-encoder + cross-encoder (go run ./testdata/gen), then on the real
# all-MiniLM-L6-v2 when QUARRY_CLIENTS_MODEL (default models/all-MiniLM-L6-v2-f16.gguf, made by
# `make models`) exists. The clients live in a venv outside the repository, made from
# scripts/serve/requirements.txt (pinned) when missing or stale: CLIENTS_VENV, default
# ~/.cache/quarry/clients-venv. Without PyPI (the venv cannot be made) or without the native core
# the script says SKIP and exits 0, or 1 with QUARRY_CLIENTS_REQUIRED=1.
#
# QUARRY: the binary (default: built from this tree into OUT).
# Output: OUT (default out/serve-clients)/summary.txt, LABEL.json (every check), LABEL.log (the
# server's JSON request log). Exit status 1 when a check failed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
venv=${CLIENTS_VENV:-$HOME/.cache/quarry/clients-venv}
req=scripts/serve/requirements.txt
out=${OUT:-out/serve-clients}
real=${QUARRY_CLIENTS_MODEL:-models/all-MiniLM-L6-v2-f16.gguf}
GO=${GO:-go}

skip() {
	echo "serve-clients: SKIP: $*" >&2
	[ "${QUARRY_CLIENTS_REQUIRED:-0}" = 1 ] && exit 1
	exit 0
}

# The venv: remade when scripts/serve/requirements.txt changed since it was made.
stamp=$(sha256sum "$req" | cut -c1-16)
if [ "$(cat "$venv/.quarry-requirements" 2>/dev/null)" != "$stamp" ] || ! "$venv/bin/python" -c 'import openai, huggingface_hub, cohere, numpy' 2>/dev/null; then
	echo "== installing $req into $venv" >&2
	{ python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"; } ||
		skip "could not install the clients of $req into $venv (no PyPI?)"
	echo "$stamp" >"$venv/.quarry-requirements"
fi
py="$venv/bin/python"

mkdir -p "$out/models"
out=$(cd "$out" && pwd)
# The binary under test: QUARRY, else built from this tree into OUT (with the Makefile's native stamp:
# see bindings.NativeStamp).
q=${QUARRY:-}
if [ -z "$q" ]; then
	[ -f build/lib/libquarry.a ] || skip "no native core (build/lib/libquarry.a): run make native"
	nstamp=$(cat build/lib/*.a | sha256sum | cut -c1-16)
	q="$out/quarry"
	"$GO" build -ldflags "-X github.com/quarry-search/quarry/bindings.nativeStamp=$nstamp" -o "$q" ./cmd/quarry
fi
"$GO" run ./testdata/gen -out "$out/models" -preset tiny -kind mean -type f32 -seed 1 >/dev/null
"$GO" run ./testdata/gen -out "$out/models" -preset tiny -kind rank -type f32 -seed 2 >/dev/null
ce="$out/models/tiny-rank-f32.gguf"

# Texts: plain, one-letter, accented, CJK, emoji, and one over every window (truncated alike by
# `quarry embed` and the server).
texts="$out/texts.txt"
{
	echo "What is Deep Learning?"
	echo "transcribe french audio"
	echo "a"
	echo "Übersetzung ins Deutsche, mit Umlauten: schön, größer"
	echo "日本語の文章を検索する"
	echo "search 🔍 models that can transcribe speech"
	echo "image viewer for photos"
	for _ in $(seq 120); do printf 'the quick brown fox jumps over the lazy dog '; done
	echo
} >"$texts"
query="speech recognition for french audio"

pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; }
trap cleanup EXIT

status=0
run() { # label model
	local label=$1 model=$2 port key
	port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	key=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	echo "$key" >"$out/$label.key"
	"$q" embed -m "$model" "$texts" -q --threads 1 >"$out/$label.embed.jsonl"
	"$q" rerank -m "$ce" --query "$query" --format jsonl "$texts" -q --threads 1 >"$out/$label.rerank.jsonl"
	"$q" serve --model "m=$model" --rerank-model "ce=$ce" --addr "127.0.0.1:$port" --api-key-file "$out/$label.key" \
		--log-format json --threads 1 2>"$out/$label.log" &
	pid=$!
	local url="http://127.0.0.1:$port"
	for _ in $(seq 300); do
		"$py" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/health", timeout=1)' "$url" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || { echo "serve-clients: quarry serve exited:" >&2; cat "$out/$label.log" >&2; exit 1; }
		sleep 0.1
	done
	timeout 600 "$py" scripts/serve/clients.py --url "$url" --key "$key" --model m --rerank ce --texts "$texts" \
		--cli "$out/$label.embed.jsonl" --query "$query" --rerank-cli "$out/$label.rerank.jsonl" --log "$out/$label.log" \
		--label "$label" --json "$out/$label.json" || status=1
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	pid=""
	[ "$rc" = 0 ] || { echo "serve-clients: quarry serve exited $rc after SIGTERM (want 0)" >&2; status=1; }
}

run tiny "$out/models/tiny-mean-f32.gguf"
labels=(tiny)
if [ -f "$real" ]; then
	run minilm "$real"
	labels+=(minilm)
else
	echo "serve-clients: $real not present (make models): the real model's round is skipped" >&2
fi

"$py" - "$out" "${labels[@]}" <<'EOF' | tee "$out/summary.txt"
import json, sys
out, labels = sys.argv[1], sys.argv[2:]
for l in labels:
    try:
        s = json.load(open("%s/%s.json" % (out, l)))
    except (OSError, ValueError):
        print("%-7s no result (clients.py failed early: see its output)" % l)
        continue
    print("%-7s %2d checks, %d failed  (dim %d, %d texts; %s)" % (l, s["checks"], s["failed"], s["dim"], s["texts"],
          ", ".join("%s %s" % kv for kv in s["versions"].items())))
    for r in s["results"]:
        if not r["ok"]:
            print("        FAIL %s: %s" % (r["check"], r["detail"]))
EOF
[ "$status" = 0 ] && echo "serve-clients: all checks passed" || echo "serve-clients: FAILED" >&2
exit "$status"
