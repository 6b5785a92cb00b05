/* The x86 intrinsics of the hand-vectorised kernels (vec.h, matmul_bi.c,
 * attention.c, logits.c, src/rollout/sampler_exp.c), and whether this build
 * has their AVX2 and AVX-512 paths (PIC_X86_KERNELS).
 *
 * Normally they are the compiler's <immintrin.h>, each path compiled for its
 * own target (PIC_TARGET) and run only where the CPU has it. Built with
 * PIC_ISA_EMU (`make isa-emu`) they are SIMDe's portable definitions
 * (libsimde-dev), compiled for the baseline CPU: the AVX2 and AVX-512 paths'
 * own code then runs on a CPU that has neither (or on no x86 at all), so
 * that one machine's tests cover every path (tests/isa.bats). Nothing else
 * changes, and each path must still give the scalar path's bits.
 *
 * SIMDe's portable fused multiply-adds are a multiply and then an add, two
 * roundings, where the hardware's round once and the kernels' bits count on
 * it: the few the kernels use are redefined below, lane by lane through the
 * C library's fma()/fmaf(), correctly rounded as the instructions are. */
#ifndef PIC_MODEL_X86_INTRIN_H
#define PIC_MODEL_X86_INTRIN_H

#if defined(PIC_ISA_EMU)
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* SIMDe passes 64-byte vectors by value between its functions, where GCC
 * notes an ABI change that a build of one compiler never meets */
#pragma GCC diagnostic ignored "-Wpsabi"
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/fma.h>

#define PIC_X86_KERNELS 1
#define PIC_TARGET(isa) /* SIMDe's code is plain C: any CPU runs it */
#define PIC_TARGET_BEGIN(isa)
#define PIC_TARGET_END
#define PIC_PIN_REGISTER(v) ((void)0)

/* r[i] = FN(a[i], b[i], c[i]) for each lane of TYPE's vectors of ELEM */
#define PIC_EMU_FMA(NAME, TYPE, ELEM, FN, NEG)                                                                 \
    static inline __attribute__((always_inline)) TYPE NAME(TYPE a, TYPE b, TYPE c) {                                                \
        ELEM x[sizeof(TYPE) / sizeof(ELEM)], y[sizeof x / sizeof *x], z[sizeof x / sizeof *x];               \
        memcpy(x, &a, sizeof x);                                                                               \
        memcpy(y, &b, sizeof y);                                                                               \
        memcpy(z, &c, sizeof z);                                                                               \
        for (size_t l = 0; l < sizeof x / sizeof *x; l++) z[l] = FN(NEG x[l], y[l], z[l]);                   \
        memcpy(&c, z, sizeof z);                                                                               \
        return c;                                                                                              \
    }
PIC_EMU_FMA(pic_emu_fmadd256_ps, simde__m256, float, fmaf, +)
PIC_EMU_FMA(pic_emu_fmadd512_ps, simde__m512, float, fmaf, +)
PIC_EMU_FMA(pic_emu_fmadd256_pd, simde__m256d, double, fma, +)
PIC_EMU_FMA(pic_emu_fnmadd256_pd, simde__m256d, double, fma, -)
PIC_EMU_FMA(pic_emu_fmadd512_pd, simde__m512d, double, fma, +)
PIC_EMU_FMA(pic_emu_fnmadd512_pd, simde__m512d, double, fma, -)
#undef PIC_EMU_FMA
#undef _mm256_fmadd_ps
#undef _mm512_fmadd_ps
#undef _mm256_fmadd_pd
#undef _mm256_fnmadd_pd
#undef _mm512_fmadd_pd
#undef _mm512_fnmadd_pd
#define _mm256_fmadd_ps pic_emu_fmadd256_ps
#define _mm512_fmadd_ps pic_emu_fmadd512_ps
#define _mm256_fmadd_pd pic_emu_fmadd256_pd
#define _mm256_fnmadd_pd pic_emu_fnmadd256_pd
#define _mm512_fmadd_pd pic_emu_fmadd512_pd
#define _mm512_fnmadd_pd pic_emu_fnmadd512_pd

/* What SIMDe 0.7 (Debian 12's) lacks or gets wrong: eight floats widened
 * (exactly) to doubles; the rounding flag's alias; and a rounding to an
 * integer, whose portable form returned -2.5 for a floor of -2.5 (7 for
 * 7.25): here the C library's, for the four modes at scale 0 (imm8 bits 7-4
 * zero, the kernels' only use); and a masked load, whose portable form reads
 * all eight floats and then masks, past the end of a row where the hardware
 * touches only the lanes asked for (AddressSanitizer's report). */
static inline __attribute__((always_inline)) simde__m512d pic_emu_cvtps_pd512(simde__m256 a) {
    float x[8];
    double y[8];
    memcpy(x, &a, sizeof x);
    for (int l = 0; l < 8; l++) y[l] = x[l];
    simde__m512d r;
    memcpy(&r, y, sizeof r);
    return r;
}
#define _mm512_cvtps_pd pic_emu_cvtps_pd512
static inline __attribute__((always_inline)) simde__m512d pic_emu_roundscale_pd512(simde__m512d a, int imm8) {
    double x[8];
    memcpy(x, &a, sizeof x);
    for (int l = 0; l < 8; l++)
        switch (imm8 & 3) {
        case 0: x[l] = nearbyint(x[l]); break; /* the default mode, to even */
        case 1: x[l] = floor(x[l]); break;
        case 2: x[l] = ceil(x[l]); break;
        default: x[l] = trunc(x[l]); break;
        }
    memcpy(&a, x, sizeof x);
    return a;
}
#undef _mm512_roundscale_pd
#define _mm512_roundscale_pd pic_emu_roundscale_pd512
static inline __attribute__((always_inline)) simde__m256 pic_emu_maskload_ps256(const float *p, simde__m256i mask) {
    int32_t m[8];
    float x[8];
    memcpy(m, &mask, sizeof m);
    for (int l = 0; l < 8; l++) x[l] = m[l] < 0 ? p[l] : 0.0f; /* the sign bit asks for the lane */
    simde__m256 r;
    memcpy(&r, x, sizeof r);
    return r;
}
#undef _mm256_maskload_ps
#define _mm256_maskload_ps pic_emu_maskload_ps256
#ifndef _MM_FROUND_NO_EXC
#define _MM_FROUND_NO_EXC SIMDE_MM_FROUND_NO_EXC
#endif

#elif defined(__x86_64__)
#include <immintrin.h>

#define PIC_X86_KERNELS 1
#define PIC_TARGET(isa) __attribute__((target(isa)))
/* The functions between them compiled for isa, as PIC_TARGET(isa) each */
#define PIC_PRAGMA(x) _Pragma(#x)
#define PIC_TARGET_BEGIN(isa) _Pragma("GCC push_options") PIC_PRAGMA(GCC target(isa))
#define PIC_TARGET_END _Pragma("GCC pop_options")
/* Holds v in a vector register: left to itself GCC folds a load into each
 * instruction that uses it (matmul_bi.c's AVX2 steps). */
#define PIC_PIN_REGISTER(v) __asm__("" : "+x"(v))

#else
#define PIC_X86_KERNELS 0
#endif

#endif
