// gemm_kernel.h — the f32 GEMM engine the dense ops lower to (gemm_kernel.c): a register-blocked
// microkernel (an MR x NV tile of vector accumulators, a K loop of broadcast-FMAs) sized from the
// target's vector width and register count, with constant operands packed at compile time.
//
//   C[M x N] = alpha * A[M x K] B[K x N] (+ C) (+ bias)
//
// A is the broadcast side (one element per row and k), B the vector side (VL contiguous
// columns), so C's columns must be contiguous. Dense ops put their weights where they fit:
// Conv's weights are A (output channels are rows, pixels columns), a MatMul's constant right
// operand is B.
#ifndef EDGECC_GEMM_KERNEL_H
#define EDGECC_GEMM_KERNEL_H

#include "../compiler.h"
#include "ops.h"

typedef struct {
  int mr;  // rows of a tile (the last row tile may have fewer)
  int nv;  // vectors per tile row
  int vl;  // f32 lanes of a vector (1 on targets without a vector unit)
} GemmTile;

typedef enum { GEMM_BIAS_NONE, GEMM_BIAS_ROW, GEMM_BIAS_COL } GemmBias;

typedef struct GemmArgs GemmArgs;
// Called after each tile is stored: rows [r0, r0 + h), columns [c0, c0 + w) of C are final.
typedef void GemmTileFn(KB *kb, const GemmArgs *g, LLVMValueRef r0, int64_t h, LLVMValueRef c0, int64_t w);
// Applied to each result vector before it is stored: row ROW, columns [col, col + valid).
typedef LLVMValueRef GemmVectorFn(KB *kb, const GemmArgs *g, LLVMValueRef v, LLVMValueRef row, LLVMValueRef col,
                                  int valid);

struct GemmArgs {
  int64_t M, N, K;
  LLVMValueRef rows;     // optional: the rows at run time (at most M; A not packed), for an A
                         // whose rows are data-dependent
  GemmTile tile;
  LLVMValueRef a;        // packed (gemm_pack_a) when a_packed, else element (r, k) at a[r*a_rs + k*a_cs]
  bool a_packed;
  int64_t a_rs, a_cs;
  LLVMValueRef b;        // packed (gemm_pack_b) when b_packed, else row k starts at b[k*b_rs] or,
  bool b_packed;         // with b_rows (i32[K]), at b[b_rows[k]]; columns are contiguous
  int64_t b_rs;
  LLVMValueRef b_rows;
  LLVMValueRef b_pack;   // optional, B not packed: scratch of gemm_pack_floats() floats where
                         // each column panel is packed before its tiles run
  LLVMValueRef c;        // element (r, j) at c[r*c_rs + j]
  int64_t c_rs;
  double alpha;
  bool accumulate;       // add C's previous contents
  GemmBias bias_kind;    // f32 bias per row or per column, added after alpha
  LLVMValueRef bias;
  GemmVectorFn *vector_done; // optional: the epilogue of each result vector, in registers
  GemmTileFn *tile_done;     // optional: the epilogue of a finished tile, in memory
  void *ctx;                 // for both
  LLVMValueRef *capture[MAX_RANK + 2]; // values the callbacks read (for parallel loops)
  int ncapture;
};

// Threads the generated code may use: --threads, 1 on bare metal. Scratch that each thread
// needs its own of (packed panels, convolution planes) is reserved this many times.
int gemm_threads(const Compiler *cc);
// The tile for an M x N product on the compilation's target.
GemmTile gemm_choose_tile(const Compiler *cc, int64_t M, int64_t N);
// Whether packing each panel of a run-time B pays: its K rows are then read by several row
// tiles (and the panel's size in floats, for the scratch).
static inline bool gemm_pack_pays(GemmTile t, int64_t M) { return M > t.mr; }
static inline int64_t gemm_pack_floats(GemmTile t, int64_t K) { return K * t.nv * t.vl; }
// A constant A (element (r, k) at src[r*rs + k*cs]) in the microkernel's layout: row tiles of
// tile.mr rows one after the other, each k-major ([K][rows of the tile]). M*K floats.
float *gemm_pack_a(Pool *p, const float *src, int64_t rs, int64_t cs, int64_t M, int64_t K, GemmTile t);
// A constant B (element (k, j) at src[k*rs + j*cs]) as column panels of nv*vl columns, each
// k-major ([K][panel width]); the last panel is zero-padded to whole vectors.
float *gemm_pack_b(Pool *p, const float *src, int64_t rs, int64_t cs, int64_t K, int64_t N, GemmTile t,
                   int64_t *count);
// A packed operand as a constant global of the module, aligned for vector loads.
LLVMValueRef gemm_constant(KB *kb, const float *data, int64_t count);
// f32 vectors of VL lanes (plain floats when VL is 1): a load whose lanes past VALID are not
// read (zero), and a broadcast.
LLVMValueRef vec_load(KB *kb, LLVMValueRef base, LLVMValueRef idx, int vl, int valid);
void vec_store(KB *kb, LLVMValueRef base, LLVMValueRef idx, LLVMValueRef v, int vl, int valid);
LLVMValueRef vec_splat(KB *kb, LLVMValueRef s, int vl);
LLVMValueRef vec_mask(KB *kb, int vl, int valid); // <vl x i1>: the first VALID lanes
int vec_lanes(const Compiler *cc);                // f32 lanes of the target's vectors
// Emits the product; loops over column panels (outer) and row tiles (inner).
void gemm_emit(KB *kb, const GemmArgs *g);

