// ops.h — the functions named by the rows of ops.def, sectioned by the file defining them,
// and the helpers op families share.
#ifndef EDGECC_OPS_H
#define EDGECC_OPS_H

#include "../compiler.h"

// elementwise.c
InferFn infer_unary, infer_binary, infer_binary_mixed, infer_predicate, infer_where, infer_cast,
    infer_clip;
LowerFn lower_eltwise, lower_cast;
ScalarFn scalar_add, scalar_sub, scalar_mul, scalar_div, scalar_neg, scalar_abs, scalar_relu,
    scalar_leaky_relu, scalar_prelu, scalar_thresholded_relu, scalar_sigmoid, scalar_tanh,
    scalar_exp, scalar_log, scalar_erf, scalar_sqrt, scalar_ceil, scalar_floor, scalar_round,
    scalar_reciprocal, scalar_sin, scalar_cos, scalar_tan, scalar_asin, scalar_acos, scalar_atan,
    scalar_sinh, scalar_cosh, scalar_asinh, scalar_acosh, scalar_atanh, scalar_sign, scalar_pow,
    scalar_hard_sigmoid, scalar_hard_swish, scalar_softplus, scalar_softsign, scalar_elu,
    scalar_selu, scalar_celu, scalar_shrink, scalar_mish, scalar_gelu, scalar_clip, scalar_cast,
    scalar_identity, scalar_not, scalar_and, scalar_or, scalar_xor, scalar_equal, scalar_less,
    scalar_greater, scalar_less_equal, scalar_greater_equal, scalar_where, scalar_is_nan,
    scalar_is_inf, scalar_mod, scalar_bit_shift, scalar_bitwise_and, scalar_bitwise_or,
    scalar_bitwise_xor, scalar_bitwise_not, scalar_sum, scalar_max, scalar_min, scalar_mean;

// shape.c
InferFn infer_Reshape, infer_Flatten, infer_Squeeze, infer_Unsqueeze, infer_Identity,
    infer_Dropout, infer_Shape, infer_Size, infer_Constant, infer_ConstantOfShape;
LowerFn lower_Dropout, lower_ConstantOfShape, lower_Copy;

// copy.c
InferFn infer_Transpose, infer_Concat, infer_Split, infer_Slice, infer_Expand, infer_Tile,
    infer_Pad, infer_Gather, infer_DepthToSpace, infer_SpaceToDepth, infer_ReverseSequence;
LowerFn lower_Transpose, lower_Concat, lower_Split, lower_Slice, lower_Expand, lower_Tile,
    lower_Pad, lower_Gather, lower_DepthToSpace, lower_SpaceToDepth, lower_ReverseSequence;
// Copies a strided view: dst[dst_off + i.dst_st] = src[src_off + i.src_st] over DIMS.
void copy_strided(KB *kb, DType dt, LLVMValueRef dst, int64_t dst_off, LLVMValueRef src,
                  int64_t src_off, int rank, const int64_t *dims, const int64_t *dst_st,
                  const int64_t *src_st);
// Loads index POS of input 1 (the indices), wrapped if negative and clamped into [0, dim).
LLVMValueRef load_index(KB *kb, Value *ind, LLVMValueRef pos, int64_t dim);
// The same for an index tensor of type DT at BASE and a run-time DIM (a t_idx value).
LLVMValueRef index_at(KB *kb, DType dt, LLVMValueRef base, LLVMValueRef pos, LLVMValueRef dim);
// dst[dst_idx] = src[src_idx], the storage bits unchanged.
void copy_element(KB *kb, DType dt, LLVMValueRef dst, LLVMValueRef dst_idx, LLVMValueRef src, LLVMValueRef src_idx);

// gather.c
InferFn infer_GatherElements, infer_GatherND, infer_ScatterElements, infer_ScatterND;
LowerFn lower_GatherElements, lower_GatherND, lower_ScatterElements, lower_ScatterND;

// generate.c
InferFn infer_OneHot, infer_Trilu, infer_EyeLike, infer_Range;
LowerFn lower_OneHot, lower_Trilu, lower_EyeLike, lower_Range;

// sort.c
InferFn infer_TopK, infer_Unique;
LowerFn lower_TopK, lower_Unique;

// loss.c
InferFn infer_loss;
LowerFn lower_loss;

