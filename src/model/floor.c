/* pic_matmul_flops, pic_sgemm_floor and pic_read_rate (floor.h). */
#include "model/floor.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/progress.h"
#include "model/parallel.h"
#include "model/vec.h"

double pic_matmul_flops(const pic_config *c, size_t rows, size_t head_rows) {
    double C = c->hidden_size, F = c->intermediate_size, qd = (double)c->n_heads * c->head_dim,
           kvd = (double)c->n_kv_heads * c->head_dim;
    double per_row = C * (qd + 2 * kvd) + qd * C + C * 2 * F + F * C; /* q/k/v, o, gate/up, down */
    return 2.0 * ((double)rows * per_row * c->n_layers + (double)head_rows * C * c->vocab_size);
}

double pic_sgemm_floor(const pic_config *c, const pic_params *p, size_t rows, size_t head_rows, int reps,
                       double *flops) {
    int C = c->hidden_size, F = c->intermediate_size, qd = c->n_heads * c->head_dim,
        kvd = c->n_kv_heads * c->head_dim, V = c->vocab_size;
    struct {
        int in, out;
    } shapes[4] = {{C, qd + 2 * kvd}, {qd, C}, {C, 2 * F}, {F, C}};
    size_t in_max = (size_t)(F > qd ? F : qd) > (size_t)C ? (size_t)(F > qd ? F : qd) : (size_t)C;
    size_t out_max = (size_t)(V > 2 * F + qd + 2 * kvd ? V : 2 * F + qd + 2 * kvd);
    size_t n = rows > head_rows ? rows : head_rows;
    /* written before the clock starts, so that no page is first touched while timed */
    float *x = pic_malloc((n * in_max + 1) * sizeof(float)), *y = pic_malloc((n * out_max + 1) * sizeof(float));
    memset(x, 0, (n * in_max + 1) * sizeof(float));
    memset(y, 0, (n * out_max + 1) * sizeof(float));
    double best = 1e300;
    *flops = pic_matmul_flops(c, rows, head_rows);
    /* the floor is OpenBLAS on every thread, threaded its own way */
    openblas_set_num_threads(pic_threads());
    for (int r = 0; r < reps; r++) {
        double t0 = pic_now();
        for (int l = 0; l < c->n_layers; l++) {
            const pic_layer_params *lp = &p->layer[l];
            const float *w[4] = {lp->wqkv, lp->wo, lp->wgu, lp->wd};
            for (int s = 0; s < 4; s++) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, shapes[s].out, shapes[s].in, 1.0f, x,
                            shapes[s].in, w[s], shapes[s].in, 0.0f, y, shapes[s].out);
            }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)head_rows, V, C, 1.0f, x, C, p->lm_head, C, 0.0f, y,
                    V);
        double t = pic_now() - t0;
        if (t < best) best = t;
    }
    pic_blas_one_thread(); /* pic's products run it on one (matmul.c) */
    free(x);
    free(y);
    return best;
}

enum { READ_BLOCK = 16384 }; /* floats per task: 64 KB, hundreds of tasks per sweep, so threads balance */

typedef struct {
    const float *buf;
    float (*sums)[16]; /* [threads]: kept, so that the reads are not optimized away */
} read_sweep;

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
static void read_blocks(void *ctx, size_t begin, size_t end, int tid) {
    read_sweep *r = ctx;
    /* four independent sums: an add's latency never limits the loads */
    v16 a = {0}, b = {0}, c = {0}, d = {0};
    for (const float *p = r->buf + begin * READ_BLOCK, *e = r->buf + end * READ_BLOCK; p < e; p += 64) {
        a += v16_load(p);
        b += v16_load(p + 16);
        c += v16_load(p + 32);
        d += v16_load(p + 48);
    }
    v16 s = (a + b) + (c + d);
    for (int l = 0; l < 16; l++) r->sums[tid][l] += s[l];
}

double pic_read_rate(size_t bytes, int reps) {
    size_t blocks = (bytes + READ_BLOCK * sizeof(float) - 1) / (READ_BLOCK * sizeof(float));
    if (!blocks) blocks = 1;
    float *buf = pic_malloc(blocks * READ_BLOCK * sizeof(float));
    /* written before the clock starts, so that no page is first touched while timed */
    memset(buf, 0, blocks * READ_BLOCK * sizeof(float));
    int nt = pic_threads();
    read_sweep r = {buf, pic_calloc((size_t)nt, sizeof *r.sums)};
    double best = 1e300;
    for (int rep = 0; rep < reps; rep++) {
        double t0 = pic_now();
        pic_parallel_for(blocks, 1, read_blocks, &r);
        double t = pic_now() - t0;
        if (t < best) best = t;
    }
    volatile float sink = 0;
    for (int i = 0; i < nt; i++)
        for (int l = 0; l < 16; l++) sink += r.sums[i][l];
    (void)sink;
    free(r.sums);
    free(buf);
    return (double)blocks * READ_BLOCK * sizeof(float) / best;
}
