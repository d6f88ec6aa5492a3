// text.c — string tensors: Cast to and from text, Equal on text, StringNormalizer and
// TfIdfVectorizer. A string tensor is an array of pointers to NUL-terminated UTF-8 (see
// docs/architecture.md, "String tensors"); moving strings moves pointers, so only ops that
// write new text need memory for it: one slot of max_strlen + 1 bytes per element in the
// node's persistent scratch, which lives until the end of the run. Numbers are printed and
// read, and text case-mapped, by the runtime's helpers (runtime/src/text.c); the compiler
// links the same file, so folding and compile-time stopword folding agree with the target.
#include "../compiler.h"
#include "edgecc_rt.h"
#include "ops.h"

#include <stdlib.h>
#include <string.h>

//
// Helpers
//
static LLVMValueRef call_runtime(KB *kb, const char *name, LLVMTypeRef ret, LLVMTypeRef *params,
                                 LLVMValueRef *args, int n) {
  LLVMTypeRef fty = LLVMFunctionType(ret, params, (unsigned)n, 0);
  LLVMValueRef fn = LLVMGetNamedFunction(kb->mod, name);
  if (!fn)
    fn = LLVMAddFunction(kb->mod, name, fty);
  return LLVMBuildCall2(kb->b, fty, fn, args, (unsigned)n, "");
}

static LLVMTypeRef i32_type(KB *kb) { return LLVMInt32TypeInContext(kb->ctx); }
static LLVMValueRef i32_const(KB *kb, int v) { return LLVMConstInt(i32_type(kb), (unsigned long long)v, 1); }
static LLVMValueRef bool_const(KB *kb, bool v) { return LLVMConstInt(LLVMInt1TypeInContext(kb->ctx), v, 0); }

// A pointer to constant text.
static LLVMValueRef const_text(KB *kb, const char *s) {
  return kb_load(kb, DT_STRING, const_string_table(kb->mod, &s, 1), kb_idx(kb, 0));
}

// Slot I of the persistent scratch, SLOT bytes each.
static LLVMValueRef text_slot(KB *kb, LLVMValueRef i, int64_t slot) {
  LLVMValueRef at = LLVMBuildMul(kb->b, i, kb_idx(kb, slot), "");
  return LLVMBuildInBoundsGEP2(kb->b, LLVMInt8TypeInContext(kb->ctx), kb->scratch, &at, 1, "");
}

LLVMValueRef text_compare(KB *kb, LLVMValueRef a, LLVMValueRef b) {
  LLVMTypeRef i8 = LLVMInt8TypeInContext(kb->ctx);
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(kb->b);
  LLVMBasicBlockRef loop = LLVMAppendBasicBlockInContext(kb->ctx, kb->fn, "strcmp");
  LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(kb->ctx, kb->fn, "strcmp_next");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(kb->ctx, kb->fn, "strcmp_done");
  LLVMBuildBr(kb->b, loop);
  LLVMPositionBuilderAtEnd(kb->b, loop);
  LLVMValueRef k = LLVMBuildPhi(kb->b, kb->t_idx, "");
  LLVMValueRef ca = LLVMBuildLoad2(kb->b, i8, LLVMBuildInBoundsGEP2(kb->b, i8, a, &k, 1, ""), "");
  LLVMValueRef cb = LLVMBuildLoad2(kb->b, i8, LLVMBuildInBoundsGEP2(kb->b, i8, b, &k, 1, ""), "");
  LLVMValueRef stop = LLVMBuildOr(kb->b, LLVMBuildICmp(kb->b, LLVMIntNE, ca, cb, ""),
                                  LLVMBuildICmp(kb->b, LLVMIntEQ, ca, LLVMConstNull(i8), ""), "");
  LLVMBuildCondBr(kb->b, stop, done, next);
  LLVMPositionBuilderAtEnd(kb->b, next);
  LLVMValueRef k1 = LLVMBuildNSWAdd(kb->b, k, kb_idx(kb, 1), "");
  LLVMBuildBr(kb->b, loop);
  LLVMValueRef inc[2] = {kb_idx(kb, 0), k1};
  LLVMBasicBlockRef from[2] = {pre, next};
  LLVMAddIncoming(k, inc, from, 2);
  LLVMPositionBuilderAtEnd(kb->b, done);
  return LLVMBuildSub(kb->b, LLVMBuildZExt(kb->b, ca, i32_type(kb), ""), LLVMBuildZExt(kb->b, cb, i32_type(kb), ""), "");
}

