/* Rotary position embeddings. The frequencies follow transformers'
 * modeling_rope_utils step by step in float32 (the same roundings), so that
 * angles, and with them logits, agree to float32 precision. */
#include <math.h>

#include "model/isa_kernels.h"
#include "model/layers.h"

static void yarn(float *inv, const pic_rope_config *r, int dim) {
    int half = dim / 2;
    double base = r->theta, omp = r->original_max_position;
    /* the dimension at which a frequency makes n rotations over the original context */
#define CORR(n) ((dim * log(omp / ((n) * 2 * M_PI))) / (2 * log(base)))
    double low = CORR(r->beta_fast), high = CORR(r->beta_slow);
#undef CORR
    if (r->truncate) low = floor(low), high = ceil(high);
    if (low < 0) low = 0;
    if (high > dim - 1) high = dim - 1;
    if (low == high) high += 0.001;
    for (int i = 0; i < half; i++) {
        float pos_freq = powf((float)base, (float)(2 * i) / (float)dim);
        float extra = 1.0f / pos_freq, inter = 1.0f / ((float)r->factor * pos_freq);
        float ramp = ((float)i - (float)low) / (float)(high - low);
        ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
        float ef = 1.0f - ramp; /* how much of the extrapolated frequency is kept */
        inv[i] = inter * (1.0f - ef) + extra * ef;
    }
}

void rope_inv_freq(float *inv, const pic_rope_config *r, int head_dim) {
    int half = head_dim / 2;
    if (r->type == PIC_ROPE_YARN) {
        yarn(inv, r, head_dim);
        return;
    }
    double base = r->theta;
    if (r->type == PIC_ROPE_DYNAMIC) {
        /* _compute_dynamic_ntk_parameters at seq_len = max_position_embeddings,
         * the longest sequence pic runs, in Python's order of operations:
         * (factor * L / L - (factor - 1)) is 1 up to a rounding */
        double L = r->original_max_position, f = r->factor;
        base = base * pow(f * L / L - (f - 1), (double)head_dim / (double)(head_dim - 2));
    }
    for (int i = 0; i < half; i++)
        inv[i] = 1.0f / powf((float)base, (float)(2 * i) / (float)head_dim);
    if (r->type == PIC_ROPE_LINEAR) {
        for (int i = 0; i < half; i++) inv[i] /= (float)r->factor;
    } else if (r->type == PIC_ROPE_LLAMA3) {
        /* Llama 3.1: long wavelengths are slowed by factor, short ones kept,
         * and the band between blended smoothly. */
        double old = r->original_max_position;
        double low_wl = old / r->low_freq_factor, high_wl = old / r->high_freq_factor;
        float factor = (float)r->factor;
        for (int i = 0; i < half; i++) {
            /* a scalar over a tensor is, in torch, the tensor's reciprocal
             * times the scalar: two roundings, kept so (2 pi / inv, old / wl) */
            float wl = (1.0f / inv[i]) * (float)(2 * M_PI);
            float f = wl > (float)low_wl ? inv[i] / factor : inv[i];
            float smooth = ((1.0f / wl) * (float)old - (float)r->low_freq_factor) /
                           (float)(r->high_freq_factor - r->low_freq_factor);
            float smoothed = (1.0f - smooth) * f / factor + smooth * f;
            bool medium = !(wl < (float)high_wl) && !(wl > (float)low_wl);
            inv[i] = medium ? smoothed : f;
        }
    }
}

void rope_tables(float *cos_t, float *sin_t, const int *pos, size_t N, const float *inv, int head_dim,
                 float attention_factor) {
    int half = head_dim / 2;
    for (size_t n = 0; n < N; n++)
        for (int i = 0; i < half; i++) {
            float a = (float)pos[n] * inv[i];
            cos_t[n * half + i] = cosf(a) * attention_factor;
            sin_t[n * half + i] = sinf(a) * attention_factor;
        }
}

typedef struct {
    float *x;
    int n_heads, hd;
    const float *cos, *sin;
    float dir; /* 1 rotates by the angle (forward), -1 back (backward: the transpose) */
} args;

/* Each pair (x[i], x[i + half]) of each head rotated by token n's angle i,
 * eight pairs a step: the same products and sums, lane by lane, as a pair at
 * a time (a decode step's RoPE runs on one thread at small batches). */
VEC_INLINE void rows(bool halves, void *ctx, size_t begin, size_t end) {
    (void)halves;
    const args *a = ctx;
    int half = a->hd / 2;
    for (size_t n = begin; n < end; n++) {
        const float *c = a->cos + n * half, *s = a->sin + n * half;
        for (int h = 0; h < a->n_heads; h++) {
            float *x = a->x + (n * a->n_heads + h) * a->hd;
            int i = 0;
            for (; i + 8 <= half; i += 8) {
                v8 x0 = v8_load(x + i), x1 = v8_load(x + i + half), ci = v8_load(c + i), si = v8_load(s + i) * a->dir;
                v8_storen(x + i, x0 * ci - x1 * si, 8);
                v8_storen(x + i + half, x1 * ci + x0 * si, 8);
            }
            for (; i < half; i++) {
                float x0 = x[i], x1 = x[i + half], si = a->dir * s[i];
                x[i] = x0 * c[i] - x1 * si;
                x[i + half] = x1 * c[i] + x0 * si;
            }
        }
    }
}

/* The backward is the same rotation, by -angle (args.dir). */
VEC_INLINE void brows(bool halves, void *ctx, size_t begin, size_t end) { rows(halves, ctx, begin, end); }

ISA_ROW_KERNELS

void rope_forward(float *x, size_t N, int n_heads, int head_dim, const float *cos_t, const float *sin_t) {
    args a = {x, n_heads, head_dim, cos_t, sin_t, 1.0f};
    pic_parallel_for(N, 1 + 2048 / ((size_t)n_heads * head_dim), kernels[pic_kernel_isa()].forward, &a);
}

/* The rotation's transpose: rotating the gradient by -angle, in place. */
void rope_backward(float *dx, size_t N, int n_heads, int head_dim, const float *cos_t, const float *sin_t) {
    args a = {dx, n_heads, head_dim, cos_t, sin_t, -1.0f};
    pic_parallel_for(N, 1 + 8192 / ((size_t)n_heads * head_dim), kernels[pic_kernel_isa()].backward, &a);
}
