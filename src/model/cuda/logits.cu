// The logits head on the GPU: one block per row. Each thread makes one pass
// over its elements of the row, keeping its running max m and the sums
// S = sum e^(z-m) and Sz = sum e^(z-m) (z-m) relative to it, rebased when m
// rises; the block then rebases every thread's sums to the row's max and
// adds them. The CPU version makes two passes (max, then the sums); one pass
// reads the float logits, the head's largest traffic, once instead of twice.
// The sums are accumulated in double, as on the CPU: the entropy is a
// difference of two numbers of the size of log V.
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
// 10 rounds). Each thread adds its elements in index order, i,
// i + kFwdThreads, ..., so the bits depend on the row alone. The backward's
// blocks are narrower (many rows at once), 8 loads a thread in flight.
constexpr int kFwdThreads = 1024, kInFlight = 16, kThreads = 256, kBwdInFlight = 8;

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

// The sums S and Sz, kept relative to m, made relative to m2 >= m:
// e^(z-m2) = r e^(z-m) with r = e^(m-m2), and (z-m2) = (z-m) - (m2-m). A
// thread with no sums yet only takes m2 (m may be -inf there).
__device__ __forceinline__ void rebase(float &m, double &S, double &Sz, float m2) {
    if (!(m2 > m)) return;
    if (S > 0) {
        double d = (double)m2 - (double)m, r = exp(-d);
        Sz = r * (Sz - d * S);
        S *= r;
    }
    m = m2;
}

// This thread's pass over the row x / T: elements i, i + THREADS, ..., a
// round of IN_FLIGHT loads at a time (the row's end too: the loads past it
// are not made), each round's max taken before its sums, so that every
// e^(z-m) is at most 1. Returns the thread's m, S and Sz.
template <int THREADS, int IN_FLIGHT>
__device__ __forceinline__ void row_pass(const float *x, int V, float T, float &m, double &S, double &Sz) {
    constexpr int STEP = THREADS * IN_FLIGHT;
    m = -INFINITY, S = 0, Sz = 0;
    for (int i = threadIdx.x; i < V; i += STEP) {
        float v[IN_FLIGHT], top = -INFINITY;
#pragma unroll
        for (int q = 0; q < IN_FLIGHT; q++) {
            v[q] = i + q * THREADS < V ? x[i + q * THREADS] / T : -INFINITY;
            top = fmaxf(top, v[q]);
        }
        rebase(m, S, Sz, top);
#pragma unroll
        for (int q = 0; q < IN_FLIGHT; q++)
            if (i + q * THREADS < V) {
                float z = v[q] - m;
                double e = expf(z);
                S += e;
                Sz += e * z;
            }
    }
}

// The row's max, and S and Sz relative to it, the same in every thread.
template <int THREADS, int IN_FLIGHT>
__device__ __forceinline__ void row_sums(const float *x, int V, float T, float *smax, double *ssum, float &m,
                                         double &S, double &Sz) {
    float mine;
    row_pass<THREADS, IN_FLIGHT>(x, V, T, mine, S, Sz);
    m = block_max<THREADS>(mine, smax);
    rebase(mine, S, Sz, m);
    S = block_sum<THREADS>(S, ssum);
    Sz = block_sum<THREADS>(Sz, ssum);
}

__global__ void __launch_bounds__(kFwdThreads) logprob_entropy_kernel(float *logp, float *entropy,
                                                                      const float *logits, const int32_t *targets,
                                                                      const int *rows, int V, float T) {
    pdl_begin();
    __shared__ float smax[kFwdThreads / 32];
    __shared__ double ssum[kFwdThreads / 32];
    const float *x = logits + (size_t)(rows ? rows[blockIdx.x] : blockIdx.x) * V;
    float m;
    double S, Sz;
    row_sums<kFwdThreads, kInFlight>(x, V, T, smax, ssum, m, S, Sz);
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
// read and written by the same thread (so O = float may be in place): the
// row read twice, where three passes (max, sums, gradient) read it thrice.
template <typename O>
__global__ void logprob_entropy_backward_kernel(O *dlogits, const float *logits, const int32_t *targets,
                                                const float *dlogp, const float *dent, int V, float T) {
    __shared__ float smax[kThreads / 32];
    __shared__ double ssum[kThreads / 32];
    size_t row = blockIdx.x;
    const float *x = logits + row * V;
    O *dx = dlogits + row * V;
    float m;
    double S, Sz;
    row_sums<kThreads, kBwdInFlight>(x, V, T, smax, ssum, m, S, Sz);
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