LLVMValueRef text_equal(KB *kb, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildICmp(kb->b, LLVMIntEQ, text_compare(kb, a, b), i32_const(kb, 0), "");
}

//
// Cast: numbers print as numpy prints them (the ONNX reference casts with astype(str)), text
// reads as Python's float() reads it; see runtime/src/text.c.
//

// The longest text of a number of type T.
static int64_t number_text_max(DType t) {
  switch (t) {
  case DT_BOOL: return 5; // False
  case DT_U8: return 3;
  case DT_I8: return 4;
  case DT_U16: return 5;
  case DT_I16: return 6;
  case DT_U32: return 10;
  case DT_I32: return 11;
  case DT_U64:
  case DT_I64: return 20;
  case DT_F16: return 11;  // -0.00012338, -6.1035e-05
  case DT_F32: return 19;  // -1234567900000000.0 (positional below 1e16)
  case DT_BF16: return 20; // -10000000000000000.0: the bf16 below 1e16 has 1e16's digits
  default: return EDGECC_NUMBER_TEXT_MAX; // f64: -2.2250738585072014e-308
  }
}

void infer_cast_text(Compiler *cc, Node *n) {
  (void)cc;
  DType from = n->in[0]->dtype;
  Value *y = n->out[0];
  if (y->dtype != DT_STRING || from == DT_STRING) // reading text, or copying it: no new text
    return;
  y->max_strlen = number_text_max(from);
  if (from != DT_BOOL) { // bools point to constant "True" and "False"
    n->scratch = shape_numel(&n->in[0]->shape) * (y->max_strlen + 1);
    n->scratch_persists = true;
  }
}

static LLVMValueRef number_to_text(KB *kb, const Node *n, LLVMValueRef x, DType from, LLVMValueRef i) {
  if (from == DT_BOOL)
    return kb_select(kb, x, const_text(kb, "True"), const_text(kb, "False"));
  LLVMValueRef slot = text_slot(kb, i, n->out[0]->max_strlen + 1);
  if (dtype_is_float(from)) {
    LLVMTypeRef params[3] = {kb->t_ptr, LLVMDoubleTypeInContext(kb->ctx), i32_type(kb)};
    LLVMValueRef args[3] = {slot, kb_convert(kb, x, from, DT_F64), i32_const(kb, from)};
    call_runtime(kb, "edgecc_format_float", kb->t_idx, params, args, 3);
  } else {
    LLVMTypeRef params[3] = {kb->t_ptr, LLVMInt64TypeInContext(kb->ctx), i32_type(kb)};
    LLVMValueRef args[3] = {slot, LLVMBuildIntCast2(kb->b, x, params[1], dtype_is_signed(from), ""), i32_const(kb, from)};
    call_runtime(kb, "edgecc_format_int", kb->t_idx, params, args, 3);
  }
  return slot;
}

static LLVMValueRef text_to_number(KB *kb, LLVMValueRef s, DType to) {
  if (dtype_is_float(to)) { // the double holds a value of TO: converting it is exact
    LLVMTypeRef params[2] = {kb->t_ptr, i32_type(kb)};
    LLVMValueRef args[2] = {s, i32_const(kb, to)};
    LLVMValueRef d = call_runtime(kb, "edgecc_parse_float", LLVMDoubleTypeInContext(kb->ctx), params, args, 2);
    return kb_convert(kb, d, DT_F64, to);
  }
  LLVMTypeRef params[2] = {kb->t_ptr, i32_type(kb)};
  LLVMValueRef args[2] = {s, i32_const(kb, to)};
  LLVMValueRef v = call_runtime(kb, "edgecc_parse_int", LLVMInt64TypeInContext(kb->ctx), params, args, 2);
  if (to == DT_BOOL)
    return LLVMBuildICmp(kb->b, LLVMIntNE, v, LLVMConstNull(LLVMTypeOf(v)), "");
  return LLVMBuildTrunc(kb->b, v, kb_ctype(kb, to), "");
}

void lower_cast_text(KB *kb, Node *n) {
  DType from = n->in[0]->dtype, to = n->out[0]->dtype;
  RtShape s = kb_in_shape(kb, 0);
  Loop l;
  LLVMValueRef i = kb_for_v(kb, &l, kb_idx(kb, 0), kb_numel(kb, &s), 1);
  LLVMValueRef x = kb_load(kb, from, kb->in[0], i), y = x; // text to text: the same pointers
  if (from != DT_STRING)
    y = number_to_text(kb, n, x, from, i);
  else if (to != DT_STRING)
    y = text_to_number(kb, x, to);
  kb_store(kb, to, kb->out[0], i, y);
  kb_end_for(kb, &l);
}

