#!/bin/sh
# toolchains.sh SOURCE_DIR — the machine has everything .ci/setup promises: every package it
# names is installed, every package a target file needs is named there, and every cross
# toolchain links a program and its emulator runs it. A machine set up by hand cannot pass
# the test suite while .ci/setup misses a package; a missing package is named.
set -u
src=$1
fails=0
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

setup_packages=$(sed -n '/^packages="/,/"$/p' "$src/.ci/setup" | tr -d '"' | sed 's/^packages=//')
for p in $setup_packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    bad ".ci/setup names $p, which is not installed: run sh .ci/setup"
done

attr() { sed -n "s/.*[ \t]$2=\"\\([^\"]*\\)\".*/\\1/p" "$1" | head -1; }
for xml in "$src"/targets/*/*.xml; do
  # The <toolchain> element spans lines: join the file into one.
  one=$(mktemp)
  tr '\n' ' ' < "$xml" | sed 's/<toolchain/\n<toolchain/; s/\/>/\/>\n/g' | grep '^<toolchain' > "$one"
  name=$(sed -n 's/.*<target name="\([^"]*\)".*/\1/p' "$xml")
  packages=$(attr "$one" packages)
  cc=$(attr "$one" cc)
  emulator=$(attr "$one" emulator)
  os=$(sed -n 's/.*<os>\([a-z]*\)<\/os>.*/\1/p' "$xml")
  rm -f "$one"
  [ -n "$packages" ] || continue
  for p in $packages; do
    echo " $setup_packages " | tr '\n' ' ' | grep -q " $p " || bad "$name needs $p, which .ci/setup does not install"
  done
  if [ "$os" = none ]; then
    command -v qemu-system-arm > /dev/null || bad "$name: qemu-system-arm not found (packages: $packages)"
    why=$(sh "$src/cmake/probe-toolchain.sh" "$cc" none)
  else
    why=$(sh "$src/cmake/probe-toolchain.sh" "$cc" "$os" $emulator)
  fi
  if [ $? -eq 0 ]; then
    echo "ok   $name: $cc links a program${emulator:+ and ${emulator%% *} runs it}"
  else
    bad "$name: $why (packages: $packages)"
  fi
done
echo "$fails failure(s)"
[ $fails -eq 0 ]
