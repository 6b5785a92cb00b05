// The CUDA twin of attention.c: causal grouped-query attention over packed
// sequences, flash style. A block holds a tile of up to 64 query tokens of
// one sequence for one query head (4 threads per query row, each a quarter
// of the head's dimensions); keys and values stream through shared memory
// 32 at a time with an online softmax, so no score matrix is ever stored,
// and the row's log-sum-exp is saved for the backward pass. Scores and all
// sums are float whatever the storage type.
//
// In bf16 at head sizes 64 and 128 (the real models') the tensor-core
// kernels of attention_tc.cu and attention_decode.cu run instead, forward
// and backward, where the GPU's blocks hold their shared memory; this file
// chooses, once a process.
//
// Keys come packed (the batch's own) or from a KV cache's pages. Every
// kernel reads them in chunks of 32 or 64 positions starting at multiples
// of the chunk, which divide PIC_KV_PAGE: a chunk lies in one page, so its
// first row is found once (attn_key) and the rest are kv_stride apart. The
// chunks, and so every sum, are the same paged or packed: the same bits.
#include <math.h>
#include <stdint.h>
#include <algorithm>
#include <type_traits>

#include "model/cuda/attention_tc.cuh"

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
static_assert(PIC_KV_PAGE % KEYS == 0, "a chunk of keys must not straddle two pages");

static size_t smem_bytes(int dmax) { return ((size_t)(ROWS + 2 * KEYS) * (dmax + 1) + (size_t)ROWS * (KEYS + 1)) * sizeof(float); }

// DMAX: the largest head_dim this instance serves (a multiple of 4).
template <typename T, int DMAX>
__global__ void __launch_bounds__(THREADS) attention_kernel(T *out, float *lse, const T *q, attn_input<T> in,
                                                            int nh, int nkv, int hd, float scale) {
    pdl_begin();
    extern __shared__ float smem[];
    const int LD = DMAX + 1; // odd strides: rows fall in different banks
    float *Qs = smem, *Ks = Qs + ROWS * LD, *Vs = Ks + KEYS * LD, *Ss = Vs + KEYS * LD;
    int2 tile = in.tiles[blockIdx.x];
    int h = blockIdx.y, g = h / (nh / nkv), t = threadIdx.x, r = t / 4, qt = t % 4;
    size_t t0 = (size_t)tile.x;
    int nt = tile.y, seq = in.tok_seq[t0];
    int n_keys = in.tok_pos[t0 + nt - 1] + 1; // positions run consecutively within a tile
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
        size_t base = attn_key(in, seq, kb) + (size_t)g * hd; // KEYS | PIC_KV_PAGE: the chunk is in one page
        for (int i = t; i < KEYS * hd; i += THREADS) {
            int j = i / hd, d = i % hd;
            bool ok = kb + j < n_keys;
            size_t at = base + (size_t)j * in.kv_stride + d;
            Ks[j * LD + d] = ok ? to_f(in.k[at]) : 0.0f;
            Vs[j * LD + d] = ok ? to_f(in.v[at]) : 0.0f;
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
    static bool raised;
    cudaError_t e = raise_smem(attention_kernel<T, DMAX>, bytes, &raised);
    if (e != cudaSuccess) return e;
    dim3 grid((unsigned)in.n_tiles, (unsigned)nh);
    return launch_pdl(attention_kernel<T, DMAX>, grid, THREADS, bytes, s, out, lse, q, in, nh, nkv, hd,
                      (float)(1.0 / sqrt(hd)));
}

// The shared memory a block of this process's GPU may opt in to: 227 KB on
// an H100, 163 KB on an A100, 99 KB on the sm_86 / sm_89 GPUs (A10, L4,
// L40S) that run the sm_80 build.
static size_t smem_optin() {
    static const size_t optin = [] {
        int d = 0, v = 0;
        if (cudaGetDevice(&d) == cudaSuccess &&
            cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, d) == cudaSuccess)
            return (size_t)v;
        cudaGetLastError();
        return SIZE_MAX; // unknown: the launch will say
    }();
    return optin;
}

// PIC_CUDA_ATTN=simt: bf16 attention (forward and backward) on the CUDA
// cores at every head size, should the tensor-core kernels need ruling out.
// A GPU whose blocks cannot hold the tile kernel's shared memory (68 KB at
// head size 128: every GPU of the sm_80 and sm_90 builds can) would take the
// CUDA cores too, decided once a process so that scoring, training and
// generation take the same path and give the same bits.
static bool tensor_cores(int head_dim) {
    static const bool simt = env_says_simt("PIC_CUDA_ATTN");
    if (simt || (head_dim != 64 && head_dim != 128)) return false;
    return smem_optin() >= attention_tc_smem_bytes(head_dim);
}

