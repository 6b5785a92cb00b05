/* The glue's row kernels give the bits of their definitions on every
 * instruction set: rmsnorm_forward and rmsnorm_backward (src/model/rmsnorm.c)
 * against the scalar loops below, written as transformers' float32 RMSNorm
 * with its sum of squares in double, one addition after another, and
 * rope_forward and rope_backward (src/model/rope.c) against the rotation a
 * pair at a time, and swiglu_forward and swiglu_backward (src/model/swiglu.c)
 * against their products a lane at a time, nothing stored past them. Rows from 1 to 19 (every group of eight and four, and what
 * is left after them) and widths with every remainder of a vector, in place
 * and beside, with and without the 1/rms output. The kernel is chosen once per process, so the
 * test runs itself again under each PIC_ISA (--one: the checks of that path
 * alone); a path this CPU cannot run is skipped, saying so. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "isa_paths.h"
#include "common/cli.h"
#include "model/layers.h"
#include "model/matmul_bi.h"
#include "model/parallel.h"
#include "model/vec.h"

static uint64_t rng_state = 42;

static float uniform(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng_state >> 40) / 16777216.0) * 2.0f - 1.0f;
}

static float *randoms(size_t n, float scale) {
    float *p = pic_malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = uniform() * scale;
    return p;
}

/* The definitions, a row at a time. */
static void rmsnorm_ref(float *out, float *rstd, const float *inp, const float *w, size_t N, int C, float eps) {
    for (size_t n = 0; n < N; n++) {
        const float *x = inp + n * C;
        double ss = 0;
        for (int i = 0; i < C; i++) ss += (double)x[i] * x[i];
        float r = 1.0f / sqrtf((float)(ss / C) + eps);
        if (rstd) rstd[n] = r;
        for (int i = 0; i < C; i++) out[n * C + i] = w[i] * (x[i] * r);
    }
}

static void rmsnorm_backward_ref(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                                 const float *rstd, size_t N, int C) {
    for (size_t n = 0; n < N; n++) {
        const float *x = inp + n * C, *dy = dout + n * C;
        float *dx = dinp + n * C, r = rstd[n];
        double dot = 0;
        for (int i = 0; i < C; i++) dot += (double)w[i] * dy[i] * x[i];
        float k = (float)(dot * r * r * r / C);
        for (int i = 0; i < C; i++) dx[i] += r * (w[i] * dy[i]) - x[i] * k;
    }
    for (size_t n = 0; n < N; n++)
        for (int i = 0; i < C; i++) dw[i] += dout[n * C + i] * (inp[n * C + i] * rstd[n]);
}

/* Rotation of each pair (x[i], x[i + half]) by angle i of its token, dir 1
 * (forward) or -1 (backward: the transpose). */
static void rope_ref(float *x, size_t N, int nh, int hd, const float *cs, const float *sn, float dir) {
    int half = hd / 2;
    for (size_t n = 0; n < N; n++)
        for (int h = 0; h < nh; h++) {
            float *v = x + (n * nh + h) * hd;
            for (int i = 0; i < half; i++) {
                float x0 = v[i], x1 = v[i + half], si = dir * sn[n * half + i];
                v[i] = x0 * cs[n * half + i] - x1 * si;
                v[i + half] = x1 * cs[n * half + i] + x0 * si;
            }
        }
}

static void rope_cases(const char *isa) {
    static const int hds[] = {2, 4, 6, 8, 14, 16, 18, 32, 34, 64, 128};
    int bad = 0, cases = 0;
    for (size_t hi = 0; hi < sizeof hds / sizeof *hds; hi++)
        for (int nh = 1; nh <= 5; nh += 2)
            for (size_t N = 1; N <= 9; N++)
                for (int back = 0; back < 2; back++) {
                    int hd = hds[hi];
                    size_t n = N * nh * hd, nt = N * (size_t)hd / 2;
                    float *x = randoms(n, 2.0f), *want = pic_malloc(n * sizeof *want);
                    float *cs = randoms(nt, 1.0f), *sn = randoms(nt, 1.0f);
                    memcpy(want, x, n * sizeof *x);
                    rope_ref(want, N, nh, hd, cs, sn, back ? -1.0f : 1.0f);
                    (back ? rope_backward : rope_forward)(x, N, nh, hd, cs, sn);
                    if (memcmp(x, want, n * sizeof *x) && !bad++)
                        printf("# %s: rope_%s differs first at N %zu, %d heads of %d\n", isa,
                               back ? "backward" : "forward", N, nh, hd);
                    free(x), free(want), free(cs), free(sn);
                    cases++;
                }
    CHECK(!bad, "PIC_ISA=%s: rope_forward and rope_backward give the definition's bits (%d of %d cases differ)", isa,
          bad, cases);
}

static const int Cs[] = {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 63, 64, 100, 256, 259, 896};