//
// StringNormalizer: drops the elements equal to a stopword (ignoring case unless
// is_case_sensitive), then upper- or lowercases the rest. Its output size depends on the
// data when there are stopwords; with none left, the output is one empty string. Case
// mapping and case-insensitive matching follow edgecc_utf8_case (no locale tables: ASCII,
// Latin-1, Latin Extended-A, Greek and Cyrillic), so the locale attribute only selects
// against the Turkic rules for i, which are not implemented.
//
typedef enum { CASE_NONE, CASE_LOWER, CASE_UPPER } CaseChange;

typedef struct {
  CaseChange change;
  bool case_sensitive;
  bool fold_upper;     // matching ignores case by comparing uppercased text (else lowercased)
  const char **stops;  // case-folded unless case_sensitive
  int nstops;
  int64_t slot;        // bytes per output element in the scratch
} Normalizer;

static CaseChange case_change(Compiler *cc, Node *n) {
  const char *a = attr_string(n, "case_change_action", "NONE");
  if (!strcmp(a, "NONE"))
    return CASE_NONE;
  if (!strcmp(a, "LOWER"))
    return CASE_LOWER;
  if (!strcmp(a, "UPPER"))
    return CASE_UPPER;
  fatal_at(cc, n, "case_change_action must be LOWER, UPPER or NONE, not '%s'", a);
}

void infer_StringNormalizer(Compiler *cc, Node *n) {
  Value *x = n->in[0];
  const Shape *xs = &x->shape;
  if (x->dtype != DT_STRING)
    fatal_at(cc, n, "the input must be a string tensor, not %s", dtype_onnx_name(x->dtype));
  if (xs->rank != 1 && !(xs->rank == 2 && xs->dim[0] == 1))
    fatal_at(cc, n, "the input has shape %s: only [C] and [1, C] are defined", shape_str(&cc->pool, xs));
  const char *locale = attr_string(n, "locale", "");
  if (!strncmp(locale, "tr", 2) || !strncmp(locale, "az", 2))
    fatal_at(cc, n, "locale '%s': Turkic case rules (dotted and dotless i) are not supported", locale);
  Normalizer *p = pool_alloc(&cc->pool, sizeof *p);
  p->change = case_change(cc, n);
  p->case_sensitive = attr_int(n, "is_case_sensitive", 0) != 0;
  p->fold_upper = p->change == CASE_UPPER;
  const Attr *sw = node_attr(n, "stopwords");
  if (sw && sw->type == ATTR_STRINGS) {
    p->nstops = sw->n;
    p->stops = pool_alloc(&cc->pool, sizeof(char *) * (size_t)(sw->n + 1));
    for (int i = 0; i < sw->n; i++) {
      char *w = pool_strdup(&cc->pool, sw->strings[i]);
      if (!p->case_sensitive)
        edgecc_utf8_case(w, sw->strings[i], p->fold_upper);
      p->stops[i] = w;
    }
  }
  int64_t c = xs->dim[xs->rank - 1], bound = c > 0 ? c : 1; // nothing left: one ""
  Shape ys = *xs;
  ys.dim[ys.rank - 1] = bound;
  set_output(n, 0, DT_STRING, ys);
  n->out[0]->dynamic = p->nstops > 0 ? DYN_DIM(ys.rank - 1) : 0;
  if (p->change != CASE_NONE) { // mapped text is never longer than the original
    p->slot = value_max_strlen(x) + 1;
    n->scratch = bound * p->slot;
    n->scratch_persists = true;
  }
  n->priv = p;
}

static LLVMValueRef is_stopword(KB *kb, const Normalizer *p, LLVMValueRef s) {
  if (!p->nstops)
    return bool_const(kb, false);
  LLVMValueRef stops = kb_table(kb, DT_STRING, p->stops, p->nstops);
  LLVMValueRef found = kb_var(kb, LLVMInt1TypeInContext(kb->ctx), bool_const(kb, false));
  Loop l;
  LLVMValueRef k = kb_for(kb, &l, p->nstops);
  LLVMValueRef w = kb_load(kb, DT_STRING, stops, k), eq;
  if (p->case_sensitive) {
    eq = text_equal(kb, s, w);
  } else {
    LLVMTypeRef params[3] = {kb->t_ptr, kb->t_ptr, i32_type(kb)};
    LLVMValueRef args[3] = {s, w, i32_const(kb, p->fold_upper)};
    LLVMValueRef r = call_runtime(kb, "edgecc_utf8_equal_folded", i32_type(kb), params, args, 3);
    eq = LLVMBuildICmp(kb->b, LLVMIntNE, r, i32_const(kb, 0), "");
  }
  kb_set(kb, found, LLVMBuildOr(kb->b, kb_get(kb, LLVMInt1TypeInContext(kb->ctx), found), eq, ""));
  kb_end_for(kb, &l);
  return kb_get(kb, LLVMInt1TypeInContext(kb->ctx), found);
}

