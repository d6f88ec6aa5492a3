// compiler.h — the shared types of edgecc, sectioned by the file that owns them.
//
// Data flows one way:  onnx/ (load) → ir/ (graph) → passes/ (infer, fold, dce, plan)
//                      → codegen/ (LLVM module) → emit (object + header).
// Every op is one row of ops/ops.def; its inference and lowering live in one ops/*.c file.
#ifndef EDGECC_COMPILER_H
#define EDGECC_COMPILER_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

typedef struct Compiler Compiler;
typedef struct Options Options;
typedef struct Graph Graph;
typedef struct Value Value;
typedef struct Node Node;
typedef struct Attr Attr;
typedef struct OpDesc OpDesc;
typedef struct Target Target;
typedef struct KB KB;
typedef struct ValueBinding ValueBinding;
typedef struct RtShape RtShape;

#define countof(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MAX_RANK 8

//
// util/pool.c — one bump allocator per compilation, freed at once
//
typedef struct PoolBlock PoolBlock;
typedef struct {
  PoolBlock *head; // newest block first
} Pool;

void *pool_alloc(Pool *p, size_t n);           // zero-filled, 16-byte aligned
void *pool_dup(Pool *p, const void *src, size_t n);
char *pool_strdup(Pool *p, const char *s);
char *pool_printf(Pool *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pool_free(Pool *p);

// A growable array of pointers living in a pool.
typedef struct {
  void **items;
  int len;
  int cap;
} PtrVec;
void vec_push(Pool *p, PtrVec *v, void *item);

// String-keyed hash map (util/map.c); keys are not copied.
typedef struct {
  const char **keys;
  void **vals;
  int len, cap;
} StrMap;
void map_put(Pool *p, StrMap *m, const char *key, void *val);
void *map_get(const StrMap *m, const char *key);

// Growable text buffer (malloc-backed: diagnostics outlive the pool).
typedef struct {
  char *buf;
  size_t len, cap;
} StrBuf;
void sb_printf(StrBuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_vprintf(StrBuf *sb, const char *fmt, va_list ap);
void sb_free(StrBuf *sb);

//
// util/diag.c — errors in the one format users grep for:
//   edgecc: error: <file>: node '<name>' (<op>): <what>
//
void error_at(Compiler *cc, const Node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void warn_at(Compiler *cc, const Node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
_Noreturn void fatal_at(Compiler *cc, const Node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void bail_if_errors(Compiler *cc); // longjmps out of the pipeline when errors were reported
// Runs FN(CC, ARG) catching its errors: NULL when it succeeds; else the first error's text
// (without "edgecc: error: <file>: "), and the diagnostics are left as before the call.
const char *try_catch(Compiler *cc, void (*fn)(Compiler *cc, void *arg), void *arg);

//
// util/fs.c — whole-file reads, atomic writes (no partial output), temp dirs, processes
//
bool read_file(const char *path, uint8_t **data, size_t *len); // malloc'd; false + errno on failure
char *path_dirname(Pool *p, const char *path);
char *path_stem(Pool *p, const char *path); // "dir/m.onnx" -> "m"
char *path_replace_ext(Pool *p, const char *path, const char *ext);
// Opens PATH.tmpXXXXXX for writing; commit renames it over PATH, abort removes it.
typedef struct {
  FILE *f;
  char *path;
  char *tmp;
} AtomicFile;
bool atomic_open(AtomicFile *af, const char *path);
bool atomic_commit(AtomicFile *af);
void atomic_abort(AtomicFile *af);
char *make_temp_dir(const char *tag);    // malloc'd path
void remove_tree(const char *path);
// Runs ARGV (argv[0] searched in PATH); captures stdout+stderr into OUT if non-NULL.
// Returns the exit status, or -1 when it could not start, 128+sig when killed, 124 on timeout.
int run_process(char *const argv[], StrBuf *out, int timeout_seconds);

//
// ir/dtype.c — element types; the numbers are ONNX TensorProto.DataType
//
typedef enum {
  DT_UNDEF = 0,
  DT_F32 = 1,
  DT_U8 = 2,
  DT_I8 = 3,
  DT_U16 = 4,
  DT_I16 = 5,
  DT_I32 = 6,
  DT_I64 = 7,
  DT_STRING = 8,
  DT_BOOL = 9,
  DT_F16 = 10,
  DT_F64 = 11,
  DT_U32 = 12,
  DT_U64 = 13,
  DT_C64 = 14,
  DT_C128 = 15,
  DT_BF16 = 16,
  DT_U4 = 21,
  DT_I4 = 22,
  DT_COUNT_ = 23,
} DType;

int dtype_size(DType t);          // bytes per element in compiler memory (strings: host pointers)
const char *dtype_name(DType t);  // "f32", "i64", ...
const char *dtype_onnx_name(DType t); // "float", "int64", ...
const char *dtype_c_type(DType t);    // C type in generated headers ("float", "uint16_t")
bool dtype_is_float(DType t);     // f16, bf16, f32, f64
bool dtype_is_int(DType t);       // signed or unsigned integers (not bool)
bool dtype_is_signed(DType t);    // signed integers and floats
bool dtype_supported(DType t);    // an element type the compiler can compute with
DType dtype_compute(DType t);     // the type arithmetic happens in (f16, bf16 -> f32)
double dtype_get(DType t, const void *data, int64_t i);  // element i as double
int64_t dtype_get_int(DType t, const void *data, int64_t i);
void dtype_set(DType t, void *data, int64_t i, double v);
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bf16_to_float(uint16_t h);
uint16_t float_to_bf16(float f);

//
// ir/graph.c — the tensor IR
//
typedef struct {
  int rank;
  int64_t dim[MAX_RANK];
} Shape;

#define DYN_DIM(d) ((uint16_t)(1u << (d)))              // Value::dynamic bit of dim d
#define DYN_ALL(rank) ((uint16_t)((1u << (rank)) - 1u)) // every dim of a tensor of RANK

// No tensor may hold more bytes than this: dims beyond it are malformed, not large.
#define MAX_TENSOR_BYTES (INT64_C(1) << 40)
int64_t shape_numel(const Shape *s);
bool shape_fits(const Shape *s, DType dt); // non-negative dims, at most MAX_TENSOR_BYTES
bool shape_eq(const Shape *a, const Shape *b);
char *shape_str(Pool *p, const Shape *s); // "1x3x224x224", "scalar"
Shape shape_of(int rank, const int64_t *dims);

typedef enum {
  VAL_TENSOR,   // an ordinary tensor
  VAL_SEQUENCE, // a sequence of tensors known at compile time (elems)
  VAL_OPTIONAL, // an optional: elems holds zero or one tensor
} ValueType;

struct Value {
  const char *name;
  int id;              // index in graph->values, stable for the compilation
  ValueType type;
  DType dtype;
  Shape shape;         // static shape; an upper bound when dynamic
  bool typed;          // dtype and shape are known (after loading or inference)
  const char **dim_param; // graph inputs only: symbolic name per dim (NULL when fixed)
  Node *producer;      // NULL for graph inputs and initializers
  void *data;          // constant contents, row-major; NULL when computed at run time
  Value **elems;       // VAL_SEQUENCE / VAL_OPTIONAL members
  int nelems;
  int input_index;     // >= 0 for graph inputs
  int output_index;    // >= 0 for graph outputs
  uint16_t dynamic;    // data-dependent dims (DYN_DIM(d) set: dim d is known only at run time,
                       // shape.dim[d] is its upper bound); 0: the shape is static
  bool initializer;    // listed in the graph's initializers
  int64_t max_strlen;  // string tensors: bound on every element's length in bytes (no NUL)
  // Memory plan (passes/plan.c)
  Value *alias_of;     // view: shares the storage of this value
  int64_t offset;      // arena byte offset of tensor data; -1 when not in the arena
  int64_t dims_offset; // arena byte offset of the run-time dims of a dynamic value; -1 otherwise
  int64_t nbytes;      // storage size
};

typedef enum {
  ATTR_UNDEF = 0,
  ATTR_FLOAT = 1,
  ATTR_INT = 2,
  ATTR_STRING = 3,
  ATTR_TENSOR = 4,
  ATTR_GRAPH = 5,
  ATTR_FLOATS = 6,
  ATTR_INTS = 7,
  ATTR_STRINGS = 8,
  ATTR_TENSORS = 9,
  ATTR_GRAPHS = 10,
  ATTR_SPARSE_TENSOR = 11,
  ATTR_SPARSE_TENSORS = 12,
  ATTR_TYPE_PROTO = 13,
  ATTR_TYPE_PROTOS = 14,
} AttrType;

struct Attr {
  const char *name;
  AttrType type;
  float f;
  int64_t i;
  const char *s;        // strings are NUL-terminated copies
  size_t slen;
  Value *t;             // ATTR_TENSOR: a constant value
  Graph *g;             // ATTR_GRAPH
  int n;                // element count of the list forms
  float *floats;
  int64_t *ints;
  const char **strings;
  Value **tensors;
  Graph **graphs;
  DType type_dtype;     // ATTR_TYPE_PROTO: the element type (of the innermost tensor type)
};

struct Node {
  const char *name;    // ONNX name, or "<op>_<index>" when the model has none
  const char *op_type;
  const char *domain;  // "" for ai.onnx
  const OpDesc *op;    // NULL when unsupported
  int opset;           // version of the node's domain imported by the model
  Graph *graph;        // owning graph
  Value **in;          // in[i] == NULL: omitted optional input
  int nin;
  Value **out;         // out[i] == NULL: omitted optional output
  int nout;
  Attr *attrs;
  int nattrs;
  void *priv;          // op-specific data computed by inference for lowering
  int64_t scratch;     // bytes of arena scratch the lowering needs (set by inference)
  int64_t scratch_offset;
  const char *kernel;  // the implementation lowering chose, for --report (NULL: the op's)
  bool inferred;       // inference ran (nodes spliced in already inferred are not redone)
  bool scratch_persists; // the scratch holds data the outputs point to (the characters of
                         // computed strings): it lives until the end of the run
  bool may_fail;       // its function returns an edgecc_status: an If branch compiled as an
                       // error path, or a subgraph holding such a node
  struct Epilogue *epilogue; // elementwise ops applied to output 0 as it is stored, or NULL
};

struct Graph {
  Compiler *cc;
  Graph *parent;       // enclosing graph of a subgraph (outer-scope names resolve there)
  const char *name;
  PtrVec values;       // Value*, every value the graph owns
  PtrVec nodes;        // Node*, in topological order after sort
  PtrVec inputs;       // Value*, graph inputs (initializers excluded)
  PtrVec outputs;      // Value*, graph outputs
  PtrVec output_names; // const char*, their ONNX names (inference may replace the values)
  ValueType *output_kinds; // their declared kinds: tensor, sequence or optional
  int opset_onnx;      // imported opset versions
  int opset_ml;
  int opset_ms;
  int opset_training;
};

Graph *graph_new(Compiler *cc, Graph *parent, const char *name);
Value *graph_new_value(Graph *g, const char *name);
Node *graph_new_node(Graph *g, const char *op_type, const char *domain, const char *name,
                     int nin, int nout);
Value *graph_const(Graph *g, const char *name, DType dt, Shape shape, const void *data);
Value *graph_find_value(Graph *g, const char *name); // searches enclosing graphs too
void graph_remove_dead(Graph *g);                   // drops values nothing refers to
void graph_replace_uses(Graph *g, Value *old, Value *new); // in nodes, subgraphs and outputs
int value_uses(const Graph *g, const Value *v);     // node inputs referring to v (all subgraphs)
const Attr *node_attr(const Node *n, const char *name);
int64_t attr_int(const Node *n, const char *name, int64_t dflt);
float attr_float(const Node *n, const char *name, float dflt);
const char *attr_string(const Node *n, const char *name, const char *dflt);
int attr_ints(const Node *n, const char *name, const int64_t **vals); // -1 when absent
int attr_floats(const Node *n, const char *name, const float **vals);
Value *node_input(const Node *n, int i);            // NULL when absent or omitted
int64_t value_int(const Value *v, int64_t i);        // element i of a constant as int64
double value_double(const Value *v, int64_t i);
int64_t value_bytes(const Value *v);
// The tensors V stands for at run time: V itself, or the members of a sequence or optional
// (recursively), in order. Returns the count; OUT (may be NULL) receives them.
int value_tensors(Value *v, Value **out);
Value **tensors_of(Pool *p, Value *v, int *count); // the same, in an array from P
// Values of enclosing graphs that G's nodes (and their subgraphs) read at run time: not
// owned by G, not constants. The node owning G gets them as extra inputs.
int graph_captures(Graph *g, Value ***out);
// Copies SRC's nodes (with their values and nested subgraphs) to the end of DST, uninferred:
// value FROM[i] becomes TO[i] (SRC's inputs, outer values). Returns what SRC's outputs became.
Value **graph_clone_into(Graph *src, Graph *dst, Value **from, Value **to, int nbind);
// The bound on the element lengths of a string tensor: exact for constants, else max_strlen
// (graph inputs: --max-string-length; computed strings: set by their op's inference; copies
// of strings: the bound of their inputs, see set_output).
int64_t value_max_strlen(const Value *v);

//
// ir/verify.c — invariants every pass must keep
//
void verify_graph(Compiler *cc, Graph *g);

//
// ir/print.c — the text form (--emit=ir)
//
void print_graph(FILE *out, Graph *g);

//
// onnx/load.c — ONNX protobuf → IR
//
Graph *load_model(Compiler *cc, const char *path);
Value *load_tensor_file(Compiler *cc, Graph *g, const char *path, const char *name);

//
// onnx/tensor.c — TensorProto <-> Value
//
struct Onnx__TensorProto;
Value *tensor_from_proto(Compiler *cc, Graph *g, const struct Onnx__TensorProto *tp,
                         const char *model_dir, const char *what);
bool tensor_write_file(const char *path, const char *name, DType dt, const Shape *shape,
                       const void *data);
// A TensorProto, SequenceProto or OptionalProto file (KIND says which) as a value; the
// members of sequences and optionals are constant tensors (optionals may hold a sequence).
Value *load_value_file(Compiler *cc, Graph *g, const char *path, ValueType kind, const char *name);
// Writes a SequenceProto of COUNT tensors, or an OptionalProto holding one tensor, a
// sequence of them (HOLDS_SEQUENCE) or nothing (COUNT 0).
bool container_write_file(const char *path, const char *name, ValueType kind, bool holds_sequence, int count,
                          const DType *dts, const Shape *shapes, void *const *data);

//
// ops/table.c — the op table (rows in ops/ops.def)
//
typedef void InferFn(Compiler *cc, Node *n);
typedef void LowerFn(KB *kb, Node *n);
typedef LLVMValueRef ScalarFn(KB *kb, const Node *n, LLVMValueRef *x, DType ct);
// The run-time dims OUT[i] of each tensor output i from the run-time dims of the inputs
// (kb_in_shape), mirroring the inference's shape rule: straight-line index arithmetic, with
// constants where a dim does not depend on data. See mark_dynamic_dims.
typedef void DimsFn(KB *kb, const Node *n, RtShape *out);

typedef enum {
#define OP(name, domain, first, last, infer, lower, scalar, dims, shape_inputs, required, max_in, flags, attrs) OP_##name,
#include "ops/ops.def"
#undef OP
  OP_COUNT_
} OpKind;

// Input masks of the table (shape-like and required inputs): IN(1)|IN(2), IN_RANGE(0, 7).
#define IN(i) (1u << (i))
#define IN_RANGE(first, last) (((2u << (last)) - 1) & ~((1u << (first)) - 1))

// What an op's functions can do, a column of the table.
typedef enum {
  OPF_VIEW = 1 << 0,    // output 0 shares input 0's storage (no copy; the planner aliases it)
  OPF_DYNAMIC = 1 << 1, // the lowering handles inputs of data-dependent shape (Value::dynamic)
  OPF_STRINGS = 1 << 2, // the op takes string tensors (moves their pointers or reads the text)
} OpFlags;

struct OpDesc {
  OpKind kind;
  const char *name;
  const char *domain;    // "" for ai.onnx
  int first_opset;       // oldest opset version of the domain we implement
  int last_opset;        // newest opset version whose semantics we implement
  InferFn *infer;        // types and shapes of outputs; may set node->priv
  LowerFn *lower;        // LLVM IR for the node (NULL: data-free ops folded or aliased away)
  ScalarFn *scalar;      // elementwise ops: the per-element computation (fusable)
  DimsFn *dims;          // output dims at run time (ops whose output shape follows the inputs')
  uint32_t shape_inputs; // bit i: input i is a shape-like operand needed at compile time
  uint32_t required;     // bit i: input i must be present
  int max_inputs;        // -1: variadic
  unsigned flags;        // OpFlags
  const char *attrs;     // comma-separated attribute names the op understands
};

extern const OpDesc op_table[OP_COUNT_];
const OpDesc *op_find(const char *domain, const char *name); // NULL if not in the table
void list_ops(FILE *out, bool markdown);

// Inference helpers shared by op families (ops/infer_util.c)
void set_output(Node *n, int i, DType dt, Shape shape);
Value *need_const(Compiler *cc, Node *n, int i);   // input i must be a compile-time constant
bool broadcast_shapes(const Shape *a, const Shape *b, Shape *out);
// Broadcasting where the dims A_DYN of A and B_DYN of B (Value::dynamic masks) are upper bounds
// of data-dependent dims: a static dim other than 1 fixes the result (the bound must then match
// at run time), two bounds give the larger one. *DYN (may be NULL): the result's dims that
// depend on data.
Shape broadcast_bounds(const Shape *a, unsigned a_dyn, const Shape *b, unsigned b_dyn, unsigned *dyn);
int norm_axis(Compiler *cc, const Node *n, int64_t axis, int rank); // negative axes, range check
bool is_view_op(const Node *n); // an OPF_VIEW op on a tensor: output 0 shares input 0's storage
Value *dynamic_tensor(Value *v); // V, or its first sequence member, of data-dependent shape; or NULL
bool has_dynamic_input(const Node *n);
bool has_dynamic_output(const Node *n);
// "input I ('x') has a data-dependent shape (produced by NonZero): <WHY>", the error of an op
// that takes such inputs only in some positions or forms (WHY NULL: "not supported by <op>").
_Noreturn void reject_dynamic(Compiler *cc, Node *n, int i, const char *why);

//
// passes/*.c — graph transformations, run in this order by api.c
//
void bind_inputs(Compiler *cc, Graph *g);   // apply --dim/--shape/--bind; error on unbound dims
const ValueBinding *find_binding(const Options *opt, const char *input); // --bind INPUT=..., or NULL
// The constant --bind gives graph input V (typed as the model declares it, if it does).
Value *binding_value(Compiler *cc, Graph *g, const Value *v, const ValueBinding *vb);
void check_supported(Compiler *cc, Graph *g); // every unsupported op, reported in one pass
void infer_graph(Compiler *cc, Graph *g);   // types, shapes, constant folding, If inlining
// Called by an op's inference: N is replaced, where it stands, by the nodes and values of
// WITH (inferred already or not); uses of N's output i become OUTS[i].
void replace_node(Compiler *cc, Node *n, Graph *with, Value **outs);
// Makes subgraph G, its inputs typed by the owning node's inference, ready to be lowered
// inside the owner's function: inference, dead code, materialized outputs and a memory plan
// of its own. Returns its arena size, which the owner includes in its scratch.
int64_t prepare_subgraph(Compiler *cc, Graph *g);
void eliminate_dead(Compiler *cc, Graph *g);
// passes/compress.c: --weights and --quantize (with calibration through the JIT) rewrite a
// float model into DequantizeLinear / QuantizeLinear form, which rewrite_quantized compiles
void compress_model(Compiler *cc, Graph *g);
// passes/qdq.c: quantized groups (DequantizeLinear -> op -> QuantizeLinear) and QOperator
// ops become integer kernels
void rewrite_quantized(Compiler *cc, Graph *g);
void materialize_outputs(Compiler *cc, Graph *g); // outputs get their own buffers
typedef struct {
  int64_t arena_size;   // bytes the caller provides
  int64_t lower_bound;  // peak of simultaneously live bytes
  int64_t const_bytes;  // weights in .rodata
} MemoryPlan;
MemoryPlan plan_memory(Compiler *cc, Graph *g);

// Graph optimizations, run after inference (each keeps every value's type and shape):
void fold_batchnorm(Compiler *cc, Graph *g); // passes/fold_batchnorm.c: Conv+BN -> Conv
// BN, a BatchNormalization in inference mode over CHANNELS channels whose other outputs are
// unused, as y = x * scale[c] + shift[c] (arrays from the pool); false for any other node.
bool batchnorm_affine(const Graph *g, const Node *bn, int64_t channels, double **scale, double **shift);
void fuse_epilogues(Compiler *cc, Graph *g); // passes/fuse_epilogue.c
// Elementwise nodes fused into the node (the host) that produces their operand: the host's
// lowering applies them to each element of its output 0 before storing it (ops/epilogue.c).
typedef struct Epilogue {
  Value *raw;        // the host's own result, which no longer gets a buffer
  PtrVec ops;        // Node*: the fused f32 elementwise nodes, in evaluation order
  int first_input;   // host inputs from here on are the ops' operands computed elsewhere
} Epilogue;

// passes/fold.c
bool fold_node(Compiler *cc, Node *n); // evaluates a node whose inputs are all constant

//
// codegen/kb.c — the kernel builder: loop nests and typed arithmetic in LLVM IR
//
typedef struct Loop {
  LLVMBasicBlockRef head, body, exit;
  LLVMValueRef iv;         // induction variable (t_idx)
  LLVMValueRef step;
  bool has_inner;          // another loop was opened inside this one
} Loop;

struct KB {
  Compiler *cc;
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMValueRef fn;         // function being built
  LLVMBasicBlockRef entry; // allocas go here
  const Node *node;        // node being lowered
  LLVMValueRef *in;        // data pointer of each node input (NULL when omitted or not a tensor)
  LLVMValueRef *out;       // data pointer of each node output (NULL when not a tensor)
  LLVMValueRef **in_elems; // every operand's tensors (value_tensors order): sequences and
  LLVMValueRef **out_elems; // optionals have one pointer per member, tensors their own
  LLVMValueRef *in_dims;   // run-time dims (i64[rank]) of dynamic inputs, else NULL
  LLVMValueRef *out_dims;  // where dynamic outputs store their run-time dims
  LLVMValueRef **in_elem_dims;  // the same for every operand's tensors (value_tensors order):
  LLVMValueRef **out_elem_dims; // sequence members have their own
  RtShape *out_shape;      // run-time dims of dynamic outputs, from the op's dims function
  LLVMValueRef scratch;    // the node's arena scratch (node->scratch bytes)
  LLVMTypeRef t_idx;       // pointer-sized integer of the target
  LLVMTypeRef t_ptr;
  int vector_bits;         // target vector register width
  bool force_vectorize;    // mark loops for vectorization (targets whose vector FP is not IEEE)
  int lanes;               // > 1: kb_const/kb_const_int give vectors of this many lanes, so
                           // scalar functions (OpDesc.scalar) compute on vectors
  int threads;             // > 1: kb_parallel_begin spreads loops over this many threads
  Loop *open_loops[32];    // loops begun and not yet ended, innermost last
  int nopen;
};


typedef struct {
  LLVMBasicBlockRef then_bb, else_bb, end_bb;
} IfBlock;

LLVMTypeRef kb_type(KB *kb, DType t);          // storage type of an element
LLVMTypeRef kb_ctype(KB *kb, DType t);         // compute type (f16 -> float, bool -> i1)
LLVMValueRef kb_idx(KB *kb, int64_t v);        // index constant
LLVMValueRef kb_const(KB *kb, DType ct, double v); // constant in compute type
LLVMValueRef kb_const_int(KB *kb, DType ct, int64_t v);
LLVMValueRef kb_gep(KB *kb, DType t, LLVMValueRef base, LLVMValueRef idx);
LLVMValueRef kb_load(KB *kb, DType t, LLVMValueRef base, LLVMValueRef idx);  // compute type
void kb_store(KB *kb, DType t, LLVMValueRef base, LLVMValueRef idx, LLVMValueRef v);
LLVMValueRef kb_convert(KB *kb, LLVMValueRef v, DType from, DType to); // compute-type cast
// Float32 V holding whole numbers to narrow integer type TO, saturated (NaN -> 0), without a
// float-to-integer instruction (qemu 7.2 aborts on RISC-V's vfcvt.rtz).
LLVMValueRef kb_integral_to_narrow(KB *kb, LLVMValueRef v, DType to);
LLVMValueRef kb_var(KB *kb, LLVMTypeRef t, LLVMValueRef init); // stack slot (promoted by mem2reg)
LLVMValueRef kb_get(KB *kb, LLVMTypeRef t, LLVMValueRef var);
void kb_set(KB *kb, LLVMValueRef var, LLVMValueRef v);
LLVMValueRef kb_for(KB *kb, Loop *l, int64_t n);   // for iv in [0, n)
LLVMValueRef kb_for_v(KB *kb, Loop *l, LLVMValueRef lo, LLVMValueRef hi, int64_t step);
void kb_end_for(KB *kb, Loop *l);
void kb_for_shape(KB *kb, Loop *loops, const Shape *s, LLVMValueRef *idx); // row-major nest
void kb_end_for_shape(KB *kb, Loop *loops, const Shape *s);
LLVMValueRef kb_flat(KB *kb, const Shape *s, LLVMValueRef *idx);     // row-major offset
LLVMValueRef kb_flat_strided(KB *kb, int rank, const int64_t *strides, LLVMValueRef *idx);
void kb_if(KB *kb, IfBlock *ib, LLVMValueRef cond);
void kb_else(KB *kb, IfBlock *ib);
void kb_end_if(KB *kb, IfBlock *ib);
// A read-only array of N elements of type T in the module (lookup tables computed at compile
// time); kb_load reads it like a buffer.
// Strings (DT_STRING, DATA an array of C strings) become an array of pointers to constant
// NUL-terminated copies.
LLVMValueRef kb_table(KB *kb, DType t, const void *data, int64_t n);
LLVMValueRef const_string_table(LLVMModuleRef mod, const char *const *strings, int64_t n);
int64_t kb_sizeof(KB *kb, DType t);  // bytes per element on the module's target
void kb_memcpy(KB *kb, LLVMValueRef dst, LLVMValueRef src, int64_t bytes);
void kb_memset(KB *kb, LLVMValueRef dst, int val, int64_t bytes);
LLVMValueRef kb_call_intrinsic(KB *kb, const char *name, LLVMTypeRef t, LLVMValueRef *args, int n);
// Returns STATUS (an edgecc_status) from the node's function, which must be Node::may_fail;
// code built afterwards is unreachable.
void kb_return_status(KB *kb, int status);
// Typed arithmetic on compute-type values; DType picks float/signed/unsigned forms.
LLVMValueRef kb_add(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef kb_sub(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef kb_mul(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef kb_div(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef kb_min(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef kb_max(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef kb_neg(KB *kb, DType ct, LLVMValueRef a);
LLVMValueRef kb_lt(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef kb_gt(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef kb_le(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef kb_ge(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef kb_eq(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef kb_select(KB *kb, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef kb_fma(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c);
// Float a * b + c rounded once on every target (llvm.fma), where kb_fma lets the backend
// round the product first; a libcall on targets without fused multiply-add.
LLVMValueRef kb_fma_exact(KB *kb, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c);
typedef enum { ROUND_EVEN, ROUND_FLOOR, ROUND_CEIL, ROUND_TRUNC, ROUND_HALF_AWAY } RoundMode;
LLVMValueRef kb_round(KB *kb, DType ct, LLVMValueRef x, RoundMode mode); // floats, no libcalls
// Run-time shapes, for ops that accept inputs of data-dependent shape (Value::dynamic): dims
// as t_idx values, constants where a dim is static, loaded from the value's run-time dims
// where it is data-dependent. Arithmetic on constants folds, so one lowering written with
// them serves static shapes too.
struct RtShape {
  int rank;
  LLVMValueRef dim[MAX_RANK];
};
RtShape kb_shape_const(KB *kb, const Shape *s);
RtShape kb_in_shape(KB *kb, int i);                      // input i of the node
RtShape kb_elem_shape(KB *kb, int i, int k);             // member k of input i (value_tensors order)
// Output i: the dims its op's dims function gave (dynamic outputs), else its static shape.
RtShape kb_out_shape(KB *kb, int i);
void kb_set_out_shape(KB *kb, int i, const RtShape *s);  // into out_dims[i] if output i is dynamic
void kb_set_elem_shape(KB *kb, int i, int k, const RtShape *s); // member k of output i, if dynamic
LLVMValueRef kb_numel(KB *kb, const RtShape *s);
LLVMValueRef kb_numel_range(KB *kb, const RtShape *s, int from, int to); // product of dims [from, to)
// Numpy broadcasting of A's and B's dims (aligned at the last); a dim where they do not
// broadcast becomes 0, so the result is empty and no operand is read out of its bounds.
RtShape kb_broadcast_shape(KB *kb, const RtShape *a, const RtShape *b);
void kb_strides(KB *kb, const RtShape *s, LLVMValueRef *st); // row-major element strides
void kb_for_rt(KB *kb, Loop *loops, const RtShape *s, LLVMValueRef *idx);
void kb_end_for_rt(KB *kb, Loop *loops, const RtShape *s);
LLVMValueRef kb_dot(KB *kb, int rank, const LLVMValueRef *idx, const LLVMValueRef *st); // sum idx*st
// A loop over [0, n) whose iterations run on kb->threads threads (the runtime's
// edgecc_parallel_for). The code built until kb_parallel_end goes into a function of its own:
// values it reads from outside must be listed in CAPTURE (addresses of the variables holding
// them; they hold the function's copies in between) — the node's buffers are passed anyway.
// Returns the iteration index; *WORKER is the running thread's index, for per-thread scratch.
typedef struct {
  LLVMValueRef outer_fn;
  LLVMBasicBlockRef outer_entry, outer_block;
  LLVMValueRef *slots[64];
  LLVMValueRef saved[64];
  int nslots;
  Loop loop;
  Loop *open_loops[32];
  int nopen;
} ParallelLoop;
LLVMValueRef kb_parallel_begin(KB *kb, ParallelLoop *p, int64_t n, LLVMValueRef **capture, int ncapture,
                               LLVMValueRef *worker);
void kb_parallel_end(KB *kb, ParallelLoop *p);

//
// codegen/sum.c — long sums in blocks: chunks of a few hundred terms per vector lane (summed in
// vector registers), the chunk sums added pairwise. Every long float sum goes through it.
//
#define KB_MAX_SUMS 4
#define KB_SUM_MAX_DIMS 64
// Fills TERMS[s] (of type TYPES[s]) with the terms at loop indices IDX, one per dim of the nest.
typedef void SumTermFn(KB *kb, LLVMValueRef *idx, LLVMValueRef *terms, void *ctx);
// SUMS[s] = the sum over the nest of RANK <= KB_SUM_MAX_DIMS dims (innermost last) of TERM's
// s-th value, for NSUMS <= KB_MAX_SUMS sums of integers, floats or float vectors. DIMS are the
// trip counts at run time (t_idx), BOUNDS their upper bounds; DIMS NULL: the bounds are the
// dims. TERM may build any code (stores too); it may be built more than once.
void kb_sum(KB *kb, int nsums, const LLVMTypeRef *types, int rank, const int64_t *bounds, const LLVMValueRef *dims,
            SumTermFn *term, void *ctx, LLVMValueRef *sums);

//
// codegen/math.c — transcendentals as inline polynomials (vectorizable, no libm for f32)
//
LLVMValueRef math_exp(KB *kb, DType ct, LLVMValueRef x);
LLVMValueRef math_log(KB *kb, DType ct, LLVMValueRef x);
LLVMValueRef math_tanh(KB *kb, DType ct, LLVMValueRef x);
LLVMValueRef math_sigmoid(KB *kb, DType ct, LLVMValueRef x);
LLVMValueRef math_erf(KB *kb, DType ct, LLVMValueRef x);
LLVMValueRef math_libm(KB *kb, const char *intrinsic, DType ct, LLVMValueRef x);
LLVMValueRef math_pow(KB *kb, DType ct, LLVMValueRef x, LLVMValueRef y);

//
// codegen/module.c — one LLVM module per model
//
typedef struct {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMTargetMachineRef tm;
} Module;
// Lowers one node into an internal function taking its buffers as noalias pointers:
// (inputs..., outputs..., [dims of dynamic inputs...], [dims of dynamic outputs...], scratch);
// sequences and optionals pass their member tensors.
LLVMValueRef lower_node_function(Compiler *cc, LLVMModuleRef mod, Node *n, const char *fn_name);
// Which dims of N's outputs are data-dependent (Value::dynamic), after its inference: the op's
// dims function is built on the inputs' run-time dims, and a dim is data-dependent exactly when
// its value there is not a constant (which must equal the inferred bound). Ops without one
// (data-dependent sizes) mark their outputs in inference; inputs' dims may flow to any dim.
void mark_dynamic_dims(Compiler *cc, Node *n);
// Emits calls of the lowered nodes of subgraph G (prepared with prepare_subgraph) into the
// function KB builds: tensor VALS[i] lives at PTRS[i] (G's inputs and outputs, outer values);
// G's other values at their plan offsets from BASE, inside the owner's scratch.
void kb_call_graph(KB *kb, Graph *g, Value **vals, LLVMValueRef *ptrs, int nbound, LLVMValueRef base);
Module build_module(Compiler *cc, Graph *g, const MemoryPlan *plan, const char *prefix);
void optimize_module(Compiler *cc, Module *m);

//
// codegen/emit.c — object, assembly, IR and bitcode output
//
typedef enum { EMIT_OBJ, EMIT_ASM, EMIT_LLVM, EMIT_BC, EMIT_IR } EmitKind;
void emit_module(Compiler *cc, Module *m, EmitKind kind, const char *path);
void dispose_module(Module *m);

//
// codegen/header.c — the generated C header
//
void emit_header(Compiler *cc, Graph *g, const MemoryPlan *plan, const char *prefix,
                 const char *path);

//
// codegen/report.c — what the model costs on the device (--report)
//
typedef enum { REPORT_NONE, REPORT_TEXT, REPORT_JSON } ReportFormat;
typedef struct {
  const char *function;
  int64_t bytes;
} StackSize;
void write_report(Compiler *cc, Graph *g, const MemoryPlan *plan, Module *m);
// Multiply-accumulates of the ops that dominate inference time; other ops count 0.
int64_t node_macs(const Node *n);
void note_stack_size(Compiler *cc, const char *llvm_message); // from LLVM's diagnostics

//
// passes/lint.c — warnings about suspicious models
//
void lint_initializers(Compiler *cc, Graph *g); // as loaded: initializers no node uses
void lint_model(Compiler *cc, Graph *g);        // after inference; -Werror applies here

//
// codegen/jit.c — in-process evaluation of lowered nodes (constant folding)
//
bool jit_eval_node(Compiler *cc, Node *n, void **out_data, int64_t (*out_dims)[MAX_RANK]);
// Node N compiled once for the host, to run many times (calibration): a function taking its
// buffers in an array (inputs, outputs, dims of dynamic ones, scratch). NULL on error.
typedef void JitFn(void **buffers);
JitFn *jit_compile_node(Compiler *cc, Node *n);
void jit_shutdown(void); // at process exit: the JIT is shared by all compilations

//
// embedded.c (generated at build time) — target files, schema and runtime sources, so that
// the edgecc binary works standalone
//
typedef struct {
  const char *path; // relative to the source tree: "targets/x86/x86-64.xml"
  const char *data;
  size_t len;
} EmbeddedFile;
extern const EmbeddedFile embedded_files[];
extern const int embedded_count;
const EmbeddedFile *embedded_find(const char *path);

//
// targets/target.c — target descriptions from XML
//
struct Target {
  const char *name;
  const char *aliases[4];   // other names accepted by -target
  int naliases;
  const char *description;
  const char *triple;       // LLVM triple
  const char *cpu;          // LLVM CPU name
  const char *features;     // LLVM feature string (+neon,+dotprod)
  const char *os;           // "linux" or "none" (bare metal)
  const char *float_abi;    // "hard", "soft", "softfp"
  int pointer_bits;         // 32 or 64
  int vector_bits;          // widest vector register, 0 = none
  int vector_registers;
  bool vector_flushes_denormals; // vector FP flushes denormals: vectorize loops on request
  int alignment;            // alignment of arena and weights, bytes
  int gemm_mr, gemm_nr;     // GEMM microkernel tile (rows x vector columns)
  bool int8_dot;            // has a 4-way int8 dot product instruction
  double sparse_density;    // float weights with fewer nonzero blocks than this run sparse (0: never)
  enum { HALF_NONE, HALF_CONVERT, HALF_NATIVE } float16; // float16 conversions / arithmetic in hardware
  const char *cc;           // C compiler for harnesses (run/check)
  const char *emulator;     // command prefix running target programs; empty = native
  const char *file;         // where the description came from
};

const Target *target_lookup(Compiler *cc, const char *name); // built-in or "host"
const Target *target_load_file(Compiler *cc, const char *path);
Target *target_override(Compiler *cc, const Target *t, const char *mcpu, const char *mattr);
void list_targets(FILE *out);
bool print_target_info(FILE *out, const char *name); // false (with the error printed) if unknown
LLVMTargetMachineRef target_machine(Compiler *cc, const Target *t);

//
// api.c — the compilation pipeline behind the public edgecc_* API
//
typedef struct {
  const char *name;
  int64_t value;
} DimBinding;

typedef struct {
  const char *input;
  Shape shape;
} ShapeBinding;

struct ValueBinding {
  const char *input;
  const char *path;   // a TensorProto file, or NULL
  const char *values; // else the value as text: "16000", "0.5,2" (see binding_value)
};

// The tensors of a sequence or optional input: "[AxB;C]" (a sequence, "[]" empty), "none"
// (an empty optional), a shape "AxB" (an optional holding a tensor).
typedef struct {
  const char *input;
  const char *structure;
} StructureBinding;
#define DEFAULT_MAX_STRING_LENGTH 255 // bytes of a string input element, without --max-string-length

typedef enum { WEIGHTS_KEEP, WEIGHTS_INT8, WEIGHTS_INT4, WEIGHTS_FP16 } WeightFormat;
// --conv-algo: how float 3x3 stride-1 convolutions run (ops/conv_winograd.c)
typedef enum { CONV_AUTO, CONV_GEMM, CONV_WINOGRAD, CONV_WINOGRAD4 } ConvAlgo;

struct Options {
  const char *target_name;
  const char *target_file;
  const char *mcpu;
  const char *mattr;
  const char *output;       // -o
  const char *header;       // -H
  const char *prefix;       // --name
  const char *depfile;      // -MF (or -MD: output + ".d")
  const char *dep_target;   // -MT
  EmitKind emit;
  int report;               // ReportFormat of --report, 0 for none
  const char *report_path;  // NULL: standard output
  bool werror;              // -Werror: warnings fail the compile
  bool time_passes;         // --time-passes
  int opt_level;            // -O0..-O3: LLVM's pipeline (default 3)
  PtrVec dims;              // DimBinding*
  PtrVec shapes;            // ShapeBinding*
  PtrVec binds;             // ValueBinding*
  PtrVec structures;        // StructureBinding*
  int64_t max_string_length; // bound on the bytes of every string input element (0: default)
  int threads;              // worker threads the generated code may use (0 or 1: one)
  ConvAlgo conv_algo;       // --conv-algo
  bool verbose;
  // Compression of float models (passes/compress.c)
  WeightFormat weights;     // --weights: weight-only int8/int4/fp16 for Conv, MatMul, Gemm
  int weights_block;        // --weights-block: int8/int4 scales per block along K (0: per channel)
  bool quantize;            // --quantize int8: weights and activations
  const char *calibrate;    // --calibrate: folder of input .pb files
  bool quant_symmetric;     // --quant-symmetric: int8 activations with zero point 0 (else uint8)
  bool quant_per_tensor;    // --quant-per-tensor: one weight scale per tensor (else per channel)
  PtrVec keep_float;        // --keep-float: names of nodes left in float
};

// What --quantize --calibrate measured, for --report: each output's error against the float
// model over the calibration inputs.
typedef struct {
  const char *output;
  double max_error, mean_error;
} OutputError;
typedef struct {
  int samples;
  int count;
  OutputError *errors;
} Calibration;

struct Compiler {
  Pool pool;
  Options opt;
  const char *model_path;   // for diagnostics
  const Target *target;
  jmp_buf *bail;            // where fatal errors return to
  int nerrors;
  int nwarnings;
  StrBuf diag;              // all diagnostics, in order
  int next_value_id;        // value ids are unique across subgraphs
  PtrVec deps;              // files the output depends on (model, external data, target file)
  double stage_ms[16];      // wall time of each pipeline stage (-v, --time-passes)
  const char *stage_name[16];
  int nstages;
  PtrVec stack_sizes;       // StackSize* reported by LLVM while measuring for --report
  Module module;            // the LLVM module being built (disposed with the compiler)
  Calibration *calibration; // set by --quantize --calibrate
  int codegen_threads;      // threads the module's loops may use (0 while folding constants)
};

Compiler *compiler_new(void);
void compiler_free(Compiler *cc);
// Runs the front half of the pipeline: load, bind, infer, fold, dce. NULL on error.
Graph *compile_front(Compiler *cc, const char *model_path);

#endif
