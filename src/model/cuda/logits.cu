// The logits head on the GPU: one block per row, two passes over the row
// (max, then the sums S = sum e^(z-m) and Sz = sum e^(z-m) (z-m)), as the
// CPU version does. The sums are accumulated in double, as on the CPU: the
// entropy is a difference of two numbers of the size of log V.
#include <cuda_runtime.h>
#include <math.h>

#include "model/cuda/layers.cuh"
#include "model/cuda/logits.h"

namespace pic_cuda {

// The forward's blocks are wide and keep kInFlight loads a thread in
// flight: a decode step at batch 1 has one row, so one block on one SM
// makes the pass, and there the time is the memory latency over the bytes
// in flight (256 threads with a load each: ~45 us a pass over Qwen's
// 151936 logits, 594 rounds of loads a thread; 1024 threads with 16 each:
// 10 rounds). Each thread still adds its elements in index order, i,
// i + kFwdThreads, ...: the sums are those of the plain strided loop over
// kFwdThreads threads.
constexpr int kFwdThreads = 1024, kInFlight = 16, kThreads = 256;

template <int THREADS> __device__ float block_max(float v, float *shared) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < THREADS / 32 ? shared[lane] : -INFINITY;
        for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
        if (lane == 0) shared[0] = v;
    }
    __syncthreads();
    float r = shared[0];
    __syncthreads();
    return r;
}

template <int THREADS> __device__ double block_sum(double v, double *shared) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < THREADS / 32 ? shared[lane] : 0.0;
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (lane == 0) shared[0] = v;
    }
    __syncthreads();
    double r = shared[0];
    __syncthreads();
    return r;
}

// f(x[i] / T) for this thread's i in order, kInFlight loads issued at a
// time (the row's end too: the loads past it are not made, nor their f).
template <class F> __device__ __forceinline__ void each_scaled(const float *x, int V, float T, F f) {
    constexpr int STEP = kFwdThreads * kInFlight;
    for (int i = threadIdx.x; i < V; i += STEP) {
        float v[kInFlight];
#pragma unroll
        for (int q = 0; q < kInFlight; q++) v[q] = i + q * kFwdThreads < V ? x[i + q * kFwdThreads] : 0.0f;
#pragma unroll
        for (int q = 0; q < kInFlight; q++)
            if (i + q * kFwdThreads < V) f(v[q] / T);
    }
}

__global__ void __launch_bounds__(kFwdThreads) logprob_entropy_kernel(float *logp, float *entropy,
                                                                      const float *logits, const int32_t *targets,
                                                                      const int *rows, int V, float T) {
    pdl_begin();
    __shared__ float smax[kFwdThreads / 32];
    __shared__ double ssum[kFwdThreads / 32];
    const float *x = logits + (size_t)(rows ? rows[blockIdx.x] : blockIdx.x) * V;
    float m = -INFINITY;
    each_scaled(x, V, T, [&](float z) { m = fmaxf(m, z); });
    m = block_max<kFwdThreads>(m, smax);
    double S = 0, Sz = 0;
    each_scaled(x, V, T, [&](float zt) {
        float z = zt - m;
        double e = expf(z);
        S += e;
        Sz += e * z;
    });
    S = block_sum<kFwdThreads>(S, ssum);
    Sz = block_sum<kFwdThreads>(Sz, ssum);
    if (threadIdx.x == 0) {
        double lse = log(S);
        int32_t t = targets ? targets[blockIdx.x] : 0;
        if (logp && targets) // a target outside the row (the sampler's -1 for non-finite logits) has none
            logp[blockIdx.x] = t >= 0 && t < V ? (float)((double)(x[t] / T - m) - lse) : NAN;
        if (entropy) entropy[blockIdx.x] = (float)(lse - Sz / S);
    }
}

cudaError_t logprob_entropy_forward(float *logp, float *entropy, const float *logits, const int32_t *targets,
                                    size_t N, int V, float temperature, cudaStream_t s, const int *rows) {
    if (N == 0) return cudaSuccess;
    return launch_pdl(logprob_entropy_kernel, (unsigned)N, kFwdThreads, 0, s, logp, entropy, logits, targets, rows, V,
                      temperature);
}


// With z = logits / T, p = softmax(z), E = sum p z: d logp(y) / dz_j = [j = y]
// - p_j, dH / dz_j = -p_j (z_j - E), d/dlogits = d/dz / T, as the CPU's
// logprob_entropy_backward; the row's two sums first, then each element
// read and written by the same thread (so O = float may be in place).
template <typename O>
__global__ void logprob_entropy_backward_kernel(O *dlogits, const float *logits, const int32_t *targets,
                                                const float *dlogp, const float *dent, int V, float T) {
    __shared__ float smax[kThreads / 32];
    __shared__ double ssum[kThreads / 32];
    size_t row = blockIdx.x;
    const float *x = logits + row * V;
    O *dx = dlogits + row * V;
    float m = -INFINITY;
    for (int i = threadIdx.x; i < V; i += kThreads) m = fmaxf(m, x[i] / T);
    m = block_max<kThreads>(m, smax);
    double S = 0, Sz = 0;
    for (int i = threadIdx.x; i < V; i += kThreads) {
        float z = x[i] / T;
        double e = expf(z - m);
        S += e;
        Sz += e * (z - m);
    }
    S = block_sum<kThreads>(S, ssum);
    Sz = block_sum<kThreads>(Sz, ssum);
    float gl = dlogp ? dlogp[row] : 0, ge = dent ? dent[row] : 0;
    float E = (float)(Sz / S), invS = (float)(1.0 / S), invT = 1.0f / T;
    int y = targets ? targets[row] : -1;
    for (int i = threadIdx.x; i < V; i += kThreads) {
        float zm = x[i] / T - m, p = expf(zm) * invS;
        float g = -gl * p - ge * p * (zm - E);
        if (i == y) g += gl;
        dx[i] = from_f<O>(g * invT);
    }
}

template <typename O>
cudaError_t logprob_entropy_backward(O *dlogits, const float *logits, const int32_t *targets, const float *dlogp,
                                     const float *dent, size_t N, int V, float temperature, cudaStream_t s) {
    if (N == 0) return cudaSuccess;
    logprob_entropy_backward_kernel<O><<<(unsigned)N, kThreads, 0, s>>>(dlogits, logits, targets, dlogp, dent, V,
                                                                        temperature);
    return cudaGetLastError();
}

template cudaError_t logprob_entropy_backward<float>(float *, const float *, const int32_t *, const float *,
                                                     const float *, size_t, int, float, cudaStream_t);
template cudaError_t logprob_entropy_backward<bf16>(bf16 *, const float *, const int32_t *, const float *,
                                                    const float *, size_t, int, float, cudaStream_t);

}  // namespace pic_cuda

extern "C" int logprob_entropy_forward_cuda(float *logp, float *entropy, const float *logits,
                                            const int32_t *targets, size_t N, int V,
                                            float temperature) {
    return (int)pic_cuda::logprob_entropy_forward(logp, entropy, logits, targets, N, V, temperature, 0);
}
