#!/bin/sh
# setup_ort.sh [DIR] — installs ONNX Runtime's Node binding (the peer the benchmark compares
# with) into DIR (default ~/.cache/edgecc-ort), outside the repository. --ignore-scripts: its
# install script would download from a host this machine cannot reach; the package ships the
# Linux x64/arm64 libraries itself.
set -eu
dir=${1:-${ORT_DIR:-$HOME/.cache/edgecc-ort}}
mkdir -p "$dir"
cd "$dir"
[ -d node_modules/onnxruntime-node ] || npm install --ignore-scripts --no-audit --no-fund onnxruntime-node@1.30.0
