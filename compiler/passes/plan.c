// plan.c — the memory planner. Every intermediate tensor, every node's scratch and the
// run-time dims of dynamic tensors get an offset in one arena. Buffers whose lifetimes do not
// overlap share bytes: liveness over the schedule, then greedy placement, largest first, at
// the lowest offset that fits (the TFLite "greedy by size" strategy). Views share the storage
// of the tensor they view.
#include "../compiler.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  int64_t size, offset;
  int first, last;   // schedule steps during which the buffer is live
  int64_t *result;   // where the offset goes
  int order;         // creation order: a deterministic tie-break
} Buffer;

static bool in_arena(const Value *v) {
  return v->type == VAL_TENSOR && v->input_index < 0 && v->output_index < 0 && !v->data && !v->alias_of;
}

static int by_size_desc(const void *a, const void *b) {
  const Buffer *x = *(Buffer *const *)a, *y = *(Buffer *const *)b;
  if (x->size != y->size)
    return x->size < y->size ? 1 : -1;
  return x->order - y->order;
}

static int64_t align_up(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

// Bytes of V on the target: string tensors hold target-sized pointers.
static int64_t target_bytes(const Compiler *cc, const Value *v) {
  if (v->dtype == DT_STRING && cc->target)
    return shape_numel(&v->shape) * cc->target->pointer_bits / 8;
  return value_bytes(v);
}

static void add_buffer(Buffer *bufs, int *nb, int64_t size, int first, int last, int64_t *result) {
  bufs[*nb] = (Buffer){size, 0, first, last, result, *nb};
  (*nb)++;
}

// Marks the schedule step at which each value (through its storage root) is last read. A
// sequence or optional is a compile-time list: using it uses its members.
static void note_use(Value *v, int step, int *last_use) {
  if (!v)
    return;
  for (int i = 0; v->type != VAL_TENSOR && i < v->nelems; i++)
    note_use(v->elems[i], step, last_use);
  for (Value *r = v;; r = r->alias_of) {
    if (last_use[r->id] < step)
      last_use[r->id] = step;
    if (!r->alias_of)
      break;
  }
}

// Tensors N writes: its outputs, and the members of sequences it creates (not those it only
// regroups, which other nodes wrote).
static void note_def(Node *n, Value *v, int step, int *def, int *last_use) {
  for (int i = 0; v->type != VAL_TENSOR && i < v->nelems; i++)
    note_def(n, v->elems[i], step, def, last_use);
  if (v->producer != n)
    return;
  def[v->id] = step;
  note_use(v, step, last_use); // written even if never read
}

static void note_subgraph_uses(Graph *sub, int step, int *last_use) {
  for (int i = 0; i < sub->nodes.len; i++) {
    Node *n = sub->nodes.items[i];
    for (int j = 0; j < n->nin; j++)
      note_use(n->in[j], step, last_use);
    for (int j = 0; j < n->nattrs; j++)
      if (n->attrs[j].type == ATTR_GRAPH)
        note_subgraph_uses(n->attrs[j].g, step, last_use);
  }
  for (int i = 0; i < sub->outputs.len; i++)
    note_use(sub->outputs.items[i], step, last_use);
}

MemoryPlan plan_memory(Compiler *cc, Graph *g) {
  MemoryPlan plan = {0};
  int64_t align = cc->target ? cc->target->alignment : 64;
  int nsteps = g->nodes.len, nmax = cc->next_value_id;
  // Views alias their input's storage.
  for (int i = 0; i < g->nodes.len; i++) {
    Node *n = g->nodes.items[i];
    if (is_view_op(n) && !n->out[0]->data && n->out[0]->output_index < 0)
      n->out[0]->alias_of = n->in[0];
  }
  int *last_use = pool_alloc(&cc->pool, sizeof(int) * (size_t)(nmax + 1));
  int *def = pool_alloc(&cc->pool, sizeof(int) * (size_t)(nmax + 1));
  for (int i = 0; i <= nmax; i++)
    last_use[i] = -1;
  for (int s = 0; s < nsteps; s++) {
    Node *n = g->nodes.items[s];
    for (int j = 0; j < n->nin; j++)
      note_use(n->in[j], s, last_use);
    for (int j = 0; j < n->nattrs; j++)
      if (n->attrs[j].type == ATTR_GRAPH)
        note_subgraph_uses(n->attrs[j].g, s, last_use);
    for (int j = 0; j < n->nout; j++)
      if (n->out[j])
        note_def(n, n->out[j], s, def, last_use);
  }
  Buffer *bufs = pool_alloc(&cc->pool, sizeof(Buffer) * (size_t)(2 * g->values.len + nsteps + 1));
  int nb = 0;
  for (int i = 0; i < g->values.len; i++) {
    Value *v = g->values.items[i];
    if (v->data && v->type == VAL_TENSOR)
      plan.const_bytes += target_bytes(cc, v);
    if (!v->producer)
      continue;
    if (in_arena(v))
      add_buffer(bufs, &nb, align_up(target_bytes(cc, v), align), def[v->id], last_use[v->id], &v->offset);
    if (v->dynamic) // run-time dims (views have their own); the entry point reports those of
      // graph outputs after the last node
      add_buffer(bufs, &nb, align_up(8 * v->shape.rank, align), def[v->id],
                 v->output_index >= 0 ? nsteps : last_use[v->id], &v->dims_offset);
  }
  for (int s = 0; s < nsteps; s++) {
    Node *n = g->nodes.items[s];
    if (n->scratch > 0) // persistent scratch: outputs, and values copied from them, point into it
      add_buffer(bufs, &nb, align_up(n->scratch, align), s, n->scratch_persists ? nsteps : s, &n->scratch_offset);
  }
  Buffer **sorted = pool_alloc(&cc->pool, sizeof(Buffer *) * (size_t)(nb + 1));
  for (int i = 0; i < nb; i++)
    sorted[i] = &bufs[i];
  qsort(sorted, (size_t)nb, sizeof *sorted, by_size_desc);
  for (int i = 0; i < nb; i++) {
    Buffer *b = sorted[i];
    // Candidate offsets: 0 and the end of every placed buffer that overlaps in time;
    // take the lowest one where b fits between the overlapping placed buffers.
    int64_t best = -1;
    for (int c = -1; c < i; c++) {
      const Buffer *o = c < 0 ? NULL : sorted[c];
      if (o && (o->last < b->first || o->first > b->last))
        continue;
      int64_t cand = o ? o->offset + o->size : 0;
      if (best >= 0 && cand >= best)
        continue;
      bool fits = true;
      for (int k = 0; k < i && fits; k++) {
        const Buffer *p = sorted[k];
        if (p->last < b->first || p->first > b->last)
          continue;
        fits = cand + b->size <= p->offset || cand >= p->offset + p->size;
      }
      if (fits)
        best = cand;
    }
    b->offset = best;
    *b->result = best;
    if (best + b->size > plan.arena_size)
      plan.arena_size = best + b->size;
  }
  // The lower bound: the most bytes live at any one step.
  for (int s = 0; s < nsteps; s++) {
    int64_t live = 0;
    for (int i = 0; i < nb; i++)
      if (bufs[i].first <= s && s <= bufs[i].last)
        live += bufs[i].size;
    if (live > plan.lower_bound)
      plan.lower_bound = live;
  }
  return plan;
}
