// Attention on tensor cores: the bf16 kernels attention.cu runs at head
// sizes 64 and 128 (the real models'), the tile kernel's forward (scoring,
// prefill, training) and the backward, the same flash-style passes as its
// SIMT kernels, side by side. A decode step's rows go to
// attention_decode.cu; what the kernels share is flash_tc.cuh. Keys come in
// chunks of 64 positions from multiples of 64, packed or from a KV cache's
// pages (attention.cu), by cp.async while a chunk is computed.
#include <math.h>
#include <stdint.h>
#include <cuda_pipeline_primitives.h>

#include <algorithm>

#include "model/cuda/flash_tc.cuh"

namespace pic_cuda {

// The tile kernel (grid: tiles x query heads): every segment of the tile's
// 64 query rows in one block.
template <int HD>
__global__ void __launch_bounds__(TC_WARPS * 32) attention_tc_kernel(bf16 *out, float *lse, const bf16 *q,
                                                                     attn_input<bf16> in, int nh, int nkv,
                                                                     float scale) {
    pdl_begin();
    extern __shared__ __align__(128) unsigned char tc_smem[];
    tc_rows t = tile_rows<HD>(in, nh, nkv);
    tc_sums<HD> sum;
    tc_attend<HD, ATTN_TILE>(t, 0, attention_segments(t.n_keys), q, in, scale, tc_smem, sum);
    tc_finish<HD>(out, lse, t, sum, nh);
}

template <int HD>
static cudaError_t launch_tc(bf16 *out, float *lse, const bf16 *q, const attn_input<bf16> &in, int nh, int nkv,
                             cudaStream_t s) {
    size_t bytes = tc_smem_bytes<HD>();
    float scale = (float)(1.0 / sqrt(HD));
    static bool raised;
    int singles = in.work ? in.n_single : 0, tiles = in.n_tiles - singles;
    if (tiles) {
        cudaError_t e = raise_smem(attention_tc_kernel<HD>, bytes, &raised);
        if (e != cudaSuccess) return e;
        e = launch_pdl(attention_tc_kernel<HD>, dim3((unsigned)tiles, (unsigned)nh), TC_WARPS * 32, bytes, s, out, lse,
                       q, in, nh, nkv, scale);
        if (e != cudaSuccess) return e;
    }
    return singles ? attention_decode_tc(out, lse, q, in, nh, nkv, HD, s) : cudaSuccess;
}

// ---- backward on tensor cores (bf16, head_dim HD = 64 or 128) ------------
//
// The same two passes as the SIMT kernels, flash attention 2's backward:
// S = q K^T and dP = dout V^T into registers, P = exp(S scale - lse) and
// dS = P (dP - D) scale in float, both rounded to bf16 and packed in place
// as the A operands of dV += P^T dout, dK += dS^T q and dq += dS K; the sums
// in float in registers, each warp's rows its own; the streamed rows by
// cp.async behind the work. Still no atomics: the one block that owns an
// output writes it, its products in a fixed order.

// Pass A: a block per key tile (ATTN_KTILE = 32 keys: 2 warps of 16) and kv
// head, against the queries of its sequence 32 at a time (for each head of
// the group), double-buffered: 32, so that a warp's scores fit in
// registers beside its dK and dV, and four blocks an SM at head size 128.
// Pass B: a block per forward query tile (64 rows: 4 warps) and head, keys
// 64 at a time.
enum { TCA_WARPS = ATTN_KTILE / 16, TCA_Q = 32 };

template <int HD> struct tc_kv_smem {
    enum { LD = HD + 8 };
    // K, V of the tile; two chunks of queries and dout rows, their lse and D
    static constexpr size_t bytes = 2 * (size_t)ATTN_KTILE * LD * 2 + 2 * 2 * (size_t)TCA_Q * LD * 2 +
                                    2 * 2 * (size_t)TCA_Q * 4;
};
template <int HD> static size_t tc_kv_smem_bytes() { return tc_kv_smem<HD>::bytes; }

// Chunk c of a key tile's queries (those of each head of its kv head's group in turn, TCA_Q at a time from
// the tile's first position j0) into buffer set `buf` by cp.async: queries, dout rows, lse and D (zero
// past the sequence).
struct tca_chunk {
    int h, qb, nq;
};
__device__ __forceinline__ tca_chunk tca_chunk_of(int c, int per_head, int h0, int j0, int len) {
    tca_chunk k;
    k.h = h0 + c / per_head, k.qb = j0 + c % per_head * TCA_Q;
    k.nq = len - k.qb < TCA_Q ? len - k.qb : TCA_Q;
    return k;
}
template <int HD>
__device__ __forceinline__ void tca_load(bf16 *Qs, bf16 *Os, float *Ls, float *Dq, const tca_chunk &k, size_t first,
                                         int nh, const bf16 *q, const bf16 *dout, const float *lse, const float *D) {
    constexpr int LD = HD + 8, THREADS = TCA_WARPS * 32;
    size_t qstride = (size_t)nh * HD, at = (first + k.qb) * qstride + (size_t)k.h * HD;
    load_rows_async<HD, THREADS, LD>(Os, dout + at, qstride, TCA_Q, k.nq);
    load_rows_async<HD, THREADS, LD>(Qs, q + at, qstride, TCA_Q, k.nq);
    for (int i = threadIdx.x; i < TCA_Q; i += THREADS) {
        size_t row = (first + k.qb + i) * nh + k.h;
        if (i < k.nq) {
            __pipeline_memcpy_async(Ls + i, lse + row, 4);
            __pipeline_memcpy_async(Dq + i, D + row, 4);
        } else {
            Ls[i] = 0.0f, Dq[i] = 0.0f;
        }
    }
}

// out[r] (bf16 rows of HD, `stride` apart) += a warp's accumulators [16, HD], rows past `rows` left alone.
template <int HD>
__device__ __forceinline__ void add_rows(bf16 *out, size_t stride, const float (&acc)[HD / 8][4], int rows) {
    int g = threadIdx.x % 32 / 4, tq = threadIdx.x % 4;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        if (g + 8 * r >= rows) continue;
        bf16 *o = out + (size_t)(g + 8 * r) * stride + 2 * tq;
#pragma unroll
        for (int c = 0; c < HD / 8; c++) {
            bf16 *at = o + 8 * c;
            *(uint32_t *)at = pack_bf16(__bfloat162float(at[0]) + acc[c][2 * r], __bfloat162float(at[1]) + acc[c][2 * r + 1]);
        }
    }
}

