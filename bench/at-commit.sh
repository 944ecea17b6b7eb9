#!/usr/bin/env bash
# Benchmarks the orchestrator of one commit (default HEAD) with the bench of this work tree, in a
# scratch copy: uncommitted work in src/ is left out, and this tree's dist/ is not touched.
#   bash bench/at-commit.sh [REV] [-- [SCRIPT] bench arguments]     e.g. bash bench/at-commit.sh HEAD -- --quick
# SCRIPT names another driver in bench/ (default run): bash bench/at-commit.sh b0f4139 -- instructions
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rev=HEAD
if [ $# -gt 0 ] && [ "$1" != "--" ]; then rev=$1; shift; fi
[ "${1:-}" = "--" ] && shift
script=run
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then script=$1; shift; fi
commit=$(git -C "$root" rev-parse --short "$rev")
work=$(mktemp -d /tmp/pulse-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
git -C "$root" archive "$commit" | tar -x -C "$work"
rm -rf "$work/bench" && cp -r "$root/bench" "$work/bench" && rm -rf "$work/bench/results"
ln -s "$root/node_modules" "$work/node_modules"
[ -f "$root/BENCHMARKS.md" ] && cp "$root/BENCHMARKS.md" "$work/BENCHMARKS.md"
(cd "$work" && node "$root/node_modules/typescript/bin/tsc" -p tsconfig.build.json)
# The runner too: scenario 13 runs its masker (runner/dist/mask.js) in the load processes.
if [ -f "$work/runner/tsconfig.json" ]; then (cd "$work/runner" && node "$root/node_modules/typescript/bin/tsc" -p tsconfig.json); fi
status=0
(cd "$work" && BENCH_COMMIT="$commit" node "dist/bench/$script.js" "$@") || status=$?
mkdir -p "$root/bench/results"
cp -r "$work/bench/results/." "$root/bench/results/" 2>/dev/null || true
if [ -f "$work/BENCHMARKS.md" ] && ! cmp -s "$work/BENCHMARKS.md" "$root/BENCHMARKS.md" 2>/dev/null; then cp "$work/BENCHMARKS.md" "$root/BENCHMARKS.md"; fi
exit $status