/* Every case of this path; each mismatch named. */
static void rmsnorm_cases(const char *isa) {
    int bad_fwd = 0, bad_inplace = 0, bad_bwd = 0, cases = 0;
    for (size_t ci = 0; ci < sizeof Cs / sizeof *Cs; ci++)
        for (size_t N = 1; N <= 19; N++) {
            int C = Cs[ci];
            size_t n = N * (size_t)C;
            float *x = randoms(n, 3.0f), *w = randoms((size_t)C, 1.5f), *dy = randoms(n, 1.0f);
            float *y = pic_malloc(n * sizeof *y), *want = pic_malloc(n * sizeof *want);
            float *r = pic_malloc(N * sizeof *r), *rwant = pic_malloc(N * sizeof *rwant);
            rmsnorm_ref(want, rwant, x, w, N, C, 1e-6f);
            memset(y, 0xff, n * sizeof *y); /* NaNs: an element left unwritten shows */
            rmsnorm_forward(y, r, x, w, N, C, 1e-6f);
            if (memcmp(y, want, n * sizeof *y) || memcmp(r, rwant, N * sizeof *r)) {
                if (!bad_fwd++) printf("# %s: rmsnorm_forward differs first at N %zu, C %d\n", isa, N, C);
            }
            float *z = pic_malloc(n * sizeof *z); /* in place, without 1/rms */
            memcpy(z, x, n * sizeof *z);
            rmsnorm_forward(z, NULL, z, w, N, C, 1e-6f);
            if (memcmp(z, want, n * sizeof *z)) {
                if (!bad_inplace++) printf("# %s: rmsnorm_forward in place differs first at N %zu, C %d\n", isa, N, C);
            }
            float *dx = randoms(n, 0.5f), *dw = randoms((size_t)C, 0.5f);
            float *dxw = pic_malloc(n * sizeof *dxw), *dww = pic_malloc((size_t)C * sizeof *dww);
            memcpy(dxw, dx, n * sizeof *dx), memcpy(dww, dw, (size_t)C * sizeof *dw);
            rmsnorm_backward_ref(dxw, dww, dy, x, w, rwant, N, C);
            rmsnorm_backward(dx, dw, dy, x, w, rwant, N, C);
            if (memcmp(dx, dxw, n * sizeof *dx) || memcmp(dw, dww, (size_t)C * sizeof *dw)) {
                if (!bad_bwd++) printf("# %s: rmsnorm_backward differs first at N %zu, C %d\n", isa, N, C);
            }
            free(x), free(w), free(dy), free(y), free(want), free(r), free(rwant), free(z);
            free(dx), free(dw), free(dxw), free(dww);
            cases++;
        }
    CHECK(!bad_fwd, "PIC_ISA=%s: rmsnorm_forward gives the definition's bits (%d of %d cases differ)", isa, bad_fwd,
          cases);
    CHECK(!bad_inplace, "PIC_ISA=%s: rmsnorm_forward in place gives the same bits (%d differ)", isa, bad_inplace);
    CHECK(!bad_bwd, "PIC_ISA=%s: rmsnorm_backward gives the definition's bits (%d differ)", isa, bad_bwd);
}

/* SwiGLU's definition a lane at a time: vec.h's sigmoid of one value (its
 * lanes are independent), then the products in swiglu.c's order. */
static float sig1(float g) { return v16_sigmoid(false, (v16){0} + g)[0]; }

/* swiglu_forward and swiglu_backward against it, each output in a buffer
 * with a guard past its end: a vector stored whole at a row's tail shows. */
static void swiglu_cases(const char *isa) {
    int bad_fwd = 0, bad_bwd = 0, bad_guard = 0, cases = 0;
    for (size_t ci = 0; ci < sizeof Cs / sizeof *Cs; ci++)
        for (size_t N = 1; N <= 5; N++) {
            int F = Cs[ci];
            size_t n = N * (size_t)F;
            float *gu = randoms(2 * n, 6.0f), *dh = randoms(n, 1.0f);
            float *h = pic_malloc((n + 16) * sizeof *h), *dgu = pic_malloc((2 * n + 16) * sizeof *dgu);
            memset(h, 0xff, (n + 16) * sizeof *h), memset(dgu, 0xff, (2 * n + 16) * sizeof *dgu);
            swiglu_forward(h, gu, N, F);
            swiglu_backward(dgu, dh, gu, N, F);
            for (size_t r = 0; r < N; r++)
                for (int i = 0; i < F; i++) {
                    float g = gu[r * 2 * F + i], u = gu[r * 2 * F + F + i], d = dh[r * F + i], sg = sig1(g);
                    float fw = g * sg * u, du = d * (g * sg), dg = d * u * sg * (1.0f + g * (1.0f - sg));
                    if (memcmp(&fw, &h[r * F + i], 4) && !bad_fwd++)
                        printf("# %s: swiglu_forward differs first at N %zu, F %d\n", isa, N, F);
                    if ((memcmp(&dg, &dgu[r * 2 * F + i], 4) || memcmp(&du, &dgu[r * 2 * F + F + i], 4)) && !bad_bwd++)
                        printf("# %s: swiglu_backward differs first at N %zu, F %d\n", isa, N, F);
                }
            for (int i = 0; i < 16; i++)
                if ((!isnan(h[n + i]) || !isnan(dgu[2 * n + i])) && !bad_guard++)
                    printf("# %s: swiglu writes past its output at N %zu, F %d\n", isa, N, F);
            free(gu), free(dh), free(h), free(dgu);
            cases++;
        }
    CHECK(!bad_fwd, "PIC_ISA=%s: swiglu_forward gives the definition's bits (%d of %d cases differ)", isa, bad_fwd,
          cases);
    CHECK(!bad_bwd, "PIC_ISA=%s: swiglu_backward gives the definition's bits (%d differ)", isa, bad_bwd);
    CHECK(!bad_guard, "PIC_ISA=%s: swiglu writes nothing past its output (%d cases do)", isa, bad_guard);
}

static void one_path(void) {
    const char *isa = pic_matmul_bi_isa();
    for (int threads = 1; threads <= 3; threads += 2) { /* one thread, and jobs split unevenly */
        pic_set_threads(threads);
        rmsnorm_cases(isa);
        rope_cases(isa);
        swiglu_cases(isa);
    }
}

int main(int argc, char **argv) {
    return isa_paths_main(argc, argv, one_path,
                          "every row kernel gives its definition's bits");
}
