#!/bin/sh
# run.sh EDGECC DATA_DIR — robustness: corrupted and malformed models (tests/robustness/
# mutate.py, from a spread of conformance models) must each end with exit status 0 or 1 and,
# on failure, an `edgecc: error:` line — never a crash, a hang or a sanitizer report.
set -u
edgecc=$1 data=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
seeds=""
for t in conv_with_strides_padding gemm_default_matrix_bias lstm_defaults resize_upsample_scales_linear \
         loop11 if einsum_batch_matmul nonzero_example slice_negative_axes layer_normalization_2d_axis0 \
         qlinearconv scan9_sum reshape_negative_dim gather_0 softmax_axis_1 range_float_type_positive_delta_expanded \
         gru_defaults convtranspose_3d topk unique_sorted_with_axis maxpool_2d_dilations transpose_all_permutations_0 \
         sequence_insert_at_back dft gridsample split_variable_parts_1d_opset18 cast_FLOAT_to_FLOAT16 \
         nonmaxsuppression_two_batches reduce_mean_keepdims_example concat_3d_axis_1 matmulinteger; do
  [ -f "$data/node/test_$t/model.onnx" ] && seeds="$seeds $data/node/test_$t/model.onnx"
done
/usr/bin/python3 "$(dirname "$0")/mutate.py" "$work/m" $seeds
fails=0 total=0
for m in "$work"/m/*.onnx; do
  total=$((total + 1))
  timeout 60 "$edgecc" "$m" -o "$work/out.o" --dim N=1 > /dev/null 2> "$work/err"
  status=$?
  if [ $status -gt 1 ] || grep -qE "AddressSanitizer|runtime error|LeakSanitizer" "$work/err" ||
     { [ $status -eq 1 ] && ! grep -q "^edgecc: error: " "$work/err"; }; then
    echo "FAIL $(basename "$m") (status $status):"
    head -5 "$work/err"
    fails=$((fails + 1))
  fi
  rm -f "$work/out.o" "$work/out.h"
done
echo "$total corrupted models, $fails handled badly"
[ $fails -eq 0 ]
