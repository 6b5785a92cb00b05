#include <cblas.h>
#include <string.h>

#include "model/layers.h"

void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, size_t N,
                    int IC, int OC, bool accumulate) {
    if (!N) return;
    float beta = accumulate ? 1.0f : 0.0f;
    /* The bias goes in first so the GEMM accumulates onto it in one pass. */
    if (bias) {
        for (size_t n = 0; n < N; n++) {
            float *o = out + n * OC;
            if (accumulate)
                for (int j = 0; j < OC; j++) o[j] += bias[j];
            else
                memcpy(o, bias, OC * sizeof(float));
        }
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, OC, IC, 1.0f, inp, IC, weight, IC, beta, out,
                OC);
}

/* The gradient of nn.Linear: dinp += dout . W, dW += dout^T . inp (two
 * GEMMs), dbias += the column sums of dout. Everything accumulates, so
 * micro-batches and the tied lm_head / embedding add into one buffer. */
void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, size_t N, int IC, int OC) {
    if (!N) return;
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, IC, OC, 1.0f, dout, OC, weight, IC, 1.0f,
                    dinp, IC);
    if (dweight)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, (int)N, 1.0f, dout, OC, inp, IC, 1.0f,
                    dweight, IC);
    if (dbias)
        for (size_t n = 0; n < N; n++)
            for (int j = 0; j < OC; j++) dbias[j] += dout[n * OC + j];
}
