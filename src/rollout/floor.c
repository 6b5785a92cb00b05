/* pic-rollout-floor: the decode floor of a model on this machine, for
 * bench/rollout.sh. One decode step of B sequences must at least read every
 * weight once (timed here by summing the parameter buffer) and do the
 * step's matrix FLOPs (2 B x parameters in the layers and lm_head) at the
 * rate OpenBLAS sgemm reaches (timed here on the model's own shapes with
 * B rows, and on the same shapes with 256 rows, the best it does). The
 * floor in tokens/s is B over the larger of the two times. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/progress.h"
#include "model/floor.h"
#include "model/model.h"
#include "model/parallel.h"

/* The sgemm floor for B rows: the best of 5 rounds. */
static double sgemm_time(const pic_model *m, int rows, double *flops) {
    return pic_sgemm_floor(&m->cfg, &m->params, (size_t)rows, (size_t)rows, 5, flops);
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
    if (pic_model_load(&m, argv[1], NULL, &err)) pic_die("%s", err.msg);
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
