// sum.c — long sums in blocks. Float terms added one after the other lose up to one rounding
// per term relative to the running total: 2e-5 of a 98,304-element mean, 1e-5 over a million.
// Here the terms are added in chunks of a few hundred per vector lane, whose additions may be
// reassociated (LLVM keeps partial sums in vector registers and adds them as a tree at the
// end of the chunk), and the chunk sums are added pairwise, so the error grows with the
// logarithm of the number of chunks instead of the number of terms.
#include "../compiler.h"

// Terms per chunk and vector lane; the vectorizer's interleaved accumulators split it further.
#define TERMS_PER_LANE 256

typedef struct {
  int rank, nsums;
  const LLVMValueRef *dims; // run-time trip counts (t_idx)
  const LLVMTypeRef *types;
  SumTermFn *term;
  void *ctx;
  LLVMValueRef idx[KB_SUM_MAX_DIMS];
  // The pairwise stack: slot L of sum S holds the sum of 2^L chunks; bit L of the chunk count
  // says whether it is occupied.
  LLVMValueRef stack[KB_MAX_SUMS];
  LLVMValueRef count;
  int levels;
} SumPlan;

static bool is_float_type(LLVMTypeRef t) {
  if (LLVMGetTypeKind(t) == LLVMVectorTypeKind)
    t = LLVMGetElementType(t);
  LLVMTypeKind k = LLVMGetTypeKind(t);
  return k == LLVMFloatTypeKind || k == LLVMDoubleTypeKind;
}

static LLVMValueRef add(KB *kb, LLVMValueRef a, LLVMValueRef b) {
  return is_float_type(LLVMTypeOf(a)) ? LLVMBuildFAdd(kb->b, a, b, "") : LLVMBuildAdd(kb->b, a, b, "");
}

// acc + term inside a chunk: free to reassociate, so the loop vectorizes into lane sums.
static LLVMValueRef add_reassociable(KB *kb, LLVMValueRef acc, LLVMValueRef term) {
  LLVMValueRef sum = add(kb, acc, term);
  if (LLVMCanValueUseFastMathFlags(sum))
    LLVMSetFastMathFlags(sum, LLVMFastMathAllowReassoc | LLVMFastMathAllowContract);
  return sum;
}

// Terms one chunk holds: TERMS_PER_LANE per lane of the target's vectors (a vector term fills
// them itself).
static int64_t chunk_terms(KB *kb, const SumPlan *p) {
  int64_t lanes = 1;
  for (int s = 0; s < p->nsums; s++) {
    LLVMTypeRef t = p->types[s];
    if (LLVMGetTypeKind(t) == LLVMVectorTypeKind || !is_float_type(t))
      continue;
    int64_t bits = LLVMGetTypeKind(t) == LLVMDoubleTypeKind ? 64 : 32, l = kb->vector_bits / bits;
    if (l > lanes)
      lanes = l;
  }
  return TERMS_PER_LANE * lanes;
}

// Adds the terms of dims [FIRST, rank) (indices of the dims before it already in p->idx) to ACC.
static void add_terms(KB *kb, SumPlan *p, int first, LLVMValueRef *acc) {
  Loop loops[KB_SUM_MAX_DIMS];
  for (int d = first; d < p->rank; d++)
    p->idx[d] = kb_for_v(kb, &loops[d], kb_idx(kb, 0), p->dims[d], 1);
  LLVMValueRef terms[KB_MAX_SUMS];
  p->term(kb, p->idx, terms, p->ctx);
  for (int s = 0; s < p->nsums; s++)
    kb_set(kb, acc[s], add_reassociable(kb, kb_get(kb, p->types[s], acc[s]), terms[s]));
  for (int d = p->rank - 1; d >= first; d--)
    kb_end_for(kb, &loops[d]);
}

static void zero(KB *kb, const SumPlan *p, LLVMValueRef *acc) {
  for (int s = 0; s < p->nsums; s++)
    kb_set(kb, acc[s], LLVMConstNull(p->types[s]));
}

