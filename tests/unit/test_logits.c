/* The log-softmax statistics (src/model/logits.c) give the same bytes on
 * every instruction set: logprob_entropy_forward and _backward over random
 * rows of many vocabulary sizes (each length of a last partial vector, and
 * real vocabularies up to 151936), three temperatures, targets first, last
 * and anywhere, the upstream gradients present or not, and rows that make
 * NaNs (a -inf logit, a NaN) or hold only zeros of both signs. The kernel is
 * chosen once per process, so the test runs itself again per PIC_ISA
 * (--digests: a line of hashes per case) and compares each path's lines
 * with scalar's; a path this CPU cannot run is skipped, saying so. --raw
 * writes every output's bytes to stdout instead, to hold one build against
 * another with cmp. Under the path it was started on it also holds the
 * forward to double precision, loosely (equal hashes of wrong numbers would
 * prove nothing), and the backward in place to the one beside. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/cli.h"
#include "model/layers.h"

static const int Vs[] = {1,  2,  3,  7,   8,    9,    15,   16,    17,     23,    24, 25, 31, 32,
                         33, 47, 48, 63,  64,   65,   100,  1000,  4097,   8191,  32000, 151643, 151936};
static const float Ts[] = {1.0f, 0.6f, 1.7f};
enum { ROWS = 6, PARTS = 5 };

static uint64_t rng_state;

/* splitmix64: the same rows in every process */
static uint64_t next_u64(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static float uniform(void) { return (float)(next_u64() >> 40) * 0x1p-24f; }

/* Row r of a case: spreads from flat to one where exp underflows for most
 * elements; the last two rows make NaNs or hold signed zeros. */
static void fill_row(float *x, int V, int r) {
    static const float scale[ROWS] = {1, 4, 30, 200, 3, 3};
    for (int i = 0; i < V; i++) x[i] = (uniform() * 2 - 1) * scale[r];
    if (r == ROWS - 2) x[next_u64() % (unsigned)V] = V % 2 ? -INFINITY : NAN;
    if (r == ROWS - 1)
        for (int i = 0; i < V; i++) x[i] = i % 3 ? 0.0f : -0.0f;
}

/* A case's inputs and outputs: the forward's log-probs and entropies, and
 * the backward with both upstream gradients, with dlogp only, with dent
 * only, and without targets (parts 1-4 of dx). */
typedef struct {
    float *x, *dx[PARTS - 1], lp[ROWS], ent[ROWS], dlp[ROWS], dent[ROWS];
    int32_t tg[ROWS];
} bufs;

static void run_case(bufs *b, int V, float T) {
    rng_state = (uint64_t)V * 1000003u + (uint64_t)(T * 1000);
    for (int r = 0; r < ROWS; r++) {
        fill_row(b->x + (size_t)r * V, V, r);
        b->tg[r] = r == 0 ? 0 : r == 1 ? V - 1 : (int32_t)(next_u64() % (unsigned)V);
        b->dlp[r] = uniform() * 2 - 1, b->dent[r] = uniform() * 2 - 1;
    }
    logprob_entropy_forward(b->lp, b->ent, b->x, b->tg, ROWS, V, T);
    logprob_entropy_backward(b->dx[0], b->x, b->tg, b->dlp, b->dent, ROWS, V, T);
    logprob_entropy_backward(b->dx[1], b->x, b->tg, b->dlp, NULL, ROWS, V, T);
    logprob_entropy_backward(b->dx[2], b->x, b->tg, NULL, b->dent, ROWS, V, T);
    logprob_entropy_backward(b->dx[3], b->x, NULL, b->dlp, b->dent, ROWS, V, T);
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 0x100000001b3u;
    return h;
}

/* Each case's outputs: hashed, one line a case, or their bytes as they are. */
static void emit(const bufs *b, int V, float T, FILE *raw) {
    size_t n = (size_t)ROWS * V * sizeof(float);
    if (raw) {
        fwrite(b->lp, sizeof b->lp, 1, raw), fwrite(b->ent, sizeof b->ent, 1, raw);
        for (int k = 0; k < PARTS - 1; k++) fwrite(b->dx[k], n, 1, raw);
        return;
    }
    uint64_t h = fnv1a(fnv1a(0xcbf29ce484222325u, b->lp, sizeof b->lp), b->ent, sizeof b->ent);
    printf("V=%d T=%g forward %016llx backward", V, (double)T, (unsigned long long)h);
    for (int k = 0; k < PARTS - 1; k++) printf(" %016llx", (unsigned long long)fnv1a(0xcbf29ce484222325u, b->dx[k], n));
    printf("\n");
}

static bufs alloc_bufs(void) {
    size_t n = (size_t)ROWS * Vs[sizeof Vs / sizeof *Vs - 1];
    bufs b;
    b.x = pic_malloc(n * sizeof(float));
    for (int k = 0; k < PARTS - 1; k++) b.dx[k] = pic_malloc(n * sizeof(float));
    return b;
}

static void free_bufs(bufs *b) {
    free(b->x);
    for (int k = 0; k < PARTS - 1; k++) free(b->dx[k]);
}

static void each_case(FILE *raw) {
    bufs b = alloc_bufs();
    for (size_t vi = 0; vi < sizeof Vs / sizeof *Vs; vi++)
        for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
            run_case(&b, Vs[vi], Ts[ti]);
            emit(&b, Vs[vi], Ts[ti], raw);
        }
    free_bufs(&b);
}

