#!/bin/sh
# generate.sh OUTDIR — writes the ONNX node conformance tests (922 with Debian's onnx 1.12)
# into OUTDIR/node using the generators shipped in python3-onnx. Debian's numpy dropped
# aliases onnx 1.12 still uses; they are restored first.
set -eu
out=$1
rm -rf "$out.tmp"
mkdir -p "$out.tmp"
/usr/bin/python3 - "$out.tmp" <<'PY'
import sys, numpy as np
for n, t in (("float", float), ("int", int), ("bool", bool), ("object", object), ("complex", complex), ("str", str)):
    setattr(np, n, t)
from onnx.backend.test.cmd_tools import main
sys.argv = ["gen", "generate-data", "-o", sys.argv[1]]
main()
PY
rm -rf "$out"
mv "$out.tmp" "$out"
