// ops.h — the functions named by the rows of ops.def, sectioned by the file defining them,
// and the helpers op families share.
#ifndef EDGECC_OPS_H
#define EDGECC_OPS_H

#include "../compiler.h"

// elementwise.c
InferFn infer_unary, infer_binary, infer_binary_mixed, infer_predicate, infer_where, infer_cast,
    infer_clip;
LowerFn lower_eltwise, lower_cast;
DimsFn dims_broadcast;
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
LowerFn lower_Dropout, lower_ConstantOfShape, lower_Copy, lower_Shape, lower_Size;
DimsFn dims_Reshape, dims_Flatten, dims_Squeeze, dims_Unsqueeze, dims_same, dims_Shape, dims_Size;

// copy.c
InferFn infer_Transpose, infer_Concat, infer_Split, infer_Slice, infer_Expand, infer_Tile,
    infer_Pad, infer_Gather, infer_DepthToSpace, infer_SpaceToDepth, infer_ReverseSequence;
LowerFn lower_Transpose, lower_Concat, lower_Split, lower_Slice, lower_Expand, lower_Tile,
    lower_Pad, lower_Gather, lower_DepthToSpace, lower_SpaceToDepth, lower_ReverseSequence;
DimsFn dims_Transpose, dims_Concat, dims_Split, dims_Slice, dims_Expand, dims_Tile, dims_Pad, dims_Gather;
// Copies a strided view: dst[dst_off + i.dst_st] = src[src_off + i.src_st] over DIMS.
void copy_strided(KB *kb, DType dt, LLVMValueRef dst, int64_t dst_off, LLVMValueRef src,
                  int64_t src_off, int rank, const int64_t *dims, const int64_t *dst_st,
                  const int64_t *src_st);
// The same over run-time dims, offsets and strides (t_idx values); when they are all
// constants, copy_strided itself.
void copy_strided_rt(KB *kb, DType dt, LLVMValueRef dst, LLVMValueRef dst_off, LLVMValueRef src, LLVMValueRef src_off,
                     int rank, const LLVMValueRef *dims, const LLVMValueRef *dst_st, const LLVMValueRef *src_st);
// Loads index POS of input 1 (the indices), wrapped if negative and clamped into [0, dim).
LLVMValueRef load_index(KB *kb, Value *ind, LLVMValueRef pos, int64_t dim);
// The same for an index tensor of type DT at BASE and a run-time DIM (a t_idx value).
LLVMValueRef index_at(KB *kb, DType dt, LLVMValueRef base, LLVMValueRef pos, LLVMValueRef dim);
// dst[dst_idx] = src[src_idx], the storage bits unchanged.
void copy_element(KB *kb, DType dt, LLVMValueRef dst, LLVMValueRef dst_idx, LLVMValueRef src, LLVMValueRef src_idx);

// gather.c
InferFn infer_GatherElements, infer_GatherND, infer_ScatterElements, infer_ScatterND;
LowerFn lower_GatherElements, lower_GatherND, lower_ScatterElements, lower_ScatterND;
DimsFn dims_GatherElements, dims_GatherND;

// generate.c
InferFn infer_OneHot, infer_Trilu, infer_EyeLike, infer_Range;
LowerFn lower_OneHot, lower_Trilu, lower_EyeLike, lower_Range;
DimsFn dims_OneHot;

// sort.c
InferFn infer_TopK, infer_Unique;
LowerFn lower_TopK, lower_Unique;
DimsFn dims_TopK;

// loss.c
InferFn infer_loss;
LowerFn lower_loss;

// select.c
InferFn infer_NonZero, infer_Compress, infer_NonMaxSuppression;
LowerFn lower_NonZero, lower_Compress, lower_NonMaxSuppression;

// widen.c — float16/bfloat16 products in float32: replaces N (a half-precision Conv,
// ConvTranspose, Gemm, MatMul, RNN, GRU or LSTM) by Casts around its float32 form.
bool widen_half(Compiler *cc, Node *n);

