#!/usr/bin/env bash
# Times hashing a build context the way a rebuild does (walk, apply
# .dockerignore, hash every visible file): a 100k-file context with 30
# ignore patterns (moby#23470 saw 30 patterns turn 2.7 s into 154 s),
# cold (no stat cache) and warm (stat cache from the previous run), next to
# sha256sum over the same files. Not gated anywhere; it only prints.
#
# Usage: hack/bench-context.sh            (N=100000 files in a temp dir, removed at exit)
# Env:   N=files DIR=path PROFILE=release|dev CARGO_TARGET_DIR=... RUNS=5
#        DIR=path keeps the context (and its caches, next to it) for reruns;
#        without DIR everything is made under ${TMPDIR:-/tmp} and removed on
#        exit, also on Ctrl-C.
# The page cache is left warm in every case (dropping it would disturb the
# whole machine): "cold" means no stat cache, so every file is read.
set -euo pipefail

N=${N:-100000}
if [[ -n ${DIR:-} ]]; then
  keep=1
else
  keep=0
  work=$(mktemp -d "${TMPDIR:-/tmp}/hoist-bench-context.XXXXXX")
  DIR=$work/context
fi
cleanup() { [[ $keep = 1 ]] || rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
PROFILE=${PROFILE:-release}
RUNS=${RUNS:-5}
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
cache=$DIR.stat-cache

echo "== building the context_hash example (profile $PROFILE)"
(cd "$repo" && CARGO_TARGET_DIR=$target cargo build -q -p hoist --example context_hash --profile "$PROFILE" ${CARGO_ARGS:-})
case $PROFILE in dev) sub=debug ;; *) sub=$PROFILE ;; esac
bin=$target/$sub/examples/context_hash

if [[ ! -f $DIR/.made-v2-$N ]]; then
  echo "== creating $N files in $DIR"
  rm -rf "$DIR" "$cache"
  mkdir -p "$DIR"
  per_dir=100
  dirs=$(( (N + per_dir - 1) / per_dir ))
  blob=$(head -c 3072 /dev/urandom | base64 -w0)
  blob=$blob$blob
  (
    cd "$DIR"
    i=0
    for ((d = 0; d < dirs; d++)); do
      group=$(( d % 10 ))
      case $group in
        0) sub=src/mod$d ;; 1) sub=node_modules/pkg$d ;; 2) sub=build/out$d ;;
        3) sub=docs/chapter$d ;; 4) sub=test/fixtures$d ;; 5) sub=vendor/lib$d ;;
        6) sub=assets/img$d ;; 7) sub=cache/tmp$d ;; 8) sub=logs/day$d ;; *) sub=misc/dir$d ;;
      esac
      mkdir -p "$sub"
      for ((f = 0; f < per_dir && i < N; f++, i++)); do
        case $(( f % 5 )) in
          0) ext=rs ;; 1) ext=md ;; 2) ext=log ;; 3) ext=tmp ;; *) ext=json ;;
        esac
        # Source-file sized content: 1-4 KiB.
        printf 'file %d in %s\n%s\n' "$i" "$sub" "${blob:0:$(( 1024 * (1 + f % 4) ))}" > "$sub/f$f.$ext"
      done
    done
  )
  cat > "$DIR/.dockerignore" <<'IGN'
# 30 patterns, a mix of the shapes seen in real projects
.git
**/.DS_Store
**/*.swp
*.log
**/*.log
!logs/day8/f2.log
node_modules
**/node_modules
build/**
!build/out2/f0.rs
dist
coverage
**/*.tmp
cache
**/__pycache__
*.pyc
.env
.env.*
docs/**/*.md
!docs/chapter3/f1.md
test/fixtures*/f9*.json
vendor/lib5/**
**/tmp[0-9]*
assets/**/f[5-9]*.json
misc/dir?9/*
target
.idea
.vscode
*.bak
Dockerfile*
IGN
  touch "$DIR/.made-v2-$N"
  sleep 1
fi

files=$(find "$DIR" -type f | wc -l)
"$bin" "$DIR" --list-files "$DIR.visible"
visible=$(tr -cd '\0' < "$DIR.visible" | wc -c)
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== context: $DIR ($files files, $visible visible after $(grep -vc '^#' "$DIR/.dockerignore") ignore patterns)"
rm -f "$cache"
"$bin" "$DIR" --cache "$cache" >/dev/null   # prime the page cache and the stat cache
echo "== one run of each, for the counts"
rm -f "$cache.cold"
"$bin" "$DIR" --cache "$cache.cold"
"$bin" "$DIR" --cache "$cache"

if command -v hyperfine >/dev/null; then
  hyperfine --runs "$RUNS" --warmup 1 \
    --prepare "rm -f '$cache.cold'" \
    -n "hoist cold (no stat cache)" "'$bin' '$DIR' --cache '$cache.cold'" \
    -n "hoist warm (stat cache)" "'$bin' '$DIR' --cache '$cache'" \
    -n "sha256sum over the visible files" "xargs -0 sha256sum < '$DIR.visible' > /dev/null" \
    -n "sha256sum over all files" "find '$DIR' -type f -print0 | xargs -0 sha256sum > /dev/null"
else
  echo "== cold";  rm -f "$cache.cold"; time "$bin" "$DIR" --cache "$cache.cold"
  echo "== warm";  time "$bin" "$DIR" --cache "$cache"
  echo "== sha256sum over the visible files"; time (xargs -0 sha256sum < "$DIR.visible" > /dev/null)
  echo "== sha256sum over all files"; time (find "$DIR" -type f -print0 | xargs -0 sha256sum > /dev/null)
fi
