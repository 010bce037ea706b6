#!/usr/bin/env bash
# Runs every Go fuzz target of the module, one after the other.
#
#   scripts/fuzz/targets.sh [-l] [-t FUZZTIME] [-m MINIMIZETIME] [-o DIR] [REGEXP]
#
# The targets are found, not listed: every `func FuzzXxx(` in a *_test.go
# file under the module root (testdata, build and hidden folders excluded),
# so a new target cannot be left out. Each runs as
#
#   go test -run '^$' -fuzz '^FuzzXxx$' -fuzztime FUZZTIME -fuzzminimizetime MINIMIZETIME ./pkg/
#
#   -l          list the targets (PACKAGE NAME per line) and exit
#   -t T        fuzz time per target (FUZZTIME, default 10s; 1000x = 1000 execs)
#   -m T        bound on minimizing an input (FUZZMINIMIZETIME, default 10s)
#   -o DIR      keep each target's log as DIR/PKG.NAME.log and write
#               DIR/fuzz-summary.tsv (package, target, execs, status, seconds)
#   REGEXP      run only the targets whose "PACKAGE NAME" matches (grep -E)
#
# Environment: GO (default go); FUZZPARALLEL (-parallel, default GOMAXPROCS);
# FUZZTIMEOUT (go test -timeout, default 0 = none: -fuzztime bounds the run,
# and go test's own 10m default would kill a long count like 1000000x);
# GOLDFLAGS (extra go test flags, as the Makefile passes them; default: the
# native core's stamp when build/lib holds it, see bindings.NativeStamp).
#
# Prints one line per target and exits non-zero when any target failed (a
# crasher is written under the package's testdata/fuzz/, as go test does).
# A run that go test fails with a bare "context deadline exceeded" and no
# failing input is the coordinator's own deadline race (golang/go issue
# 75804, fixed in Go 1.27): it is reported as "flake", not as a failure.
set -euo pipefail

cd "$(dirname "$0")/../.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-10s}
list=0
out=""
while getopts "lt:m:o:h" opt; do
	case $opt in
	l) list=1 ;;
	t) FUZZTIME=$OPTARG ;;
	m) FUZZMINIMIZETIME=$OPTARG ;;
	o) out=$OPTARG ;;
	h)
		sed -n "2,27p" "$0"
		exit 0
		;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
filter=${1:-}

# targets prints "PACKAGE NAME" for every fuzz target, sorted.
targets() {
	grep -rE --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*\(' \
		--exclude-dir=testdata --exclude-dir=build --exclude-dir=node_modules . |
		grep -v '/\.' |
		sed -E 's#^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#; s#^\./[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#. \1#' |
		sort -u
}

mapfile -t all < <(targets)
if [ -n "$filter" ]; then
	mapfile -t all < <(printf '%s\n' "${all[@]}" | grep -E -- "$filter" || true)
fi
if [ "${#all[@]}" -eq 0 ]; then
	echo "fuzz: no targets${filter:+ match $filter}" >&2
	exit 1
fi
if [ "$list" = 1 ]; then
	printf '%s\n' "${all[@]}"
	exit 0
fi

if [ -z "${GOLDFLAGS+x}" ]; then
	GOLDFLAGS=""
	if compgen -G "build/lib/*.a" >/dev/null; then
		GOLDFLAGS="-ldflags=-X=github.com/quarry-search/quarry/bindings.nativeStamp=$(cat build/lib/*.a | sha256sum | cut -c1-16)"
	fi
fi
par=()
[ -n "${FUZZPARALLEL:-}" ] && par=(-parallel "$FUZZPARALLEL")
# Targets that write files (a whole pull, the hub reader's two files) spend
# their time in fsync on a disk; on tmpfs fsync is free and what they test is
# the same. QUARRY_FUZZ_TMPDIR overrides (empty: the default TMPDIR).
fuzztmp=${QUARRY_FUZZ_TMPDIR-/dev/shm}
if [ -n "$fuzztmp" ] && [ -d "$fuzztmp" ] && [ -w "$fuzztmp" ]; then
	export TMPDIR="$fuzztmp"
fi

logdir=${out:-$(mktemp -d)}
mkdir -p "$logdir"
summary="$logdir/fuzz-summary.tsv"
printf 'package\ttarget\texecs\tstatus\tseconds\n' >"$summary"
failed=0
flaked=0
for t in "${all[@]}"; do
	pkg=${t% *}
	name=${t#* }
	log="$logdir/$(echo "$pkg" | tr / .).$name.log"
	start=$(date +%s)
	status=ok
	# shellcheck disable=SC2086 # GOLDFLAGS is a list of flags
	if ! "$GO" test $GOLDFLAGS "${par[@]}" -timeout "${FUZZTIMEOUT:-0}" -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" \
		-fuzzminimizetime "$FUZZMINIMIZETIME" "./$pkg/" >"$log" 2>&1; then
		if grep -q 'context deadline exceeded' "$log" && ! grep -qE 'Failing input|panic:|_test\.go:[0-9]+:' "$log"; then
			# Go's coordinator races its own -fuzztime deadline (golang/go
			# issue 75804, fixed in Go 1.27): no input failed.
			status=flake
			flaked=$((flaked + 1))
		else
			status=FAIL
			failed=$((failed + 1))
		fi
	fi
	secs=$(($(date +%s) - start))
	execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -1 | cut -d' ' -f2 || true)
	execs=${execs:-0}
	printf '%s\t%s\t%s\t%s\t%s\n' "$pkg" "$name" "$execs" "$status" "$secs" >>"$summary"
	printf '%-22s %-24s %12s execs  %-4s %4ss\n' "$pkg" "$name" "$execs" "$status" "$secs"
	if [ "$status" = FAIL ]; then
		grep -E -- '--- FAIL|Failing input|panic:|fuzz_test.go|_test.go:[0-9]+' "$log" | head -20 | sed 's/^/    /'
	fi
done
[ -z "$out" ] && rm -rf "$logdir"
if [ "$failed" -gt 0 ]; then
	echo "fuzz: $failed of ${#all[@]} targets failed" >&2
	exit 1
fi
echo "fuzz: ${#all[@]} targets passed ($flaked stopped by Go's fuzztime deadline race, no failing input)"
