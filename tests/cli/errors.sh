#!/bin/sh
# errors.sh EDGECC MODELS_DIR SOURCE_DIR — every malformed input gets one clear error in the format
#   edgecc: error: <file>: [node '<name>' (<op>): ]<what>
# exit status 1, no output file left behind, and no sanitizer report.
set -u
edgecc=$1 dir=$2 src=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0

# expect_error MODEL FRAGMENT [EXTRA ARGS...]
expect_error() {
  model=$1 fragment=$2
  shift 2
  rm -f "$work"/out.*
  "$edgecc" "$model" -o "$work/out.o" "$@" 2> "$work/err"
  status=$?
  problem=""
  [ $status -eq 1 ] || problem="exit status $status, expected 1"
  grep -q "^edgecc: error: " "$work/err" || problem="$problem; no 'edgecc: error:' line"
  grep -qF -- "$fragment" "$work/err" || problem="$problem; message lacks: $fragment"
  grep -qE "AddressSanitizer|runtime error|LeakSanitizer" "$work/err" && problem="$problem; sanitizer report"
  ls "$work"/out.* > /dev/null 2>&1 && problem="$problem; output file left behind"
  if [ -n "$problem" ]; then
    echo "FAIL $(basename "$model") $*: $problem"
    sed 's/^/    /' "$work/err" | head -20
    fails=$((fails + 1))
  else
    echo "ok   $(basename "$model"): $(head -n 1 "$work/err")"
  fi
}

expect_error "$dir/missing.onnx" "missing.onnx: cannot read model"
expect_error "$dir/empty.onnx" "not an ONNX model (no graph)"
expect_error "$dir/garbage.onnx" "not an ONNX model"
expect_error "$dir/truncated.onnx" "not an ONNX model"
expect_error "$dir/unsupported.onnx" "node 'foo' (FooOp): unsupported op 'FooOp'"
expect_error "$dir/unsupported.onnx" "node 'bar' (BarOp): unsupported op 'com.example.BarOp'"
expect_error "$dir/sub/escape.onnx" "leaves the model's folder"
expect_error "$dir/mismatch.onnx" "node 'add_xz' (Add): shapes 3 and 4 do not broadcast"
expect_error "$dir/unbound.onnx" "'N' (input 'x' dim 0), 'C' (input 'x' dim 1)"
expect_error "$dir/good.onnx" "--shape x: rank 1 given, the model says 2" --shape x=4
expect_error "$dir/good.onnx" "unbound dimensions: 'batch'"
expect_error "$dir/wrong_types.onnx" "node 'mixed' (Add): input 0 is float but input 1 is int64"
expect_error "$dir/huge.onnx" "initializer 'w'"
expect_error "$dir/order.onnx" "node 'early' (Relu): input 'later' is not produced"
expect_error "$dir/bad_attr.onnx" "node 'conv' (Conv): unsupported attribute 'magic'"
expect_error "$dir/future_opset.onnx" "node 'relu' (Relu): opset 99 is not supported"
expect_error "$dir/retired_attr.onnx" "node 'mean' (ReduceMean): attribute 'axes' is not part of ReduceMean-18"
expect_error "$dir/dynamic_reshape.onnx" "node 'reshape' (Reshape): input 0 ('nz') has a data-dependent shape (produced by NonZero): a target shape without 0 or -1 for its data-dependent dims is not supported"
expect_error "$dir/dynamic_einsum.onnx" "node 'einsum' (Einsum): input 0 ('f') has a data-dependent shape (produced by Cast): not supported by Einsum"
expect_error "$dir/dynamic_matmul.onnx" "node 'matmul' (MatMul): input 1 ('f') has a data-dependent shape (produced by Cast): MatMul takes data-dependent dims of A only (B must be static)"
expect_error "$dir/suspicious.onnx" "warnings are errors (-Werror)" -Werror
sed 's/<vector bits="128" registers="32"\/>/<vector bits="wide"\/>/' "$src/targets/aarch64/armv8.xml" > "$work/bad_schema.xml"
head -c 300 "$src/targets/aarch64/armv8.xml" > "$work/bad_xml.xml"
expect_error "$dir/good.onnx" "bad_schema.xml:10: Element vector failed to validate attributes" --dim batch=1 -target-file "$work/bad_schema.xml"
expect_error "$dir/good.onnx" "bad_xml.xml:8: Premature end of data" --dim batch=1 -target-file "$work/bad_xml.xml"
expect_error "$dir/good.onnx" "cannot read target file" --dim batch=1 -target-file "$work/none.xml"
expect_error "$dir/string_add.onnx" "node 'add_text' (Add): input 0 ('s') is a string tensor: not supported by Add"
expect_error "$dir/turkish.onnx" "node 'norm' (StringNormalizer): locale 'tr_TR.UTF-8': Turkic case rules"
expect_error "$dir/lower.onnx" "--max-string-length takes a byte count, not 'x'" --max-string-length x
expect_error "$dir/good.onnx" "--conv-algo takes auto, gemm, winograd or winograd4, not 'fft'" --dim batch=1 --conv-algo=fft
expect_error "$dir/good.onnx" "unknown target 'pdp11'" --dim batch=1 -target pdp11
expect_error "$dir/good.onnx" "cannot write" --dim batch=1 -H /nonexistent/dir/m.h

# Both unsupported ops in one run.
"$edgecc" "$dir/unsupported.onnx" -o "$work/out.o" 2> "$work/err"
[ "$(grep -c 'unsupported op' "$work/err")" -eq 2 ] || { echo "FAIL: not all unsupported ops reported at once"; fails=$((fails + 1)); }

# An unwritable output path.
"$edgecc" "$dir/good.onnx" --dim batch=1 -o /nonexistent/dir/m.o 2> "$work/err"
[ $? -eq 1 ] && grep -q "^edgecc: error: .*cannot write '/nonexistent/dir/m.o'" "$work/err" ||
  { echo "FAIL: unwritable output"; cat "$work/err"; fails=$((fails + 1)); }

echo "$fails failure(s)"
[ $fails -eq 0 ]
