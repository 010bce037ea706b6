#!/usr/bin/env bash
# What a searching process holds in memory for a graph index (scripts/bench/ann/rss/main.go):
# builds a 1M x 384 int8 index with graphs once (~15 minutes on 2 cores), then searches it
#   1. as is, reporting the resident set (anonymous and file-backed) after opening and after the queries;
#   2. with the page cache dropped, inside a memory cgroup whose limit is below the graph files' size
#      (root and a cgroup v1 or v2 memory controller needed; skipped otherwise): it must still answer.
#   scripts/bench/ann/rss.sh                      # N=1000000 DTYPE=int8 LIMIT_MB=768 QUERIES=1000
# Results: build/bench/ann-rss.json and build/bench/ann-rss-cgroup.json.
set -euo pipefail
cd "$(dirname "$0")/../../.."
N=${N:-1000000}
DTYPE=${DTYPE:-int8}
DIR=${DIR:-build/bench/ann-rss-$DTYPE-$N.idx}
LIMIT_MB=${LIMIT_MB:-768}
QUERIES=${QUERIES:-1000}
[ -f build/lib/libquarry.a ] || make native
mkdir -p build/bench bin
go build -ldflags "-X github.com/quarry-search/quarry/bindings.nativeStamp=$(cat build/lib/*.a | sha256sum | cut -c1-16)" \
  -o bin/quarry-ann-rss ./scripts/bench/ann/rss
[ -d "$DIR" ] || bin/quarry-ann-rss -dir "$DIR" -n "$N" -dtype "$DTYPE" build
echo "== search, page cache as it is"
bin/quarry-ann-rss -dir "$DIR" -queries "$QUERIES" search | tee build/bench/ann-rss.json
cg=""
if [ "$(id -u)" = 0 ]; then
  if [ -w /sys/fs/cgroup/memory ]; then
    cg=/sys/fs/cgroup/memory/quarry-ann-rss-$$
    mkdir "$cg" && echo $((LIMIT_MB << 20)) >"$cg/memory.limit_in_bytes"
  elif [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
    cg=/sys/fs/cgroup/quarry-ann-rss-$$
    mkdir "$cg" && echo $((LIMIT_MB << 20)) >"$cg/memory.max"
  fi
fi
if [ -z "$cg" ]; then
  echo "== no writable memory cgroup (needs root): the limited run is skipped"
  exit 0
fi
trap 'rmdir "$cg" 2>/dev/null || true' EXIT
sync
echo 3 >/proc/sys/vm/drop_caches
echo "== search, cold page cache, memory cgroup limit $LIMIT_MB MB"
rc=0
sh -c "echo \$\$ >'$cg/cgroup.procs' && exec bin/quarry-ann-rss -dir '$DIR' -queries '$QUERIES' -cgroup-limit-mb '$LIMIT_MB' search" \
  >build/bench/ann-rss-cgroup.json || rc=$?
cat build/bench/ann-rss-cgroup.json
[ "$rc" = 0 ] || echo "== the limited run failed (exit $rc; 137 = killed: the limit is below what the process needs besides the page cache)"
for f in memory.max_usage_in_bytes memory.peak memory.failcnt; do
  [ -f "$cg/$f" ] && echo "$f: $(cat "$cg/$f")"
done
true
