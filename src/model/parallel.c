#include "model/parallel.h"

#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/progress.h"

/* A decode step hands out ~100 small jobs, tens of microseconds each; a
 * futex sleep and wake-up between two of them costs about as much as the
 * job (at batch 1, two threads ran at half the speed of one). So a thread
 * that waits, for work or for the others to finish, first polls for up to
 * spin_us (with a sched_yield every 20 us, so that an oversubscribed machine
 * runs whoever has work), and only then sleeps on the condition variable.
 * PIC_SPIN_US sets it (0: sleep at once). */
enum { DEFAULT_SPIN_US = 100 };

/* A thread's share of a pic_parallel_for_shares, on a cache line of its
 * own: its next item and its end. */
typedef struct {
    _Alignas(64) atomic_size_t next;
    size_t end;
} share;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    pthread_mutex_t job; /* one parallel_for at a time */
    int n_threads;       /* including the caller */
    int started;         /* workers running */
    pthread_t *th;
    atomic_ulong gen;  /* bumped, under mu, for each job */
    unsigned long start_gen; /* gen when the workers started: no job of theirs */
    atomic_int busy;   /* workers still in the current job */
    atomic_bool quit;
    int sleepers;      /* workers asleep on go (under mu) */
    bool caller_asleep; /* the caller asleep on done (under mu) */
    double spin_s;
    pic_task fn;
    void *ctx;
    size_t n, chunk;
    atomic_size_t next;
    share *shares;     /* the current job's: one a thread; NULL for chunks */
    share *share_buf;  /* pic_parallel_for_shares's, n_share_buf of them */
    int n_share_buf;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .go = PTHREAD_COND_INITIALIZER,
       .done = PTHREAD_COND_INITIALIZER,
       .job = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local bool in_task;

static void run(int tid) {
    in_task = true;
    size_t b;
    if (P.shares) /* its own share first, then the others' in turn */
        for (int k = 0; k < P.n_threads; k++) {
            share *s = &P.shares[(tid + k) % P.n_threads];
            while ((b = atomic_fetch_add(&s->next, 1)) < s->end) P.fn(P.ctx, b, b + 1, tid);
        }
    else
        while ((b = atomic_fetch_add(&P.next, P.chunk)) < P.n)
            P.fn(P.ctx, b, b + P.chunk < P.n ? b + P.chunk : P.n, tid);
    in_task = false;
}

/* Polls until done() or spin_s have passed; true if done. A sched_yield
 * every 20 us lets an oversubscribed machine run whoever has work; one
 * after every few polls cost batch-8 decoding 5-7% (AVX-512) on a VM where
 * the call takes 1.2 us: a job that arrived during it waited. */
static bool spin_until(bool (*done)(unsigned long), unsigned long arg) {
    if (done(arg)) return true;
    if (P.spin_s <= 0) return false;
    const double yield_every = 20e-6;
    double t0 = pic_now(), yield_at = t0 + yield_every;
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (done(arg)) return true;
#if defined(__x86_64__)
            __builtin_ia32_pause();
#endif
        }
        double t = pic_now();
        if (t - t0 >= P.spin_s) return done(arg);
        if (t >= yield_at) {
            sched_yield();
            yield_at = t + yield_every;
        }
    }
}

static bool new_job(unsigned long seen) { return atomic_load(&P.gen) != seen || atomic_load(&P.quit); }
static bool all_done(unsigned long unused) { return (void)unused, atomic_load(&P.busy) == 0; }

static void *worker(void *arg) {
    int tid = (int)(size_t)arg;
    /* Not 0: a worker started after earlier jobs would take gen's value for
     * a job, run nothing, and count itself out of the next one (a job then
     * waited for ever on a worker asleep). */
    unsigned long seen = P.start_gen;
    for (;;) {
        if (!spin_until(new_job, seen)) {
            pthread_mutex_lock(&P.mu);
            P.sleepers++;
            while (!new_job(seen)) pthread_cond_wait(&P.go, &P.mu);
            P.sleepers--;
            pthread_mutex_unlock(&P.mu);
        }
        if (atomic_load(&P.quit)) break;
        seen = atomic_load(&P.gen);
        run(tid);
        if (atomic_fetch_sub(&P.busy, 1) == 1) { /* the last one out wakes a sleeping caller */
            pthread_mutex_lock(&P.mu);
            if (P.caller_asleep) pthread_cond_signal(&P.done);
            pthread_mutex_unlock(&P.mu);
        }
    }
    return NULL;
}

static void stop_workers(void) {
    pthread_mutex_lock(&P.mu);
    atomic_store(&P.quit, true);
    pthread_cond_broadcast(&P.go);
    pthread_mutex_unlock(&P.mu);
    for (int i = 0; i < P.started; i++) pthread_join(P.th[i], NULL);
    free(P.th);
    P.th = NULL;
    P.started = 0;
    atomic_store(&P.quit, false);
}

