// The CUDA twin of embedding.c: a gather of rows.
#include "model/cuda/layers.cuh"

namespace pic_cuda {

template <typename T> __global__ void embedding_kernel(T *out, const int32_t *tokens, const T *embed, size_t N, int C) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N * (size_t)C) return;
    size_t n = i / C;
    out[i] = embed[(size_t)tokens[n] * C + i % C];
}

template <typename T>
cudaError_t embedding_forward(T *out, const int32_t *tokens, const T *embed, size_t N, int C, cudaStream_t s) {
    if (!N) return cudaSuccess;
    embedding_kernel<<<blocks_for(N * C, 256), 256, 0, s>>>(out, tokens, embed, N, C);
    return cudaGetLastError();
}

template cudaError_t embedding_forward<float>(float *, const int32_t *, const float *, size_t, int, cudaStream_t);
template cudaError_t embedding_forward<bf16>(bf16 *, const int32_t *, const bf16 *, size_t, int, cudaStream_t);

}  // namespace pic_cuda

namespace pic_cuda {

// One thread per column, tokens in order: repeated tokens add up in the
// CPU's order, and no two threads touch one element (no atomics).
__global__ void embedding_backward_kernel(float *dembed, const float *dout, const int32_t *tokens, size_t N, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    for (size_t n = 0; n < N; n++) dembed[(size_t)tokens[n] * C + c] += dout[n * C + c];
}

cudaError_t embedding_backward(float *dembed, const float *dout, const int32_t *tokens, size_t N, int C,
                               cudaStream_t s) {
    if (!N) return cudaSuccess;
    embedding_backward_kernel<<<blocks_for((size_t)C, 128), 128, 0, s>>>(dembed, dout, tokens, N, C);
    return cudaGetLastError();
}

}  // namespace pic_cuda
