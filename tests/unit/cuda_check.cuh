// What the CUDA twin tests share beside cuda_host.cuh's inputs and copies:
// the norm-wise relative error they are held to (1e-5 in f32, 1e-2 in bf16).
#ifndef PIC_TESTS_CUDA_CHECK_CUH
#define PIC_TESTS_CUDA_CHECK_CUH

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cuda_host.cuh"
#include "model/cuda/layers.cuh"

using pic_cuda::bf16;

template <typename T> static const char *tname() { return sizeof(T) == 4 ? "f32" : "bf16"; }
template <typename T> static double tol() { return sizeof(T) == 4 ? 1e-5 : 1e-2; }

// ||x - ref|| / ||ref||; NaN anywhere makes it NaN (and the check fails).
static double relerr(const float *x, const float *ref, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)x[i] - ref[i]) * ((double)x[i] - ref[i]);
        r += (double)ref[i] * ref[i];
    }
    return sqrt(d / (r > 0 ? r : 1));
}

#define SAME(T, got, want, n, ...)                                                                           \
    do {                                                                                                     \
        double e_ = relerr(got, want, n);                                                                    \
        char what_[160];                                                                                     \
        snprintf(what_, sizeof what_, __VA_ARGS__);                                                          \
        CHECK(e_ <= tol<T>(), "%s %s: relative error %.3g <= %.0e", tname<T>(), what_, e_, tol<T>());        \
    } while (0)

#endif