// S with its case changed into output slot J (or S itself).
static LLVMValueRef changed_case(KB *kb, const Normalizer *p, LLVMValueRef s, LLVMValueRef j) {
  if (p->change == CASE_NONE)
    return s;
  LLVMValueRef slot = text_slot(kb, j, p->slot);
  LLVMTypeRef params[3] = {kb->t_ptr, kb->t_ptr, i32_type(kb)};
  LLVMValueRef args[3] = {slot, s, i32_const(kb, p->change == CASE_UPPER)};
  call_runtime(kb, "edgecc_utf8_case", kb->t_idx, params, args, 3);
  return slot;
}

void lower_StringNormalizer(KB *kb, Node *n) {
  const Normalizer *p = n->priv;
  RtShape xs = kb_in_shape(kb, 0);
  LLVMValueRef count = kb_var(kb, kb->t_idx, kb_idx(kb, 0));
  Loop l;
  LLVMValueRef i = kb_for_v(kb, &l, kb_idx(kb, 0), xs.dim[xs.rank - 1], 1);
  LLVMValueRef s = kb_load(kb, DT_STRING, kb->in[0], i);
  IfBlock keep;
  kb_if(kb, &keep, LLVMBuildNot(kb->b, is_stopword(kb, p, s), ""));
  LLVMValueRef j = kb_get(kb, kb->t_idx, count);
  kb_store(kb, DT_STRING, kb->out[0], j, changed_case(kb, p, s, j));
  kb_set(kb, count, LLVMBuildNSWAdd(kb->b, j, kb_idx(kb, 1), ""));
  kb_end_if(kb, &keep);
  kb_end_for(kb, &l);
  IfBlock none;
  kb_if(kb, &none, LLVMBuildICmp(kb->b, LLVMIntEQ, kb_get(kb, kb->t_idx, count), kb_idx(kb, 0), ""));
  kb_store(kb, DT_STRING, kb->out[0], kb_idx(kb, 0), const_text(kb, ""));
  kb_set(kb, count, kb_idx(kb, 1));
  kb_end_if(kb, &none);
  RtShape ys = {.rank = xs.rank, .dim = {kb_idx(kb, 1), kb_idx(kb, 1)}};
  ys.dim[ys.rank - 1] = kb_get(kb, kb->t_idx, count);
  kb_set_out_shape(kb, 0, &ys);
}

//
// TfIdfVectorizer: counts the n-grams of the pool in each row of the input (skip-grams: items
// `skip + 1` apart, for every skip up to max_skip_count; unigrams once), as the ONNX reference
// does, and weighs the counts. The pool becomes a trie at compile time, laid out breadth-first
// in tables: node 0 is the root and node e + 1 the target of edge e; the children of a node
// are a sorted, contiguous run of edges, searched by bisection at run time.
//
typedef enum { MODE_TF, MODE_IDF, MODE_TFIDF } TfIdfMode;

typedef struct TrieNode {
  const void *key; // int64_t * or const char ** into the pool
  int64_t column;  // output column of the n-gram ending here, -1 if none
  struct TrieNode **kids;
  int nkids, cap;
} TrieNode;

typedef struct {
  bool strings;
  int min_n, max_n, skips; // gram lengths and max_skip_count
  TfIdfMode mode;
  int64_t columns;         // output size
  const float *weights;    // per output column; NULL: 1
  int64_t nedges;
  void *keys;              // int64_t[nedges] or const char *[nedges]
  int32_t *first, *count, *column; // per node: first edge, edges, output column (-1: none)
  int steps;               // bisection steps for the node with the most children
} TfIdf;

typedef struct {
  bool strings;      // items are const char *, else int64_t
  const void *items; // the n-gram's first item in the pool
  int n;             // its length
  int64_t ordinal;   // its position among the pool's n-grams (later duplicates win)
  int64_t column;
} NGram;

