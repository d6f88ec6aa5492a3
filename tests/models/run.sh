#!/bin/sh
# run.sh EDGECC DATA_DIR [TARGET] — every generated model test must pass.
set -eu
edgecc=$1 data=$2 target=${3:-host}
results=$(mktemp)
trap 'rm -f "$results"' EXIT
"$edgecc" check -target "$target" "$data"/* > "$results" || true
tail -n 1 "$results"
if grep -v '^PASS' "$results" | grep -q '^\(FAIL\|UNSUPPORTED\)'; then
  grep '^\(FAIL\|UNSUPPORTED\)' "$results"
  exit 1
fi
