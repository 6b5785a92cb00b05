// The CUDA twin of embedding.c: a gather of rows.
#include "model/cuda/layers.cuh"

#include <cub/device/device_radix_sort.cuh>

namespace pic_cuda {

template <typename T> __global__ void embedding_kernel(T *out, const int32_t *tokens, const T *embed, size_t N, int C) {
    pdl_begin();
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N * (size_t)C) return;
    size_t n = i / C;
    out[i] = embed[(size_t)tokens[n] * C + i % C];
}

template <typename T>
cudaError_t embedding_forward(T *out, const int32_t *tokens, const T *embed, size_t N, int C, cudaStream_t s) {
    if (!N) return cudaSuccess;
    return launch_pdl(embedding_kernel<T>, blocks_for(N * C, 256), 256, 0, s, out, tokens, embed, N, C);
}

template cudaError_t embedding_forward<float>(float *, const int32_t *, const float *, size_t, int, cudaStream_t);
template cudaError_t embedding_forward<bf16>(bf16 *, const int32_t *, const bf16 *, size_t, int, cudaStream_t);

}  // namespace pic_cuda

namespace pic_cuda {

// The backward is a scatter-add of rows into the embedding's gradient, with
// repeated tokens adding in the CPU's order (ascending position) and no
// atomics. One thread per column looping over every token kept C threads
// busy (896 at 0.5B) through N dependent steps, about a quarter of a 0.5B
// training step; so the positions are first sorted by token (a stable
// radix sort, positions ascending within a token), and one block per
// (position that starts a token's run, 128 columns) sums the run from the
// gradient's value: each element gets the same adds in the same order, the
// CPU's bits.

__global__ void iota_kernel(int *x, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = (int)i;
}

__global__ void embedding_backward_runs(float *__restrict__ dembed, const float *__restrict__ dout,
                                        const int32_t *__restrict__ tok, const int *__restrict__ pos, size_t N, int C,
                                        int pad) {
    size_t i = blockIdx.x;
    int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= C || (i > 0 && tok[i - 1] == tok[i]) || tok[i] == pad) return;
    int32_t t = tok[i];
    float *g = dembed + (size_t)t * C + c;
    float acc = *g;
    for (size_t j = i; j < N && tok[j] == t; j++) acc += dout[(size_t)pos[j] * C + c];
    *g = acc;
}

// Radix-sort bits covering ids below V.
static int id_bits(int V) {
    int b = 1;
    while (b < 31 && (1u << b) < (unsigned)V) b++;
    return b;
}

size_t embedding_backward_scratch(size_t N, int V) {
    size_t temp = 0;
    cub::DeviceRadixSort::SortPairs(NULL, temp, (const int32_t *)NULL, (int32_t *)NULL, (const int *)NULL,
                                    (int *)NULL, (int)N, 0, id_bits(V));
    return 3 * ((N * 4 + 255) / 256 * 256) + temp;
}

cudaError_t embedding_backward(float *dembed, const float *dout, const int32_t *tokens, size_t N, int C, int V,
                               int pad, void *scratch, size_t scratch_bytes, cudaStream_t s) {
    if (!N) return cudaSuccess;
    size_t a = (N * 4 + 255) / 256 * 256;
    int32_t *tok = (int32_t *)scratch;
    int *pos_in = (int *)((char *)scratch + a), *pos = (int *)((char *)scratch + 2 * a);
    void *temp = (char *)scratch + 3 * a;
    size_t temp_bytes = scratch_bytes < 3 * a ? 0 : scratch_bytes - 3 * a;
    iota_kernel<<<blocks_for(N, 256), 256, 0, s>>>(pos_in, N);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    e = cub::DeviceRadixSort::SortPairs(temp, temp_bytes, tokens, tok, pos_in, pos, (int)N, 0, id_bits(V), s);
    if (e != cudaSuccess) return e;
    embedding_backward_runs<<<dim3((unsigned)N, (unsigned)((C + 127) / 128)), 128, 0, s>>>(dembed, dout, tok, pos, N, C, pad);
    return cudaGetLastError();
}

}  // namespace pic_cuda
