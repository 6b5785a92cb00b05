// The CUDA twin of rope.c: the tables in float as the CPU computes them
// (cos(pos * inv_freq) * attention_factor), and the rotate_half rotation.
#include "model/cuda/layers.cuh"

namespace pic_cuda {

__global__ void rope_tables_kernel(float *cos_t, float *sin_t, const int *pos, size_t N, const float *inv, int half,
                                   float factor) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N * (size_t)half) return;
    float a = (float)pos[i / half] * inv[i % half];
    cos_t[i] = cosf(a) * factor;
    sin_t[i] = sinf(a) * factor;
}

cudaError_t rope_tables(float *cos_t, float *sin_t, const int *pos, size_t N, const float *inv_freq, int head_dim,
                        float attention_factor, cudaStream_t s) {
    if (!N) return cudaSuccess;
    int half = head_dim / 2;
    rope_tables_kernel<<<blocks_for(N * half, 256), 256, 0, s>>>(cos_t, sin_t, pos, N, inv_freq, half,
                                                                 attention_factor);
    return cudaGetLastError();
}

// One thread per (token, head, pair i): (x[i], x[i + half]); dir 1 rotates
// by the angle (forward), -1 back (backward: the rotation's transpose).
template <typename T>
__global__ void rope_kernel(T *x, size_t N, int n_heads, int hd, const float *cos_t, const float *sin_t, float dir) {
    int half = hd / 2;
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N * n_heads * (size_t)half) return;
    size_t n = i / ((size_t)n_heads * half);
    int p = (int)(i % half);
    T *h = x + (i / half) * hd;
    float c = cos_t[n * half + p], s = dir * sin_t[n * half + p];
    float x0 = to_f(h[p]), x1 = to_f(h[p + half]);
    h[p] = from_f<T>(x0 * c - x1 * s);
    h[p + half] = from_f<T>(x1 * c + x0 * s);
}

template <typename T>
cudaError_t rope_forward(T *x, size_t N, int n_heads, int head_dim, const float *cos_t, const float *sin_t,
                         cudaStream_t s) {
    if (!N) return cudaSuccess;
    rope_kernel<<<blocks_for(N * n_heads * (size_t)(head_dim / 2), 256), 256, 0, s>>>(x, N, n_heads, head_dim,
                                                                                      cos_t, sin_t, 1.0f);
    return cudaGetLastError();
}

template <typename T>
cudaError_t rope_backward(T *dx, size_t N, int n_heads, int head_dim, const float *cos_t, const float *sin_t,
                          cudaStream_t s) {
    if (!N) return cudaSuccess;
    rope_kernel<<<blocks_for(N * n_heads * (size_t)(head_dim / 2), 256), 256, 0, s>>>(dx, N, n_heads, head_dim,
                                                                                      cos_t, sin_t, -1.0f);
    return cudaGetLastError();
}

template cudaError_t rope_forward<float>(float *, size_t, int, int, const float *, const float *, cudaStream_t);
template cudaError_t rope_forward<bf16>(bf16 *, size_t, int, int, const float *, const float *, cudaStream_t);
template cudaError_t rope_backward<float>(float *, size_t, int, int, const float *, const float *, cudaStream_t);
template cudaError_t rope_backward<bf16>(bf16 *, size_t, int, int, const float *, const float *, cudaStream_t);

}  // namespace pic_cuda
