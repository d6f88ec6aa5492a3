#!/bin/sh
# generate.sh OUTDIR — runs every generator script of this folder (each writes model test
# folders with numpy-computed expected outputs into OUTDIR, through casegen.py or testgen.py).
set -eu
out=$1
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$out.tmp"
mkdir -p "$out.tmp"
for script in "$here"/*.py; do
  case $(basename "$script") in casegen.py | testgen.py) continue ;; esac
  (cd "$here" && PYTHONPATH="$here" /usr/bin/python3 -W ignore "$script" "$out.tmp")
done
rm -rf "$out"
mv "$out.tmp" "$out"
