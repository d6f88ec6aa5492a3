#!/bin/sh
# build_systems.sh SOURCE_DIR BUILD_DIR — edgecc in other people's builds: install into a
# prefix, then build examples/cmake-app with find_package(edgecc) for the host and cross for
# armv8 (run under qemu), and examples/make-app with its depfile and pkg-config. Each build
# must rebuild the model exactly when it changes and do nothing when nothing changed.
set -eu
src=$1 build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

cmake --install "$build" --prefix "$prefix" > "$work/install.log"
for f in bin/edgecc lib/libedgecc_rt.a include/edgecc_rt.h include/edgecc.h lib/cmake/edgecc/edgeccConfig.cmake \
         lib/pkgconfig/edgecc-rt.pc share/man/man1/edgecc.1 share/edgecc/targets/target.rng lib/edgecc/armv8/libedgecc_rt.a; do
  [ -e "$prefix/$f" ] || bad "install: $f missing"
done
host=$("$build/examples/digits" | grep '^predictions:')

# The examples read the model from the source tree; copy it so touching it is harmless.
cp -r "$src/examples" "$work/examples"

# CMake, host
app=$work/examples/cmake-app
cmake -S "$app" -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix" > /dev/null
cmake --build "$work/cm" > "$work/b1.log"
out=$("$work/cm/digits_app" | grep '^predictions:')
[ "$out" = "$host" ] && ok "cmake-app (host) predicts like the example" || bad "cmake-app (host) predictions differ"
cmake --build "$work/cm" > "$work/b2.log"
grep -q "edgecc .*digits.onnx" "$work/b2.log" && bad "cmake-app: a second build recompiled the model" || ok "cmake-app: a second build does no work"
grep -q "Linking\|Building" "$work/b2.log" && bad "cmake-app: a second build rebuilt something" || true
sleep 1
touch "$work/examples/digits/digits.onnx"
cmake --build "$work/cm" > "$work/b3.log"
grep -q "edgecc .*digits.onnx" "$work/b3.log" && ok "cmake-app: touching the model recompiles it" || bad "cmake-app: touching the model did not recompile it"

# CMake, cross-built for armv8 with the installed toolchain file, run under qemu
cmake -S "$app" -B "$work/cm-arm" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_TOOLCHAIN_FILE="$prefix/share/edgecc/toolchains/aarch64-linux-gnu.cmake" > /dev/null
cmake --build "$work/cm-arm" > "$work/b4.log"
file "$work/cm-arm/digits_app" | grep -q aarch64 && ok "cmake-app (armv8): an AArch64 program" || bad "cmake-app (armv8): not an AArch64 program"
out=$(qemu-aarch64 -L /usr/aarch64-linux-gnu "$work/cm-arm/digits_app" | grep '^predictions:')
[ "$out" = "$host" ] && ok "cmake-app (armv8 under qemu) predicts like the host" || bad "cmake-app (armv8) predictions differ"

# Make, with the depfile and pkg-config
mk=$work/examples/make-app
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" make -C "$mk" EDGECC="$prefix/bin/edgecc" > "$work/m1.log"
out=$("$mk/digits_app" | grep '^predictions:')
[ "$out" = "$host" ] && ok "make-app predicts like the example" || bad "make-app predictions differ"
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" make -C "$mk" EDGECC="$prefix/bin/edgecc" > "$work/m2.log"
grep -q "edgecc" "$work/m2.log" && bad "make-app: a second make recompiled the model" || ok "make-app: a second make does no work"
sleep 1
touch "$work/examples/digits/digits.onnx"
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" make -C "$mk" EDGECC="$prefix/bin/edgecc" > "$work/m3.log"
grep -q "edgecc" "$work/m3.log" && ok "make-app: touching the model recompiles it" || bad "make-app: touching the model did not recompile it"

echo "$fails failure(s)"
[ $fails -eq 0 ]
