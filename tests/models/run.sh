#!/bin/sh
# run.sh EDGECC DATA_DIR [TARGET [PATTERN|--OPTION=VALUE...]] — every generated model test (or
# those whose folder names match the shell PATTERNs; --options go to `edgecc check`) must pass
# on TARGET, except those listed in
# expected_failures.TARGET.txt next to this script (with the reason); a listed test that
# passes fails the run too (the list must shrink with the fix).
set -eu
edgecc=$1 data=$2 target=${3:-host}
shift $(($# < 3 ? $# : 3))
here=$(cd "$(dirname "$0")" && pwd)
expected=$here/expected_failures.$target.txt
[ -f "$expected" ] || expected=/dev/null
results=$(mktemp)
trap 'rm -f "$results"' EXIT
options="" dirs="" patterns=0
for p in "$@"; do
  case $p in
  -*) options="$options $p" ;;
  *) patterns=1 dirs="$dirs $(ls -d "$data"/$p 2>/dev/null || true)" ;;
  esac
done
[ $patterns -eq 1 ] || dirs=$(ls -d "$data"/*/)
if [ -z "$(echo $dirs)" ]; then
  echo "no model test matches: $*"
  exit 1
fi
"$edgecc" check -target "$target" $options $dirs > "$results" || true
tail -n 1 "$results"
awk -v target="$target" -v results="$results" '
  FILENAME != results { if ($0 !~ /^#/ && NF) listed[$1] = 1; next }
  /^(PASS|FAIL|UNSUPPORTED) / {
    name = $2; sub(/:$/, "", name)
    if ($1 == "PASS" && (name in listed)) { print "now passes, remove it from the list: " name; bad++ }
    if ($1 != "PASS" && !(name in listed)) { print "regression on " target ": " $0; bad++ }
  }
  END { if (bad) { print bad " unexpected result(s)"; exit 1 } }
' "$expected" "$results"
