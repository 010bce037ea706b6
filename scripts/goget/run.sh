#!/usr/bin/env bash
# The `go get` scenario (make goget): an application outside this repository
# uses quarry as a library with nothing but the go command and the one
# command that the missing-library error names.
#
#   1. serve this working tree as github.com/quarry-search/quarry@<pseudo-version of HEAD>
#      from a local module proxy (other modules come from the module cache's download
#      directory: no network), into a GOMODCACHE without quarry;
#   2. in an empty directory: go mod init app; go get github.com/quarry-search/quarry/engine@<v>;
#      copy examples/goget-app/main.go;
#   3. go build must succeed, and the program must fail with a message that gives,
#      in backticks, the command to run;
#   4. run that command exactly as written; go build; the program loads a generated
#      model, embeds and searches;
#   5. the command again reuses the build; CGO_ENABLED=0 still builds the app.
#
# The native libraries are built in the user cache (~/.cache/quarry/native/KEY, KEY
# hashing the native sources and options), as for any application, so a second run
# with the same native sources reuses them; QUARRY_GOGET_FRESH=1 builds them (and
# the other modules' packages) from empty caches instead: the full cost, as on a
# fresh CI machine (a few minutes on 2 cores).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
GO=${GO:-go}
t0=$(date +%s)
step() { local now; now=$(date +%s); echo "goget: [$((now - last))s] $*"; last=$now; }
last=$t0
fail() { echo "goget: FAIL: $*" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/quarry-goget.XXXXXX")
cleanup() { chmod -R u+w "$tmp" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

# The version: a pseudo-version of HEAD (the tree served may hold uncommitted changes).
commit=$(git rev-parse HEAD)
when=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S HEAD)
iso=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ HEAD)
version=v0.0.0-$when-${commit:0:12}

modcache=$($GO env GOMODCACHE)
[ -d "$modcache/cache/download" ] || fail "no module download cache at $modcache/cache/download (run go mod download first)"
# What the application's go commands read, into the module cache from the configured
# proxy where missing: the go.mod files of the whole module graph (go get reads more of
# them than a build of this repository does) and the llama.cpp sources.
$GO list -m all >/dev/null
$GO mod download github.com/ollama/ollama

$GO run ./testdata/gen -out "$tmp/model" -preset tiny -kind mean -type f32 -seed 1 >/dev/null
model=$tmp/model/tiny-mean-f32.gguf
$GO run ./scripts/goget/proxy -root . -out "$tmp/proxy" -version "$version" -time "$iso"
step "proxy of this tree as $version, model $model"

# The application's environment: the local proxies only, and a module cache of its own
# that does not hold quarry (it is downloaded from the proxy above). By default that
# module cache persists in the user cache for the other modules, so that their packages
# stay in Go's build cache from one run to the next (their directories are part of the
# build cache keys); QUARRY_GOGET_FRESH=1 starts from empty module and native caches.
cachehome=${XDG_CACHE_HOME:-$HOME/.cache}
if [ "${QUARRY_GOGET_FRESH:-0}" = 1 ]; then
  export GOMODCACHE=$tmp/gomodcache XDG_CACHE_HOME=$tmp/cache
else
  mkdir -p "$cachehome/quarry/goget"
  exec 9>"$cachehome/quarry/goget/lock"
  flock 9 2>/dev/null || true  # one scenario at a time on this cache
  export GOMODCACHE=$cachehome/quarry/goget/gomodcache
  purge_quarry() {
    local d
    for d in "$GOMODCACHE/github.com/quarry-search" "$GOMODCACHE/cache/download/github.com/quarry-search"; do
      [ -e "$d" ] && chmod -R u+w "$d" && rm -rf "$d"
    done
    return 0
  }
  purge_quarry
  trap 'purge_quarry; cleanup' EXIT
fi
export GOPROXY="file://$tmp/proxy,file://$modcache/cache/download"
export GOFLAGS=-mod=mod GOSUMDB=off GOWORK=off GOTOOLCHAIN=local

app=$tmp/app
mkdir -p "$app"
cp examples/goget-app/main.go "$app/"
cd "$app"
$GO mod init app >/dev/null 2>&1
$GO get "github.com/quarry-search/quarry/engine@$version"
step "go mod init app; go get github.com/quarry-search/quarry/engine@$version"

$GO build -o app . || fail "go build without the native core"
step "go build (no native core yet)"
if ./app "$model" >out.txt 2>&1; then cat out.txt; fail "the program ran without the native core"; fi
cat out.txt
want='go run github.com/quarry-search/quarry/cmd/quarry-native'
cmd=$(grep -o '`[^`]*`' out.txt | head -1 | tr -d '`') || true
[ "$cmd" = "$want" ] || fail "the error does not name \`$want\` in backticks (it names \"$cmd\")"
step "the program fails and names \`$cmd\`"

bash -c "$cmd"
[ -f quarry_native.go ] || fail "$cmd wrote no quarry_native.go"
step "$cmd"

$GO build -o app . || fail "go build with quarry_native.go"
step "go build"
./app "$model" | tee out.txt || fail "the program failed with the native core"
grep -q '^embedded 2 texts: 32 dimensions$' out.txt || fail "no embeddings"
grep -q '^result 1: ' out.txt || fail "no search results"
step "the program embeds and searches"

bash -c "$cmd" | tee out.txt
grep -q 'reused' out.txt && grep -q 'kept (up to date)' out.txt || fail "a second run rebuilt or rewrote"
step "$cmd again (reuses the build)"

# Libraries generated for another quarry version are refused, with the same command.
sed -i 's/ quarry_native_module\[\] = ".*";$/ quarry_native_module[] = "v0.0.1";/' quarry_native.go
grep -q '"v0.0.1"' quarry_native.go || fail "quarry_native.go records no quarry version"
$GO build -o app . || fail "go build with a stale quarry_native.go"
if ./app "$model" >out.txt 2>&1; then cat out.txt; fail "the program ran with libraries of another version"; fi
cat out.txt
grep -q "built for quarry v0.0.1.*\`$want\`" out.txt || fail "the version mismatch does not name \`$want\`"
bash -c "$cmd" >/dev/null
grep -q "\"$version\"" quarry_native.go || fail "$cmd did not rewrite a stale quarry_native.go"
step "a quarry_native.go of another version is refused and rewritten"

CGO_ENABLED=0 $GO build -o app-nocgo . || fail "CGO_ENABLED=0 go build with quarry_native.go"
step "CGO_ENABLED=0 go build"

echo "goget: ok in $(($(date +%s) - t0))s"
