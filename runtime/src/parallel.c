/* parallel.c — the parallel-for that models compiled with --threads N call (Linux targets;
 * bare-metal models never do). A pool of at most EDGECC_MAX_THREADS - 1 workers, created on
 * first use in static storage and kept for the life of the process: nothing is allocated.
 *
 * A loop is cut into a few parts per thread; the caller and the workers take parts from a
 * shared ticket until none are left, so a worker the OS has not scheduled (a busy machine)
 * only means the others take its parts. The ticket holds the loop's generation next to the
 * next part, so a worker waking up late cannot take a part of a loop that is over. Workers
 * spin briefly for the next loop before sleeping, since a model starts one loop per layer.
 * A loop started while another is running (two threads running models at once) runs
 * serially in its caller. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "edgecc_rt.h"

#define EDGECC_MAX_THREADS 16
#define PARTS_PER_THREAD 4
#define SPIN_ROUNDS 200000 /* about a millisecond: the next layer's loop usually comes sooner */

static struct {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  atomic_flag busy;          /* a loop is running */
  int nworkers;              /* workers started */
  edgecc_loop_body body;     /* the current loop; written before its ticket is published */
  void *ctx;
  int64_t n;
  int parts;
  int threads;               /* workers with a smaller index take part (scratch is per thread) */
  atomic_uint generation;    /* bumped to start a loop */
  atomic_uint_fast64_t ticket; /* generation << 32 | next part */
  atomic_int done;           /* parts finished */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .busy = ATOMIC_FLAG_INIT};
static pthread_t workers[EDGECC_MAX_THREADS];

/* The next part of loop GEN, if it has one left. */
static bool take(unsigned gen, int *part) {
  uint_fast64_t v = atomic_load(&pool.ticket);
  for (;;) {
    if ((unsigned)(v >> 32) != gen || (int)(v & 0xffffffffu) >= pool.parts)
      return false;
    if (atomic_compare_exchange_weak(&pool.ticket, &v, v + 1)) {
      *part = (int)(v & 0xffffffffu);
      return true;
    }
  }
}

static void run_parts(unsigned gen, int worker) {
  int part;
  while (take(gen, &part)) {
    int64_t begin = pool.n * part / pool.parts, end = pool.n * (part + 1) / pool.parts;
    if (begin < end)
      pool.body(pool.ctx, begin, end, worker);
    atomic_fetch_add(&pool.done, 1);
  }
}

static void *worker_main(void *arg) {
  int id = (int)(intptr_t)arg;
  unsigned seen = 0;
  for (;;) {
    unsigned g;
    for (int spin = 0; (g = atomic_load(&pool.generation)) == seen && spin < SPIN_ROUNDS; spin++)
      ;
    if (g == seen) {
      pthread_mutex_lock(&pool.lock);
      while ((g = atomic_load(&pool.generation)) == seen)
        pthread_cond_wait(&pool.wake, &pool.lock);
      pthread_mutex_unlock(&pool.lock);
    }
    seen = g;
    if (id < pool.threads)
      run_parts(g, id);
  }
  return NULL;
}

void edgecc_parallel_for(edgecc_loop_body body, void *ctx, int64_t n, int32_t threads) {
  if (threads > EDGECC_MAX_THREADS)
    threads = EDGECC_MAX_THREADS;
  if (threads > n)
    threads = (int32_t)n;
  if (threads <= 1 || atomic_flag_test_and_set(&pool.busy)) {
    if (n > 0)
      body(ctx, 0, n, 0);
    return;
  }
  while (pool.nworkers < threads - 1) {
    if (pthread_create(&workers[pool.nworkers], NULL, worker_main, (void *)(intptr_t)(pool.nworkers + 1)))
      break;
    pool.nworkers++;
  }
  int64_t parts = (int64_t)threads * PARTS_PER_THREAD;
  pool.body = body, pool.ctx = ctx, pool.n = n;
  pool.parts = (int)(parts < n ? parts : n);
  pool.threads = threads;
  atomic_store(&pool.done, 0);
  unsigned gen = atomic_load(&pool.generation) + 1;
  atomic_store(&pool.ticket, (uint_fast64_t)gen << 32);
  pthread_mutex_lock(&pool.lock);
  atomic_store(&pool.generation, gen);
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.lock);
  run_parts(gen, 0);
  while (atomic_load(&pool.done) < pool.parts)
    ;
  atomic_flag_clear(&pool.busy);
}