// gemm.c
// MatMul's operands as a batch of [M, K] x [K, N] products: the batch dims broadcast like
// numpy's (1-D operands promoted), each operand's element stride per batch dim (0: broadcast).
typedef struct {
  int64_t M, N, K;
  Shape batch;
  int64_t a_st[MAX_RANK], b_st[MAX_RANK], y_st[MAX_RANK];
} MatMulGeom;
MatMulGeom matmul_geometry(const Shape *a, const Shape *b);
// numpy.matmul's result shape: 1-D operands are promoted and the added dim dropped again
// (errors name node N).
Shape matmul_shape(Compiler *cc, Node *n, const Shape *a, const Shape *b);
InferFn infer_Gemm, infer_MatMul;
LowerFn lower_Gemm, lower_MatMul;
DimsFn dims_Gemm, dims_MatMul;

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
DimsFn dims_Resize;

// softmax.c
InferFn infer_softmax;
LowerFn lower_softmax;

// reduce.c
InferFn infer_reduce, infer_arg, infer_CumSum;
LowerFn lower_reduce, lower_arg, lower_CumSum;
DimsFn dims_reduce, dims_arg;

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
DimsFn dims_ConcatFromSequence;

// signal.c
InferFn infer_DFT, infer_STFT, infer_window, infer_MelWeightMatrix;
LowerFn lower_DFT, lower_STFT, lower_window, lower_MelWeightMatrix;

// quant.c
InferFn infer_QuantizeLinear, infer_DequantizeLinear, infer_DynamicQuantizeLinear, infer_MatMulInteger,
    infer_QLinearMatMul, infer_ConvInteger, infer_QLinearConv;
LowerFn lower_QuantizeLinear, lower_DequantizeLinear, lower_DynamicQuantizeLinear, lower_MatMulInteger,
    lower_QLinearMatMul, lower_ConvInteger, lower_QLinearConv;
// Whether scale or zero point V applies to the whole tensor (one element, any shape; NULL: an
// absent zero point), rather than one value per index of an axis.
bool qparam_per_tensor(const Value *v);
// Fails unless zero point ZP (NULL: absent) goes with SCALE: both per tensor, or one shape.
void qparams_agree(Compiler *cc, Node *n, const Value *scale, const Value *zp);
void qrange(DType t, int32_t *lo, int32_t *hi); // the values of an integer type (int32: all)
// QuantizeLinear of one float: round half to even of V / SCALE (float32), plus ZP, saturated.
int32_t quantize_value(float v, float scale, int32_t zp, DType dt);

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
// What a compressed-weight kernel does, for --report: the first member of the plans of QMatMul,
// QConv, WGemm and WConv (kernel_stats gives it, NULL for other nodes).
typedef struct {
  int64_t macs;
  int64_t weights;           // weight elements (the dense float32 layer holds 4 bytes each)
  int64_t blocks, nonzero;   // sparse: blocks of the dense weights, and those stored
} KernelStats;
const KernelStats *kernel_stats(const Node *n);

// qgemm.c — the integer microkernel shared by QMatMul and QConv (see the file's comment)
typedef enum { QDOT_WIDEN, QDOT_VNNI, QDOT_SDOT, QDOT_UDOT } QDotKind;
typedef struct {
  QDotKind dot;
  int lanes;             // int32 accumulators per vector
  int group;             // k values per lane and step: 4 (dot products) or 1 (widening)
  int mr, nr;            // register tile: rows x vectors
  DType a_type, b_type;  // what the instruction multiplies (uint8 or int8) for A and B
} QDot;
// The kernel of target T for operands A (broadcast) and B (vector) stored as A and B; B_CONST
// says which one a shift may be applied to at compile time when the kernel needs one.
QDot qdot_select(const Target *t, DType a, DType b, bool b_const);
const char *qdot_name(const QDot *d);
int qdot_shift(DType from, DType to); // +128, -128 or 0
// Byte offset of element (k, col) in the vector operand's packed layout.
int64_t qpacked_index(const QDot *d, int64_t kgroups, int64_t k, int64_t col);
// The epilogue receives the accumulators of row ROW, vector block BLK (VALID lanes used).
typedef void QStoreFn(KB *kb, void *ctx, LLVMValueRef row, LLVMValueRef blk, LLVMValueRef acc, int valid);
typedef struct {
  const QDot *dot;
  LLVMValueRef a;        // A: ROWS rows of LDA bytes, KGROUPS * group of them read
  int64_t lda;
  bool a_flip;           // flip A's top bits as they are loaded
  LLVMValueRef b;        // B, packed: [blocks][kgroups][lanes][group]
  int64_t kgroups;
  int64_t rows, cols;
  QStoreFn *store;
  void *ctx;
} QMicro;
void qmicro_emit(KB *kb, const QMicro *mk);
void qmultiplier(float m, int32_t *mult, int32_t *shift); // m = mult * 2^-shift
// roundeven((v * mult + bias64) * 2^-shift) + zp, clamped to [lo, hi], on <lanes x i32>
// vectors (BIAS64: <lanes x i64>, or NULL).
LLVMValueRef qrequantize(KB *kb, LLVMValueRef v, LLVMValueRef mult, LLVMValueRef shift, LLVMValueRef bias64, int32_t zp,
                         int32_t lo, int32_t hi);
