#!/bin/sh
# generate.sh OUTDIR — runs every generator script in this folder (each writes model test
# folders with numpy-computed expected outputs, see casegen.py) into OUTDIR.
set -eu
out=$1
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$out.tmp"
mkdir -p "$out.tmp"
for script in "$here"/*.py; do
  [ "$(basename "$script")" = casegen.py ] && continue
  (cd "$here" && /usr/bin/python3 -W ignore "$script" "$out.tmp")
done
rm -rf "$out"
mv "$out.tmp" "$out"
