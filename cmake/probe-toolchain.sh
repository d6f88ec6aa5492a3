#!/bin/sh
# probe-toolchain.sh CC OS [EMULATOR...] — can this C toolchain build (and the emulator run) a
# program? Links a trivial program as the tests do: with the C library on Linux, with newlib's
# semihosting specs on bare metal (OS none). Prints the compiler's complaint and exits 1 if not.
set -u
cc=$1 os=$2
shift 2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf '#include <stdio.h>\nint main(void) { puts("ok"); return 0; }\n' > "$dir/probe.c"
flags=""
[ "$os" = none ] && flags="--specs=rdimon.specs"
if ! command -v "$cc" > /dev/null 2>&1; then
  echo "$cc: not found"
  exit 1
fi
if ! "$cc" $flags "$dir/probe.c" -o "$dir/probe" > "$dir/log" 2>&1; then
  grep -m1 'cannot find\|No such file\|error' "$dir/log" || head -1 "$dir/log"
  exit 1
fi
if [ $# -gt 0 ]; then
  if ! out=$("$@" "$dir/probe" 2> "$dir/err") || [ "$out" != ok ]; then
    echo "$1: cannot run a program it built ($(head -1 "$dir/err"))"
    exit 1
  fi
fi
exit 0
