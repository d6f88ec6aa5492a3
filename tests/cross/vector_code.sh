#!/bin/sh
# vector_code.sh EDGECC MODEL [MODEL_TESTS] — code compiled for a target uses that target's
# vector unit: RVV instructions for rv64gcv, NEON for armv8/armv7, AVX-512 for x86-64-v4, and
# none of them for targets without (riscv64 must not contain RVV instructions). With the
# generated model tests: int8 layers use the dot product instructions (sdot/udot on armv8.2-a,
# vpdpbusd on x86-64-v4), widening multiply-accumulates elsewhere (smlal on armv8, vmovl +
# vmla.i32 on armv7, vwmacc on rv64gcv), and float16 arithmetic is
# native on armv8.2-a (+fullfp16).
set -eu
edgecc=$1 model=$2 models=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
# check TARGET OBJDUMP REGEX MIN — at least MIN instructions matching REGEX (0: none may)
check() {
  check_object "$1" "$2" "$3" "$4" "$model" --dim batch=1
}
# check_object TARGET OBJDUMP REGEX MIN MODEL [OPTIONS...]
check_object() {
  t=$1 dump=$2 re=$3 min=$4 m=$5
  shift 5
  "$edgecc" "$m" "$@" -target "$t" -o "$work/$t.o"
  n=$($dump -d "$work/$t.o" | grep -cE "$re" || true)
  if { [ "$min" -gt 0 ] && [ "$n" -ge "$min" ]; } || { [ "$min" -eq 0 ] && [ "$n" -eq 0 ]; }; then
    echo "ok   $t $(basename "$(dirname "$m")")/$(basename "$m"): $n instructions match '$re'"
  else
    echo "FAIL $t $(basename "$(dirname "$m")")/$(basename "$m"): $n instructions match '$re'"
    fails=$((fails + 1))
  fi
}
check rv64gcv riscv64-linux-gnu-objdump '[[:space:]]v(f?(add|mul|macc|redosum|redusum)|l[0-9a-z]*\.v|s[0-9a-z]*\.v)' 20
check riscv64 riscv64-linux-gnu-objdump '[[:space:]]v(f?(add|mul|macc)|le32|se32)' 0
check armv8 aarch64-linux-gnu-objdump '[[:space:]](fmla|fmul|fadd)[[:space:]]+v[0-9]+\.4s' 10
check armv7 arm-linux-gnueabihf-objdump '[[:space:]]v(mla|mul|add)\.f32[[:space:]]+q' 5
check x86-64-v4 objdump 'zmm' 10
if [ -n "$models" ]; then
  int8=$models/qdq_cnn_u8/model.onnx
  check_object armv8.2-a aarch64-linux-gnu-objdump '[[:space:]][su]dot[[:space:]]' 4 "$int8"
  check_object armv8 aarch64-linux-gnu-objdump '[[:space:]][su]dot[[:space:]]' 0 "$int8"
  check_object armv8 aarch64-linux-gnu-objdump '[[:space:]][su](mlal|mull)2?[[:space:]]' 4 "$int8"
  check_object armv7 arm-linux-gnueabihf-objdump '[[:space:]]vmla\.i32' 2 "$int8"
  check_object x86-64-v4 objdump 'vpdpbusd' 4 "$int8"
  check_object rv64gcv riscv64-linux-gnu-objdump '[[:space:]]vw(macc|mul)' 2 "$int8"
  half=$models/float16_mlp/model.onnx
  check_object armv8.2-a aarch64-linux-gnu-objdump '[[:space:]]f(add|mul|max|min|div)[[:space:]]+v[0-9]+\.[48]h' 2 "$half"
  check_object armv8 aarch64-linux-gnu-objdump '[[:space:]]fcvt[ln]2?[[:space:]]' 2 "$half"
fi
[ $fails -eq 0 ]
