// The logits head on the GPU: one block per row, two passes over the row
// (max, then the sums S = sum e^(z-m) and Sz = sum e^(z-m) (z-m)), as the
// CPU version does. The sums are accumulated in double, as on the CPU: the
// entropy is a difference of two numbers of the size of log V.
#include <cuda_runtime.h>
#include <math.h>

#include "model/cuda/layers.cuh"
#include "model/cuda/logits.h"

namespace pic_cuda {

constexpr int kThreads = 256;

__device__ float block_max(float v, float *shared) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < kThreads / 32 ? shared[lane] : -INFINITY;
        for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
        if (lane == 0) shared[0] = v;
    }
    __syncthreads();
    float r = shared[0];
    __syncthreads();
    return r;
}

__device__ double block_sum(double v, double *shared) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < kThreads / 32 ? shared[lane] : 0.0;
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (lane == 0) shared[0] = v;
    }
    __syncthreads();
    double r = shared[0];
    __syncthreads();
    return r;
}

__global__ void logprob_entropy_kernel(float *logp, float *entropy, const float *logits,
                                       const int32_t *targets, int V, float T) {
    __shared__ float smax[kThreads / 32];
    __shared__ double ssum[kThreads / 32];
    const float *x = logits + (size_t)blockIdx.x * V;
    float m = -INFINITY;
    for (int i = threadIdx.x; i < V; i += kThreads) m = fmaxf(m, x[i] / T);
    m = block_max(m, smax);
    double S = 0, Sz = 0;
    for (int i = threadIdx.x; i < V; i += kThreads) {
        float z = x[i] / T - m;
        double e = expf(z);
        S += e;
        Sz += e * z;
    }
    S = block_sum(S, ssum);
    Sz = block_sum(Sz, ssum);
    if (threadIdx.x == 0) {
        double lse = log(S);
        if (logp && targets) logp[blockIdx.x] = (float)((double)(x[targets[blockIdx.x]] / T - m) - lse);
        if (entropy) entropy[blockIdx.x] = (float)(lse - Sz / S);
    }
}

cudaError_t logprob_entropy_forward(float *logp, float *entropy, const float *logits, const int32_t *targets,
                                    size_t N, int V, float temperature, cudaStream_t s) {
    if (N == 0) return cudaSuccess;
    logprob_entropy_kernel<<<(unsigned)N, kThreads, 0, s>>>(logp, entropy, logits, targets, V, temperature);
    return cudaGetLastError();
}

}  // namespace pic_cuda

extern "C" int logprob_entropy_forward_cuda(float *logp, float *entropy, const float *logits,
                                            const int32_t *targets, size_t N, int V,
                                            float temperature) {
    return (int)pic_cuda::logprob_entropy_forward(logp, entropy, logits, targets, N, V, temperature, 0);
}
