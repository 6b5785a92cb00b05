/* The pool (src/model/parallel.c): every item of every job runs exactly
 * once, on every thread count, whether waiting threads sleep at once
 * (PIC_SPIN_US=0) or poll first, and across many tiny jobs in a row, where a
 * lost wake-up would hang: an alarm then ends the test as a failure. The
 * same for jobs in shares (pic_parallel_for_shares), whose threads also
 * walk their own share in order before helping with another's. */
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

/* For jobs in shares: which thread ran each item, and in which order each
 * thread ran its items. */
typedef struct {
    job j;
    int *by;                 /* [n]: the thread that ran item i */
    size_t *order[8];        /* [thread][k]: its k-th item */
    atomic_size_t count[8];
} shares_job;

static void mark_share(void *ctx, size_t begin, size_t end, int tid) {
    shares_job *s = ctx;
    mark(&s->j, begin, end, tid);
    for (size_t i = begin; i < end; i++) {
        s->by[i] = tid;
        s->order[tid][atomic_fetch_add(&s->count[tid], 1)] = i;
    }
}

/* Each thread ran the items of its own share that it ran in increasing
 * order, and began with its share's first item unless another thread took
 * all of them (they are then after the other's). It helped with the others'
 * shares only after its own, in turn: thread t's items lie in shares t,
 * t + 1, ... (mod threads) in that order, never back to an earlier one. */
static bool shares_in_order(shares_job *s, size_t n, int threads) {
    bool ok = true;
    for (int t = 0; t < threads; t++) {
        size_t lo = n * t / threads, hi = n * (t + 1) / threads, last = 0, c = atomic_load(&s->count[t]);
        bool first = true;
        int turn = 0;
        for (size_t k = 0; k < c; k++) {
            size_t i = s->order[t][k];
            int owner = 0;
            while (i >= n * (size_t)(owner + 1) / threads) owner++;
            int d = (owner - t + threads) % threads; /* the share's turn in t's walk */
            ok &= d >= turn;
            turn = d;
            if (i < lo || i >= hi) continue;
            ok &= first ? i == lo || s->by[lo] != t : i > last;
            first = false, last = i;
        }
    }
    return ok;
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
    job zero = {hits, 0};
    pic_parallel_for(100, 0, mark, &zero); /* a chunk of 0 items is taken as 1, never a job without end */
    CHECK(each_once(hits, 100), "PIC_SPIN_US=%s, %d threads: chunks of 0 run as 1, each item once", spin, threads);
    job outer = {hits, 0};
    pic_parallel_for(MAX / 64, 1, nest, &outer);
    CHECK(each_once(hits, MAX), "PIC_SPIN_US=%s, %d threads: nested jobs run inline, each item once", spin, threads);
    size_t sn[] = {1, 2, 3, 7, 16, 33, 200};
    bool once = true, ordered = true;
    shares_job *sj = calloc(1, sizeof *sj);
    sj->by = calloc(256, sizeof *sj->by);
    for (int t = 0; t < 8; t++) sj->order[t] = calloc(256, sizeof(size_t));
    for (int rep = 0; rep < 3000; rep++) {
        size_t n = sn[rep % 7];
        sj->j = (job){hits, 0};
        for (int t = 0; t < 8; t++) atomic_store(&sj->count[t], 0);
        pic_parallel_for_shares(n, rep % 2 ? mark_share : mark, sj);
        once &= each_once(hits, n);
        if (rep % 2) ordered &= shares_in_order(sj, n, threads);
    }
    CHECK(once, "PIC_SPIN_US=%s, %d threads: 3000 jobs in shares, each item once", spin, threads);
    CHECK(ordered, "PIC_SPIN_US=%s, %d threads: each thread walks its own share in order, then the others' in turn",
          spin, threads);
    for (int t = 0; t < 8; t++) free(sj->order[t]);
    free(sj->by), free(sj);
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