// roundeven(float32(v) * m) + zp, clamped to [lo, hi] (8-bit outputs), on <lanes x i32> V and
// <lanes x float> M.
LLVMValueRef qrequantize_f32(KB *kb, LLVMValueRef v, LLVMValueRef m, int32_t zp, int32_t lo, int32_t hi);
LLVMValueRef qsplat(KB *kb, LLVMValueRef s, int lanes);
LLVMValueRef qload_vec(KB *kb, LLVMTypeRef elem, int lanes, LLVMValueRef base, LLVMValueRef idx);
void qstore_lanes(KB *kb, DType dt, LLVMValueRef base, LLVMValueRef idx, int64_t stride, LLVMValueRef v, int valid);

// A quantized linear layer (Conv, MatMul, Gemm or their QOperator forms), as the QDQ rewrite
// (passes/qdq.c) finds it; qgemm_build and qconv_build turn it into an integer kernel node.
typedef enum { QOUT_QUANT, QOUT_INT32, QOUT_FLOAT } QOutKind;
typedef struct {
  Node *src;                 // the node replaced (its name and attributes)
  Value *x;                  // run-time activations, uint8 or int8
  float x_scale;
  int32_t x_zp;
  Value *w;                  // constant 8-bit weights: Conv [M, C/group, k...], MatMul [K, N]
  bool w_trans;              // MatMul weights stored [N, K] (Gemm transB)
  int64_t nw;                // 1, or a scale and zero point per output channel
  const float *w_scale;
  const int32_t *w_zp;
  const int32_t *bias_i32;   // bias in accumulator units (scale x_scale * w_scale), or NULL
  const float *bias_f;       // float bias (one per output channel), or NULL
  float alpha;               // Gemm's alpha
  QOutKind out;              // requantized, int32 accumulators, or dequantized floats
  DType y_dt;
  float y_scale;
  int32_t y_zp, lo, hi;      // output zero point and clamp (fused Relu/Clip), quantized
} QLinearSpec;
float qchannel_multiplier(const QLinearSpec *s, int64_t c);
// The integer GEMM core: rows of A against N columns of constant weights (element (k, n) of
// the spec's weights given by a QWeightFn), with the epilogue of the spec.
typedef struct {
  QDot dot;
  int64_t N, K, kgroups;     // columns (per group) and depth
  int64_t groups;            // independent column sets (grouped convolutions), each padded to lanes
  DType a_stored;            // the run-time operand's type (uint8 or int8)
  bool need_rowsum;          // some column's (shifted) zero point is not zero
  bool bias64;               // requantized with a bias that is not whole accumulator units
  QOutKind out;
  int32_t y_zp, lo, hi;
} QCore;
typedef int32_t QWeightFn(const QLinearSpec *s, int64_t k, int64_t n, int64_t K, int64_t N);
// Rows of the int32 parameters (input 2): the offsets (bias and zero-point terms); for outputs
// requantized with bias64 the fixed-point multipliers, shifts and the bias as a 64-bit addend
// (low and high words; others requantize in float32 by the scale row of input 3, as ONNX
// Runtime does); the shifted weight zero points when the row sums are needed.
static inline int qparam_zb_row(const QCore *c) { return c->out == QOUT_QUANT && c->bias64 ? 5 : 1; }
static inline int qparam_rows(const QCore *c) { return qparam_zb_row(c) + c->need_rowsum; }
// Whether requantizing S's CHANNELS needs bias64: a float bias (a folded BatchNormalization's
// shift, say) that is not a whole number of accumulator units.
bool qbias_fractional(const QLinearSpec *s, int64_t channels);
// Channel CH's epilogue parameters for core C: column CH of the int32 rows PRM (STRIDE apart;
// the offsets row gets the bias only, the caller adds zero-point terms) and of the float rows
// FPRM (scale, bias; FSTRIDE apart). False when a value does not fit its row.
bool qchannel_params(const QLinearSpec *s, const QCore *c, int64_t ch, int32_t *prm, int64_t stride, float *fprm,
                     int64_t fstride);
