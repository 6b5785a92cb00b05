// Host-side helpers of the CUDA unit tests: random inputs representable in
// the storage type, copies to and from the device, NaN-poisoned outputs.
#ifndef PIC_TESTS_CUDA_HOST_CUH
#define PIC_TESTS_CUDA_HOST_CUH

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/cuda/common.cuh"

extern "C" {
#include "model/safetensors.h"
}

static double normal(void) {
    double u = (rand() + 1.0) / ((double)RAND_MAX + 2.0), v = (rand() + 1.0) / ((double)RAND_MAX + 2.0);
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

// Random host values, already representable in T (so both sides see the same inputs).
template <typename T> static float *rnd(size_t n, double scale) {
    float *x = (float *)malloc(n * sizeof *x + 4);
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(scale * normal());
        if (sizeof(T) == 2) x[i] = pic_bf16_to_f32(pic_f32_to_bf16(x[i]));
    }
    return x;
}

// A device copy of x[n] in T.
template <typename T> static T *up(const float *x, size_t n) {
    T *d;
    cudaMalloc(&d, n * sizeof(T) + 4);
    if (sizeof(T) == 4) {
        cudaMemcpy(d, x, n * sizeof(float), cudaMemcpyHostToDevice);
    } else {
        uint16_t *h = (uint16_t *)malloc(n * 2 + 2);
        for (size_t i = 0; i < n; i++) h[i] = pic_f32_to_bf16(x[i]);
        cudaMemcpy(d, h, n * 2, cudaMemcpyHostToDevice);
        free(h);
    }
    return d;
}

// A device buffer of n T, all NaN.
template <typename T> static T *poisoned(size_t n) {
    T *d;
    cudaMalloc(&d, n * sizeof(T) + 4);
    cudaMemset(d, 0xff, n * sizeof(T) + 4);
    return d;
}

template <typename T> static float *down(const T *d, size_t n) {
    float *x = (float *)malloc(n * sizeof(float) + 4);
    cudaDeviceSynchronize();
    if (sizeof(T) == 4) {
        cudaMemcpy(x, d, n * sizeof(float), cudaMemcpyDeviceToHost);
    } else {
        uint16_t *h = (uint16_t *)malloc(n * 2 + 2);
        cudaMemcpy(h, d, n * 2, cudaMemcpyDeviceToHost);
        for (size_t i = 0; i < n; i++) x[i] = pic_bf16_to_f32(h[i]);
        free(h);
    }
    return x;
}

// True (after printing TAP's skip plan) when no GPU is visible.
static bool skip_without_gpu(void) {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0) return false;
    printf("1..0 # SKIP no CUDA device\n");
    return true;
}

#endif
