#include <string.h>

#include "model/layers.h"

void embedding_forward(float *out, const int32_t *tokens, const float *embed, size_t N, int C) {
    for (size_t n = 0; n < N; n++) memcpy(out + n * C, embed + (size_t)tokens[n] * C, C * sizeof(float));
}

/* Rows of repeated tokens add up; one thread, in token order, so the sums
 * are the same whatever the thread count. The pad token's row gets
 * nothing, as torch's embedding backward skips padding_idx. */
void embedding_backward(float *dembed, const float *dout, const int32_t *tokens, size_t N, int C, int pad) {
    for (size_t n = 0; n < N; n++) {
        if (tokens[n] == pad) continue;
        float *d = dembed + (size_t)tokens[n] * C;
        const float *g = dout + n * C;
        for (int i = 0; i < C; i++) d[i] += g[i];
    }
}
