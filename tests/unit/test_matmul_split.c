/* matmul.c splits each product over the pool in blocks of rows (OpenBLAS
 * itself runs single-threaded): the forward and both backward products
 * must give the bits of one sgemm call over all rows, at any thread count
 * (a small product too small to split is one single-threaded call). Fails where an sgemm
 * kernel's row tiles do not line up with the blocks. The backward products
 * add onto what dinp and dW hold (micro-batches and a tied lm_head add into
 * one buffer), so they start from the same nonzero values as the reference
 * call's beta = 1. A product left to OpenBLAS's threads hands it back one
 * thread after. */
#include <cblas.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/cli.h"
#include "common/rng.h"
#include "model/layers.h"
#include "model/parallel.h"

static pic_rng rng;
static int blas_threaded; /* products left to OpenBLAS's threads */
static bool blas_one = true; /* and OpenBLAS on one thread after each */
static float *rnd(size_t n) {
    float *x = pic_malloc(n * sizeof *x + 1);
    for (size_t i = 0; i < n; i++) x[i] = (float)(pic_rng_uniform(&rng) - 0.5);
    return x;
}

/* N tokens through a layer of IC -> OC: out, dinp and dW against one call each */
static void check_shape(size_t N, int IC, int OC) {
    float *inp = rnd(N * IC), *w = rnd((size_t)OC * IC), *dout = rnd(N * OC);
    float *dinp0 = rnd(N * IC), *dw0 = rnd((size_t)OC * IC); /* what the gradients add onto */
    float *out[2], *dinp[2], *dw[2];
    for (int k = 0; k < 2; k++) {
        out[k] = pic_calloc(N * OC + 1, sizeof(float));
        dinp[k] = pic_calloc(N * IC + 1, sizeof(float));
        dw[k] = pic_calloc((size_t)OC * IC + 1, sizeof(float));
    }
    memcpy(dinp[0], dinp0, N * IC * sizeof(float));
    memcpy(dw[0], dw0, (size_t)OC * IC * sizeof(float));
    pic_set_threads(1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, OC, IC, 1.0f, inp, IC, w, IC, 0.0f, out[0], OC);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, IC, OC, 1.0f, dout, OC, w, IC, 1.0f, dinp[0], IC);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, (int)N, 1.0f, dout, OC, inp, IC, 1.0f, dw[0], IC);
    for (int t = 1; t <= 3; t++) {
        pic_set_threads(t);
        memcpy(dinp[1], dinp0, N * IC * sizeof(float));
        memcpy(dw[1], dw0, (size_t)OC * IC * sizeof(float));
        matmul_forward(out[1], inp, w, NULL, N, IC, OC, false);
        blas_one &= openblas_get_num_threads() == 1;
        matmul_backward(dinp[1], dw[1], NULL, dout, inp, w, N, IC, OC);
        blas_one &= openblas_get_num_threads() == 1;
        /* split, or small and one single-threaded call; an unsplit product
         * on OpenBLAS's threads has its bits promised at one thread only */
        bool fw = t == 1 || !pic_gemm_unsplit_threaded(N, (size_t)OC, (size_t)IC),
             di = t == 1 || !pic_gemm_unsplit_threaded(N, (size_t)IC, (size_t)OC),
             dW = t == 1 || !pic_gemm_unsplit_threaded((size_t)OC, (size_t)IC, N);
        blas_threaded += !fw + !di + !dW;
        if (!fw && !di && !dW) continue;
        CHECK((!fw || !memcmp(out[0], out[1], N * OC * sizeof(float))) &&
                  (!di || !memcmp(dinp[0], dinp[1], N * IC * sizeof(float))) &&
                  (!dW || !memcmp(dw[0], dw[1], (size_t)OC * IC * sizeof(float))),
              "%zu tokens, %d -> %d, %d threads: %s%s%s one call's bits", N, IC, OC, t, fw ? "forward " : "",
              di ? "dinp " : "", dW ? "dW are" : "are");
    }
    for (int k = 0; k < 2; k++) free(out[k]), free(dinp[k]), free(dw[k]);
    free(inp), free(w), free(dout), free(dinp0), free(dw0);
}

int main(void) {
    pic_rng_seed(&rng, 3, 0, 0);
    check_shape(1001, 96, 272);   /* the demo's lm_head, an odd count of rows */
    check_shape(2500, 96, 192);   /* its fused q/k/v */
    check_shape(777, 256, 96);    /* its down projection */
    check_shape(4096, 512, 1536); /* the benchmark model's gate/up */
    check_shape(4100, 1536, 512); /* and down, dW over 4100 tokens */
    check_shape(40, 64, 64);      /* too small to split */
    CHECK(blas_threaded > 0 && blas_one, "OpenBLAS back on one thread after each of %d products on its threads",
          blas_threaded);
    return check_done();
}
