/* pic-rollout-floor: the decode floor of a model on this machine, for
 * bench/rollout.sh. One decode step of B sequences must at least read every
 * weight once (timed here by summing the parameter buffer) and do the
 * step's matrix FLOPs (2 B x parameters in the layers and lm_head) at the
 * rate OpenBLAS sgemm reaches (timed here on the model's own shapes with
 * B rows, and on the same shapes with 256 rows, the best it does). The
 * floor in tokens/s is B over the larger of the two times. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/progress.h"
#include "model/model.h"
#include "model/parallel.h"

static double sgemm_time(const pic_model *m, int rows, double *flops) {
    const pic_config *c = &m->cfg;
    int C = c->hidden_size, F = c->intermediate_size, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    int shapes[5][2] = {{C, qd + 2 * kvd}, {qd, C}, {C, 2 * F}, {F, C}, {C, c->vocab_size}};
    size_t maxin = (size_t)(F > qd ? F : qd) > (size_t)C ? (size_t)(F > qd ? F : qd) : (size_t)C;
    float *x = pic_calloc((size_t)rows * maxin, sizeof(float));
    float *y = pic_calloc((size_t)rows * (size_t)(c->vocab_size > 2 * F + qd + 2 * kvd ? c->vocab_size : 2 * F + qd + 2 * kvd),
                          sizeof(float));
    double best = 1e30;
    *flops = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = pic_now(), fl = 0;
        for (int l = 0; l <= c->n_layers; l++)
            for (int s = 0; s < 5; s++) {
                if ((l == c->n_layers) != (s == 4)) continue; /* lm_head once, after the layers */
                const float *w = s == 4 ? m->params.lm_head : m->params.layer[l].wqkv;
                if (s == 1) w = m->params.layer[l].wo;
                if (s == 2) w = m->params.layer[l].wgu;
                if (s == 3) w = m->params.layer[l].wd;
                int K = shapes[s][0], N = shapes[s][1];
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, N, K, 1.0f, x, K, w, K, 0.0f, y, N);
                fl += 2.0 * rows * K * N;
            }
        double t = pic_now() - t0;
        if (t < best) best = t;
        *flops = fl;
    }
    free(x);
    free(y);
    return best;
}

int main(int argc, char **argv) {
    pic_init("pic-rollout-floor");
    if (argc < 3) {
        fprintf(stderr, "usage: pic-rollout-floor MODEL_DIR B [THREADS]\n");
        return 2;
    }
    int B = (int)pic_parse_int("B", argv[2], 1, 1 << 16);
    pic_set_threads(argc > 3 ? (int)pic_parse_int("THREADS", argv[3], 1, 1024) : 0);
    pic_model m;
    pic_err err;
    if (pic_model_load(&m, argv[1], &err)) pic_die("%s", err.msg);
    /* weights read once: a pass over the whole parameter buffer */
    size_t n = m.params.numel;
    double best_read = 1e30;
    volatile float sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = pic_now();
        float s[16] = {0};
        for (size_t i = 0; i + 16 <= n; i += 16)
            for (int j = 0; j < 16; j++) s[j] += m.params.data[i + j];
        double t = pic_now() - t0;
        for (int j = 0; j < 16; j++) sink += s[j];
        if (t < best_read) best_read = t;
    }
    double flops, flops256;
    double t_b = sgemm_time(&m, B, &flops), t_256 = sgemm_time(&m, 256, &flops256);
    double rate = flops256 / t_256, t_flops = flops / rate;
    double step = best_read > t_flops ? best_read : t_flops;
    printf("floor %.0f tokens/s (weights %.1f MB read in %.3f ms; %.2f GFLOP/step at %.1f GFLOP/s sgemm; "
           "sgemm alone at %d rows: %.0f tokens/s)\n",
           B / step, n * 4.0 / 1e6, best_read * 1e3, flops / 1e9, rate / 1e9, B, B / t_b);
    pic_model_free(&m);
    return 0;
}
