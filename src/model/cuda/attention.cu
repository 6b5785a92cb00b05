// The CUDA twin of attention.c: causal grouped-query attention over packed
// sequences, flash style. A block holds a tile of up to 64 query tokens of
// one sequence for one query head (4 threads per query row, each a quarter
// of the head's dimensions); keys and values stream through shared memory
// 32 at a time with an online softmax, so no score matrix is ever stored,
// and the row's log-sum-exp is saved for the backward pass. Scores and all
// sums are float whatever the storage type.
//
// In bf16 at head sizes 64 and 128 (the real models') the two products run
// on tensor cores instead (wmma, bf16 in, float accumulate), the same
// online softmax between them: S = Q K^T per 16-row warp slice, P = exp(S -
// m) rounded to bf16 for P V as flash attention does, the output kept in
// float in shared memory and rescaled per row.
#include <math.h>
#include <mma.h>
#include <type_traits>

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

// ---- tensor cores (bf16, head_dim HD = 64 or 128) ------------------------

namespace wmma = nvcuda::wmma;
// A warp owns 16 of the tile's 64 query rows. The float tiles' rows are 4
// floats longer than their data (and a row's two lanes take alternate
// columns) so that the lanes of a warp fall in different banks.
enum { TC_WARPS = 4, TC_KEYS = 64, SLD = TC_KEYS + 4 };

template <int HD> static size_t tc_smem_bytes() {
    return (size_t)ATTN_TILE * HD * 2 + 2 * (size_t)TC_KEYS * HD * 2 + (size_t)ATTN_TILE * SLD * 4 +
           (size_t)ATTN_TILE * TC_KEYS * 2 + (size_t)ATTN_TILE * (HD + 4) * 4;
}

// rows x HD bf16 from src (row stride `stride` elements) into dst, zero past `valid` rows; 16-byte pieces.
template <int HD>
__device__ void load_rows(bf16 *dst, const bf16 *src, size_t stride, int rows, int valid) {
    for (int i = threadIdx.x; i < rows * HD / 8; i += TC_WARPS * 32) {
        int r = i / (HD / 8), c = i % (HD / 8) * 8;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (r < valid) v = *(const uint4 *)(src + (size_t)r * stride + c);
        *(uint4 *)(dst + r * HD + c) = v;
    }
}

