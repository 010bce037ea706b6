#!/usr/bin/env bash
# The reliability campaign: every fuzz target for a while, then kill -9
# rounds over `quarry index`, `delete` and `compact`, with a summary.
#
#   scripts/campaign/run.sh [-m MINUTES] [-r ROUNDS] [-o DIR] [-F] [-K]
#
#   -m MINUTES  minutes per fuzz target (CAMPAIGN_MINUTES, default 10);
#               CAMPAIGN_FUZZTIME (a go test -fuzztime: 30s, 1000000x)
#               overrides it; CAMPAIGN_MINIMIZE bounds the minimization of
#               each new input (a -fuzzminimizetime, default 200x)
#   -r ROUNDS   kill -9 rounds (CAMPAIGN_ROUNDS, default 200)
#   -o DIR      output folder (default out/campaign/UTC-TIMESTAMP, ignored by git)
#   -F          no fuzzing; -K  no kill rounds (neither of the two kinds below)
#   -s ROUNDS   kill -9 rounds of `quarry serve --writable` under a stream of
#               writes (CAMPAIGN_SERVE_ROUNDS, default 20; 0 skips them)
#
# Environment: CAMPAIGN_DOCS documents per indexed part (default 400);
# CAMPAIGN_KILL_MAX_MS the latest kill after a start, in ms (default 1000;
# each round draws uniformly in [0, min(max, how long the same command took
# to complete last time)]); CAMPAIGN_SEED (default 1);
# CAMPAIGN_THREADS compute threads of quarry (default 1); CAMPAIGN_SPLADE=0
# leaves out the SPLADE model; QUARRY the binary (default bin/quarry, built
# with the native core when missing); FUZZPARALLEL as in
# scripts/fuzz/targets.sh.
#
# Kill rounds. Two tiny generated models (testdata/gen: mean pooling, and
# SPLADE) each get an index; round r works on model r mod 2 and runs, in
# turn per model, `index` of a new part of CAMPAIGN_DOCS documents, `delete`
# of 10 random live documents, `compact`. Each round starts the command,
# kills it with SIGKILL after a random delay, runs it again to completion,
# then checks with `quarry search --json` (a BM25 query for each document's
# unique token) and `quarry info --json` that every live document is found
# exactly once, no deleted one comes back, and the document count matches.
# A delete re-run that finds its ids gone (the killed run had committed)
# counts as complete.
#
# Serve rounds: cmd/quarry TestServeWritesSurviveKill with
# QUARRY_SERVE_KILL_ROUNDS=ROUNDS (three clients POST JSONL and JSON arrays
# and DELETE; SIGKILL at a random moment; after each restart every
# acknowledged document is found exactly once, no acknowledged deletion is
# back, the count adds up; `quarry check` at the end), log in
# DIR/serve-kill/test.log.
#
# Output: DIR/summary.txt and DIR/summary.json (execs per target, crashes,
# rounds, kills, mismatches), DIR/fuzz/ (logs, fuzz-summary.tsv),
# DIR/kill/rounds.jsonl (one line per round). Exit status 1 when a target
# failed or a round mismatched.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
minutes=${CAMPAIGN_MINUTES:-10}
rounds=${CAMPAIGN_ROUNDS:-200}
out=""
fuzz=1
kill=1
serve_rounds=${CAMPAIGN_SERVE_ROUNDS:-20}
while getopts "m:r:o:s:FKh" opt; do
	case $opt in
	m) minutes=$OPTARG ;;
	r) rounds=$OPTARG ;;
	o) out=$OPTARG ;;
	s) serve_rounds=$OPTARG ;;
	F) fuzz=0 ;;
	K) kill=0 ;;
	h)
		sed -n '2,47p' "$0"
		exit 0
		;;
	*) exit 2 ;;
	esac