static int key_cmp(bool strings, const void *a, const void *b) {
  if (strings)
    return strcmp(*(const char *const *)a, *(const char *const *)b);
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static const void *item(bool strings, const void *items, int64_t i) {
  return strings ? (const void *)((const char *const *)items + i) : (const void *)((const int64_t *)items + i);
}

// Lexicographic, a prefix before its extensions, then pool order.
static int ngram_cmp(const void *a, const void *b) {
  const NGram *x = a, *y = b;
  for (int i = 0; i < x->n && i < y->n; i++) {
    int c = key_cmp(x->strings, item(x->strings, x->items, i), item(y->strings, y->items, i));
    if (c)
      return c;
  }
  if (x->n != y->n)
    return x->n - y->n;
  return x->ordinal < y->ordinal ? -1 : x->ordinal > y->ordinal;
}

// The n-grams of lengths min_n..max_n in the pool, with their output columns.
static NGram *pool_ngrams(Compiler *cc, Node *n, const TfIdf *t, const void *pool, int64_t pool_len, int *count) {
  const int64_t *starts, *indexes;
  int nstarts = attr_ints(n, "ngram_counts", &starts), nindexes = attr_ints(n, "ngram_indexes", &indexes);
  if (nstarts < 0 || nindexes <= 0)
    fatal_at(cc, n, "ngram_counts and ngram_indexes are required");
  NGram *grams = pool_alloc(&cc->pool, sizeof(NGram) * (size_t)(pool_len + 1));
  int64_t ordinal = 0;
  *count = 0;
  for (int i = 0; i < nstarts; i++) {
    int size = i + 1;
    int64_t begin = starts[i], end = i + 1 < nstarts ? starts[i + 1] : pool_len;
    if (begin < 0 || end < begin || end > pool_len)
      fatal_at(cc, n, "ngram_counts[%d] = %lld is out of order or outside the pool of %lld", i, (long long)begin,
               (long long)pool_len);
    int64_t ngrams = (end - begin) / size;
    if (size < t->min_n || size > t->max_n) {
      ordinal += ngrams;
      continue;
    }
    for (int64_t g = 0; g < ngrams; g++, ordinal++) {
      if (ordinal >= nindexes)
        fatal_at(cc, n, "ngram_indexes has %d entries, the pool more n-grams", nindexes);
      if (indexes[ordinal] < 0)
        fatal_at(cc, n, "ngram_indexes[%lld] is negative", (long long)ordinal);
      grams[(*count)++] = (NGram){t->strings, item(t->strings, pool, begin + g * size), size, ordinal, indexes[ordinal]};
    }
  }
  return grams;
}

static TrieNode *new_trie_node(Pool *p, const void *key) {
  TrieNode *node = pool_alloc(p, sizeof *node);
  node->key = key;
  node->column = -1;
  return node;
}

// Sorted insertion: a path shared with an earlier n-gram is shared with the previous one, so
// the matching child is always the last one, and children stay sorted.
static TrieNode *build_trie(Pool *p, NGram *grams, int count, int64_t *nodes) {
  TrieNode *root = new_trie_node(p, NULL);
  *nodes = 1;
  qsort(grams, (size_t)count, sizeof *grams, ngram_cmp);
  for (int g = 0; g < count; g++) {
    TrieNode *at = root;
    for (int i = 0; i < grams[g].n; i++) {
      const void *key = item(grams[g].strings, grams[g].items, i);
      TrieNode *last = at->nkids ? at->kids[at->nkids - 1] : NULL;
      if (!last || key_cmp(grams[g].strings, last->key, key)) {
        if (at->nkids == at->cap) {
          at->cap = at->cap ? 2 * at->cap : 4;
          TrieNode **kids = pool_alloc(p, sizeof(TrieNode *) * (size_t)at->cap);
          if (at->nkids)
            memcpy(kids, at->kids, sizeof(TrieNode *) * (size_t)at->nkids);
          at->kids = kids;
        }
        last = at->kids[at->nkids++] = new_trie_node(p, key);
        (*nodes)++;
      }
      at = last;
    }
    at->column = grams[g].column;
  }
  return root;
}

static void layout_trie(Pool *p, TfIdf *t, TrieNode *root, int64_t nodes) {
  TrieNode **queue = pool_alloc(p, sizeof(TrieNode *) * (size_t)nodes);
  size_t key_size = t->strings ? sizeof(char *) : sizeof(int64_t);
  t->nedges = nodes - 1;
  t->keys = pool_alloc(p, key_size * (size_t)nodes);
  t->first = pool_alloc(p, sizeof(int32_t) * (size_t)nodes);
  t->count = pool_alloc(p, sizeof(int32_t) * (size_t)nodes);
  t->column = pool_alloc(p, sizeof(int32_t) * (size_t)nodes);
  int64_t head = 0, tail = 0, widest = 0;
  queue[tail++] = root;
  while (head < tail) {
    int64_t id = head;
    TrieNode *node = queue[head++];
    t->first[id] = (int32_t)(tail - 1);
    t->count[id] = node->nkids;
    t->column[id] = (int32_t)node->column;
    widest = node->nkids > widest ? node->nkids : widest;
    for (int k = 0; k < node->nkids; k++) {
      memcpy((char *)t->keys + key_size * (size_t)(tail - 1), node->kids[k]->key, key_size);
      queue[tail++] = node->kids[k];
    }
  }
  for (t->steps = 0; (1ll << t->steps) < widest; t->steps++)
    ;
}

static int64_t required_int(Compiler *cc, Node *n, const char *name, int64_t min) {
  int64_t v = attr_int(n, name, INT64_MIN);
  if (v == INT64_MIN)
    fatal_at(cc, n, "attribute '%s' is required", name);
  if (v < min)
    fatal_at(cc, n, "%s is %lld, must be at least %lld", name, (long long)v, (long long)min);
  return v;
}

static TfIdfMode tfidf_mode(Compiler *cc, Node *n) {
  const char *m = attr_string(n, "mode", "");
  if (!strcmp(m, "TF"))
    return MODE_TF;
  if (!strcmp(m, "IDF"))
    return MODE_IDF;
  if (!strcmp(m, "TFIDF"))
    return MODE_TFIDF;
  fatal_at(cc, n, "mode must be TF, IDF or TFIDF, not '%s'", m);
}

void infer_TfIdfVectorizer(Compiler *cc, Node *n) {
  Value *x = n->in[0];
  TfIdf *t = pool_alloc(&cc->pool, sizeof *t);
  t->min_n = (int)required_int(cc, n, "min_gram_length", 1);
  t->max_n = (int)required_int(cc, n, "max_gram_length", t->min_n);
  t->skips = (int)required_int(cc, n, "max_skip_count", 0);
  t->mode = tfidf_mode(cc, n);
  const Attr *ints = node_attr(n, "pool_int64s"), *strs = node_attr(n, "pool_strings");
  if (!ints == !strs)
    fatal_at(cc, n, "exactly one of pool_int64s and pool_strings is required");
  t->strings = strs != NULL;
  if (t->strings ? x->dtype != DT_STRING : x->dtype != DT_I32 && x->dtype != DT_I64)
    fatal_at(cc, n, "input of type %s with %s is not supported", dtype_onnx_name(x->dtype),
             t->strings ? "pool_strings" : "pool_int64s (int32 or int64 inputs)");
  if (x->shape.rank > 2)
    fatal_at(cc, n, "the input has rank %d: only [C] and [N, C] are defined", x->shape.rank);
  const int64_t *indexes;
  int nindexes = attr_ints(n, "ngram_indexes", &indexes);
  for (int i = 0; i < nindexes; i++)
    t->columns = indexes[i] + 1 > t->columns ? indexes[i] + 1 : t->columns;
  if (t->columns > INT32_MAX)
    fatal_at(cc, n, "ngram_indexes up to %lld: more output columns than supported", (long long)t->columns - 1);
  int nweights = attr_floats(n, "weights", &t->weights);
  if (nweights < 0)
    t->weights = NULL;
  else if (nweights < t->columns)
    fatal_at(cc, n, "weights has %d entries for %lld output columns", nweights, (long long)t->columns);
  int count;
  const void *pool = t->strings ? (const void *)strs->strings : (const void *)ints->ints;
  NGram *grams = pool_ngrams(cc, n, t, pool, t->strings ? strs->n : ints->n, &count);
  int64_t nodes;
  TrieNode *root = build_trie(&cc->pool, grams, count, &nodes);
  layout_trie(&cc->pool, t, root, nodes);
  n->priv = t;
  Shape ys = {.rank = x->shape.rank == 2 ? 2 : 1, .dim = {x->shape.dim[0], t->columns}};
  if (ys.rank == 1)
    ys.dim[0] = t->columns;
  set_output(n, 0, DT_F32, ys);
}

typedef struct {
  LLVMValueRef keys, first, count, column;
} TrieTables;

// Key of edge E <= (LE) or == X.
static LLVMValueRef key_test(KB *kb, const TfIdf *t, LLVMValueRef keys, LLVMValueRef e, LLVMValueRef x, bool le) {
  if (t->strings) {
    LLVMValueRef c = text_compare(kb, kb_load(kb, DT_STRING, keys, e), x);
    return LLVMBuildICmp(kb->b, le ? LLVMIntSLE : LLVMIntEQ, c, i32_const(kb, 0), "");
  }
  return LLVMBuildICmp(kb->b, le ? LLVMIntSLE : LLVMIntEQ, kb_load(kb, DT_I64, keys, e), x, "");
}

// The child of NODE along key X, or -1.
static LLVMValueRef find_child(KB *kb, const TfIdf *t, const TrieTables *tt, LLVMValueRef node, LLVMValueRef x) {
  LLVMValueRef child = kb_var(kb, kb->t_idx, kb_idx(kb, -1));
  LLVMValueRef first = LLVMBuildSExt(kb->b, kb_load(kb, DT_I32, tt->first, node), kb->t_idx, "");
  LLVMValueRef count = LLVMBuildSExt(kb->b, kb_load(kb, DT_I32, tt->count, node), kb->t_idx, "");
  IfBlock any;
  kb_if(kb, &any, LLVMBuildICmp(kb->b, LLVMIntSGT, count, kb_idx(kb, 0), ""));
  LLVMValueRef base = kb_var(kb, kb->t_idx, first), len = kb_var(kb, kb->t_idx, count);
  Loop l;
  kb_for(kb, &l, t->steps); // the last edge <= x lies in [base, base + len)
  LLVMValueRef b = kb_get(kb, kb->t_idx, base), n = kb_get(kb, kb->t_idx, len);
  LLVMValueRef half = LLVMBuildLShr(kb->b, n, kb_idx(kb, 1), "");
  LLVMValueRef mid = LLVMBuildNSWAdd(kb->b, b, half, "");
  kb_set(kb, base, kb_select(kb, key_test(kb, t, tt->keys, mid, x, true), mid, b));
  kb_set(kb, len, LLVMBuildNSWSub(kb->b, n, half, ""));
  kb_end_for(kb, &l);
  LLVMValueRef e = kb_get(kb, kb->t_idx, base);
  IfBlock hit;
  kb_if(kb, &hit, key_test(kb, t, tt->keys, e, x, false));
  kb_set(kb, child, LLVMBuildNSWAdd(kb->b, e, kb_idx(kb, 1), ""));
  kb_end_if(kb, &hit);
  kb_end_if(kb, &any);
  return kb_get(kb, kb->t_idx, child);
}

// Walks the trie from item I of row R (COLS items) with items DIST apart, counting every
// n-gram of length >= LO it meets into the output row.
static void count_from(KB *kb, const TfIdf *t, const TrieTables *tt, Node *n, LLVMValueRef r, LLVMValueRef cols,
                       LLVMValueRef i, LLVMValueRef dist, LLVMValueRef lo) {
  LLVMTypeRef i1 = LLVMInt1TypeInContext(kb->ctx);
  LLVMValueRef node = kb_var(kb, kb->t_idx, kb_idx(kb, 0)), alive = kb_var(kb, i1, bool_const(kb, true));
  Loop l;
  LLVMValueRef k = kb_for(kb, &l, t->max_n); // n-gram length k + 1
  LLVMValueRef pos = LLVMBuildNSWAdd(kb->b, i, LLVMBuildNSWMul(kb->b, k, dist, ""), "");
  LLVMValueRef go = LLVMBuildAnd(kb->b, kb_get(kb, i1, alive), LLVMBuildICmp(kb->b, LLVMIntSLT, pos, cols, ""), "");
  IfBlock step;
  kb_if(kb, &step, go);
  LLVMValueRef x = kb_load(kb, n->in[0]->dtype, kb->in[0], LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, r, cols, ""), pos, ""));
  if (!t->strings)
    x = LLVMBuildSExt(kb->b, x, LLVMInt64TypeInContext(kb->ctx), "");
  LLVMValueRef child = find_child(kb, t, tt, kb_get(kb, kb->t_idx, node), x);
  LLVMValueRef found = LLVMBuildICmp(kb->b, LLVMIntSGE, child, kb_idx(kb, 0), "");
  kb_set(kb, alive, found);
  IfBlock hit;
  kb_if(kb, &hit, found);
  kb_set(kb, node, child);
  LLVMValueRef col = LLVMBuildSExt(kb->b, kb_load(kb, DT_I32, tt->column, child), kb->t_idx, "");
  LLVMValueRef counted = LLVMBuildAnd(kb->b, LLVMBuildICmp(kb->b, LLVMIntSGE, col, kb_idx(kb, 0), ""),
                                      LLVMBuildICmp(kb->b, LLVMIntSGE, LLVMBuildNSWAdd(kb->b, k, kb_idx(kb, 1), ""), lo, ""), "");
  IfBlock add;
  kb_if(kb, &add, counted);
  LLVMValueRef at = LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, r, kb_idx(kb, t->columns), ""), col, "");
  kb_store(kb, DT_F32, kb->out[0], at, kb_add(kb, DT_F32, kb_load(kb, DT_F32, kb->out[0], at), kb_const(kb, DT_F32, 1.0)));
  kb_end_if(kb, &add);
  kb_end_if(kb, &hit);
  kb_else(kb, &step);
  kb_set(kb, alive, bool_const(kb, false));
  kb_end_if(kb, &step);
  kb_end_for(kb, &l);
}

