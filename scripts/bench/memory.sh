#!/usr/bin/env bash
# Peak memory of the writers at corpus scale: `quarry index` of N short
# documents and `quarry delete` of 20 ids from the N-document index, for each
# N, with GNU time's maximum resident set size. The model is a tiny generated
# one (testdata/gen), so the figures are the engine's memory (segment, id
# map, doc store), not the model's.
#
#   scripts/bench/memory.sh [-n "30000 1000000"] [-o DIR] [-j OUT.json]
#
# Corpus: real short texts when MEMORY_CORPUS names tab-separated package
# lists with a "summary" column (default: the PyPI and npm lists of the
# machine-facts library, when present), else generated 8–20-word texts.
# QUARRY: the binary (default bin/quarry). Needs /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes="30000 1000000"
out=""
json=""
while getopts "n:o:j:h" o; do
	case $o in
	n) sizes=$OPTARG ;;
	o) out=$OPTARG ;;
	j) json=$OPTARG ;;
	*) sed -n '2,15p' "$0"; exit 2 ;;
	esac
done
QUARRY=${QUARRY:-bin/quarry}
[ -x "$QUARRY" ] || { echo "memory.sh: $QUARRY missing (make build)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "memory.sh: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
out=${out:-$(mktemp -d)}
mkdir -p "$out"
go run ./testdata/gen -out "$out" -preset tiny -kind mean -type f32 -seed 1 >/dev/null
model="$out/tiny-mean-f32.gguf"

lib=/work/.library/env/packages
corpus_lists=${MEMORY_CORPUS:-$(ls "$lib"/pypi.tsv "$lib"/npm.tsv 2>/dev/null | tr '\n' ' ')}
max=0
for n in $sizes; do [ "$n" -gt "$max" ] && max=$n; done
all="$out/corpus.jsonl"
if [ -n "${corpus_lists// /}" ]; then
	src="real package summaries ($(for f in $corpus_lists; do basename "$f"; done | tr '\n' ' '))"
	# One document per package with a summary: _id = list:name, text = summary.
	# shellcheck disable=SC2086 # one argument per list
	awk -F'\t' -v max="$max" 'function esc(v) { gsub(/[\001-\037]/, " ", v); gsub(/\\/, "\\\\\\\\", v); gsub(/"/, "\\\"", v); return v }
		FNR == 1 { tag = FILENAME; sub(/.*\//, "", tag); sub(/\.tsv$/, "", tag); c = 0
			for (i = 1; i <= NF; i++) if ($i ~ /^summary/) c = i; next }
		c && $c ~ /[A-Za-z]/ { t = $c; id = $1; t = esc(t); id = esc(id)
			printf "{\"_id\": \"%s:%s\", \"text\": \"%s\"}\n", tag, id, t; if (++n >= max) exit }' $corpus_lists >"$all"
else
	src="generated 8-20-word texts"
	awk -v n="$max" 'BEGIN { srand(1); for (i = 0; i < n; i++) { s = ""; w = 8 + int(rand() * 13)
		for (j = 0; j < w; j++) s = s " w" int(rand() * 5000); printf "{\"_id\": \"d%d\", \"text\": \"%s\"}\n", i, s } }' >"$all"
fi
have=$(wc -l <"$all")
echo "corpus: $have documents of $src; model: tiny generated (hidden 32); $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%-10s %-8s %12s %10s\n' documents command "max RSS MB" seconds
rows=()
for n in $sizes; do
	[ "$n" -le "$have" ] || { echo "memory.sh: only $have documents for $n" >&2; exit 1; }
	head -n "$n" "$all" >"$out/c$n.jsonl"
	idx="$out/idx$n"
	rm -rf "$idx"
	/usr/bin/time -f '%M %e' -o "$out/t" "$QUARRY" index -m "$model" -i "$out/c$n.jsonl" -o "$idx" >/dev/null 2>>"$out/log"
	read -r kb secs <"$out/t"
	printf '%-10s %-8s %12.1f %10s\n' "$n" index "$(echo "$kb/1024" | bc -l)" "$secs"
	rows+=("{\"documents\": $n, \"command\": \"index\", \"max_rss_kb\": $kb, \"seconds\": $secs}")
	mapfile -t ids < <(awk -v n="$n" 'NR % int(n / 20) == 1' "$out/c$n.jsonl" | head -20 | sed -E 's/^\{"_id": "(([^"\\]|\\.)*)".*/\1/')
	args=()
	for id in "${ids[@]}"; do args+=(--id "$id"); done
	/usr/bin/time -f '%M %e' -o "$out/t" "$QUARRY" delete "$idx" "${args[@]}" >/dev/null 2>>"$out/log"
	read -r kb secs <"$out/t"
	printf '%-10s %-8s %12.1f %10s\n' "$n" "delete20" "$(echo "$kb/1024" | bc -l)" "$secs"
	rows+=("{\"documents\": $n, \"command\": \"delete20\", \"max_rss_kb\": $kb, \"seconds\": $secs}")
	rm -rf "$idx" "$out/c$n.jsonl"
done
if [ -n "$json" ]; then
	{ printf '{"bench": "memory", "corpus": "%s", "runs": [' "$src"; sep=""
	  for r in "${rows[@]}"; do printf '%s%s' "$sep" "$r"; sep=", "; done; echo ']}'; } >"$json"
fi
