#!/bin/sh
# vector_code.sh EDGECC MODEL — code compiled for a target uses that target's vector unit:
# RVV instructions for rv64gcv, NEON for armv8/armv7, AVX-512 for x86-64-v4, and none of them
# for targets without (riscv64 must not contain RVV instructions).
set -eu
edgecc=$1 model=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
# check TARGET OBJDUMP REGEX MIN — at least MIN instructions matching REGEX (0: none may)
check() {
  "$edgecc" "$model" --dim batch=1 -target "$1" -o "$work/$1.o"
  n=$($2 -d "$work/$1.o" | grep -cE "$3" || true)
  if { [ "$4" -gt 0 ] && [ "$n" -ge "$4" ]; } || { [ "$4" -eq 0 ] && [ "$n" -eq 0 ]; }; then
    echo "ok   $1: $n instructions match '$3'"
  else
    echo "FAIL $1: $n instructions match '$3'"
    fails=$((fails + 1))
  fi
}
check rv64gcv riscv64-linux-gnu-objdump '[[:space:]]v(f?(add|mul|macc|redosum|redusum)|l[0-9a-z]*\.v|s[0-9a-z]*\.v)' 20
check riscv64 riscv64-linux-gnu-objdump '[[:space:]]v(f?(add|mul|macc)|le32|se32)' 0
check armv8 aarch64-linux-gnu-objdump '[[:space:]](fmla|fmul|fadd)[[:space:]]+v[0-9]+\.4s' 10
check armv7 arm-linux-gnueabihf-objdump '[[:space:]]v(mla|mul|add)\.f32[[:space:]]+q' 5
check x86-64-v4 objdump 'zmm' 10
[ $fails -eq 0 ]
