/* The sampler's weights (sampler_exp.h). exp(x) = 2^k e^r with k the
 * nearest integer to x / ln 2 and r = x - k ln 2 (|r| <= ln 2 / 2, ln 2 in
 * two parts so that k ln 2 loses nothing): e^r by its Taylor series to r^13
 * (the next term is below 5e-18 of it), 2^k as two powers of two so that
 * results down to the subnormals round once, as glibc's do. x is held to
 * [-1100, 1100] first, past where exp is 0 or infinity; a NaN stays one.
 * Every step is one IEEE operation, written in the same order in the
 * scalar definition and in each vector path, so all give the same bits. */
#include "rollout/sampler_exp.h"

#include <math.h>
#include <string.h>

#include "model/matmul_bi.h"

#include "model/x86_intrin.h"

#define LOG2E 0x1.71547652b82fep0
#define LN2_HI 0x1.62e42fefa3800p-1 /* its low bits zero: k LN2_HI is exact for |k| < 2^11 */
#define LN2_LO 0x1.ef35793c76730p-45
#define ROUND 0x1.8p52          /* (t + ROUND) - ROUND: t to the nearest integer */
#define BIAS (1023.0 + 0x1p52)  /* j + BIAS holds j + 1023 in its low bits */
#define LIMIT 1100.0

/* 1/n!, n = 0..13, each rounded once when compiled */
static const double C[14] = {1.0,           1.0,           1.0 / 2,         1.0 / 6,          1.0 / 24,
                             1.0 / 120,     1.0 / 720,     1.0 / 5040,      1.0 / 40320,      1.0 / 362880,
                             1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0};

/* 2^j for an integral j in [-1022, 1023]: j + 1023 shifted into the exponent */
static double pow2(double j) {
    double t = j + BIAS;
    uint64_t b;
    memcpy(&b, &t, sizeof b);
    b <<= 52;
    memcpy(&t, &b, sizeof t);
    return t;
}

double sampler_exp1(float z, float T, float m) {
    double x = (double)(z / T - m);
    x = -LIMIT > x ? -LIMIT : x;
    x = LIMIT < x ? LIMIT : x;
    double k = (x * LOG2E + ROUND) - ROUND;
    double r = fma(-k, LN2_HI, x);
    r = fma(-k, LN2_LO, r);
    double p = C[13];
    for (int i = 12; i >= 0; i--) p = fma(p, r, C[i]);
    double j1 = floor(k * 0.5), j2 = k - j1;
    return p * pow2(j1) * pow2(j2);
}

static void exp_scalar(double *w, const float *z, size_t n, float T, float m) {
    for (size_t i = 0; i < n; i++) w[i] = sampler_exp1(z[i], T, m);
}

#if PIC_X86_KERNELS
PIC_TARGET("avx2,fma") static void exp_avx2(double *w, const float *z, size_t n, float T, float m) {
    const __m128 vT = _mm_set1_ps(T), vm = _mm_set1_ps(m);
    const __m256d log2e = _mm256_set1_pd(LOG2E), round = _mm256_set1_pd(ROUND), hi = _mm256_set1_pd(LN2_HI),
                  lo = _mm256_set1_pd(LN2_LO), half = _mm256_set1_pd(0.5), bias = _mm256_set1_pd(BIAS),
                  lim = _mm256_set1_pd(LIMIT), nlim = _mm256_set1_pd(-LIMIT);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d x = _mm256_cvtps_pd(_mm_sub_ps(_mm_div_ps(_mm_loadu_ps(z + i), vT), vm));
        x = _mm256_min_pd(lim, _mm256_max_pd(nlim, x)); /* (a > b ? a : b): a NaN x passes */
        __m256d k = _mm256_sub_pd(_mm256_add_pd(_mm256_mul_pd(x, log2e), round), round);
        __m256d r = _mm256_fnmadd_pd(k, lo, _mm256_fnmadd_pd(k, hi, x));
        __m256d p = _mm256_set1_pd(C[13]);
        for (int c = 12; c >= 0; c--) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(C[c]));
        __m256d j1 = _mm256_floor_pd(_mm256_mul_pd(k, half)), j2 = _mm256_sub_pd(k, j1);
        __m256d s1 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(_mm256_add_pd(j1, bias)), 52));
        __m256d s2 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(_mm256_add_pd(j2, bias)), 52));
        _mm256_storeu_pd(w + i, _mm256_mul_pd(_mm256_mul_pd(p, s1), s2));
    }
    exp_scalar(w + i, z + i, n - i, T, m);
}

PIC_TARGET("avx512f,avx2,fma") static void exp_avx512(double *w, const float *z, size_t n, float T,
                                                                 float m) {
    const __m256 vT = _mm256_set1_ps(T), vm = _mm256_set1_ps(m);
    const __m512d log2e = _mm512_set1_pd(LOG2E), round = _mm512_set1_pd(ROUND), hi = _mm512_set1_pd(LN2_HI),
                  lo = _mm512_set1_pd(LN2_LO), half = _mm512_set1_pd(0.5), bias = _mm512_set1_pd(BIAS),
                  lim = _mm512_set1_pd(LIMIT), nlim = _mm512_set1_pd(-LIMIT);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d x = _mm512_cvtps_pd(_mm256_sub_ps(_mm256_div_ps(_mm256_loadu_ps(z + i), vT), vm));
        x = _mm512_min_pd(lim, _mm512_max_pd(nlim, x));
        __m512d k = _mm512_sub_pd(_mm512_add_pd(_mm512_mul_pd(x, log2e), round), round);
        __m512d r = _mm512_fnmadd_pd(k, lo, _mm512_fnmadd_pd(k, hi, x));
        __m512d p = _mm512_set1_pd(C[13]);
        for (int c = 12; c >= 0; c--) p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(C[c]));
        __m512d j1 = _mm512_roundscale_pd(_mm512_mul_pd(k, half), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        __m512d j2 = _mm512_sub_pd(k, j1);
        __m512d s1 = _mm512_castsi512_pd(_mm512_slli_epi64(_mm512_castpd_si512(_mm512_add_pd(j1, bias)), 52));
        __m512d s2 = _mm512_castsi512_pd(_mm512_slli_epi64(_mm512_castpd_si512(_mm512_add_pd(j2, bias)), 52));
        _mm512_storeu_pd(w + i, _mm512_mul_pd(_mm512_mul_pd(p, s1), s2));
    }
    exp_scalar(w + i, z + i, n - i, T, m);
}
#endif

typedef void (*exp_fn)(double *w, const float *z, size_t n, float T, float m);

static exp_fn kernel(void) {
    switch (pic_kernel_isa()) {
#if PIC_X86_KERNELS
    case PIC_ISA_AVX512: return exp_avx512;
    case PIC_ISA_AVX2: return exp_avx2;
#endif
    default: return exp_scalar;
    }
}

void sampler_exp(double *w, const float *z, size_t n, float T, float m) { kernel()(w, z, n, T, m); }

void sampler_exp_ids(double *w, const float *z, const int32_t *idx, size_t n, float T, float m) {
    exp_fn fn = kernel();
    float buf[256];
    for (size_t i = 0; i < n; i += 256) {
        size_t k = n - i < 256 ? n - i : 256;
        for (size_t j = 0; j < k; j++) buf[j] = z[idx[i + j]];
        fn(w + i, buf, k, T, m);
    }
}