template <int HD>
__global__ void __launch_bounds__(TCA_WARPS * 32)
    attention_kv_tc_kernel(bf16 *dk, bf16 *dv, const bf16 *dout, const float *lse, const float *D, const bf16 *q,
                           attn_input<bf16> in, const int4 *ktiles, int nh, int nkv, float scale) {
    constexpr int LD = HD + 8, THREADS = TCA_WARPS * 32;
    extern __shared__ __align__(128) unsigned char tc_smem[];
    bf16 *Ks = (bf16 *)tc_smem, *Vs = Ks + ATTN_KTILE * LD, *Qs = Vs + ATTN_KTILE * LD, *Os = Qs + 2 * TCA_Q * LD;
    float *Ls = (float *)(Os + 2 * TCA_Q * LD), *Dq = Ls + 2 * TCA_Q;
    int4 kt = ktiles[blockIdx.x];
    int kvh = blockIdx.y, group = nh / nkv, warp = threadIdx.x / 32, g = threadIdx.x % 32 / 4, tq = threadIdx.x % 4;
    size_t k0 = (size_t)kt.x, first = (size_t)kt.z;
    int nk = kt.y, len = kt.w, seq = in.tok_seq[k0], j0 = (int)(k0 - first); // the tile's first key position
    size_t off = attn_key(in, seq, j0) + (size_t)kvh * HD;                      // j0: a multiple of ATTN_KTILE
    int per_head = (len - j0 + TCA_Q - 1) / TCA_Q, n_chunks = group * per_head;
    tca_load<HD>(Qs, Os, Ls, Dq, tca_chunk_of(0, per_head, kvh * group, j0, len), first, nh, q, dout, lse, D);
    __pipeline_commit();
    load_rows<HD, THREADS, LD>(Ks, in.k + off, in.kv_stride, ATTN_KTILE, nk);
    load_rows<HD, THREADS, LD>(Vs, in.v + off, in.kv_stride, ATTN_KTILE, nk);
    // this lane's two keys (rows g, g + 8 of the warp's 16)
    int key[2] = {warp * 16 + g, warp * 16 + g + 8};
    float dka[HD / 8][4], dva[HD / 8][4];
    zero(dka), zero(dva);
    for (int c = 0; c < n_chunks; c++) {
        int buf = c % 2;
        if (c + 1 < n_chunks) // into the other buffers, which every warp was done with at the last barrier
            tca_load<HD>(Qs + (buf ^ 1) * TCA_Q * LD, Os + (buf ^ 1) * TCA_Q * LD, Ls + (buf ^ 1) * TCA_Q,
                         Dq + (buf ^ 1) * TCA_Q, tca_chunk_of(c + 1, per_head, kvh * group, j0, len), first, nh, q,
                         dout, lse, D);
        __pipeline_commit();
        __pipeline_wait_prior(1); // chunk c (the next may still be coming)
        __syncthreads();
        tca_chunk k = tca_chunk_of(c, per_head, kvh * group, j0, len);
        const bf16 *qs = Qs + buf * TCA_Q * LD, *os = Os + buf * TCA_Q * LD;
        const float *ls = Ls + buf * TCA_Q, *dq = Dq + buf * TCA_Q;
        // this warp's 16 keys against the chunk's queries: dP^T = V dout^T, S^T = K q^T
        float dpt[TCA_Q / 8][4], st[TCA_Q / 8][4];
        zero(dpt), zero(st);
        mma_abt_smem<HD, TCA_Q / 8, LD>(dpt, Vs + warp * 16 * LD, os);
        mma_abt_smem<HD, TCA_Q / 8, LD>(st, Ks + warp * 16 * LD, qs);
#pragma unroll
        for (int j = 0; j < TCA_Q / 8; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int i = 8 * j + 2 * tq + e % 2, kr = key[e / 2];
                bool live = kr < nk && i < k.nq && j0 + kr <= k.qb + i;
                float p = live ? expf(st[j][e] * scale - ls[i]) : 0.0f;
                st[j][e] = p;
                dpt[j][e] = p * (dpt[j][e] - dq[i]) * scale;
            }
        uint32_t pt[TCA_Q / 16][4], dst[TCA_Q / 16][4];
        pack_a<TCA_Q / 16>(pt, st);
        pack_a<TCA_Q / 16>(dst, dpt);
        mma_ab<TCA_Q / 16, HD / 8, LD>(dva, pt, os);  // dV += P^T dout
        mma_ab<TCA_Q / 16, HD / 8, LD>(dka, dst, qs); // dK += dS^T q
        __syncthreads(); // every warp is done with buffers `buf`: the chunk after next may come
    }
    add_rows<HD>(dk + off + (size_t)warp * 16 * in.kv_stride, in.kv_stride, dka, nk - warp * 16);
    add_rows<HD>(dv + off + (size_t)warp * 16 * in.kv_stride, in.kv_stride, dva, nk - warp * 16);
}