done
fuzztime=${CAMPAIGN_FUZZTIME:-${minutes}m}
docs=${CAMPAIGN_DOCS:-400}
killmax=${CAMPAIGN_KILL_MAX_MS:-1000}
seed=${CAMPAIGN_SEED:-1}
threads=${CAMPAIGN_THREADS:-1}
out=${out:-out/campaign/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
helper="$root/scripts/campaign/helper.py"
RANDOM=$seed

cat >"$out/params.json" <<EOF
{"fuzztime": "$fuzztime", "fuzz": $fuzz, "rounds": $( [ "$kill" = 1 ] && echo "$rounds" || echo 0), "serve_rounds": $( [ "$kill" = 1 ] && echo "$serve_rounds" || echo 0), "docs_per_part": $docs,
 "kill_max_ms": $killmax, "seed": $seed, "threads": $threads, "go": "$(go env GOVERSION)", "started": "$(date -u +%FT%TZ)"}
EOF

if [ "$fuzz" = 1 ]; then
	echo "== fuzzing every target for $fuzztime" >&2
	scripts/fuzz/targets.sh -t "$fuzztime" -m "${CAMPAIGN_MINIMIZE:-200x}" -o "$out/fuzz" || true
fi

if [ "$kill" = 1 ]; then
	QUARRY=${QUARRY:-$root/bin/quarry}
	if [ ! -x "$QUARRY" ]; then
		stamp=$(cat build/lib/*.a | sha256sum | cut -c1-16)
		go build -ldflags "-X github.com/quarry-search/quarry/bindings.nativeStamp=$stamp" -o "$QUARRY" ./cmd/quarry
	fi
	k="$out/kill"
	mkdir -p "$k/models"
	: >"$k/rounds.jsonl"
	go run ./testdata/gen -out "$k/models" -preset tiny -kind mean -type f32 -seed 1 >/dev/null
	models=(mean)
	if [ "${CAMPAIGN_SPLADE:-1}" != 0 ]; then
		go run ./testdata/gen -out "$k/models" -preset tiny -kind splade -type f32 -seed 2 >/dev/null
		models+=(splade)
	fi
	next=0            # the next document number
	declare -A took=() # ms of the last complete run of each model.op
	for m in "${models[@]}"; do
		mkdir -p "$k/$m"
		: >"$k/$m/live.txt"
		: >"$k/$m/deleted.txt"
	done
	echo "== $rounds kill -9 rounds over index, delete, compact (${models[*]})" >&2
	for ((r = 0; r < rounds; r++)); do
		m=${models[r % ${#models[@]}]}
		d="$k/$m"
		idx="$d/idx"
		ops=(index delete compact)
		op=${ops[(r / ${#models[@]}) % 3]}
		if [ "$op" = delete ] && [ "$(wc -l <"$d/live.txt")" -lt 10 ]; then
			op=index
		fi
		case $op in
		index)
			part="$d/part-$r.jsonl"
			python3 "$helper" corpus "$part" "$next" "$docs" "$seed"
			next=$((next + docs))
			cmd=("$QUARRY" index -m "$k/models/tiny-$m-f32.gguf" -i "$part" -o "$idx" --segment-passages 40 -q --threads "$threads")
			;;
		delete)
			shuf -n 10 --random-source=<(yes "$seed.$r") "$d/live.txt" >"$d/batch.txt"
			cmd=("$QUARRY" delete)
			while read -r id; do cmd+=(--id "$id"); done <"$d/batch.txt"
			cmd+=("$idx")
			;;
		compact)
			cmd=("$QUARRY" compact "$idx")
			;;
		esac
		# The kill lands in [0, the duration of this command's last complete
		# run] (CAMPAIGN_KILL_MAX_MS before there is one): mostly mid-run.
		key="$m.$op"
		span=${took[$key]:-$killmax}
		span=$((span < killmax ? span : killmax))
		delay=$((RANDOM % (span + 1)))
		"${cmd[@]}" >"$d/first.out" 2>&1 &
		pid=$!
		sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
		killed=false
		if kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null; then
			killed=true
		fi
		wait "$pid" 2>/dev/null || true
		rc=0
		t0=$(date +%s%3N)
		"${cmd[@]}" >"$d/rerun.out" 2>&1 || rc=$?
		took[$key]=$(($(date +%s%3N) - t0))
		if [ "$op" = delete ] && [ "$rc" = 2 ] && grep -q "not in the index" "$d/rerun.out"; then
			rc=0 # the killed run had committed the deletion
		fi
		case $op in
		index) [ "$rc" = 0 ] && python3 -c "import json,sys; [print(json.loads(l)['_id']) for l in open(sys.argv[1])]" "$part" >>"$d/live.txt" ;;
		delete)
			if [ "$rc" = 0 ]; then
				cat "$d/batch.txt" >>"$d/deleted.txt"
				grep -vxF -f "$d/batch.txt" "$d/live.txt" >"$d/live.new" || true
				mv "$d/live.new" "$d/live.txt"
			fi
			;;
		esac
		python3 "$helper" queries "$d/queries.jsonl" "$d/live.txt" "$d/deleted.txt"
		check='{"ok": false, "error": "search or info failed"}'
		if "$QUARRY" search --queries "$d/queries.jsonl" --mode bm25 -k 3 --json --threads "$threads" "$idx" >"$d/results.jsonl" 2>"$d/search.err" &&
			"$QUARRY" info --json "$idx" >"$d/info.json" 2>/dev/null; then
			check=$(python3 "$helper" check "$d/results.jsonl" "$d/info.json" "$d/live.txt" "$d/deleted.txt" || true)
		fi
		printf '{"round": %d, "model": "%s", "op": "%s", "delay_ms": %d, "killed": %s, "rerun_rc": %d, "check": %s}\n' \
			"$r" "$m" "$op" "$delay" "$killed" "$rc" "$check" >>"$k/rounds.jsonl"
		case $check in *'"ok": true'*) status=ok ;; *) status=MISMATCH ;; esac
		printf 'round %3d  %-6s %-7s kill after %4d ms  killed=%-5s rerun=%d  %s\n' "$r" "$m" "$op" "$delay" "$killed" "$rc" "$status" >&2
	done
fi

if [ "$kill" = 1 ] && [ "$serve_rounds" -gt 0 ]; then
	echo "== $serve_rounds kill -9 rounds of quarry serve --writable under a stream of writes" >&2
	mkdir -p "$out/serve-kill"
	stamp=$(cat build/lib/*.a | sha256sum | cut -c1-16)
	rc=0
	QUARRY_SERVE_KILL_ROUNDS=$serve_rounds go test -ldflags "-X github.com/quarry-search/quarry/bindings.nativeStamp=$stamp" \
		-count=1 -timeout 0 -run '^TestServeWritesSurviveKill$' -v ./cmd/quarry >"$out/serve-kill/test.log" 2>&1 || rc=$?
	echo "$rc" >"$out/serve-kill/rc"
fi

python3 "$helper" summary "$out"
