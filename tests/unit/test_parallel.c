/* The pool (src/model/parallel.c): every item of every job runs exactly
 * once, on every thread count, whether waiting threads sleep at once
 * (PIC_SPIN_US=0) or poll first, and across many tiny jobs in a row, where a
 * lost wake-up would hang: an alarm then ends the test as a failure. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "model/parallel.h"

typedef struct {
    atomic_int *hits;
    atomic_int threads_seen;
} job;

static void mark(void *ctx, size_t begin, size_t end, int tid) {
    job *j = ctx;
    for (size_t i = begin; i < end; i++) atomic_fetch_add(&j->hits[i], 1);
    atomic_fetch_or(&j->threads_seen, 1 << tid);
}

/* ~100 us an item, long enough that a sleeping worker wakes for the job */
static void mark_slowly(void *ctx, size_t begin, size_t end, int tid) {
    for (volatile int k = 0; k < 200000; k++) {
    }
    mark(ctx, begin, end, tid);
}

/* a job whose items start nested jobs (they run inline) */
static void nest(void *ctx, size_t begin, size_t end, int tid) {
    (void)tid;
    job *j = ctx;
    for (size_t i = begin; i < end; i++) {
        job inner = {j->hits + 64 * i, 0};
        pic_parallel_for(64, 8, mark, &inner);
    }
}

static bool each_once(atomic_int *hits, size_t n) {
    bool ok = true;
    for (size_t i = 0; i < n; i++) ok &= atomic_exchange(&hits[i], 0) == 1;
    return ok;
}

static void round_of_jobs(const char *spin, int threads) {
    setenv("PIC_SPIN_US", spin, 1);
    pic_set_threads(threads); /* restarts the workers, which read PIC_SPIN_US */
    enum { MAX = 4096 };
    atomic_int *hits = calloc(MAX * 64, sizeof *hits);
    bool ok = true;
    for (int rep = 0; rep < 20000; rep++) { /* decode-sized: many small jobs back to back */
        size_t n = 1 + (size_t)rep % 37;
        job j = {hits, 0};
        pic_parallel_for(n, 1 + (size_t)rep % 3, mark, &j);
        ok &= each_once(hits, n);
    }
    CHECK(ok, "PIC_SPIN_US=%s, %d threads: 20000 small jobs, each item once", spin, threads);
    job big = {hits, 0};
    pic_parallel_for(MAX, 16, mark, &big);
    CHECK(each_once(hits, MAX), "PIC_SPIN_US=%s, %d threads: one large job, each item once", spin, threads);
    job outer = {hits, 0};
    pic_parallel_for(MAX / 64, 1, nest, &outer);
    CHECK(each_once(hits, MAX), "PIC_SPIN_US=%s, %d threads: nested jobs run inline, each item once", spin, threads);
    job slow = {hits, 0};
    pic_parallel_for(256, 1, mark_slowly, &slow);
    CHECK(each_once(hits, 256) && (threads == 1 || atomic_load(&slow.threads_seen) > 1),
          "PIC_SPIN_US=%s, %d threads: the workers take part in a job of ~25 ms", spin, threads);
    free(hits);
}

/* Workers started afresh (pic_set_threads stops them, the next job starts
 * new ones) must not take the generation counter's current value for a job
 * of their own: a phantom job's finish corrupted the count of workers still
 * busy, and a later job waited for ever (test_matmul_split hung this way). */
static void restarts(void) {
    setenv("PIC_SPIN_US", "100", 1);
    atomic_int hits[8] = {0};
    bool ok = true;
    for (int rep = 0; rep < 3000; rep++) {
        pic_set_threads(2 + rep % 3);
        for (int k = 0; k < 3; k++) {
            job j = {hits, 0};
            pic_parallel_for(8, 1, mark, &j);
            ok &= each_once(hits, 8);
        }
    }
    CHECK(ok, "3000 restarts of the pool, each followed by jobs: each item once, no hang");
}

int main(void) {
    alarm(300); /* a hang is a failure, not a stuck CI */
    restarts();
    const char *spins[] = {"0", "100", "5"};
    for (int s = 0; s < 3; s++)
        for (int t = 1; t <= 4; t++) round_of_jobs(spins[s], t);
    return check_done();
}