// The chunk of indices [LO, LO + LEN) of dim SPLIT (whole dims after it) summed into ACC.
static void add_chunk(KB *kb, SumPlan *p, int split, LLVMValueRef lo, LLVMValueRef len, LLVMValueRef *acc) {
  zero(kb, p, acc);
  Loop l;
  LLVMValueRef i = kb_for_v(kb, &l, kb_idx(kb, 0), len, 1);
  p->idx[split] = LLVMBuildNSWAdd(kb->b, lo, i, "");
  add_terms(kb, p, split + 1, acc);
  kb_end_for(kb, &l);
}

static LLVMValueRef stack_slot(KB *kb, const SumPlan *p, int s, LLVMValueRef level) {
  LLVMValueRef at[2] = {kb_idx(kb, 0), level};
  return LLVMBuildInBoundsGEP2(kb->b, LLVMArrayType(p->types[s], (unsigned)p->levels), p->stack[s], at, 2, "");
}

// Pushes the chunk sums ACC: while the slot of the current level is occupied (bit LEVEL of the
// count is set), the sum absorbs it and moves up a level; then it takes the free slot.
static void push(KB *kb, SumPlan *p, LLVMValueRef *acc) {
  LLVMValueRef count = kb_get(kb, kb->t_idx, p->count);
  LLVMValueRef level = kb_var(kb, kb->t_idx, kb_idx(kb, 0));
  LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(kb->ctx, kb->fn, "carry");
  LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(kb->ctx, kb->fn, "absorb");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(kb->ctx, kb->fn, "place");
  LLVMBuildBr(kb->b, head);
  LLVMPositionBuilderAtEnd(kb->b, head);
  LLVMValueRef l = kb_get(kb, kb->t_idx, level);
  LLVMValueRef bit = LLVMBuildAnd(kb->b, LLVMBuildLShr(kb->b, count, l, ""), kb_idx(kb, 1), "");
  LLVMBuildCondBr(kb->b, LLVMBuildICmp(kb->b, LLVMIntNE, bit, kb_idx(kb, 0), ""), body, done);
  LLVMPositionBuilderAtEnd(kb->b, body);
  for (int s = 0; s < p->nsums; s++) {
    LLVMValueRef below = LLVMBuildLoad2(kb->b, p->types[s], stack_slot(kb, p, s, l), "");
    kb_set(kb, acc[s], add(kb, below, kb_get(kb, p->types[s], acc[s])));
  }
  kb_set(kb, level, LLVMBuildNSWAdd(kb->b, l, kb_idx(kb, 1), ""));
  LLVMBuildBr(kb->b, head);
  LLVMPositionBuilderAtEnd(kb->b, done);
  for (int s = 0; s < p->nsums; s++)
    LLVMBuildStore(kb->b, kb_get(kb, p->types[s], acc[s]), stack_slot(kb, p, s, l));
  kb_set(kb, p->count, LLVMBuildNSWAdd(kb->b, count, kb_idx(kb, 1), ""));
}

// The occupied slots added from the smallest partial sums up.
static void collapse(KB *kb, const SumPlan *p, LLVMValueRef *sums) {
  LLVMValueRef count = kb_get(kb, kb->t_idx, p->count);
  for (int s = 0; s < p->nsums; s++) {
    LLVMValueRef total = LLVMConstNull(p->types[s]);
    for (int l = 0; l < p->levels; l++) {
      LLVMValueRef bit = LLVMBuildAnd(kb->b, LLVMBuildLShr(kb->b, count, kb_idx(kb, l), ""), kb_idx(kb, 1), "");
      LLVMValueRef slot = LLVMBuildLoad2(kb->b, p->types[s], stack_slot(kb, p, s, kb_idx(kb, l)), "");
      total = kb_select(kb, LLVMBuildICmp(kb->b, LLVMIntNE, bit, kb_idx(kb, 0), ""), add(kb, slot, total), total);
    }
    sums[s] = total;
  }
}

