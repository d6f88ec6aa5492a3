#!/bin/sh
# run.sh EDGECC DATA_DIR EXPECTED [TARGET [SUBSET]]
# Runs every node test in DATA_DIR/node (or those named in the file SUBSET) through
# `edgecc check -target TARGET` and holds the result to EXPECTED, the checked-in list of
# tests that do not pass, with reasons, plus EXPECTED with the target's name before .txt
# (expected_failures.armv7.txt) if that exists: what fails on that target only. It fails when
# a test outside the lists fails (a regression) and when a listed test passes (the list must
# shrink with the fix).
set -eu
edgecc=$1 data=$2 expected=$3 target=${4:-host} subset=${5:-}
results=$(mktemp)
trap 'rm -f "$results" "$results.list"' EXIT
if [ -n "$subset" ]; then
  grep -v '^#' "$subset" | awk 'NF { print "'"$data"'/node/" $1 }' > "$results.list"
else
  ls -d "$data"/node/test_* > "$results.list"
fi
extra=${expected%.txt}.$target.txt
[ -f "$extra" ] || extra=/dev/null
"$edgecc" check -target "$target" $(cat "$results.list") > "$results" || true
tail -n 1 "$results"
awk -v target="$target" -v results="$results" '
  FILENAME != results { if ($0 !~ /^#/ && NF) listed[$1] = 1; next }
  /^(PASS|FAIL|UNSUPPORTED) / {
    name = $2; sub(/:$/, "", name)
    if ($1 == "PASS" && (name in listed)) { print "now passes, remove it from the list: " name; bad++ }
    if ($1 != "PASS" && !(name in listed)) { print "regression on " target ": " $0; bad++ }
  }
  END { if (bad) { print bad " unexpected result(s)"; exit 1 } }
' "$expected" "$extra" "$results"