template <int HD> static size_t tc_q_smem_bytes() { return 4 * (size_t)ATTN_TILE * (HD + 8) * 2; }

template <int HD>
__global__ void __launch_bounds__(TC_WARPS * 32)
    attention_q_tc_kernel(bf16 *dq, const bf16 *dout, const float *lse, const float *D, const bf16 *q,
                          attn_input<bf16> in, int nh, int nkv, float scale) {
    constexpr int LD = HD + 8;
    extern __shared__ __align__(128) unsigned char tc_smem[];
    bf16 *Qs = (bf16 *)tc_smem, *Os = Qs + ATTN_TILE * LD, *Ks = Os + ATTN_TILE * LD, *Vs = Ks + TC_KEYS * LD;
    const tc_rows t = tile_rows<HD>(in, nh, nkv);
    int warp = threadIdx.x / 32, g = threadIdx.x % 32 / 4, tq = threadIdx.x % 4;
    size_t q0 = t.t0 * t.qstride + (size_t)t.h0 * HD; // the tile's first row of head h
    // Values and keys by cp.async behind the work, as tc_attend's: the values first (dP needs them first and
    // lets them go after it), the keys after dq += dS K.
    tc_load_async<HD, LD>(Vs, in.v, in, t, 0);
    __pipeline_commit();
    tc_load_async<HD, LD>(Ks, in.k, in, t, 0);
    __pipeline_commit();
    load_rows<HD, TC_WARPS * 32, LD>(Qs, q + q0, t.qstride, ATTN_TILE, t.rows);
    load_rows<HD, TC_WARPS * 32, LD>(Os, dout + q0, t.qstride, ATTN_TILE, t.rows);
    bool computes = warp * 16 < t.rows;
    // this lane's two rows: position (-1 past the rows: every key masked), lse and D
    int pos[2];
    float rl[2], rd[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        int row = warp * 16 + g + 8 * r;
        bool mine = row < t.rows;
        size_t stat = (t.t0 + row) * nh + t.h0;
        pos[r] = mine ? in.tok_pos[t.t0 + row] : -1;
        rl[r] = mine ? lse[stat] : 0.0f, rd[r] = mine ? D[stat] : 0.0f;
    }
    float dqa[HD / 8][4];
    zero(dqa);
    __syncthreads(); // Qs, Os
    for (int kb = 0; kb < t.n_keys; kb += TC_KEYS) {
        bool more = kb + TC_KEYS < t.n_keys;
        __pipeline_wait_prior(1); // this chunk's values (its keys may still be coming)
        __syncthreads();
        float dp[TC_KEYS / 8][4], sc[TC_KEYS / 8][4];
        if (computes) { // dP = dout V^T
            zero(dp);
            mma_abt_smem<HD, TC_KEYS / 8, LD>(dp, Os + warp * 16 * LD, Vs);
        }
        __syncthreads(); // every warp is done with the values: the next chunk's may come
        if (more) tc_load_async<HD, LD>(Vs, in.v, in, t, kb + TC_KEYS);
        __pipeline_commit();
        __pipeline_wait_prior(1); // this chunk's keys (the next values may still be coming)
        __syncthreads();
        if (computes) { // S = q K^T, dS, dq += dS K
            zero(sc);
            mma_abt_smem<HD, TC_KEYS / 8, LD>(sc, Qs + warp * 16 * LD, Ks);
#pragma unroll
            for (int j = 0; j < TC_KEYS / 8; j++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    float p = kb + 8 * j + 2 * tq + e % 2 <= pos[e / 2] ? expf(sc[j][e] * scale - rl[e / 2]) : 0.0f;
                    sc[j][e] = p * (dp[j][e] - rd[e / 2]) * scale;
                }
            uint32_t dsf[TC_KEYS / 16][4];
            pack_a<TC_KEYS / 16>(dsf, sc);
            mma_ab<TC_KEYS / 16, HD / 8, LD>(dqa, dsf, Ks);
        }
        __syncthreads(); // every warp is done with the keys: the next chunk's may come
        if (more) tc_load_async<HD, LD>(Ks, in.k, in, t, kb + TC_KEYS);
        __pipeline_commit();
    }
    if (computes) add_rows<HD>(dq + q0 + (size_t)warp * 16 * t.qstride, t.qstride, dqa, t.rows - warp * 16);
}