// IDF: 1 (or the column's weight) where the n-gram occurs; TFIDF: counts times weights.
// Weights are indexed by output column, as the ONNX reference and onnxruntime index them.
static void weigh(KB *kb, const TfIdf *t, LLVMValueRef rows) {
  if (t->mode == MODE_TF || (t->mode == MODE_TFIDF && !t->weights))
    return;
  LLVMValueRef w = t->weights ? kb_table(kb, DT_F32, t->weights, t->columns) : NULL;
  Loop lr, lc;
  LLVMValueRef r = kb_for_v(kb, &lr, kb_idx(kb, 0), rows, 1);
  LLVMValueRef c = kb_for(kb, &lc, t->columns);
  LLVMValueRef at = LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, r, kb_idx(kb, t->columns), ""), c, "");
  LLVMValueRef y = kb_load(kb, DT_F32, kb->out[0], at), zero = kb_const(kb, DT_F32, 0.0);
  LLVMValueRef wc = w ? kb_load(kb, DT_F32, w, c) : kb_const(kb, DT_F32, 1.0);
  if (t->mode == MODE_IDF)
    y = kb_select(kb, kb_gt(kb, DT_F32, y, zero), wc, zero);
  else
    y = kb_mul(kb, DT_F32, y, wc);
  kb_store(kb, DT_F32, kb->out[0], at, y);
  kb_end_for(kb, &lc);
  kb_end_for(kb, &lr);
}

