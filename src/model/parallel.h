/* A persistent thread pool for the element-wise, attention and matrix
 * product work (OpenBLAS runs single-threaded: matmul.c splits its
 * products over this pool). Work is handed out in chunks from an atomic
 * counter, so causal attention's uneven rows balance themselves, or in
 * contiguous shares a thread that the first to finish helps with (a decode
 * step's products). A parallel_for called from inside a task runs inline. */
#ifndef PIC_MODEL_PARALLEL_H
#define PIC_MODEL_PARALLEL_H

#include <stdbool.h>
#include <stddef.h>

/* fn handles items [begin, end) on thread tid (0 .. pic_threads()-1). */
typedef void (*pic_task)(void *ctx, size_t begin, size_t end, int tid);

/* Sets the number of threads for this pool (0: one per online CPU); OpenBLAS
 * gets one. Call before the first parallel_for or between them. */
void pic_set_threads(int n);
int pic_threads(void);
/* OpenBLAS to one thread, its own threads stopped (pic_set_threads does it;
 * call it again after asking OpenBLAS for more). */
void pic_blas_one_thread(void);
/* True inside one of fn's calls (a nested parallel_for runs inline). */
bool pic_in_task(void);
/* Runs fn over [0, n) in chunks of chunk items (>= 1). */
void pic_parallel_for(size_t n, size_t chunk, pic_task fn, void *ctx);
/* Runs fn over [0, n) an item at a time, thread t first through its own
 * share [t n / T, (t + 1) n / T) in order, then helping the others with
 * theirs: each thread walks a contiguous range (a prefetch that runs ahead
 * through it stays useful), and the one that finishes first takes the
 * other's last items instead of waiting for them. */
void pic_parallel_for_shares(size_t n, pic_task fn, void *ctx);

#endif
