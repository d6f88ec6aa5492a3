/* parallel.c — the parallel-for that models compiled with --threads N call (Linux targets;
 * bare-metal models never do). A pool of at most EDGECC_MAX_THREADS - 1 workers, created on
 * first use in static storage and kept for the life of the process: nothing is allocated.
 * The caller runs part 0 itself; workers spin briefly for the next loop before sleeping,
 * since a model starts one loop per layer. A loop started while another is running (two
 * threads running models at once) runs serially in its caller. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "edgecc_rt.h"

#define EDGECC_MAX_THREADS 16
#define SPIN_ROUNDS 200000 /* about a millisecond: the next layer's loop usually comes sooner */

static struct {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  atomic_flag busy;          /* a loop is running */
  int nworkers;              /* workers started */
  edgecc_loop_body body;
  void *ctx;
  int64_t n;
  int parts;
  atomic_uint generation;    /* bumped to start a loop */
  atomic_int pending;        /* workers still running the current loop */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, ATOMIC_FLAG_INIT};
static pthread_t workers[EDGECC_MAX_THREADS];

static void run_part(int part) {
  int64_t begin = pool.n * part / pool.parts, end = pool.n * (part + 1) / pool.parts;
  if (begin < end)
    pool.body(pool.ctx, begin, end, part);
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
    if (id < pool.parts)
      run_part(id);
    atomic_fetch_sub(&pool.pending, 1);
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
  pool.body = body, pool.ctx = ctx, pool.n = n;
  pool.parts = pool.nworkers + 1 < threads ? pool.nworkers + 1 : threads;
  atomic_store(&pool.pending, pool.nworkers);
  pthread_mutex_lock(&pool.lock);
  atomic_fetch_add(&pool.generation, 1);
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.lock);
  run_part(0);
  while (atomic_load(&pool.pending) > 0)
    ;
  atomic_flag_clear(&pool.busy);
}