// false (and the error cleared) when the GPU cannot give the kernels their
// shared memory (an A100 has 164 KB a block): the caller runs the SIMT passes
template <int HD>
static bool launch_backward_tc(bf16 *dq, bf16 *dk, bf16 *dv, const bf16 *dout, const float *lse, const float *D,
                               const bf16 *q, const attn_input<bf16> &in, const int4 *ktiles, int n_ktiles, int nh,
                               int nkv, cudaStream_t s, cudaError_t *e) {
    static bool raised_kv, raised_q;
    size_t kvb = tc_kv_smem_bytes<HD>(), qb = tc_q_smem_bytes<HD>();
    if (raise_smem(attention_kv_tc_kernel<HD>, kvb, &raised_kv) != cudaSuccess ||
        raise_smem(attention_q_tc_kernel<HD>, qb, &raised_q) != cudaSuccess)
        return false;
    float scale = (float)(1.0 / sqrt(HD));
    attention_kv_tc_kernel<HD><<<dim3((unsigned)n_ktiles, (unsigned)nkv), TCA_WARPS * 32, kvb, s>>>(
        dk, dv, dout, lse, D, q, in, ktiles, nh, nkv, scale);
    if ((*e = cudaGetLastError()) == cudaSuccess)
        attention_q_tc_kernel<HD><<<dim3((unsigned)in.n_tiles, (unsigned)nh), TC_WARPS * 32, qb, s>>>(
            dq, dout, lse, D, q, in, nh, nkv, scale);
    if (*e == cudaSuccess) *e = cudaGetLastError();
    return true;
}

// ---- the entry points (attention_tc.cuh) -----------------------------------

size_t attention_tc_smem_bytes(int head_dim) { return head_dim == 64 ? tc_smem_bytes<64>() : tc_smem_bytes<128>(); }

size_t attention_tc_backward_smem_bytes(int head_dim) {
    return head_dim == 64 ? std::max(tc_kv_smem_bytes<64>(), tc_q_smem_bytes<64>())
                          : std::max(tc_kv_smem_bytes<128>(), tc_q_smem_bytes<128>());
}

cudaError_t attention_tc_forward(bf16 *out, float *lse, const bf16 *q, const attn_input<bf16> &in, int nh, int nkv,
                                 int head_dim, cudaStream_t s) {
    return head_dim == 64 ? launch_tc<64>(out, lse, q, in, nh, nkv, s) : launch_tc<128>(out, lse, q, in, nh, nkv, s);
}

bool attention_tc_backward(bf16 *dq, bf16 *dk, bf16 *dv, const bf16 *dout, const float *lse, const float *D,
                           const bf16 *q, const attn_input<bf16> &in, const int4 *ktiles, int n_ktiles, int nh, int nkv,
                           int head_dim, cudaStream_t s, cudaError_t *e) {
    return head_dim == 64 ? launch_backward_tc<64>(dq, dk, dv, dout, lse, D, q, in, ktiles, n_ktiles, nh, nkv, s, e)
                          : launch_backward_tc<128>(dq, dk, dv, dout, lse, D, q, in, ktiles, n_ktiles, nh, nkv, s, e);
}

}  // namespace pic_cuda
