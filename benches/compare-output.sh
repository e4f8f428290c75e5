#!/usr/bin/env bash
# Byte-for-byte comparison of two keepwatch builds' reports over every bundled
# sample, in every format (text plain and coloured, summary only, JSON, JSONL,
# CSV, and --per-file JSON/JSONL/CSV over all samples at once). Used when code
# is swapped for a crate's: the output must not change.
#
#   bash benches/compare-output.sh OLD_BINARY NEW_BINARY
#
# Prints one line per difference and exits 1 if there is any.
set -uo pipefail
old="$1" new="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
shopt -s nullglob
files=(samples/captures/*)
runs=0 diffs=0
compare() {
  runs=$((runs + 1))
  if ! cmp -s <("$old" "$@" 2>&1; echo "exit $?") <("$new" "$@" 2>&1; echo "exit $?"); then
    diffs=$((diffs + 1))
    echo "DIFFERENT: keepwatch $*"
  fi
}
for f in "${files[@]}"; do
  compare report --color never "$f"
  compare report --color always "$f"
  compare report --color always --summary-only "$f"
  for fmt in json jsonl csv; do
    compare report --format "$fmt" "$f"
  done
done
for fmt in text json jsonl csv; do
  compare report --color always --per-file --format "$fmt" "${files[@]}"
  compare report --format "$fmt" "${files[@]}"
done
echo "$runs runs over ${#files[@]} samples: $diffs different"
[ "$diffs" -eq 0 ]