size_t attention_smem_bytes(bool bf16, int head_dim) {
    if (bf16 && tensor_cores(head_dim)) return attention_tc_smem_bytes(head_dim);
    return smem_bytes(head_dim <= 32 ? 32 : head_dim <= 64 ? 64 : head_dim <= 128 ? 128 : 256);
}

size_t attention_smem_limit() { return smem_optin(); }

bool attention_tensor_cores(int head_dim) { return tensor_cores(head_dim); }

attn_decode attention_decode_mode(bool bf16, int n_heads, int n_kv_heads, int head_dim) {
    static const char *e = getenv("PIC_CUDA_DECODE_ATTN");
    if (!bf16 || !tensor_cores(head_dim) || n_heads / n_kv_heads > 16 || (e && !strcmp(e, "head")))
        return ATTN_DECODE_HEAD;
    return e && !strcmp(e, "group") ? ATTN_DECODE_GROUP : ATTN_DECODE_SPLIT;
}

int attention_decode_work(int2 *work, const int2 *tiles, const int *tok_pos, int n, attn_decode mode) {
    int w = 0;
    for (int i = 0; i < n; i++) {
        if (mode != ATTN_DECODE_SPLIT) {
            work[1 + w++] = make_int2(i, -1);
            continue;
        }
        for (int sg = 0; sg < attention_segments(tok_pos[tiles[i].x] + 1); sg++) work[1 + w++] = make_int2(i, sg);
    }
    work[0] = make_int2(w, 0);
    return w;
}

