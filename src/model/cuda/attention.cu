// The CUDA twin of attention.c: causal grouped-query attention over packed
// sequences, flash style. A block holds a tile of up to 64 query tokens of
// one sequence for one query head (4 threads per query row, each a quarter
// of the head's dimensions); keys and values stream through shared memory
// 32 at a time with an online softmax, so no score matrix is ever stored,
// and the row's log-sum-exp is saved for the backward pass. Scores and all
// sums are float whatever the storage type.
#include <math.h>

#include "model/cuda/layers.cuh"

namespace pic_cuda {

template <typename T> __global__ void qkv_split_kernel(T *q, T *k, T *v, const T *qkv, size_t N, int qd, int kvd) {
    size_t w = (size_t)qd + 2 * (size_t)kvd, i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N * w) return;
    size_t n = i / w, c = i % w;
    if (c < (size_t)qd)
        q[n * qd + c] = qkv[i];
    else if (c < (size_t)qd + kvd)
        k[n * kvd + c - qd] = qkv[i];
    else
        v[n * kvd + c - qd - kvd] = qkv[i];
}

template <typename T>
cudaError_t qkv_split_forward(T *q, T *k, T *v, const T *qkv, size_t N, int qd, int kvd, cudaStream_t s) {
    if (!N) return cudaSuccess;
    qkv_split_kernel<<<blocks_for(N * ((size_t)qd + 2 * kvd), 256), 256, 0, s>>>(q, k, v, qkv, N, qd, kvd);
    return cudaGetLastError();
}

enum { ROWS = ATTN_TILE, KEYS = 32, THREADS = 4 * ROWS };

static size_t smem_bytes(int dmax) { return ((size_t)(ROWS + 2 * KEYS) * (dmax + 1) + (size_t)ROWS * (KEYS + 1)) * sizeof(float); }

// DMAX: the largest head_dim this instance serves (a multiple of 4).
template <typename T, int DMAX>
__global__ void __launch_bounds__(THREADS) attention_kernel(T *out, float *lse, const T *q, attn_input<T> in,
                                                            int nh, int nkv, int hd, float scale) {
    extern __shared__ float smem[];
    const int LD = DMAX + 1; // odd strides: rows fall in different banks
    float *Qs = smem, *Ks = Qs + ROWS * LD, *Vs = Ks + KEYS * LD, *Ss = Vs + KEYS * LD;
    int2 tile = in.tiles[blockIdx.x];
    int h = blockIdx.y, g = h / (nh / nkv), t = threadIdx.x, r = t / 4, qt = t % 4;
    size_t t0 = (size_t)tile.x;
    int nt = tile.y, seq = in.tok_seq[t0];
    int n_keys = in.tok_pos[t0 + nt - 1] + 1; // positions run consecutively within a tile
    const T *K = in.k + in.seq_off[seq] + (size_t)g * hd, *V = in.v + in.seq_off[seq] + (size_t)g * hd;
    size_t qstride = (size_t)nh * hd;
    for (int i = t; i < ROWS * hd; i += THREADS) {
        int rr = i / hd, d = i % hd;
        Qs[rr * LD + d] = rr < nt ? to_f(q[(t0 + rr) * qstride + (size_t)h * hd + d]) : 0.0f;
    }
    int my_pos = r < nt ? in.tok_pos[t0 + r] : -1;
    float m = -INFINITY, l = 0, acc[DMAX / 4];
#pragma unroll
    for (int i = 0; i < DMAX / 4; i++) acc[i] = 0;
    for (int kb = 0; kb < n_keys; kb += KEYS) {
        __syncthreads();
        for (int i = t; i < KEYS * hd; i += THREADS) {
            int j = i / hd, d = i % hd;
            bool ok = kb + j < n_keys;
            size_t at = (size_t)(kb + j) * in.kv_stride + d;
            Ks[j * LD + d] = ok ? to_f(K[at]) : 0.0f;
            Vs[j * LD + d] = ok ? to_f(V[at]) : 0.0f;
        }
        __syncthreads();
        float s[KEYS / 4], mt = -INFINITY;
#pragma unroll
        for (int i = 0; i < KEYS / 4; i++) {
            int j = qt + 4 * i;
            float dot = 0;
            for (int d = 0; d < hd; d++) dot += Qs[r * LD + d] * Ks[j * LD + d];
            s[i] = kb + j <= my_pos ? dot * scale : -INFINITY;
            mt = fmaxf(mt, s[i]);
        }
        mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 1));
        mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 2));
        float m_new = fmaxf(m, mt);
        float corr = m_new == -INFINITY ? 1.0f : expf(m - m_new), sum = 0;
