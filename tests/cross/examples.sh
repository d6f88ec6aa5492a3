#!/bin/sh
# examples.sh EDGECC SOURCE_DIR BUILD_DIR TARGET... — the digits example cross-built for each
# target and run (qemu-user for Linux targets, qemu-system-arm with semihosting for Cortex-M);
# every target must print exactly the host's predictions.
set -eu
edgecc=$1 src=$2 build=$3
shift 3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ex=$src/examples/digits
host=$("$build/examples/digits" | grep '^predictions:')
fails=0
info() { "$edgecc" --target-info "$1" | sed -n "s/^$2 //p"; }

for target in "$@"; do
  dir=$work/$target
  mkdir -p "$dir"
  "$edgecc" "$ex/digits.onnx" --dim batch=1 -target "$target" -o "$dir/digits.o"
  cc=$(info "$target" cc)
  rt=$build/runtimes/$target/libedgecc_rt.a
  if [ "$(info "$target" os)" = none ]; then
    # Bare metal: Arm's MPS2 boards as qemu models them (AN386: Cortex-M4, AN500: Cortex-M7),
    # the same memory map, printf via semihosting.
    flags="-mcpu=$target -mthumb -mfloat-abi=hard"
    board=$([ "$target" = cortex-m7 ] && echo mps2-an500 || echo mps2-an386)
    "$cc" $flags -O2 --specs=rdimon.specs -T "$ex/baremetal/mps2.ld" -I"$dir" -I"$src/runtime/include" -I"$ex" \
      "$ex/baremetal/startup.c" "$ex/main.c" "$dir/digits.o" "$rt" -o "$dir/digits.elf" 2>&1 | grep -v 'GNU-stack\|NOTE:' || true
    out=$(timeout 300 qemu-system-arm -M "$board" -nographic -semihosting -kernel "$dir/digits.elf" | grep '^predictions:' || true)
  else
    "$cc" -O2 -I"$dir" -I"$src/runtime/include" -I"$ex" "$ex/main.c" "$dir/digits.o" "$rt" -lm -o "$dir/digits"
    out=$(timeout 300 $(info "$target" emulator) "$dir/digits" | grep '^predictions:' || true)
  fi
  if [ "$out" = "$host" ]; then
    echo "ok   $target: same predictions as the host"
  else
    echo "FAIL $target: predictions differ from the host's"
    echo "  host:   $host"
    echo "  target: $out"
    fails=$((fails + 1))
  fi
done
[ $fails -eq 0 ]