template <typename T>
cudaError_t attention_forward(T *out, float *lse, const T *q, const attn_input<T> &in, int n_heads,
                              int n_kv_heads, int head_dim, cudaStream_t s) {
    if (!in.N || !in.n_tiles) return cudaSuccess;
    if constexpr (std::is_same<T, bf16>::value) {
        if (tensor_cores(head_dim)) return attention_tc_forward(out, lse, q, in, n_heads, n_kv_heads, head_dim, s);
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

// ---- backward ------------------------------------------------------------
//
// P = exp(S - lse) recomputed from the forward's log-sum-exp; with D =
// rowsum(dout * out), dS = P (dout . v - D) scale, and
//   dV += P^T dout, dK += dS^T q   (a block per key tile and kv head: pass A),
//   dq += dS K                     (a block per query tile and head: pass B).
// Each block owns what it writes and sums in a fixed order: no atomics, and
// the score work is done twice (as the CPU's attention_backward does).

template <typename T>
__global__ void attention_d_kernel(float *D, const T *dout, const T *out, size_t rows, int hd) {
    size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= rows) return;
    float acc = 0;
    for (int d = lane; d < hd; d += 32) acc += to_f(dout[row * hd + d]) * to_f(out[row * hd + d]);
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (!lane) D[row] = acc;
}

enum { BK_Q = 32 }; // queries per step of pass A
// Pass A's key tiles start at multiples of ATTN_KTILE (positions from 0:
// backward sees no cache, and in.page is nullptr there).
static_assert(PIC_KV_PAGE % ATTN_KTILE == 0, "a key tile must not straddle two pages");

// A query's score against a key (unscaled) and its dout against the value, from shared rows.
__device__ __forceinline__ void score_dp(const float *qr, const float *dor, const float *kr, const float *vr, int hd,
                                         float *s, float *dp) {
    float a = 0, b = 0;
    for (int d = 0; d < hd; d++) {
        a += qr[d] * kr[d];
        b += dor[d] * vr[d];
    }
    *s = a, *dp = b;
}

template <int DMAX> static size_t kv_smem_bytes() {
    return ((size_t)(2 * ATTN_KTILE + 2 * BK_Q) * (DMAX + 1) + 2 * (size_t)ATTN_KTILE * (BK_Q + 1) + 2 * BK_Q) *
           sizeof(float);
}

// Pass A: 4 threads per key row (each a quarter of the dimensions), the
// tile's keys against the queries of its sequence from the tile on, head
// after head of the kv head's group, 32 queries at a time.
template <typename T, int DMAX>
__global__ void __launch_bounds__(4 * ATTN_KTILE)
    attention_kv_kernel(T *dk, T *dv, const T *dout, const float *lse, const float *D, const T *q,
                        attn_input<T> in, const int4 *ktiles, int nh, int nkv, int hd, float scale) {
    extern __shared__ float smem[];
    const int LD = DMAX + 1;
    float *Ks = smem, *Vs = Ks + ATTN_KTILE * LD, *Qs = Vs + ATTN_KTILE * LD, *Os = Qs + BK_Q * LD;
    float *Ps = Os + BK_Q * LD, *Ds = Ps + ATTN_KTILE * (BK_Q + 1), *Ls = Ds + ATTN_KTILE * (BK_Q + 1),
          *Dq = Ls + BK_Q;
    int4 kt = ktiles[blockIdx.x];
    int g = blockIdx.y, group = nh / nkv, t = threadIdx.x, r = t / 4, qt = t % 4;
    size_t k0 = (size_t)kt.x, first = (size_t)kt.z;
    int nk = kt.y, len = kt.w, seq = in.tok_seq[k0], j0 = (int)(k0 - first); // the tile's first key position
    size_t off = attn_key(in, seq, j0) + (size_t)g * hd;                        // j0: a multiple of ATTN_KTILE
    for (int i = t; i < ATTN_KTILE * hd; i += blockDim.x) {
        int j = i / hd, d = i % hd;
        size_t at = off + (size_t)j * in.kv_stride + d;
        Ks[j * LD + d] = j < nk ? to_f(in.k[at]) : 0.0f;
        Vs[j * LD + d] = j < nk ? to_f(in.v[at]) : 0.0f;
    }
    float ak[DMAX / 4], av[DMAX / 4];
#pragma unroll
    for (int i = 0; i < DMAX / 4; i++) ak[i] = av[i] = 0;
    size_t qstride = (size_t)nh * hd;
    for (int hh = 0; hh < group; hh++) {
        int h = g * group + hh;
        for (int qb = j0; qb < len; qb += BK_Q) {
            int nq = len - qb < BK_Q ? len - qb : BK_Q;
            __syncthreads();
            for (int i = t; i < BK_Q * hd; i += blockDim.x) {
                int ii = i / hd, d = i % hd;
                size_t at = (first + qb + ii) * qstride + (size_t)h * hd + d;
                Qs[ii * LD + d] = ii < nq ? to_f(q[at]) : 0.0f;
                Os[ii * LD + d] = ii < nq ? to_f(dout[at]) : 0.0f;
            }
            for (int i = t; i < BK_Q; i += blockDim.x) {
                size_t row = (first + qb + i) * nh + h;
                Ls[i] = i < nq ? lse[row] : 0.0f;
                Dq[i] = i < nq ? D[row] : 0.0f;
            }
            __syncthreads();
            int kpos = j0 + r;
#pragma unroll
            for (int c = 0; c < BK_Q / 4; c++) {
                int i = qt + 4 * c;
                float s, dp;
                score_dp(Qs + i * LD, Os + i * LD, Ks + r * LD, Vs + r * LD, hd, &s, &dp);
                bool live = r < nk && i < nq && kpos <= qb + i;
                float p = live ? expf(s * scale - Ls[i]) : 0.0f;
                Ps[r * (BK_Q + 1) + i] = p;
                Ds[r * (BK_Q + 1) + i] = p * (dp - Dq[i]) * scale;
            }
            __syncwarp(); // a key row's four threads are in one warp
#pragma unroll
            for (int c = 0; c < DMAX / 4; c++) {
                int d = qt + 4 * c;
                if (d >= hd) break;
                float sv = 0, sk = 0;
                for (int i = 0; i < nq; i++) {
                    sv += Ps[r * (BK_Q + 1) + i] * Os[i * LD + d];
                    sk += Ds[r * (BK_Q + 1) + i] * Qs[i * LD + d];
                }
                av[c] += sv;
                ak[c] += sk;
            }
        }
    }
    if (r >= nk) return;
    size_t at = off + (size_t)r * in.kv_stride;
#pragma unroll
    for (int c = 0; c < DMAX / 4; c++) {
        int d = qt + 4 * c;
        if (d >= hd) break;
        dk[at + d] = from_f<T>(to_f(dk[at + d]) + ak[c]);
        dv[at + d] = from_f<T>(to_f(dv[at + d]) + av[c]);
    }
}

// Pass B: RB query rows of a forward tile (4 threads each) against their
// keys, KEYS at a time; rows of a 64-token tile beyond RB in a second round.
template <int DMAX> __host__ __device__ constexpr int q_rows() { return DMAX > 128 ? 32 : 64; }
template <int DMAX> static size_t q_smem_bytes() {
    return ((size_t)(2 * q_rows<DMAX>() + 2 * KEYS) * (DMAX + 1) + (size_t)q_rows<DMAX>() * (KEYS + 1)) *
           sizeof(float);
}

template <typename T, int DMAX>
__global__ void __launch_bounds__(4 * q_rows<DMAX>())
    attention_q_kernel(T *dq, const T *dout, const float *lse, const float *D, const T *q, attn_input<T> in, int nh,
                       int nkv, int hd, float scale) {
    extern __shared__ float smem[];
    constexpr int RB = q_rows<DMAX>();
    const int LD = DMAX + 1;
    float *Qs = smem, *Os = Qs + RB * LD, *Ks = Os + RB * LD, *Vs = Ks + KEYS * LD, *Ss = Vs + KEYS * LD;
    int2 tile = in.tiles[blockIdx.x];
    int h = blockIdx.y, g = h / (nh / nkv), t = threadIdx.x, r = t / 4, qt = t % 4;
    int seq = in.tok_seq[tile.x];
    size_t qstride = (size_t)nh * hd;
    for (int sub = 0; sub < tile.y; sub += RB) {
        size_t t0 = (size_t)tile.x + sub;
        int nt = tile.y - sub < RB ? tile.y - sub : RB;
        int n_keys = in.tok_pos[t0 + nt - 1] + 1;
        __syncthreads();
        for (int i = t; i < RB * hd; i += blockDim.x) {
            int rr = i / hd, d = i % hd;
            size_t at = (t0 + rr) * qstride + (size_t)h * hd + d;
            Qs[rr * LD + d] = rr < nt ? to_f(q[at]) : 0.0f;
            Os[rr * LD + d] = rr < nt ? to_f(dout[at]) : 0.0f;
        }
        int my_pos = r < nt ? in.tok_pos[t0 + r] : -1;
        float my_lse = r < nt ? lse[(t0 + r) * nh + h] : 0.0f, my_D = r < nt ? D[(t0 + r) * nh + h] : 0.0f;
        float acc[DMAX / 4];
#pragma unroll
        for (int i = 0; i < DMAX / 4; i++) acc[i] = 0;
        for (int kb = 0; kb < n_keys; kb += KEYS) {
            __syncthreads();
            size_t base = attn_key(in, seq, kb) + (size_t)g * hd; // as the forward's chunks
            for (int i = t; i < KEYS * hd; i += blockDim.x) {
                int j = i / hd, d = i % hd;
                bool ok = kb + j < n_keys;
                size_t at = base + (size_t)j * in.kv_stride + d;
                Ks[j * LD + d] = ok ? to_f(in.k[at]) : 0.0f;
                Vs[j * LD + d] = ok ? to_f(in.v[at]) : 0.0f;
            }
            __syncthreads();
#pragma unroll
            for (int c = 0; c < KEYS / 4; c++) {
                int j = qt + 4 * c;
                float s, dp;
                score_dp(Qs + r * LD, Os + r * LD, Ks + j * LD, Vs + j * LD, hd, &s, &dp);
                float p = kb + j <= my_pos ? expf(s * scale - my_lse) : 0.0f;
                Ss[r * (KEYS + 1) + j] = p * (dp - my_D) * scale;
            }
            __syncwarp();
            int jn = n_keys - kb < KEYS ? n_keys - kb : KEYS;
#pragma unroll
            for (int c = 0; c < DMAX / 4; c++) {
                int d = qt + 4 * c;
                if (d >= hd) break;
                float sum = 0;
                for (int j = 0; j < jn; j++) sum += Ss[r * (KEYS + 1) + j] * Ks[j * LD + d];
                acc[c] += sum;
            }
        }
        if (r < nt) {
            T *o = dq + (t0 + r) * qstride + (size_t)h * hd;
#pragma unroll
            for (int c = 0; c < DMAX / 4; c++) {
                int d = qt + 4 * c;
                if (d >= hd) break;
                o[d] = from_f<T>(to_f(o[d]) + acc[c]);
            }
        }
    }
}

template <typename T, int DMAX>
static cudaError_t launch_backward(T *dq, T *dk, T *dv, const T *dout, const float *lse, const float *D, const T *q,
                                   const attn_input<T> &in, const int4 *ktiles, int n_ktiles, int nh, int nkv, int hd,
                                   cudaStream_t s) {
    static bool raised_kv, raised_q;
    size_t kvb = kv_smem_bytes<DMAX>(), qb = q_smem_bytes<DMAX>();
    cudaError_t e = raise_smem(attention_kv_kernel<T, DMAX>, kvb, &raised_kv);
    if (e == cudaSuccess) e = raise_smem(attention_q_kernel<T, DMAX>, qb, &raised_q);
    if (e != cudaSuccess) return e;
    float scale = (float)(1.0 / sqrt(hd));
    attention_kv_kernel<T, DMAX><<<dim3((unsigned)n_ktiles, (unsigned)nkv), 4 * ATTN_KTILE, kvb, s>>>(
        dk, dv, dout, lse, D, q, in, ktiles, nh, nkv, hd, scale);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
    attention_q_kernel<T, DMAX><<<dim3((unsigned)in.n_tiles, (unsigned)nh), 4 * q_rows<DMAX>(), qb, s>>>(
        dq, dout, lse, D, q, in, nh, nkv, hd, scale);
    return cudaGetLastError();
}

// What attention_backward's blocks need: the tensor-core pair where it runs
// and fits, else the SIMT passes it falls back to.
size_t attention_backward_smem_bytes(bool bf16, int head_dim) {
    if (bf16 && tensor_cores(head_dim)) {
        size_t tc = attention_tc_backward_smem_bytes(head_dim);
        if (tc <= smem_optin()) return tc;
    }
    if (head_dim <= 32) return std::max(kv_smem_bytes<32>(), q_smem_bytes<32>());
    if (head_dim <= 64) return std::max(kv_smem_bytes<64>(), q_smem_bytes<64>());
    if (head_dim <= 128) return std::max(kv_smem_bytes<128>(), q_smem_bytes<128>());
    return std::max(kv_smem_bytes<256>(), q_smem_bytes<256>());
}

template <typename T>
cudaError_t attention_backward(T *dq, T *dk, T *dv, const T *dout, const T *out, const float *lse, const T *q,
                               const attn_input<T> &in, const int4 *ktiles, int n_ktiles, int n_heads,
                               int n_kv_heads, int head_dim, float *D, cudaStream_t s) {
    if (!in.N || !in.n_tiles) return cudaSuccess;
    size_t rows = in.N * (size_t)n_heads;
    attention_d_kernel<<<blocks_for(rows, 8), 256, 0, s>>>(D, dout, out, rows, head_dim);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    if constexpr (std::is_same<T, bf16>::value) {
        if (tensor_cores(head_dim) && attention_tc_backward(dq, dk, dv, dout, lse, D, q, in, ktiles, n_ktiles, n_heads,
                                                            n_kv_heads, head_dim, s, &e))
            return e;
    }
#define LB(DM) launch_backward<T, DM>(dq, dk, dv, dout, lse, D, q, in, ktiles, n_ktiles, n_heads, n_kv_heads, head_dim, s)
    if (head_dim <= 32) return LB(32);
    if (head_dim <= 64) return LB(64);
    if (head_dim <= 128) return LB(128);
    if (head_dim <= 256) return LB(256);
#undef LB
    return cudaErrorInvalidValue;
}

template <typename T>
__global__ void qkv_split_backward_kernel(T *dqkv, const T *dq, const T *dk, const T *dv, size_t N, int qd, int kvd) {
    size_t w = (size_t)qd + 2 * (size_t)kvd, i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N * w) return;
    size_t n = i / w, c = i % w;
    dqkv[i] = c < (size_t)qd ? dq[n * qd + c] : c < (size_t)qd + kvd ? dk[n * kvd + c - qd] : dv[n * kvd + c - qd - kvd];
}