// Packs the weights and epilogue parameters into inputs 1..3 of N (false: int32 overflow).
// Output channel g * N + j is column j of group g.
bool qcore_build(Compiler *cc, Graph *with, Node *n, QCore *c, const QLinearSpec *s, const Target *t, int64_t K,
                 int64_t N, int64_t groups, QWeightFn *w_at);
// Rows [0, ROWS) of A (LDA bytes apart) times group GROUP's columns into YBASE (output 0 or a
// buffer) from element Y with the given strides; ROWSUM: i32[rows] of A's row sums when needed.
void qcore_emit(KB *kb, Node *n, const QCore *c, LLVMValueRef group, LLVMValueRef a, int64_t lda, bool a_flip,
                LLVMValueRef rowsum, int64_t rows, LLVMValueRef ybase, LLVMValueRef y, int64_t row_stride,
                int64_t col_stride);
// The epilogue alone (kernels with their own accumulation): a QStoreFn and its context, whose
// parameter columns start at PCOL.
QStoreFn qcore_store;
void *qcore_store_ctx(KB *kb, Node *n, const QCore *c, LLVMValueRef pcol, LLVMValueRef y, int64_t row_stride,
                      int64_t col_stride);
LLVMValueRef qrow_sum(KB *kb, const QCore *c, LLVMValueRef row, int64_t count, bool flip);
// The QMatMul node computing S as [M, K] x [K, N] (NULL when int32 cannot hold its offsets).
Node *qgemm_build(Compiler *cc, Graph *with, const QLinearSpec *s, const Target *t, int64_t M, int64_t K, int64_t N,
                  Shape y_shape);
InferFn infer_QMatMul;
LowerFn lower_QMatMul;

// qexpand.c — com.microsoft quantized ops rewritten at inference into DequantizeLinear, a
// float op and QuantizeLinear
InferFn infer_QGemm, infer_QLinearSoftmax, infer_QLinearWhere, infer_QLinearReduceMean, infer_DynamicQuantizeLSTM;

// qlinear.c — com.microsoft QLinear* ops and QTable (lookup tables of 8-bit inputs)
// The float op a table applies between DequantizeLinear and QuantizeLinear.
typedef struct {
  const char *op_type;       // an ai.onnx elementwise op, or NULL: requantization only
  int opset;
  Attr *attrs;
  int nattrs;
  Value **in;                // its inputs (constants), the table's input at position X_INDEX
  int nin, x_index;
} QTableOp;
// The 256 entries Q(f(DQ(x))) for each byte of x (a constant in WITH), NULL if they cannot
// be computed at compile time.
Value *qtable_values(Compiler *cc, Graph *with, const QTableOp *f, DType xt, float xs, int32_t xz, DType yt, float ys,
                     int32_t yz);
Node *qtable_node(Compiler *cc, Graph *with, const char *name, Value *x, Value *table);
// Replaces QLinearSigmoid / QLinearLeakyRelu / QLinearConcat node N by the nodes computing it.
bool qlinear_expand(Compiler *cc, Node *n);
// A QLinearAdd or QLinearMul node (KIND) with constant parameters, its output clamped to
// [LO, HI] (fused Relu).
Node *qbinary_node(Compiler *cc, Graph *with, OpKind kind, const char *name, Value *a, float sa, int32_t za, Value *b,
                   float sb, int32_t zb, DType yt, float sy, int32_t zy, int32_t lo, int32_t hi);
InferFn infer_QTable, infer_qlinear_unary, infer_qlinear_binary, infer_QLinearConcat, infer_qlinear_pool;
LowerFn lower_QTable, lower_qlinear_pool;
ScalarFn scalar_qlinear_binary;

