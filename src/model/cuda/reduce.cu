// Fixed-order reductions for the backward pass (no CPU twin: the CPU sums
// in one thread). A column sum over N rows runs in COL_CHUNKS chunks of
// rows, each chunk's sum ascending in one thread per column, then the
// chunks ascending: the same bits whatever the GPU's scheduling, which is
// what makes a resumed run equal an uninterrupted one.
#include "model/cuda/layers.cuh"

namespace pic_cuda {

__global__ void sum_partials_kernel(float *dst, const float *partial, int P, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float acc = 0;
    for (int p = 0; p < P; p++) acc += partial[(size_t)p * C + c];
    dst[c] += acc;
}

cudaError_t sum_partials(float *dst, const float *partial, int P, int C, cudaStream_t s) {
    sum_partials_kernel<<<blocks_for((size_t)C, 256), 256, 0, s>>>(dst, partial, P, C);
    return cudaGetLastError();
}

template <typename T> __global__ void col_partials_kernel(float *partial, const T *src, size_t N, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    size_t per = (N + COL_CHUNKS - 1) / COL_CHUNKS, n0 = blockIdx.y * per, n1 = n0 + per < N ? n0 + per : N;
    float acc = 0;
    for (size_t n = n0; n < n1; n++) acc += to_f(src[n * C + c]);
    partial[(size_t)blockIdx.y * C + c] = acc;
}

template <typename T>
cudaError_t col_sums(float *dst, const T *src, size_t N, int C, float *scratch, cudaStream_t s) {
    if (!N) return cudaSuccess;
    col_partials_kernel<<<dim3(blocks_for((size_t)C, 256), COL_CHUNKS), 256, 0, s>>>(scratch, src, N, C);
    cudaError_t e = cudaGetLastError();
    return e != cudaSuccess ? e : sum_partials(dst, scratch, COL_CHUNKS, C, s);
}

template <typename D, typename S> __global__ void convert_kernel(D *dst, const S *src, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) dst[i] = from_f<D>(to_f(src[i]));
}

template <typename D, typename S> cudaError_t convert(D *dst, const S *src, size_t n, cudaStream_t s) {
    if (!n) return cudaSuccess;
    convert_kernel<<<blocks_for(n, 256), 256, 0, s>>>(dst, src, n);
    return cudaGetLastError();
}

template cudaError_t col_sums<float>(float *, const float *, size_t, int, float *, cudaStream_t);
template cudaError_t col_sums<bf16>(float *, const bf16 *, size_t, int, float *, cudaStream_t);
template cudaError_t convert<bf16, float>(bf16 *, const float *, size_t, cudaStream_t);
template cudaError_t convert<float, float>(float *, const float *, size_t, cudaStream_t);
template cudaError_t convert<float, bf16>(float *, const bf16 *, size_t, cudaStream_t);

}  // namespace pic_cuda