template <typename T>
cudaError_t qkv_split_backward(T *dqkv, const T *dq, const T *dk, const T *dv, size_t N, int qd, int kvd,
                               cudaStream_t s) {
    if (!N) return cudaSuccess;
    qkv_split_backward_kernel<<<blocks_for(N * ((size_t)qd + 2 * kvd), 256), 256, 0, s>>>(dqkv, dq, dk, dv, N, qd, kvd);
    return cudaGetLastError();
}

template cudaError_t qkv_split_backward<float>(float *, const float *, const float *, const float *, size_t, int, int,
                                               cudaStream_t);
template cudaError_t qkv_split_backward<bf16>(bf16 *, const bf16 *, const bf16 *, const bf16 *, size_t, int, int,
                                              cudaStream_t);
template cudaError_t attention_backward<float>(float *, float *, float *, const float *, const float *, const float *,
                                               const float *, const attn_input<float> &, const int4 *, int, int, int,
                                               int, float *, cudaStream_t);
template cudaError_t attention_backward<bf16>(bf16 *, bf16 *, bf16 *, const bf16 *, const bf16 *, const float *,
                                              const bf16 *, const attn_input<bf16> &, const int4 *, int, int, int, int,
                                              float *, cudaStream_t);

}  // namespace pic_cuda