/* OpenBLAS's pthreads build starts its threads when the library loads, and
 * each polls (sched_yield) for about 0.1 s after its start or last job
 * before it sleeps, on the cores this pool needs: a 128-token decode at
 * batch 8 ran 20% faster with OPENBLAS_NUM_THREADS=1. pic runs OpenBLAS on
 * one thread (matmul.c), so it stops them; OpenBLAS starts them again if a
 * call asks for more (floor.c's timing of the floor). The
 * function is that build's fork handler's; other builds lack it. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

void pic_blas_one_thread(void) {
    openblas_set_num_threads(1);
    if (blas_thread_shutdown_) blas_thread_shutdown_();
}

/* PIC_SPIN_US in seconds, checked when the pool is sized: a bad value is an
 * error whether or not a worker ever starts (--threads 1 starts none). */
static double spin_seconds(void) {
    const char *spin = getenv("PIC_SPIN_US");
    double us = DEFAULT_SPIN_US;
    if (spin && *spin) {
        char *end;
        us = strtod(spin, &end);
        if (*end || !(us >= 0 && us <= 1e6))
            pic_die("PIC_SPIN_US=%s: expected microseconds to poll before sleeping, 0 to 1000000", spin);
    }
    return us * 1e-6;
}

void pic_set_threads(int n) {
    P.spin_s = spin_seconds();
    if (n <= 0) {
        /* the CPUs this process may run on (taskset, a Slurm task's, a
         * container's cpuset), not the machine's: threads beyond them
         * would take turns on them */
        cpu_set_t set;
        long c = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    pthread_mutex_lock(&P.job);
    if (P.started) stop_workers();
    P.n_threads = n;
    pic_blas_one_thread(); /* matmul.c splits each product over this pool */
    pthread_mutex_unlock(&P.job);
}

bool pic_in_task(void) { return in_task; }

int pic_threads(void) {
    if (!P.n_threads) pic_set_threads(0);
    return P.n_threads;
}

static void start_workers(void) {
    P.start_gen = atomic_load(&P.gen); /* the caller bumps gen after we return */
    P.th = pic_calloc((size_t)P.n_threads, sizeof *P.th);
    for (int i = 1; i < P.n_threads; i++) {
        if (pthread_create(&P.th[P.started], NULL, worker, (void *)(size_t)i) != 0)
            pic_die("cannot start a worker thread");
        P.started++;
    }
}

/* Posts a job (P.job held, its work set) and runs the caller's part of it. */
static void post_and_run(pic_task fn, void *ctx) {
    P.fn = fn;
    P.ctx = ctx;
    atomic_store(&P.busy, P.started);
    pthread_mutex_lock(&P.mu); /* a worker going to sleep checks gen under mu */
    atomic_fetch_add(&P.gen, 1);
    if (P.sleepers) pthread_cond_broadcast(&P.go);
    pthread_mutex_unlock(&P.mu);
    run(0);
    if (!spin_until(all_done, 0)) {
        pthread_mutex_lock(&P.mu);
        P.caller_asleep = true;
        while (!all_done(0)) pthread_cond_wait(&P.done, &P.mu);
        P.caller_asleep = false;
        pthread_mutex_unlock(&P.mu);
    }
}

void pic_parallel_for(size_t n, size_t chunk, pic_task fn, void *ctx) {
    if (!n) return;
    if (chunk < 1) chunk = 1;
    int nt = pic_threads();
    if (in_task || nt == 1 || n <= chunk) {
        fn(ctx, 0, n, 0);
        return;
    }
    pthread_mutex_lock(&P.job);
    if (!P.started) start_workers();
    P.n = n;
    P.chunk = chunk;
    P.shares = NULL;
    atomic_store(&P.next, 0);
    post_and_run(fn, ctx);
    pthread_mutex_unlock(&P.job);
}

void pic_parallel_for_shares(size_t n, pic_task fn, void *ctx) {
    if (!n) return;
    int nt = pic_threads();
    if (in_task || nt == 1 || n == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    pthread_mutex_lock(&P.job);
    if (!P.started) start_workers();
    if (P.n_share_buf < nt) {
        free(P.share_buf);
        P.share_buf = aligned_alloc(64, (size_t)nt * sizeof *P.share_buf); /* sizeof: a multiple of 64 */
        if (!P.share_buf) pic_die("out of memory (%d shares of a parallel job)", nt);
        P.n_share_buf = nt;
    }
    for (int t = 0; t < nt; t++) {
        atomic_store(&P.share_buf[t].next, n * t / nt);
        P.share_buf[t].end = n * (t + 1) / nt;
    }
    P.shares = P.share_buf;
    post_and_run(fn, ctx);
    pthread_mutex_unlock(&P.job);
}
