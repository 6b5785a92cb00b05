#include "model/parallel.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/cli.h"

static struct {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    pthread_mutex_t job; /* one parallel_for at a time */
    int n_threads;       /* including the caller */
    int started;         /* workers running */
    pthread_t *th;
    unsigned long gen;
    int busy;
    bool quit;
    pic_task fn;
    void *ctx;
    size_t n, chunk;
    atomic_size_t next;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .go = PTHREAD_COND_INITIALIZER,
       .done = PTHREAD_COND_INITIALIZER,
       .job = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local bool in_task;

static void run(int tid) {
    in_task = true;
    size_t b;
    while ((b = atomic_fetch_add(&P.next, P.chunk)) < P.n)
        P.fn(P.ctx, b, b + P.chunk < P.n ? b + P.chunk : P.n, tid);
    in_task = false;
}

static void *worker(void *arg) {
    int tid = (int)(size_t)arg;
    unsigned long seen = 0;
    pthread_mutex_lock(&P.mu);
    for (;;) {
        while (P.gen == seen && !P.quit) pthread_cond_wait(&P.go, &P.mu);
        if (P.quit) break;
        seen = P.gen;
        pthread_mutex_unlock(&P.mu);
        run(tid);
        pthread_mutex_lock(&P.mu);
        if (--P.busy == 0) pthread_cond_signal(&P.done);
    }
    pthread_mutex_unlock(&P.mu);
    return NULL;
}

static void stop_workers(void) {
    pthread_mutex_lock(&P.mu);
    P.quit = true;
    pthread_cond_broadcast(&P.go);
    pthread_mutex_unlock(&P.mu);
    for (int i = 0; i < P.started; i++) pthread_join(P.th[i], NULL);
    free(P.th);
    P.th = NULL;
    P.started = 0;
    P.quit = false;
}

void pic_set_threads(int n) {
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    pthread_mutex_lock(&P.job);
    if (P.started) stop_workers();
    P.n_threads = n;
    openblas_set_num_threads(1); /* matmul.c splits each product over this pool */
    pthread_mutex_unlock(&P.job);
}

bool pic_in_task(void) { return in_task; }

int pic_threads(void) {
    if (!P.n_threads) pic_set_threads(0);
    return P.n_threads;
}

static void start_workers(void) {
    P.th = pic_calloc((size_t)P.n_threads, sizeof *P.th);
    for (int i = 1; i < P.n_threads; i++) {
        if (pthread_create(&P.th[P.started], NULL, worker, (void *)(size_t)i) != 0)
            pic_die("cannot start a worker thread");
        P.started++;
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
    pthread_mutex_lock(&P.mu);
    P.fn = fn;
    P.ctx = ctx;
    P.n = n;
    P.chunk = chunk;
    atomic_store(&P.next, 0);
    P.busy = P.started;
    P.gen++;
    pthread_cond_broadcast(&P.go);
    pthread_mutex_unlock(&P.mu);
    run(0);
    pthread_mutex_lock(&P.mu);
    while (P.busy) pthread_cond_wait(&P.done, &P.mu);
    pthread_mutex_unlock(&P.mu);
    pthread_mutex_unlock(&P.job);
}
