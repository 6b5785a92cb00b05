// The CUDA twin of swiglu.c: silu(gate) * up, in float.
#include "model/cuda/layers.cuh"

namespace pic_cuda {

template <typename T> __global__ void swiglu_kernel(T *out, const T *gu, size_t N, int F) {
    pdl_begin();
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N * (size_t)F) return;
    size_t n = i / F, j = i % F;
    float g = to_f(gu[n * 2 * F + j]), u = to_f(gu[n * 2 * F + F + j]);
    out[i] = from_f<T>(g / (1.0f + expf(-g)) * u);
}

template <typename T> cudaError_t swiglu_forward(T *out, const T *gu, size_t N, int F, cudaStream_t s) {
    if (!N) return cudaSuccess;
    return launch_pdl(swiglu_kernel<T>, blocks_for(N * F, 256), 256, 0, s, out, gu, N, F);
}

template cudaError_t swiglu_forward<float>(float *, const float *, size_t, int, cudaStream_t);
template cudaError_t swiglu_forward<bf16>(bf16 *, const bf16 *, size_t, int, cudaStream_t);

}  // namespace pic_cuda

namespace pic_cuda {

// h = silu(g) * u: du = dh * silu(g), dg = dh * u * sig(g) * (1 + g * (1 - sig(g))).
template <typename T> __global__ void swiglu_backward_kernel(T *dgu, const T *dh, const T *gu, size_t N, int F) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N * (size_t)F) return;
    size_t n = i / F, j = i % F;
    float g = to_f(gu[n * 2 * F + j]), u = to_f(gu[n * 2 * F + F + j]), d = to_f(dh[i]);
    float sg = 1.0f / (1.0f + expf(-g));
    dgu[n * 2 * F + F + j] = from_f<T>(d * (g * sg));
    dgu[n * 2 * F + j] = from_f<T>(d * u * sg * (1.0f + g * (1.0f - sg)));
}

template <typename T> cudaError_t swiglu_backward(T *dgu, const T *dh, const T *gu, size_t N, int F, cudaStream_t s) {
    if (!N) return cudaSuccess;
    swiglu_backward_kernel<<<blocks_for(N * F, 256), 256, 0, s>>>(dgu, dh, gu, N, F);
    return cudaGetLastError();
}

template cudaError_t swiglu_backward<float>(float *, const float *, const float *, size_t, int, cudaStream_t);
template cudaError_t swiglu_backward<bf16>(bf16 *, const bf16 *, const bf16 *, size_t, int, cudaStream_t);

}  // namespace pic_cuda
