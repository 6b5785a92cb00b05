// The CUDA twin of rope.c: the tables in float as the CPU computes them
// (cos(pos * inv_freq) * attention_factor), and the rotate_half rotation.
#include "model/cuda/layers.cuh"

namespace pic_cuda {

__global__ void rope_tables_kernel(float *cos_t, float *sin_t, const int *pos, size_t N, const float *inv, int half,
                                   float factor) {
    pdl_begin();
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
    return launch_pdl(rope_tables_kernel, blocks_for(N * half, 256), 256, 0, s, cos_t, sin_t, pos, N, inv_freq, half,
                      attention_factor);
}

// The pair (x0, x1) = (x[i], x[i + half]) rotated by the angle whose
// cosine and sine are c and s, each operation rounded on its own (never
// contracted into an fma, whose choice the compiler makes per kernel), so
// that every kernel that rotates gets the same bits.
template <typename T> __device__ __forceinline__ void rotate(T &x0, T &x1, float c, float s) {
    float a = to_f(x0), b = to_f(x1);
    x0 = from_f<T>(__fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s)));
    x1 = from_f<T>(__fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s)));
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
    rotate(h[p], h[p + half], cos_t[n * half + p], dir * sin_t[n * half + p]);
}

// qkv_split_forward, rope_forward of q and of k, and the append to the KV
// cache in one pass: one thread per (token, head of q, k or v, pair i), the pair read
// from qkv (or from q, k, v in place), rotated if it is q's or k's, written
// to its buffer and, k's and v's, to the cache.
template <typename T>
__global__ void qkv_rope_kernel(T *q, T *k, T *v, const T *qkv, size_t N, int nh, int nkv, int hd,
                                const float *cos_t, const float *sin_t, kv_dest<T> cache) {
    pdl_begin();
    int half = hd / 2, heads = nh + 2 * nkv;
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N * heads * (size_t)half) return;
    size_t n = i / ((size_t)heads * half);
    int h = (int)(i / half % heads), p = (int)(i % half);
    bool is_q = h < nh, is_k = !is_q && h < nh + nkv;
    int kvh = is_q ? 0 : (h - nh) % nkv;
    T *dst = is_q ? q + (n * nh + h) * hd : (is_k ? k : v) + (n * nkv + kvh) * hd;
    const T *src = qkv ? qkv + (n * heads + h) * hd : dst;
    T x0 = src[p], x1 = src[p + half];
    if (is_q || is_k) rotate(x0, x1, cos_t[n * half + p], sin_t[n * half + p]);
    if (qkv || is_q || is_k) dst[p] = x0, dst[p + half] = x1;
    if (cache.k && !is_q) {
        size_t at = page_key(cache.page, cache.seq_off[cache.tok_seq[n]], cache.tok_pos[n], (size_t)nkv * hd) +
                    (size_t)kvh * hd;
        T *c = is_k ? cache.k : cache.v;
        c[at + p] = x0, c[at + p + half] = x1;
    }
}

template <typename T>
cudaError_t qkv_rope_forward(T *q, T *k, T *v, const T *qkv, size_t N, int nh, int nkv, int head_dim,
                             const float *cos_t, const float *sin_t, kv_dest<T> cache, cudaStream_t s) {
    if (!N) return cudaSuccess;
    size_t n = N * (size_t)(nh + 2 * nkv) * (head_dim / 2);
    return launch_pdl(qkv_rope_kernel<T>, blocks_for(n, 256), 256, 0, s, q, k, v, qkv, N, nh, nkv, head_dim, cos_t,
                      sin_t, cache);
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
template cudaError_t qkv_rope_forward<float>(float *, float *, float *, const float *, size_t, int, int, int,
                                             const float *, const float *, kv_dest<float>, cudaStream_t);
template cudaError_t qkv_rope_forward<bf16>(bf16 *, bf16 *, bf16 *, const bf16 *, size_t, int, int, int,
                                            const float *, const float *, kv_dest<bf16>, cudaStream_t);
template cudaError_t rope_backward<float>(float *, size_t, int, int, const float *, const float *, cudaStream_t);
template cudaError_t rope_backward<bf16>(bf16 *, size_t, int, int, const float *, const float *, cudaStream_t);

}  // namespace pic_cuda
