/* pic_sgemm_floor (floor.h). */
#include "model/floor.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/progress.h"
#include "model/parallel.h"

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
    *flops = 0;
    /* the floor is OpenBLAS on every thread, threaded its own way */
    openblas_set_num_threads(pic_threads());
    for (int r = 0; r < reps; r++) {
        double f = 0, t0 = pic_now();
        for (int l = 0; l < c->n_layers; l++) {
            const pic_layer_params *lp = &p->layer[l];
            const float *w[4] = {lp->wqkv, lp->wo, lp->wgu, lp->wd};
            for (int s = 0; s < 4; s++) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, shapes[s].out, shapes[s].in, 1.0f, x,
                            shapes[s].in, w[s], shapes[s].in, 0.0f, y, shapes[s].out);
                f += 2.0 * (double)rows * shapes[s].in * shapes[s].out;
            }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)head_rows, V, C, 1.0f, x, C, p->lm_head, C, 0.0f, y,
                    V);
        f += 2.0 * (double)head_rows * C * V;
        double t = pic_now() - t0;
        if (t < best) best = t;
        *flops = f;
    }
    openblas_set_num_threads(1); /* pic's products run it on one (matmul.c) */
    free(x);
    free(y);
    return best;
}