static int bit_length(int64_t v) {
  int n = 0;
  for (; v > 0; v >>= 1)
    n++;
  return n;
}

// Sums the nest in chunks: GROUP indices of dim SPLIT (the innermost dim whose inner dims fit
// a chunk and bounds[split] of them do not) by the whole dims after it, the dims before it
// looping outside; the chunk totals go through the pairwise stack.
static void sum_in_chunks(KB *kb, SumPlan *p, const int64_t *bounds, int64_t total, int64_t chunk, LLVMValueRef *acc,
                          LLVMValueRef *sums) {
  int split = p->rank - 1;
  int64_t inner = 1;
  while (inner * bounds[split] <= chunk) // ends: the whole nest exceeds a chunk
    inner *= bounds[split--];
  int64_t group = chunk / inner, chunks = total / (inner * bounds[split]) * (bounds[split] / group + 1);
  p->levels = bit_length(chunks) + 1;
  for (int s = 0; s < p->nsums; s++)
    p->stack[s] = kb_var(kb, LLVMArrayType(p->types[s], (unsigned)p->levels), NULL);
  p->count = kb_var(kb, kb->t_idx, kb_idx(kb, 0));
  Loop outer[KB_SUM_MAX_DIMS], tiles;
  for (int d = 0; d < split; d++)
    p->idx[d] = kb_for_v(kb, &outer[d], kb_idx(kb, 0), p->dims[d], 1);
  LLVMValueRef whole = LLVMBuildUDiv(kb->b, p->dims[split], kb_idx(kb, group), "");
  LLVMValueRef t = kb_for_v(kb, &tiles, kb_idx(kb, 0), whole, 1);
  add_chunk(kb, p, split, LLVMBuildNSWMul(kb->b, t, kb_idx(kb, group), ""), kb_idx(kb, group), acc);
  push(kb, p, acc);
  kb_end_for(kb, &tiles);
  LLVMValueRef lo = LLVMBuildNSWMul(kb->b, whole, kb_idx(kb, group), "");
  LLVMValueRef rest = LLVMBuildNSWSub(kb->b, p->dims[split], lo, "");
  if (!LLVMIsConstant(rest) || LLVMConstIntGetSExtValue(rest) > 0) {
    add_chunk(kb, p, split, lo, rest, acc);
    push(kb, p, acc);
  }
  for (int d = split - 1; d >= 0; d--)
    kb_end_for(kb, &outer[d]);
  collapse(kb, p, sums);
}

void kb_sum(KB *kb, int nsums, const LLVMTypeRef *types, int rank, const int64_t *bounds, const LLVMValueRef *dims,
            SumTermFn *term, void *ctx, LLVMValueRef *sums) {
  LLVMValueRef static_dims[KB_SUM_MAX_DIMS];
  if (!dims) {
    for (int d = 0; d < rank; d++)
      static_dims[d] = kb_idx(kb, bounds[d]);
    dims = static_dims;
  }
  SumPlan p = {.rank = rank, .nsums = nsums, .dims = dims, .types = types, .term = term, .ctx = ctx};
  LLVMValueRef acc[KB_MAX_SUMS];
  bool any_float = false;
  for (int s = 0; s < nsums; s++) {
    acc[s] = kb_var(kb, types[s], NULL);
    any_float |= is_float_type(types[s]);
  }
  int64_t total = 1, chunk = chunk_terms(kb, &p);
  for (int d = 0; d < rank; d++)
    total *= bounds[d];
  if (any_float && total > chunk) {
    sum_in_chunks(kb, &p, bounds, total, chunk, acc, sums);
    return;
  }
  zero(kb, &p, acc); // one chunk (integers add exactly in any order)
  add_terms(kb, &p, 0, acc);
  for (int s = 0; s < nsums; s++)
    sums[s] = kb_get(kb, types[s], acc[s]);
}