#pragma unroll
        for (int i = 0; i < KEYS / 4; i++) {
            float p = s[i] == -INFINITY ? 0.0f : expf(s[i] - m_new);
            Ss[r * (KEYS + 1) + qt + 4 * i] = p;
            sum += p;
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        l = l * corr + sum;
        m = m_new;
        __syncwarp(); // a row's four threads are in one warp
        int jn = n_keys - kb < KEYS ? n_keys - kb : KEYS;
#pragma unroll
        for (int i = 0; i < DMAX / 4; i++) acc[i] *= corr;
        for (int j = 0; j < jn; j++) {
            float p = Ss[r * (KEYS + 1) + j];
#pragma unroll
            for (int i = 0; i < DMAX / 4; i++)
                if (qt + 4 * i < hd) acc[i] += p * Vs[j * LD + qt + 4 * i];
        }
    }
    if (r >= nt) return;
    float inv = 1.0f / l;
    T *o = out + (t0 + r) * qstride + (size_t)h * hd;
#pragma unroll
    for (int i = 0; i < DMAX / 4; i++)
        if (qt + 4 * i < hd) o[qt + 4 * i] = from_f<T>(acc[i] * inv);
    if (lse && qt == 0) lse[(t0 + r) * nh + h] = m + logf(l);
}

template <typename T, int DMAX>
static cudaError_t launch(T *out, float *lse, const T *q, const attn_input<T> &in, int nh, int nkv, int hd,
                          cudaStream_t s) {
    size_t bytes = smem_bytes(DMAX);
    static bool raised; // once per instance: the opt-in above 48 KB of shared memory
    if (!raised) {
        cudaError_t e = cudaFuncSetAttribute(attention_kernel<T, DMAX>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             (int)bytes);
        if (e != cudaSuccess) return e;
        raised = true;
    }
    dim3 grid((unsigned)in.n_tiles, (unsigned)nh);
    attention_kernel<T, DMAX><<<grid, THREADS, bytes, s>>>(out, lse, q, in, nh, nkv, hd, (float)(1.0 / sqrt(hd)));
    return cudaGetLastError();
}

template <typename T>
cudaError_t attention_forward(T *out, float *lse, const T *q, const attn_input<T> &in, int n_heads,
                              int n_kv_heads, int head_dim, cudaStream_t s) {
    if (!in.N || !in.n_tiles) return cudaSuccess;
    if (head_dim <= 32) return launch<T, 32>(out, lse, q, in, n_heads, n_kv_heads, head_dim, s);
    if (head_dim <= 64) return launch<T, 64>(out, lse, q, in, n_heads, n_kv_heads, head_dim, s);
    if (head_dim <= 128) return launch<T, 128>(out, lse, q, in, n_heads, n_kv_heads, head_dim, s);
    if (head_dim <= 256) return launch<T, 256>(out, lse, q, in, n_heads, n_kv_heads, head_dim, s);
    return cudaErrorInvalidValue;
}

template cudaError_t qkv_split_forward<float>(float *, float *, float *, const float *, size_t, int, int,
                                              cudaStream_t);
template cudaError_t qkv_split_forward<bf16>(bf16 *, bf16 *, bf16 *, const bf16 *, size_t, int, int, cudaStream_t);
template cudaError_t attention_forward<float>(float *, float *, const float *, const attn_input<float> &, int, int,
                                              int, cudaStream_t);
template cudaError_t attention_forward<bf16>(bf16 *, float *, const bf16 *, const attn_input<bf16> &, int, int, int,
                                             cudaStream_t);

}  // namespace pic_cuda