// select.c
InferFn infer_NonZero, infer_Compress, infer_NonMaxSuppression;
LowerFn lower_NonZero, lower_Compress, lower_NonMaxSuppression;

// gemm.c
InferFn infer_Gemm, infer_MatMul;
LowerFn lower_Gemm, lower_MatMul;

// conv.c
typedef struct {
  int nsp;                 // spatial dims
  int64_t kernel[3], stride[3], dilation[3], pad_begin[3], pad_end[3], out[3];
  int64_t group;
} ConvGeom;
// Attribute NAME as COUNT ints (an error when it has another count), DFLT when absent.
void conv_ints(const Node *n, const char *name, int count, int64_t dflt, int64_t *out, Compiler *cc);
ConvGeom conv_geometry(Compiler *cc, Node *n, const Shape *x, const int64_t *kernel, bool ceil_mode);
// Input position of window element K for output O along spatial dim I; ANDs bounds into INSIDE.
LLVMValueRef window_index(KB *kb, const ConvGeom *g, int i, LLVMValueRef o, LLVMValueRef k,
                          int64_t in_dim, LLVMValueRef *inside);
InferFn infer_Conv;
LowerFn lower_Conv;

// convtranspose.c
InferFn infer_ConvTranspose;
LowerFn lower_ConvTranspose;

// pool.c
InferFn infer_pool, infer_global_pool, infer_MaxUnpool;
LowerFn lower_pool, lower_global_pool, lower_MaxUnpool;

// norm.c
InferFn infer_BatchNormalization, infer_LayerNormalization, infer_InstanceNormalization,
    infer_GroupNormalization, infer_MeanVarianceNormalization, infer_LRN;
LowerFn lower_BatchNormalization, lower_norm, lower_LRN;

// resize.c
InferFn infer_Resize, infer_GridSample, infer_RoiAlign;
LowerFn lower_Resize, lower_GridSample, lower_RoiAlign;

// softmax.c
InferFn infer_softmax;
LowerFn lower_softmax;

// reduce.c
InferFn infer_reduce, infer_arg, infer_CumSum;
LowerFn lower_reduce, lower_arg, lower_CumSum;

// linalg.c
InferFn infer_Einsum, infer_Det;
LowerFn lower_Einsum, lower_Det;

// control.c
InferFn infer_If, infer_Loop, infer_Scan, infer_Stack;
LowerFn lower_If, lower_Loop, lower_Scan, lower_Stack;

// rnn.c
InferFn infer_RNN, infer_GRU, infer_LSTM;
LowerFn lower_recurrent;

// sequence.c
InferFn infer_SequenceEmpty, infer_SequenceConstruct, infer_SequenceInsert, infer_SequenceAt,
    infer_SequenceErase, infer_SequenceLength, infer_SplitToSequence, infer_ConcatFromSequence,
    infer_SequenceMap, infer_Optional, infer_OptionalHasElement, infer_OptionalGetElement;
LowerFn lower_SplitToSequence, lower_ConcatFromSequence;

// signal.c
InferFn infer_DFT, infer_STFT, infer_window, infer_MelWeightMatrix;
LowerFn lower_DFT, lower_STFT, lower_window, lower_MelWeightMatrix;

// quant.c
InferFn infer_QuantizeLinear, infer_DequantizeLinear, infer_DynamicQuantizeLinear, infer_MatMulInteger,
    infer_QLinearMatMul, infer_ConvInteger, infer_QLinearConv;
LowerFn lower_QuantizeLinear, lower_DequantizeLinear, lower_DynamicQuantizeLinear, lower_MatMulInteger,
    lower_QLinearMatMul, lower_ConvInteger, lower_QLinearConv;

// optimizer.c
InferFn infer_optimizer;
LowerFn lower_optimizer;

// text.c
InferFn infer_StringNormalizer, infer_TfIdfVectorizer;
LowerFn lower_StringNormalizer, lower_TfIdfVectorizer;
// Cast to or from text (elementwise.c's Cast hands string casts over).
void infer_cast_text(Compiler *cc, Node *n);
LowerFn lower_cast_text;
// strcmp of two C strings (i32: negative, zero, positive; bytes unsigned), and == as an i1.
LLVMValueRef text_compare(KB *kb, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef text_equal(KB *kb, LLVMValueRef a, LLVMValueRef b);

#endif
