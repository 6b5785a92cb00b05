// The pieces the tensor-core attention kernels share (bf16, head sizes 64
// and 128): attention_tc.cu's tile kernel and backward, attention_decode.cu's
// decode kernels. A warp's products of 16 rows on mma.sync and ldmatrix
// (mma.cuh), the rows a block computes, keys and values loaded by cp.async,
// and the forward's online softmax over chunks of keys (tc_attend), with
// the merge of a row's segments that every path runs in the same order.
//
// Flash attention 2's scheme: the scores of a warp's 16 rows live in
// registers, the online softmax runs on them there, and P = exp(S - m),
// rounded to bf16, is the next product's A operand in the same registers;
// the output (or dK, dV, dq) accumulates in float in registers. Only the
// streamed rows go through shared memory.
#ifndef PIC_MODEL_CUDA_FLASH_TC_CUH
#define PIC_MODEL_CUDA_FLASH_TC_CUH

#include <math.h>
#include <stdint.h>
#include <cuda_pipeline_primitives.h>

#include "model/cuda/attention_tc.cuh"
#include "model/cuda/mma.cuh"

namespace pic_cuda {

// ---- sizes, and rows into shared memory -----------------------------------

// A warp owns 16 query rows (or keys, in the backward's pass A).
enum { TC_WARPS = 4, TC_KEYS = 64 };
static_assert(PIC_KV_PAGE % TC_KEYS == 0, "a chunk of keys must not straddle two pages");
static_assert(ATTN_SEG % TC_KEYS == 0, "a segment must be whole chunks of keys");

// rows x HD bf16 from src (row stride `stride` elements) into dst (rows LD apart), zero past `valid` rows;
// 16-byte pieces.
template <int HD, int THREADS = TC_WARPS * 32, int LD = HD>
__device__ void load_rows(bf16 *dst, const bf16 *src, size_t stride, int rows, int valid) {
    for (int i = threadIdx.x; i < rows * HD / 8; i += THREADS) {
        int r = i / (HD / 8), c = i % (HD / 8) * 8;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (r < valid) v = *(const uint4 *)(src + (size_t)r * stride + c);
        *(uint4 *)(dst + r * LD + c) = v;
    }
}

// ---- a warp's products of 16 rows (mma.cuh) ---------------------------------
//
// Operands in shared memory are rows of bf16 LD elements apart, LD = HD + 8
// (or the number of columns + 8): ldmatrix's eight 16-byte rows then fall
// in different banks. Accumulators are [NT][4]: 16 rows by 8 NT columns in
// mma's layout. Every element's k runs in increasing order, 16 at a time.

// Lane l gives ldmatrix row l % 8 of matrix l / 8. For an A (16 rows of k)
// the matrices are (rows 0-7 | 8-15) x (k 0-7 | 8-15), row-fastest; the
// same offsets read a B stored as rows k of columns n by ldmatrix.trans.
__device__ __forceinline__ int a_row() { return threadIdx.x % 8 + 8 * (threadIdx.x / 8 % 2); }
__device__ __forceinline__ int a_col() { return 8 * (threadIdx.x % 32 / 16); }
// A B stored transposed (rows n of k: keys as the B of Q K^T), two 8-column tiles at a time: (n 0-7 | 8-15)
// x (k 0-7 | 8-15), k-fastest, so that registers 0, 1 are the first tile's b0, b1 and 2, 3 the second's.
__device__ __forceinline__ int bt_row() { return threadIdx.x % 8 + 8 * (threadIdx.x % 32 / 16); }
__device__ __forceinline__ int bt_col() { return 8 * (threadIdx.x / 8 % 2); }

// A's 16 rows of K from a, as the K / 16 operands of its products.
template <int K, int LD> __device__ __forceinline__ void load_a(uint32_t (&af)[K / 16][4], const bf16 *a) {
#pragma unroll
    for (int kk = 0; kk < K / 16; kk++) ldmatrix_x4(af[kk], a + a_row() * LD + kk * 16 + a_col());
}

// acc += A B^T over one block of 16 k: af that block of A, b B^T's 8 NT rows from that block's first column.
template <int NT, int LD>
__device__ __forceinline__ void mma_abt_k16(float (&acc)[NT][4], const uint32_t (&af)[4], const bf16 *b) {
#pragma unroll
    for (int jp = 0; jp < NT / 2; jp++) {
        uint32_t r[4];
        ldmatrix_x4(r, b + (jp * 16 + bt_row()) * LD + bt_col());
        mma_bf16_16816(acc[2 * jp], af, r[0], r[1]);
        mma_bf16_16816(acc[2 * jp + 1], af, r[2], r[3]);
    }
}

// acc[16, 8 NT] += A B^T, A's K / 16 operands held in registers, B^T's 8 NT rows of K at b.
template <int K, int NT, int LD>
__device__ __forceinline__ void mma_abt(float (&acc)[NT][4], const uint32_t (&af)[K / 16][4], const bf16 *b) {
#pragma unroll
    for (int kk = 0; kk < K / 16; kk++) mma_abt_k16<NT, LD>(acc, af[kk], b + kk * 16);
}

// The same, A's 16 rows of K read from shared memory (a) one block of k at a time: registers for the
// accumulators instead.
template <int K, int NT, int LD>
__device__ __forceinline__ void mma_abt_smem(float (&acc)[NT][4], const bf16 *a, const bf16 *b) {
#pragma unroll
    for (int kk = 0; kk < K / 16; kk++) {
        uint32_t af[4];
        ldmatrix_x4(af, a + a_row() * LD + kk * 16 + a_col());
        mma_abt_k16<NT, LD>(acc, af, b + kk * 16);
    }
}

// acc[16, 8 NT] += A B: A's KB operands (16 KB k) in registers, B's 16 KB rows of 8 NT columns at b.
template <int KB, int NT, int LD>
__device__ __forceinline__ void mma_ab(float (&acc)[NT][4], const uint32_t (&af)[KB][4], const bf16 *b) {
#pragma unroll
    for (int kk = 0; kk < KB; kk++)
#pragma unroll
        for (int np = 0; np < NT / 2; np++) {
            uint32_t r[4];
            ldmatrix_x4_trans(r, b + (kk * 16 + a_row()) * LD + np * 16 + a_col());
            mma_bf16_16816(acc[2 * np], af[kk], r[0], r[1]);
            mma_bf16_16816(acc[2 * np + 1], af[kk], r[2], r[3]);
        }
}

// Accumulators [16, 16 KB], rounded to bf16, as KB A operands: two 16 x 8
// accumulators side by side hold A's elements in A's layout.
template <int KB> __device__ __forceinline__ void pack_a(uint32_t (&af)[KB][4], const float (&acc)[2 * KB][4]) {
#pragma unroll
    for (int kk = 0; kk < KB; kk++) {
        af[kk][0] = pack_bf16(acc[2 * kk][0], acc[2 * kk][1]);
        af[kk][1] = pack_bf16(acc[2 * kk][2], acc[2 * kk][3]);
        af[kk][2] = pack_bf16(acc[2 * kk + 1][0], acc[2 * kk + 1][1]);
        af[kk][3] = pack_bf16(acc[2 * kk + 1][2], acc[2 * kk + 1][3]);
    }
}

// A row's maximum and sum over the four lanes that hold it (4 g .. 4 g + 3), combined in one fixed order
// (lane ^ 1, then lane ^ 2), so that all four get the same bits.
__device__ __forceinline__ float quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
    v = __fadd_rn(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return __fadd_rn(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

template <int NT> __device__ __forceinline__ void zero(float (&acc)[NT][4]) {
#pragma unroll
    for (int n = 0; n < NT; n++) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
}

// The rows one block computes: queries that share a sequence and a kv
// head. A tile's tokens for one query head (the tile kernel: scoring,
// prefill, training), or one token's query heads of one kv head's group
// (decode: the group's heads read the keys once, as the rows of warp 0's
// slice). Row r is token t0 + r of head h0, or token t0 of head h0 + r.
struct tc_rows {
    size_t t0, qstride, kv; // kv: the kv head's offset in a key row
    int rows, h0, seq, n_keys;
    bool heads;
    __device__ size_t token(int r) const { return t0 + (heads ? 0 : r); }
    __device__ int head(int r) const { return h0 + (heads ? r : 0); }
};

// A forward query tile's rows (grid: tiles x query heads): its tokens, its
// head, and its sequence and kv head (whose keys and values it reads).
// Blocks take the tiles last to first: a sequence's tiles are listed from
// its start, and a tile's work grows with its position (causal), so the
// longest start first and the grid's last wave is of short ones.
template <int HD> __device__ __forceinline__ tc_rows tile_rows(const attn_input<bf16> &in, int nh, int nkv) {
    int2 tile = in.tiles[gridDim.x - 1 - blockIdx.x];
    tc_rows t;
    t.t0 = (size_t)tile.x, t.qstride = (size_t)nh * HD, t.rows = tile.y, t.h0 = blockIdx.y, t.heads = false;
    t.seq = in.tok_seq[t.t0], t.kv = (size_t)(t.h0 / (nh / nkv)) * HD;
    t.n_keys = in.tok_pos[t.t0 + t.rows - 1] + 1; // positions run consecutively within a tile
    return t;
}

// The TC_KEYS keys or values (src: in.k or in.v) from position kb (a multiple of TC_KEYS, which divides
// PIC_KV_PAGE: one page, rows kv_stride apart) into dst without waiting for them: cp.async, 16 bytes a
// piece, the rows past the sequence's keys zeroed by plain stores. The caller commits the group, waits for it
// (__pipeline_wait_prior) and then for the block, before it reads dst.
template <int HD, int THREADS = TC_WARPS * 32, int LD = HD>
__device__ __forceinline__ void load_rows_async(bf16 *dst, const bf16 *src, size_t stride, int rows, int valid) {
    for (int i = threadIdx.x; i < rows * HD / 8; i += THREADS) {
        int r = i / (HD / 8), c = i % (HD / 8) * 8;
        if (r < valid)
            __pipeline_memcpy_async(dst + r * LD + c, src + (size_t)r * stride + c, 16);
        else
            *(uint4 *)(dst + r * LD + c) = make_uint4(0, 0, 0, 0);
    }
}
template <int HD, int LD = HD>
__device__ __forceinline__ void tc_load_async(bf16 *dst, const bf16 *src, const attn_input<bf16> &in,
                                              const tc_rows &t, int kb) {
    int valid = t.n_keys - kb < TC_KEYS ? t.n_keys - kb : TC_KEYS;
    load_rows_async<HD, TC_WARPS * 32, LD>(dst, src + attn_key(in, t.seq, kb) + t.kv, in.kv_stride, TC_KEYS, valid);
}

// Merging sums (tm, tl, t.) with a segment's (sm, sl, s.): both rescaled to
// the larger maximum. Every merge, in a block or in attention_merge_kernel,
// is these operations in this order (explicitly rounded, never contracted),
// which is why a row's bits do not depend on where its segments ran.
__device__ __forceinline__ void merge_scales(float tm, float sm, float *m, float *a, float *b) {
    *m = fmaxf(tm, sm);
    *a = tm == -INFINITY ? 0.0f : expf(__fsub_rn(tm, *m));
    *b = sm == -INFINITY ? 0.0f : expf(__fsub_rn(sm, *m));
}
__device__ __forceinline__ float merged(float t, float a, float s, float b) {
    return __fadd_rn(__fmul_rn(t, a), __fmul_rn(s, b));
}

// The forward's shared memory: the rows' queries (read into registers
// once), one chunk of keys and one of values, rows LD = HD + 8 elements
// apart (ldmatrix's 8 rows then fall in different banks), and the merged
// sums of a row's earlier segments in float (rows OLD = HD + 8 floats
// apart), over the queries' bytes: the queries are in registers before the
// first segment ends.
template <int HD, int ROWS> struct tc_fwd_smem {
    enum { LD = HD + 8, OLD = HD + 8 };
    static constexpr size_t q_bytes = (size_t)ROWS * LD * 2, of_bytes = (size_t)ROWS * OLD * 4,
                            kv_at = q_bytes > of_bytes ? q_bytes : of_bytes,
                            bytes = kv_at + 2 * (size_t)TC_KEYS * LD * 2;
};

// ROWS query rows: a tile's 64, or a query group's 16 (the decode kernel).
template <int HD, int ROWS = ATTN_TILE> static size_t tc_smem_bytes() { return tc_fwd_smem<HD, ROWS>::bytes; }

// A warp's sums for its 16 rows in mma's accumulator layout (mma.cuh): lane
// 4 g + t holds rows g and g + 8 (r = 0, 1), o[n] their columns 8 n + 2 t
// and 8 n + 2 t + 1 (elements 2 r and 2 r + 1); m and l as the quad's four
// lanes all hold them.
template <int HD> struct tc_sums {
    float o[HD / 8][4], m[2], l[2];
};

// The sums of a row's earlier segments (pm, pl, and the outputs in shared
// memory from of, this lane's first element, rows OLD apart) merged with
// the next segment's (m, l, o): into the earlier ones' (INTO_O false), or,
// for the last segment, into m, l and o.
template <int HD, int OLD, bool INTO_O>
__device__ __forceinline__ void tc_merge(float *of, float (&pm)[2], float (&pl)[2], float (&o)[HD / 8][4],
                                         float (&m)[2], float (&l)[2]) {
    float a[2], b[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float nm, nl;
        merge_scales(pm[r], m[r], &nm, &a[r], &b[r]);
        nl = merged(pl[r], a[r], l[r], b[r]);
        if (INTO_O)
            m[r] = nm, l[r] = nl;
        else
            pm[r] = nm, pl[r] = nl;
    }
#pragma unroll
    for (int n = 0; n < HD / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            float *at = of + 8 * (e / 2) * OLD + 8 * n + e % 2;
            float v = merged(*at, a[e / 2], o[n][e], b[e / 2]);
            if (INTO_O)
                o[n][e] = v;
            else
                *at = v;
        }
}

// Segments [s0, s1) of rows t (ATTN_SEG positions each, from fresh sums,
// then merged in order) into each lane's sums. Block-wide: every thread
// calls it; the warps holding rows compute, the others help load the keys.
// ROWS: the rows the shared memory holds, 64 for a tile (every warp's 16)
// or 16 for a query group (warp 0's), which leaves room for more blocks.
//
// A chunk of 64 keys: S = Q K^T into registers (mma, the queries' fragments
// held from the start, the keys' by ldmatrix), the online softmax on the
// registers (a row's four lanes combine their maxima and sums by shuffles,
// in a fixed order), P rounded to bf16 and packed in place into the A
// operand of O = O corr + P V (the values by ldmatrix.trans). Only the
// keys and values pass through shared memory. A row's operations are the
// same whichever of the warp's rows it is and whatever the other rows
// hold, so a decode step's query group gets a tile's bits.
template <int HD, int ROWS>
__device__ void tc_attend(const tc_rows &t, int s0, int s1, const bf16 *q, const attn_input<bf16> &in, float scale,
                          unsigned char *smem, tc_sums<HD> &sum) {
    typedef tc_fwd_smem<HD, ROWS> L;
    constexpr int LD = L::LD, OLD = L::OLD;
    bf16 *Qs = (bf16 *)smem, *Ks = (bf16 *)(smem + L::kv_at), *Vs = Ks + TC_KEYS * LD;
    float *Of = (float *)smem;
    int warp = threadIdx.x / 32, g = threadIdx.x % 32 / 4, tq = threadIdx.x % 4;
    bool computes = warp * 16 < t.rows && warp * 16 < ROWS;
    load_rows<HD, TC_WARPS * 32, LD>(Qs, q + t.t0 * t.qstride + (size_t)t.h0 * HD, t.heads ? HD : t.qstride, ROWS,
                                     t.rows);
    // this lane's two rows (-1: past the rows, every key masked)
    int pos[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        int row = warp * 16 + g + 8 * r;
        pos[r] = computes && row < t.rows ? in.tok_pos[t.token(row)] : -1;
    }
    uint32_t qf[HD / 16][4];
    __syncthreads(); // Qs
    if (computes) load_a<HD, LD>(qf, Qs + warp * 16 * LD);
    // Keys and values arrive while the block computes: a chunk's keys are asked for as soon as every warp
    // is done with the last chunk's (after S), its values as soon as every warp is done with the last
    // values (after P V), each a group of cp.async copies; waiting for all groups but the newest is waiting
    // for the one about to be read.
    int kend = s1 * ATTN_SEG < t.n_keys ? s1 * ATTN_SEG : t.n_keys;
    tc_load_async<HD, LD>(Ks, in.k, in, t, s0 * ATTN_SEG);
    __pipeline_commit();
    tc_load_async<HD, LD>(Vs, in.v, in, t, s0 * ATTN_SEG);
    __pipeline_commit();
    // sum holds the segment's sums as they grow; the segments before it, merged, are pm, pl and Of
    float(&o)[HD / 8][4] = sum.o, (&m)[2] = sum.m, (&l)[2] = sum.l, pm[2], pl[2];
    float *of = Of + (warp * 16 + g) * OLD + 2 * tq; // this lane's first element in Of
    for (int sg = s0; sg < s1; sg++) {
        int k1 = (sg + 1) * ATTN_SEG < t.n_keys ? (sg + 1) * ATTN_SEG : t.n_keys;
#pragma unroll
        for (int r = 0; r < 2; r++) m[r] = -INFINITY, l[r] = 0.0f;
        zero(o);
        for (int kb = sg * ATTN_SEG; kb < k1; kb += TC_KEYS) {
            bool more = kb + TC_KEYS < kend;
            __pipeline_wait_prior(1); // this chunk's keys (its values may still be coming)
            __syncthreads();
            float sc[TC_KEYS / 8][4];
            if (computes) { // S[16 rows, 64 keys] = Q K^T
                zero(sc);
                mma_abt<HD, TC_KEYS / 8, LD>(sc, qf, Ks);
            }
            __syncthreads(); // every warp is done with the keys: the next chunk's may come
            if (more) tc_load_async<HD, LD>(Ks, in.k, in, t, kb + TC_KEYS);
            __pipeline_commit();
            uint32_t pf[TC_KEYS / 16][4];
            float corr[2];
            if (computes) {
                // the online softmax of the lane's 16 columns of each of its two rows, then the quad's
                float mt[2] = {-INFINITY, -INFINITY};
#pragma unroll
                for (int j = 0; j < TC_KEYS / 8; j++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        float v = kb + 8 * j + 2 * tq + e % 2 <= pos[e / 2] ? __fmul_rn(sc[j][e], scale) : -INFINITY;
                        sc[j][e] = v;
                        mt[e / 2] = fmaxf(mt[e / 2], v);
                    }
#pragma unroll
                for (int r = 0; r < 2; r++) {
                    float m_new = fmaxf(m[r], quad_max(mt[r]));
                    corr[r] = m_new == -INFINITY ? 1.0f : expf(__fsub_rn(m[r], m_new));
                    m[r] = m_new;
                }
                float ps[2] = {0, 0};
#pragma unroll
                for (int j = 0; j < TC_KEYS / 8; j++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        float p = sc[j][e] == -INFINITY ? 0.0f : expf(__fsub_rn(sc[j][e], m[e / 2]));
                        sc[j][e] = p;
                        ps[e / 2] = __fadd_rn(ps[e / 2], p);
                    }
#pragma unroll
                for (int r = 0; r < 2; r++) l[r] = __fadd_rn(__fmul_rn(l[r], corr[r]), quad_sum(ps[r]));
                pack_a<TC_KEYS / 16>(pf, sc);
            }
            __pipeline_wait_prior(1); // this chunk's values (the next keys may still be coming)
            __syncthreads();
            if (computes) {
                // O = O corr + P V, each element's keys in increasing order
#pragma unroll
                for (int n = 0; n < HD / 8; n++)
#pragma unroll
                    for (int e = 0; e < 4; e++) o[n][e] = __fmul_rn(o[n][e], corr[e / 2]);
                mma_ab<TC_KEYS / 16, HD / 8, LD>(o, pf, Vs);
            }
            __syncthreads(); // every warp is done with the values: the next chunk's may come
            if (more) tc_load_async<HD, LD>(Vs, in.v, in, t, kb + TC_KEYS);
            __pipeline_commit();
        }
        if (!computes || sg == s1 - 1) continue;
        // This segment into the earlier ones' sums: the first as it is, a later one merged (each element
        // merged(earlier, a, this, b) with its row's scales). The last segment merges after the loop, into
        // sum.
        if (sg == s0) {
#pragma unroll
            for (int r = 0; r < 2; r++) pm[r] = m[r], pl[r] = l[r];
#pragma unroll
            for (int n = 0; n < HD / 8; n++)
#pragma unroll
                for (int e = 0; e < 4; e++) of[8 * (e / 2) * OLD + 8 * n + e % 2] = o[n][e];
            continue;
        }
        tc_merge<HD, OLD, false>(of, pm, pl, o, m, l);
    }
    if (computes && s1 - s0 > 1) tc_merge<HD, OLD, true>(of, pm, pl, o, m, l);
}

// out and lse of a warp's rows from their merged sums: this lane's columns of its two rows, the rows past
// t.rows left alone.
template <int HD>
__device__ __forceinline__ void tc_finish(bf16 *out, float *lse, const tc_rows &t, const tc_sums<HD> &sum, int nh) {
    int warp = threadIdx.x / 32, g = threadIdx.x % 32 / 4, tq = threadIdx.x % 4;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        int row = warp * 16 + g + 8 * r;
        if (row >= t.rows) continue;
        float inv = 1.0f / sum.l[r];
        size_t n = t.token(row);
        int h = t.head(row);
        bf16 *o = out + n * t.qstride + (size_t)h * HD + 2 * tq;
#pragma unroll
        for (int c = 0; c < HD / 8; c++)
            *(uint32_t *)(o + 8 * c) = pack_bf16(__fmul_rn(sum.o[c][2 * r], inv), __fmul_rn(sum.o[c][2 * r + 1], inv));
        if (lse && !tq) lse[n * nh + h] = __fadd_rn(sum.m[r], logf(sum.l[r]));
    }
}

}  // namespace pic_cuda

#endif
