#!/bin/sh
# outputs.sh EDGECC MODELS_DIR — the compile outputs: every --emit kind, -H/--name, depfiles,
# byte-identical results for identical inputs, and `edgecc run` writing TensorProto outputs.
set -eu
edgecc=$1 dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model=$dir/good.onnx

"$edgecc" "$model" --dim batch=2 -o "$work/a.o" -MD
test -s "$work/a.o" && test -s "$work/a.h" && test -s "$work/a.o.d"
grep -q "#define A_ARENA_SIZE" "$work/a.h"
grep -q "good.onnx" "$work/a.o.d"
"$edgecc" "$model" --dim batch=2 -o "$work/b.o" -H "$work/b.h" --name a
cmp "$work/a.o" "$work/b.o"   # reproducible: same inputs and flags, same bytes
cmp "$work/a.h" "$work/b.h"
for kind in asm llvm bc ir; do
  "$edgecc" "$model" --dim batch=2 --emit=$kind -o "$work/m.$kind"
  test -s "$work/m.$kind"
done
grep -q "define.*@m_run" "$work/m.llvm"
grep -q "arena" "$work/m.ir"
nm "$work/a.o" | grep -q " T a_run"
nm "$work/a.o" | grep -qE " [DR] a_info"

# --conv-algo chooses a 3x3 convolution's kernel (--report names it).
for algo in gemm:conv.gemm winograd:conv.winograd2 winograd4:conv.winograd4; do
  "$edgecc" "$dir/conv3x3.onnx" -o "$work/c.o" --conv-algo=${algo%%:*} --report > "$work/c.txt"
  grep -qE "^conv .* ${algo#*:}" "$work/c.txt"
done

# Warnings do not stop a compile without -Werror, and name what they are about.
"$edgecc" "$dir/suspicious.onnx" -o "$work/s.o" 2> "$work/warn"
grep -q "warning: .*initializer 'unused_w' (float, 32 bytes) is never used" "$work/warn"
grep -q "warning: .*node 'to_double' (Cast): computes in float64 in a float32 model" "$work/warn"

# --report: JSON for dashboards, its arena equal to the header's macro; byte-identical twice,
# also for a 32-bit target.
"$edgecc" "$model" --dim batch=2 -o "$work/r.o" --report=json --report-file "$work/r1.json"
"$edgecc" "$model" --dim batch=2 -o "$work/r2.o" -H "$work/r.h" --name r --report=json --report-file "$work/r2.json"
cmp "$work/r1.json" "$work/r2.json"
/usr/bin/python3 - "$work/r1.json" "$work/r.h" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1]))
arena = int(re.search(r"#define R_ARENA_SIZE (\d+)", open(sys.argv[2]).read()).group(1))
t = r["totals"]
assert t["arena_bytes"] == arena, (t, arena)
assert [l["op"] for l in r["layers"]] == ["Relu", "Add"], r["layers"]
assert t["weight_bytes"] == 16 and t["flash_bytes"] > t["code_bytes"] > 0, t
PY
"$edgecc" "$model" --dim batch=2 -o "$work/t.o" --report > "$work/report.txt"
grep -q "^arena: .* bytes (lower bound" "$work/report.txt"
"$edgecc" "$model" --dim batch=1 -target armv7 -o "$work/c1.o"
"$edgecc" "$model" --dim batch=1 -target armv7 -o "$work/c2.o" --name c1 -H "$work/c2.h"
cmp "$work/c1.o" "$work/c2.o"

# -v and --time-passes name the stages.
"$edgecc" "$model" --dim batch=2 -o "$work/v.o" -v --time-passes 2> "$work/v.log"
grep -q "edgecc: optimize" "$work/v.log" && grep -q "total" "$work/v.log"

# edgecc run: y = relu(x) + [0 1 2 3]
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np
from onnx import numpy_helper
x = np.array([[-1, 2, -3, 4], [5, -6, 7, -8]], np.float32)
open(sys.argv[1] + "/x.pb", "wb").write(numpy_helper.from_array(x, "x").SerializeToString())
PY
"$edgecc" run "$model" -i "$work/x.pb" -d "$work/out"
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np, onnx
from onnx import numpy_helper
t = onnx.TensorProto()
t.ParseFromString(open(sys.argv[1] + "/out/output_0.pb", "rb").read())
y = numpy_helper.to_array(t)
want = np.array([[0, 3, 2, 7], [5, 1, 9, 3]], np.float32)
assert t.name == "y" and y.shape == (2, 4) and (y == want).all(), y
PY

# Strings: `edgecc run` passes text both ways, the header declares pointer arrays, and an
# input longer than --max-string-length makes run() return EDGECC_ERROR_STRING (2).
"$edgecc" "$dir/lower.onnx" -o "$work/lower.o"
grep -q "const char \*const words\[3\]" "$work/lower.h"
grep -q "#define LOWER_MAX_STRING_LENGTH 255" "$work/lower.h"
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np
from onnx import numpy_helper
w = np.array(["Hello", "THE", "Wörld"], dtype=object)
open(sys.argv[1] + "/words.pb", "wb").write(numpy_helper.from_array(w, "words").SerializeToString())
PY
"$edgecc" run "$dir/lower.onnx" -i "$work/words.pb" -d "$work/sout"
/usr/bin/python3 - "$work" <<'PY'
import sys, onnx
from onnx import numpy_helper
t = onnx.TensorProto()
t.ParseFromString(open(sys.argv[1] + "/sout/output_0.pb", "rb").read())
y = numpy_helper.to_array(t)
assert y.tolist() == ["hello", "wörld"], y
PY
if "$edgecc" run "$dir/lower.onnx" --max-string-length 4 -i "$work/words.pb" -d "$work/sout" 2> "$work/err"; then
  echo "FAIL: an input longer than --max-string-length ran"; exit 1
fi
grep -q "returned status 2" "$work/err"
echo "outputs ok"
