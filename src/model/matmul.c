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