void lower_TfIdfVectorizer(KB *kb, Node *n) {
  const TfIdf *t = n->priv;
  RtShape xs = kb_in_shape(kb, 0);
  LLVMValueRef rows = xs.rank == 2 ? xs.dim[0] : kb_idx(kb, 1);
  LLVMValueRef cols = xs.rank == 0 ? kb_idx(kb, 1) : xs.dim[xs.rank - 1];
  RtShape ys = {.rank = xs.rank == 2 ? 2 : 1, .dim = {rows, kb_idx(kb, t->columns)}};
  if (ys.rank == 1)
    ys.dim[0] = kb_idx(kb, t->columns);
  kb_set_out_shape(kb, 0, &ys);
  Loop lz;
  LLVMValueRef z = kb_for_v(kb, &lz, kb_idx(kb, 0), kb_numel(kb, &ys), 1);
  kb_store(kb, DT_F32, kb->out[0], z, kb_const(kb, DT_F32, 0.0));
  kb_end_for(kb, &lz);
  TrieTables tt = {kb_table(kb, t->strings ? DT_STRING : DT_I64, t->keys, t->nedges),
                   kb_table(kb, DT_I32, t->first, t->nedges + 1), kb_table(kb, DT_I32, t->count, t->nedges + 1),
                   kb_table(kb, DT_I32, t->column, t->nedges + 1)};
  Loop lr, ld, li;
  LLVMValueRef r = kb_for_v(kb, &lr, kb_idx(kb, 0), rows, 1);
  // Skip distances 1..max_skip_count+1; after the first, unigrams are not counted again.
  LLVMValueRef d = kb_for(kb, &ld, t->max_n == 1 ? 1 : t->skips + 1);
  LLVMValueRef lo = t->min_n > 1 ? kb_idx(kb, t->min_n)
                                 : kb_select(kb, LLVMBuildICmp(kb->b, LLVMIntEQ, d, kb_idx(kb, 0), ""), kb_idx(kb, 1), kb_idx(kb, 2));
  LLVMValueRef i = kb_for_v(kb, &li, kb_idx(kb, 0), cols, 1);
  count_from(kb, t, &tt, n, r, cols, i, LLVMBuildNSWAdd(kb->b, d, kb_idx(kb, 1), ""), lo);
  kb_end_for(kb, &li);
  kb_end_for(kb, &ld);
  kb_end_for(kb, &lr);
  weigh(kb, t, rows);
}
