#!/bin/sh
# docs.sh EDGECC SOURCE_DIR — the CLI reference stays in step with the program: every option
# `edgecc --help` lists appears in the man page (docs/edgecc.1) and in docs/cli.md.
set -eu
edgecc=$1 src=$2
fails=0
options=$("$edgecc" --help | grep -oE '(^ +|, |[|] |edgecc )--?[a-zA-Z][a-zA-Z-]*' | sed -E 's/^(edgecc|[ ,|])+//' | sort -u)
for opt in $options; do
  man=$(echo "$opt" | sed 's/-/\\\\-/g')
  grep -q -- "$man" "$src/docs/edgecc.1" || { echo "FAIL: $opt is not in docs/edgecc.1"; fails=$((fails + 1)); }
  grep -q -- "\`$opt" "$src/docs/cli.md" || { echo "FAIL: $opt is not in docs/cli.md"; fails=$((fails + 1)); }
done
echo "$fails missing"
[ $fails -eq 0 ]
