#!/bin/sh
# generate.sh OUTDIR — writes every model test (ONNX backend-test folders with numpy
# reference outputs) by running the gen_*.py scripts of this folder with /usr/bin/python3.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$1.tmp"
mkdir -p "$1.tmp"
for gen in "$here"/gen_*.py; do
  MODELS_OUT="$1.tmp" PYTHONPATH="$here" /usr/bin/python3 "$gen"
done
rm -rf "$1"
mv "$1.tmp" "$1"