// Input I of a node that may host an epilogue: NULL when absent, omitted, or when the index
// belongs to the epilogue's operands appended after the op's own inputs (a Conv without bias
// whose input 2 is a fused Add's operand).
static inline Value *own_input(const Node *n, int i) {
  return n->epilogue && i >= n->epilogue->first_input ? NULL : node_input(n, i);
}

// epilogue.c — the host node's fused elementwise ops (Node.epilogue) in its lowering.
// V' for output element V at multi-index IDX of the host's output 0.
LLVMValueRef epilogue_apply(KB *kb, const Node *host, LLVMValueRef v, const LLVMValueRef *idx);
// Applies them in place over the whole output (lowerings that store plain results first).
void epilogue_apply_all(KB *kb, const Node *host);
// How element (row, col) of a GEMM call maps to the host's output index: dims with a fixed
// index (loop variables of the caller), the row (plus ROW_BASE) decomposed over dims
// [row_first, row_first + row_n), the column over [col_first, col_first + col_n).
typedef struct {
  const Node *host;
  LLVMValueRef fixed[MAX_RANK]; // NULL: computed from the row or column (or 0)
  LLVMValueRef row_base;
  int row_first, row_n, col_first, col_n;
} EpilogueMap;
// Sets G's epilogue (ctx M): on the result vectors when every fused op computes on vectors
// and every operand is contiguous or constant along the columns, else on finished tiles.
void epilogue_attach(GemmArgs *g, EpilogueMap *m);
// The test and the vector form used there: V is the VL-lane vector of element (ROW, COL)
// onwards along the columns, VALID lanes of it real.
bool epilogue_vectorizable(const EpilogueMap *m);
LLVMValueRef epilogue_vector(KB *kb, const EpilogueMap *m, int vl, LLVMValueRef v, LLVMValueRef row, LLVMValueRef col,
                             int valid);

// conv_gemm.c — convolution as a product over stride-phase planes of the padded input.
typedef struct {
  int64_t C, H, W, KH, KW, sh, sw, dh, dw, pt, pl, OH, OW; // 1-D convolutions have H = 1
  int64_t group, cpg, mpg;  // groups, input and output channels per group
  int64_t K, N;             // the product's depth (cpg*KH*KW) and width ((OH-1)*Wq + OW)
  int64_t Hq, Wq, plane;    // phase plane rows, columns, floats
  bool phase_used[64];      // phase ph*sw + pw is read by some tap
  int phase_index[64];      // its plane among the used ones, -1 when unused
  int nphases;
  bool copy_input;          // the planes are built in scratch (else they are the input)
  bool crop;                // the product is Wq wide and copied out (else it is the output)
  bool pack;                // B's column panels are packed (gemm_pack_pays)
  bool transposed;          // pixels as rows, output channels as columns (small outputs)
  int64_t chunk_rows;       // output rows computed (and cropped) at a time
  int64_t planes_bytes;     // scratch bytes of one set of planes (one per thread when grouped)
  int64_t z_bytes;          // and of the Wq-wide product of a chunk or group
  int64_t out_offset;       // scratch byte offset of the Wq-wide product
  int64_t pack_offset;      // and of the packed panel
  int64_t scratch;          // scratch bytes
} ConvGemm;

// The phase-plane geometry of P from its C, H, W, kernel, strides, dilations, pads and output
// size: Wq, Hq, N, plane, the phases used, whether the planes are a copy. False when the
// strides have too many phases.
bool conv_plane_geometry(ConvGemm *p);
// The phase planes of CHANNELS channels of one image X into PLANES (p->nphases planes of
// p->plane floats per channel), zero where they cover padding.
void conv_emit_planes(KB *kb, const ConvGemm *p, LLVMValueRef x, LLVMValueRef planes, int64_t channels);

// conv_winograd.c — 3x3 stride-1 convolutions by Winograd's F(m x m, 3 x 3), m = 2 or 4.
typedef struct {
  int m, alpha;             // output tile side, input tile side (m + 2)
  int64_t TH, TW;           // tile rows and columns
  ConvGemm planes;          // the input's stride-m phase planes: an alpha x alpha, stride m
                            // convolution over TH x TW outputs reads tile (th, tw)'s window
  GemmTile tile;            // of the products, Cout x (a chunk's tiles) x Cin
  int64_t chunk_rows;       // tile rows transformed and multiplied at a time
  int64_t v_rs;             // row stride of the transformed input V and products M, floats
  int64_t planes_bytes, work_bytes; // scratch: the planes, then V, M and a packed panel per worker
  int64_t scratch;
} ConvWinograd;
// Whether Winograd is the cheaper way to compute node N, whose direct plan is P; fills W.
bool conv_winograd_plan(const Node *n, const ConvGemm *p, ConvWinograd *w);
void conv_winograd_lower(KB *kb, Node *n, const ConvGemm *p, const ConvWinograd *w);

// conv_depthwise.c — one channel per group, straight from the input in vectors.
bool conv_depthwise_applies(const ConvGemm *p, const Compiler *cc);
void conv_depthwise_lower(KB *kb, Node *n, const ConvGemm *p);

// Whether node N (a Conv of geometry G) runs on the engine; fills P.
bool conv_gemm_plan(const Node *n, const ConvGeom *g, ConvGemm *p);
void conv_gemm_lower(KB *kb, Node *n, const ConvGemm *p);

#endif