template <int HD>
__global__ void __launch_bounds__(TC_WARPS * 32) attention_tc_kernel(bf16 *out, float *lse, const bf16 *q,
                                                                     attn_input<bf16> in, int nh, int nkv,
                                                                     float scale) {
    constexpr int OLD = HD + 4;
    extern __shared__ __align__(128) unsigned char tc_smem[];
    bf16 *Qs = (bf16 *)tc_smem, *Ks = Qs + ATTN_TILE * HD, *Vs = Ks + TC_KEYS * HD;
    float *Sf = (float *)(Vs + TC_KEYS * HD);
    bf16 *Pb = (bf16 *)(Sf + ATTN_TILE * SLD);
    float *Of = (float *)(Pb + ATTN_TILE * TC_KEYS);
    int2 tile = in.tiles[blockIdx.x];
    int h = blockIdx.y, g = h / (nh / nkv), warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    size_t t0 = (size_t)tile.x, qstride = (size_t)nh * HD;
    int nt = tile.y, seq = in.tok_seq[t0], n_keys = in.tok_pos[t0 + nt - 1] + 1;
    const bf16 *K = in.k + in.seq_off[seq] + (size_t)g * HD, *V = in.v + in.seq_off[seq] + (size_t)g * HD;
    load_rows<HD>(Qs, q + t0 * qstride + (size_t)h * HD, qstride, ATTN_TILE, nt);
    for (int i = threadIdx.x; i < ATTN_TILE * OLD; i += TC_WARPS * 32) Of[i] = 0;
    // lanes 2r and 2r + 1 of a warp own row 16 warp + r, each every other column
    int row = warp * 16 + lane / 2, half = lane % 2;
    int my_pos = row < nt ? in.tok_pos[t0 + row] : -1;
    float m = -INFINITY, l = 0;
    for (int kb = 0; kb < n_keys; kb += TC_KEYS) {
        __syncthreads();
        int valid = n_keys - kb < TC_KEYS ? n_keys - kb : TC_KEYS;
        load_rows<HD>(Ks, K + (size_t)kb * in.kv_stride, in.kv_stride, TC_KEYS, valid);
        load_rows<HD>(Vs, V + (size_t)kb * in.kv_stride, in.kv_stride, TC_KEYS, valid);
        __syncthreads();
        // S[16 rows, 64 keys] = Q K^T for this warp's rows
        for (int jb = 0; jb < TC_KEYS / 16; jb++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
            for (int kk = 0; kk < HD / 16; kk++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> b;
                wmma::load_matrix_sync(a, Qs + warp * 16 * HD + kk * 16, HD);
                wmma::load_matrix_sync(b, Ks + jb * 16 * HD + kk * 16, HD);
                wmma::mma_sync(acc, a, b, acc);
            }
            wmma::store_matrix_sync(Sf + warp * 16 * SLD + jb * 16, acc, SLD, wmma::mem_row_major);
        }
        __syncwarp();
        // the online softmax of this lane's columns (half, half + 2, ...)
        float *srow = Sf + row * SLD;
        float mt = -INFINITY;
        for (int j = half; j < TC_KEYS; j += 2) {
            float sc = kb + j <= my_pos ? srow[j] * scale : -INFINITY;
            srow[j] = sc;
            mt = fmaxf(mt, sc);
        }
        mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 1));
        float m_new = fmaxf(m, mt), corr = m_new == -INFINITY ? 1.0f : expf(m - m_new), sum = 0;
        bf16 *prow = Pb + row * TC_KEYS;
        for (int j = half; j < TC_KEYS; j += 2) {
            float p = srow[j] == -INFINITY ? 0.0f : expf(srow[j] - m_new);
            prow[j] = __float2bfloat16_rn(p);
            sum += p;
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        l = l * corr + sum;
        m = m_new;
        float *orow = Of + row * OLD;
        for (int d = half; d < HD; d += 2) orow[d] *= corr;
        __syncwarp();
        // O += P V for this warp's rows
        for (int db = 0; db < HD / 16; db++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::load_matrix_sync(acc, Of + warp * 16 * OLD + db * 16, OLD, wmma::mem_row_major);
            for (int kk = 0; kk < TC_KEYS / 16; kk++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> b;
                wmma::load_matrix_sync(a, Pb + warp * 16 * TC_KEYS + kk * 16, TC_KEYS);
                wmma::load_matrix_sync(b, Vs + kk * 16 * HD + db * 16, HD);
                wmma::mma_sync(acc, a, b, acc);
            }
            wmma::store_matrix_sync(Of + warp * 16 * OLD + db * 16, acc, OLD, wmma::mem_row_major);
        }
        __syncwarp();
    }
    if (row >= nt) return;
    float inv = 1.0f / l;
    const float *orow = Of + row * OLD;
    bf16 *o = out + (t0 + row) * qstride + (size_t)h * HD;
    for (int d = half; d < HD; d += 2) o[d] = __float2bfloat16_rn(orow[d] * inv);
    if (lse && !half) lse[(t0 + row) * nh + h] = m + logf(l);
}

template <int HD>
static cudaError_t launch_tc(bf16 *out, float *lse, const bf16 *q, const attn_input<bf16> &in, int nh, int nkv,
                             cudaStream_t s) {
    size_t bytes = tc_smem_bytes<HD>();
    static bool raised;
    if (!raised) {
        cudaError_t e = cudaFuncSetAttribute(attention_tc_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             (int)bytes);
        if (e != cudaSuccess) return e;
        raised = true;
    }
    dim3 grid((unsigned)in.n_tiles, (unsigned)nh);
    attention_tc_kernel<HD><<<grid, TC_WARPS * 32, bytes, s>>>(out, lse, q, in, nh, nkv, (float)(1.0 / sqrt(HD)));
    return cudaGetLastError();
}

template <typename T>
cudaError_t attention_forward(T *out, float *lse, const T *q, const attn_input<T> &in, int n_heads,
                              int n_kv_heads, int head_dim, cudaStream_t s) {
    if (!in.N || !in.n_tiles) return cudaSuccess;
    if constexpr (std::is_same<T, bf16>::value) {
        if (head_dim == 64) return launch_tc<64>(out, lse, q, in, n_heads, n_kv_heads, s);
        if (head_dim == 128) return launch_tc<128>(out, lse, q, in, n_heads, n_kv_heads, s);
    }
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
