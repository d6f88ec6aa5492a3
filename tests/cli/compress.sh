#!/bin/sh
# compress.sh EDGECC EXAMPLE_DIR — the compression options of a compile on the digits example
# (docs/quantization.md): their errors, what --report says about each form, and reproducible
# objects (the calibration runs the same way twice).
set -eu
edgecc=$1 ex=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model=$ex/digits.onnx cal=$ex/calibration
fails=0
fail() {
  echo "FAIL: $1"
  fails=$((fails + 1))
}
# expect_error "WHAT" ARGS... — the compile fails, says WHAT, leaves no output
expect_error() {
  what=$1
  shift
  if "$edgecc" "$@" -o "$work/e.o" 2> "$work/err"; then
    fail "no error for $*"
  elif ! grep -q "$what" "$work/err"; then
    fail "'$what' not in: $(cat "$work/err")"
  fi
  [ ! -e "$work/e.o" ] || fail "output left behind for $*"
}
expect_error "needs --calibrate" "$model" --dim batch=1 --quantize int8
expect_error "goes with --quantize" "$model" --dim batch=1 --calibrate "$cal"
expect_error "takes int8, int4 or fp16" "$model" --dim batch=1 --weights int3
expect_error "takes int8, not 'int4'" "$model" --dim batch=1 --quantize int4 --calibrate "$cal"
expect_error "exclude each other" "$model" --dim batch=1 --weights int8 --quantize int8 --calibrate "$cal"
expect_error "no input .pb files" "$model" --dim batch=1 --quantize int8 --calibrate "$work"
mkdir -p "$work/bad/s0"
cp "$cal/sample_000/input_0.pb" "$work/bad/s0/input_0.pb"
cp "$cal/sample_001/input_0.pb" "$work/bad/s0/input_1.pb"
expect_error "holds 2 input files, the model has 1" "$model" --dim batch=1 --quantize int8 --calibrate "$work/bad"

# --quantize: integer kernels, weights 3x smaller, errors against float on the calibration set
"$edgecc" "$model" --dim batch=1 --quantize int8 --calibrate "$cal" -o "$work/q.o" --report > "$work/q.txt"
grep -qE "^dense0.qgemm +QMatMul .*qgemm\." "$work/q.txt" || fail "dense0 is not an integer GEMM"
grep -qE "^total +[0-9]+ +[0-9]+ +3\.[0-9]x" "$work/q.txt" || fail "int8 weights are not about 3x smaller"
grep -q "quantized against float on 64 calibration inputs" "$work/q.txt" || fail "no calibration errors reported"
"$edgecc" "$model" --dim batch=1 --quantize int8 --calibrate "$cal" -o "$work/q2.o" --name q
cmp "$work/q.o" "$work/q2.o" || fail "--quantize is not reproducible"
# --keep-float leaves a layer in float; the scheme options change the kernels' parameters
"$edgecc" "$model" --dim batch=1 --quantize int8 --calibrate "$cal" --keep-float dense2,relu0 -o "$work/k.o" --report > "$work/k.txt"
grep -qE "^dense2 +Gemm " "$work/k.txt" || fail "--keep-float dense2: still quantized"
grep -qE "^dense1.qgemm " "$work/k.txt" || fail "--keep-float dense2: dense1 should stay quantized"
"$edgecc" "$model" --dim batch=1 --quantize int8 --calibrate "$cal" --quant-symmetric --quant-per-tensor -o "$work/s.o" --report=json --report-file "$work/s.json"
/usr/bin/python3 - "$work/s.json" <<'PY' || fail "--quant-symmetric --quant-per-tensor report"
import json, sys
r = json.load(open(sys.argv[1]))
kernels = [l["kernel"] for l in r["layers"]]
assert sum(k.startswith("qgemm.") for k in kernels) == 3, kernels
errors = r["calibration"]["outputs"]
assert errors[0]["name"] == "probabilities" and errors[0]["max_error"] < 0.05, errors
PY
# --weights: weight-only kernels and their sizes
for w in int8 int4 fp16; do
  "$edgecc" "$model" --dim batch=1 --weights $w -o "$work/w.o" --report > "$work/w.txt"
  grep -qE "^dense0.WGemm .*wgemm\.$( [ $w = fp16 ] && echo f16 || echo $w)" "$work/w.txt" || fail "--weights $w: no weight-only kernel"
done
grep -qE "^total +25856 " "$work/w.txt" || fail "--weights fp16: float32 bytes of the weights"
# the pruned model goes sparse on every target and says so
for t in host armv7 cortex-m4; do
  "$edgecc" "$ex/digits_pruned.onnx" --dim batch=1 -target $t -o "$work/p.o" --report > "$work/p.txt"
  [ "$(grep -c "sparse: .* weight blocks stored" "$work/p.txt")" -eq 2 ] || fail "pruned model on $t: two sparse layers expected"
done
echo "$fails failed"
[ $fails -eq 0 ]
