#!/bin/sh
# text.sh EDGECC SOURCE_DIR BUILD_DIR TARGET... — string tensors on every target: the model of
# text_model.py (a text pipeline and number <-> text casts: the runtime's text helpers and
# pointer-sized elements) cross-built with text_main.c and run like the digits example
# (qemu-user, or qemu-system-arm with semihosting for bare-metal Cortex-M); every target must
# print exactly what the host prints.
set -eu
edgecc=$1 src=$2 build=$3
shift 3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
here=$src/tests/cross
ex=$src/examples/digits
/usr/bin/python3 "$here/text_model.py" "$work/text.onnx"
info() { "$edgecc" --target-info "$1" | sed -n "s/^$2 //p"; }

"$edgecc" "$work/text.onnx" -o "$work/text.o"
cc -O2 -I"$work" -I"$src/runtime/include" "$here/text_main.c" "$work/text.o" "$build/runtime/libedgecc_rt.a" -o "$work/host"
host=$("$work/host")
fails=0
for target in "$@"; do
  dir=$work/$target
  mkdir -p "$dir"
  "$edgecc" "$work/text.onnx" -target "$target" -o "$dir/text.o"
  cc=$(info "$target" cc)
  rt=$build/runtimes/$target/libedgecc_rt.a
  if [ "$(info "$target" os)" = none ]; then
    flags="-mcpu=$target -mthumb -mfloat-abi=hard"
    board=$([ "$target" = cortex-m7 ] && echo mps2-an500 || echo mps2-an386)
    "$cc" $flags -O2 --specs=rdimon.specs -T "$ex/baremetal/mps2.ld" -I"$dir" -I"$src/runtime/include" \
      "$ex/baremetal/startup.c" "$here/text_main.c" "$dir/text.o" "$rt" -o "$dir/text.elf" 2>&1 | grep -v 'GNU-stack\|NOTE:' || true
    out=$(timeout 300 qemu-system-arm -M "$board" -nographic -semihosting -kernel "$dir/text.elf" || true)
  else
    "$cc" -O2 -I"$dir" -I"$src/runtime/include" "$here/text_main.c" "$dir/text.o" "$rt" -o "$dir/text"
    out=$(timeout 300 $(info "$target" emulator) "$dir/text" || true)
  fi
  if [ "$out" = "$host" ]; then
    echo "ok   $target: the same strings and numbers as the host"
  else
    echo "FAIL $target: output differs from the host's"
    echo "host:"; echo "$host"
    echo "$target:"; echo "$out"
    fails=$((fails + 1))
  fi
done
echo "$host"
[ $fails -eq 0 ]