// qconv.c — the QConv node of a quantized convolution (NULL when int32 cannot hold it), and
// the patch rows (im2col, channels last) float convolutions over compressed weights share.
typedef struct {
  ConvGeom g;
  int64_t batch, cin, cout, cpg, mpg, ksp; // ksp: kernel positions
  int64_t in_sp[3], out_sp[3], in_pixels, pixels;
  bool unit;                 // 1x1, stride 1, no padding
} PatchGeom;
PatchGeom patch_geometry(Compiler *cc, Node *src, const Shape *xs, const Shape *ws, Shape *y);
// Image IMG of X (NCHW, type XT) into DST channels last, converted to DT, flipped if FLIP.
void patch_nhwc(KB *kb, const PatchGeom *p, LLVMValueRef x, DType xt, LLVMValueRef img, LLVMValueRef dst, DType dt, bool flip);
// Patch rows of output pixels [P0, P0 + COUNT) of group GRP from the NHWC copy XT (elements of
// ESIZE bytes) into PANEL, ROW_ELEMS elements per row (K ordered (kernel position, channel),
// zeros after K); positions outside the input are filled with PAD_BYTE.
void patch_rows(KB *kb, const PatchGeom *p, LLVMValueRef xt, int esize, LLVMValueRef grp, LLVMValueRef p0, int64_t count,
                LLVMValueRef panel, int64_t row_elems, int pad_byte);
// Weight (k, n) of a convolution in that K order.
int32_t conv_weight(const QLinearSpec *s, int64_t k, int64_t n, int64_t K, int64_t N);
Node *qconv_build(Compiler *cc, Graph *with, const QLinearSpec *s, const Target *t);
InferFn infer_QConv, infer_QConvTranspose;
LowerFn lower_QConv, lower_QConvTranspose;
// The QConvTranspose node of a quantized transposed convolution (SRC: the inferred
// ConvTranspose, per-channel weights only with one group).
Node *qconvtranspose_build(Compiler *cc, Graph *with, const QLinearSpec *s);

// wgemm.c — float activations times compressed (int8/int4 with scales, float16/bfloat16) or
// sparse weights: WGemm (rows of X) and WConv (patch rows), sharing one core.
typedef enum { WFMT_F16, WFMT_BF16, WFMT_I8, WFMT_U8, WFMT_I4, WFMT_U4, WFMT_SPARSE } WFormat;
typedef struct {
  Node *src;                 // the node replaced (its name; a convolution's attributes)
  Value *x;                  // float activations
  int64_t K, N, groups;      // output channel g * N + j is column j of group g
  WFormat fmt;
  int64_t block;             // integer codes: weights per scale along K (0: all of K)
  const float *scale;        // [K blocks][groups * N]
  const int32_t *zp;         // [K blocks][groups * N], or NULL (symmetric)
  const float *bias;         // [groups * N], or NULL
  // The weight (k, channel): the integer code, or the value for float and sparse formats.
  double (*weight)(const void *ctx, int64_t k, int64_t ch);
  const void *ctx;
} WLinearSpec;
typedef struct {
  WFormat fmt;
  int lanes, mr;
  int64_t N, K, groups, block, kblocks, nblocks;
  int64_t nonzero_blocks;    // sparse: blocks of lanes weights stored
  bool has_zp, has_bias;
} WCore;
const char *wformat_name(WFormat f);
// Fraction of (k, block of lanes columns) holding a nonzero weight.
double wsparse_density(const WLinearSpec *s, int lanes);
bool wcore_build(Compiler *cc, Graph *with, Node *n, WCore *c, const WLinearSpec *s, const Target *t);
void wcore_emit(KB *kb, Node *n, const WCore *c, LLVMValueRef grp, LLVMValueRef x, DType xt, int64_t lda, int64_t rows,
                LLVMValueRef y, int64_t row_stride, int64_t col_stride);
Node *wgemm_build(Compiler *cc, Graph *with, const WLinearSpec *s, const Target *t, int64_t M, Shape y_shape);
Node *wconv_build(Compiler *cc, Graph *with, const WLinearSpec *s, const Target *t, const Shape *ws);
InferFn infer_WGemm, infer_WConv, infer_MatMulNBits;
LowerFn lower_WGemm, lower_WConv;
// Replaces MatMulNBits node N by a WGemm (NULL if it cannot).
Node *matmulnbits_expand(Compiler *cc, Node *n, const Target *t);

#endif
