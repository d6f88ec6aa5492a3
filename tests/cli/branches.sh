#!/bin/sh
# branches.sh EDGECC MODEL_TESTS — an If chosen by an input value (tests/models/branches.py: a
# sample-rate input selects a branch valid only for one input length). Compiled for 512
# samples, the 8 kHz branch becomes an error path: a warning names the node, the branch and the
# reason; -Werror refuses it; taking it returns EDGECC_ERROR_BRANCH. --bind sr=16000 resolves
# the If at compile time, and run, check and bench take the same -i list with or without it,
# checking the bound input's file against the value.
set -u
edgecc=$1 data=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; sed 's/^/    /' "$work/err" | head -5; fails=$((fails + 1)); }
model=$data/if_value_16k/model.onnx
x16=$data/if_value_16k/test_data_set_0/input_0.pb
sr16=$data/if_value_16k/test_data_set_0/input_1.pb
sr8=$data/if_value_8k/test_data_set_0/input_1.pb

"$edgecc" "$model" -o "$work/m.o" 2> "$work/err"
if [ $? -eq 0 ] && grep -q "warning: .*node 'rate_branch' (If): the else branch cannot run with these shapes (node 'reshape8' (Reshape): cannot view 1x512 elements as shape 1x8x32)" "$work/err" &&
   grep -q EDGECC_ERROR_BRANCH "$work/m.h"; then
  ok "an untypeable branch compiles with a warning; the header documents EDGECC_ERROR_BRANCH"
else
  bad "an untypeable branch: no warning, or the compile failed"
fi
"$edgecc" "$model" -o "$work/w.o" -Werror 2> "$work/err"
[ $? -eq 1 ] && grep -q "warnings are errors" "$work/err" && [ ! -e "$work/w.o" ] &&
  ok "-Werror refuses the error path" || bad "-Werror did not refuse the error path"

"$edgecc" run "$model" -i "$x16" -i "$sr8" -d "$work/o" 2> "$work/err"
[ $? -eq 1 ] && grep -q "status 3 (EDGECC_ERROR_BRANCH" "$work/err" &&
  ok "taking the error path returns EDGECC_ERROR_BRANCH" || bad "taking the error path did not return EDGECC_ERROR_BRANCH"
"$edgecc" bench --iters 3 "$model" -i "$x16" -i "$sr8" > /dev/null 2> "$work/err"
[ $? -eq 1 ] && grep -q "EDGECC_ERROR_BRANCH" "$work/err" &&
  ok "bench -i times the given inputs (here the error path)" || bad "bench -i did not use the given inputs"

"$edgecc" "$model" --bind sr=16000 -o "$work/b.o" 2> "$work/err"
[ $? -eq 0 ] && [ ! -s "$work/err" ] && ! grep -q EDGECC_ERROR_BRANCH "$work/b.h" &&
  ok "--bind sr=16000 resolves the If: no warning, no error path" || bad "--bind sr=16000 left the If"
"$edgecc" run --bind sr=16000 "$model" -i "$x16" -i "$sr16" -d "$work/o" 2> "$work/err" &&
  "$edgecc" check --bind sr=16000 "$data/if_value_16k" > "$work/err" 2>&1 && grep -q "^PASS" "$work/err" &&
  ok "run and check take the bound input's file too" || bad "run/check with --bind and the full -i list"
"$edgecc" run --bind sr=16000 "$model" -i "$x16" -i "$sr8" -d "$work/o" 2> "$work/err"
[ $? -eq 1 ] && grep -q "input 'sr' differs from the value --bind gives it" "$work/err" &&
  ok "a bound input's file must hold the bound value" || bad "a bound input's mismatching file was accepted"
"$edgecc" bench --iters 3 --bind sr=16000 "$model" -i "$x16" -i "$sr16" > "$work/err" 2>&1 && grep -q "^median:" "$work/err" &&
  ok "bench with --bind and the full -i list" || bad "bench with --bind and the full -i list"

"$edgecc" "$model" --bind sr=8000 -o "$work/e.o" 2> "$work/err"
[ $? -eq 1 ] && grep -q "node 'reshape8' (Reshape)" "$work/err" &&
  ok "a bound value choosing the untypeable branch is a compile error" || bad "--bind sr=8000 with 512 samples"
"$edgecc" "$model" --bind sr=1,2 -o "$work/e.o" 2> "$work/err"
[ $? -eq 1 ] && grep -q "2 value(s) given, the input has shape scalar" "$work/err" &&
  ok "--bind checks the value's shape" || bad "--bind sr=1,2 accepted"
"$edgecc" "$model" --bind sr=16k -o "$work/e.o" 2> "$work/err"
[ $? -eq 1 ] && grep -q "cannot read tensor file '16k'" "$work/err" &&
  ok "--bind takes what is not a number as a file" || bad "--bind sr=16k"
"$edgecc" "$model" --bind rate=1 -o "$work/e.o" 2> "$work/err"
[ $? -eq 1 ] && grep -q "\-\-bind rate: the model has no input of that name" "$work/err" &&
  ok "--bind names an input" || bad "--bind of an unknown input accepted"

echo "$fails failure(s)"
[ $fails -eq 0 ]