/* The forward against double precision, on the rows without NaNs: the
 * bound is loose (test_backward holds the exact one); the backward in
 * place equals the backward beside, and a forward without targets leaves
 * the entropies as they were. */
static void sanity(void) {
    bufs b = alloc_bufs();
    double worst = 0;
    bool inplace = true, no_targets = true;
    for (size_t vi = 0; vi < sizeof Vs / sizeof *Vs; vi++)
        for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
            int V = Vs[vi];
            float T = Ts[ti], ent[ROWS];
            run_case(&b, V, T);
            for (int r = 0; r < ROWS - 2; r++) {
                const float *x = b.x + (size_t)r * V;
                double m = -INFINITY, S = 0, Sz = 0;
                for (int i = 0; i < V; i++) m = fmax(m, (double)x[i] / T);
                for (int i = 0; i < V; i++) {
                    double zm = (double)x[i] / T - m;
                    S += exp(zm), Sz += exp(zm) * zm;
                }
                double lp = (double)x[b.tg[r]] / T - m - log(S), h = log(S) - Sz / S;
                worst = fmax(worst, fmax(fabs(b.lp[r] - lp), fabs(b.ent[r] - h)) / (1 + fabs(m)));
            }
            logprob_entropy_forward(NULL, ent, b.x, NULL, ROWS, V, T);
            no_targets &= !memcmp(ent, b.ent, sizeof ent);
            logprob_entropy_backward(b.x, b.x, b.tg, b.dlp, b.dent, ROWS, V, T);
            inplace &= !memcmp(b.x, b.dx[0], (size_t)ROWS * V * sizeof(float));
        }
    CHECK(worst < 1e-4, "log-probs and entropies near double precision (worst error %.3g of 1 + |max|)", worst);
    CHECK(no_targets, "without targets, the same entropies");
    CHECK(inplace, "the backward in place (dlogits == logits) gives the same bytes as beside");
    free_bufs(&b);
}

/* Each path's lines (run as a child under PIC_ISA=isa): NULL where this CPU
 * or build lacks the path. */
static char *digests(const char *self, const char *isa) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "PIC_ISA=%s '%s' --digests 2>&1", isa, self);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *s = pic_malloc(cap);
    for (size_t k; (k = fread(s + n, 1, cap - n - 1, p)) > 0;)
        if ((n += k) == cap - 1) s = pic_realloc(s, cap *= 2);
    s[n] = 0;
    int status = pclose(p);
    if (strstr(s, "this CPU or build lacks")) {
        free(s);
        return NULL;
    }
    if (status) printf("# PIC_ISA=%s: exit status %d\n%s", isa, status, s);
    return s;
}

/* The first line where a and b differ, for the message. */
static void first_difference(const char *a, const char *b) {
    while (*a && *b) {
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
        if (la != lb || memcmp(a, b, la)) {
            printf("#   %.*s\n#   %.*s (scalar)\n", (int)la, a, (int)lb, b);
            return;
        }
        a += la + !!ea, b += lb + !!eb;
    }
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "--digests")) return each_case(NULL), 0;
    if (argc == 2 && !strcmp(argv[1], "--raw")) return each_case(stdout), 0;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return fprintf(stderr, "test_logits: cannot read /proc/self/exe\n"), 1;
    self[n] = 0;
    sanity();
    static const char *isas[] = {"avx512", "avx2"};
    char *want = digests(self, "scalar");
    CHECK(want && strlen(want) > 0, "PIC_ISA=scalar runs every case");
    for (int k = 0; k < 2 && want; k++) {
        char *got = digests(self, isas[k]);
        if (!got) {
            CHECK(1, "PIC_ISA=%s # SKIP this CPU or build lacks it", isas[k]);
            continue;
        }
        if (!CHECK(!strcmp(got, want), "PIC_ISA=%s: the same bytes as scalar in every case", isas[k]))
            first_difference(got, want);
        free(got);
    }
    free(want);
    return check_done();
}
