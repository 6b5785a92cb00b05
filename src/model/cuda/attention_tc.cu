// Attention on tensor cores: the bf16 kernels attention.cu runs at head
// sizes 64 and 128 (the real models'), forward (a query tile's, and a
// decode step's query group) and backward, the same flash-style passes as
// its SIMT kernels. Keys come in chunks of 64 positions from multiples of
// 64, packed or from a KV cache's pages (attention.cu), by cp.async while
// a chunk is computed.
//
// Flash attention 2's scheme on mma.sync and ldmatrix (mma.cuh): the
// scores of a warp's 16 rows live in registers, the online softmax runs on
// them there, and P = exp(S - m), rounded to bf16, is the next product's A
// operand in the same registers; the output (or dK, dV, dq) accumulates in
// float in registers. Only the streamed rows go through shared memory.
#include <math.h>
#include <stdint.h>
#include <cuda_pipeline_primitives.h>

#include <algorithm>

#include "model/cuda/attention_tc.cuh"
#include "model/cuda/mma.cuh"

namespace pic_cuda {

// ---- tensor cores (bf16, head_dim HD = 64 or 128) ------------------------

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

// ---- a decode block's one segment, its columns over the four warps ----------
//
// A query group's 16 rows are one warp's mma slice, so in tc_attend warp 0
// computes and the others only load: at batch 1 a layer's attention is
// that one warp's chain of chunks. Here the four warps split each chunk's
// columns and get the same bits: S's 64 keys a quarter each (an element's
// k runs as in tc_attend), its row maxima combined through shared memory
// (a maximum in any order is the same number), P and its bf16 operand
// fragments shared there, each row's sum added in tc_attend's order (the
// lane's own elements key by key, then the quad) by every warp alike, and
// O's head columns a quarter each (an element's keys again in order).

enum { DC_KB = TC_KEYS / 8 / TC_WARPS }; // a warp's blocks of 8 keys: 2
static_assert(DC_KB == 2, "a warp's keys are one k block of P V: pack_a<1>");
// Past tc_fwd_smem<HD, 16>: each warp's row maxima, P by key block in the accumulator layout, P's bf16
// A operands by k block.
struct dc_smem {
    float mx[TC_WARPS][32][2];
    float p[TC_KEYS / 8][32][4];
    uint32_t pf[TC_KEYS / 16][32][4];
};
template <int HD> static size_t dc_smem_bytes() { return tc_fwd_smem<HD, 16>::bytes + sizeof(dc_smem); }

// One segment s0 of a query group's rows t (at most 16, the decode kernel's); each warp ends with its
// HD / 4 columns of o (oc: warp w's are columns 8 (w NC + c) + 2 tq, + 1), and m, l as in tc_attend.
template <int HD>
__device__ void tc_attend_cols(const tc_rows &t, int s0, const bf16 *q, const attn_input<bf16> &in, float scale,
                               unsigned char *smem, float (&oc)[HD / 32][4], float (&m)[2], float (&l)[2]) {
    typedef tc_fwd_smem<HD, 16> L;
    constexpr int LD = L::LD, NC = HD / 32;
    bf16 *Qs = (bf16 *)smem, *Ks = (bf16 *)(smem + L::kv_at), *Vs = Ks + TC_KEYS * LD;
    dc_smem &sh = *(dc_smem *)(smem + L::bytes);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tq = lane % 4;
    load_rows<HD, TC_WARPS * 32, LD>(Qs, q + t.t0 * t.qstride + (size_t)t.h0 * HD, t.heads ? HD : t.qstride, 16,
                                     t.rows);
    int pos[2];
#pragma unroll
    for (int r = 0; r < 2; r++) pos[r] = g + 8 * r < t.rows ? in.tok_pos[t.token(g + 8 * r)] : -1;
    uint32_t qf[HD / 16][4];
    __syncthreads(); // Qs
    load_a<HD, LD>(qf, Qs);
    int k0 = s0 * ATTN_SEG, k1 = (s0 + 1) * ATTN_SEG < t.n_keys ? (s0 + 1) * ATTN_SEG : t.n_keys;
    tc_load_async<HD, LD>(Ks, in.k, in, t, k0);
    __pipeline_commit();
    tc_load_async<HD, LD>(Vs, in.v, in, t, k0);
    __pipeline_commit();
#pragma unroll
    for (int r = 0; r < 2; r++) m[r] = -INFINITY, l[r] = 0.0f;
    zero(oc);
    for (int kb = k0; kb < k1; kb += TC_KEYS) {
        bool more = kb + TC_KEYS < k1;
        __pipeline_wait_prior(1); // this chunk's keys
        __syncthreads();
        float sc[DC_KB][4]; // S[16 rows, this warp's 16 keys]
        zero(sc);
        mma_abt<HD, DC_KB, LD>(sc, qf, Ks + warp * DC_KB * 8 * LD);
        float mt[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int j = 0; j < DC_KB; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int key = kb + 8 * (warp * DC_KB + j) + 2 * tq + e % 2;
                float v = key <= pos[e / 2] ? __fmul_rn(sc[j][e], scale) : -INFINITY;
                sc[j][e] = v;
                mt[e / 2] = fmaxf(mt[e / 2], v);
            }
#pragma unroll
        for (int r = 0; r < 2; r++) sh.mx[warp][lane][r] = quad_max(mt[r]);
        __syncthreads(); // the maxima; every warp is done with the keys: the next chunk's may come
        if (more) tc_load_async<HD, LD>(Ks, in.k, in, t, kb + TC_KEYS);
        __pipeline_commit();
        float corr[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            float row = sh.mx[0][lane][r];
#pragma unroll
            for (int w = 1; w < TC_WARPS; w++) row = fmaxf(row, sh.mx[w][lane][r]);
            float m_new = fmaxf(m[r], row);
            corr[r] = m_new == -INFINITY ? 1.0f : expf(__fsub_rn(m[r], m_new));
            m[r] = m_new;
        }
#pragma unroll
        for (int j = 0; j < DC_KB; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float p = sc[j][e] == -INFINITY ? 0.0f : expf(__fsub_rn(sc[j][e], m[e / 2]));
                sc[j][e] = p;
                sh.p[warp * DC_KB + j][lane][e] = p;
            }
        uint32_t mine[1][4];
        pack_a<1>(mine, sc);
#pragma unroll
        for (int i = 0; i < 4; i++) sh.pf[warp][lane][i] = mine[0][i];
        __pipeline_wait_prior(1); // this chunk's values (the next keys may still be coming)
        __syncthreads();          // P, its operands and the values
        float ps[2] = {0, 0};     // the row sums in tc_attend's order: key block by key block, e in order
#pragma unroll
        for (int j = 0; j < TC_KEYS / 8; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) ps[e / 2] = __fadd_rn(ps[e / 2], sh.p[j][lane][e]);
#pragma unroll
        for (int r = 0; r < 2; r++) l[r] = __fadd_rn(__fmul_rn(l[r], corr[r]), quad_sum(ps[r]));
        uint32_t pf[TC_KEYS / 16][4];
#pragma unroll
        for (int kk = 0; kk < TC_KEYS / 16; kk++)
#pragma unroll
            for (int i = 0; i < 4; i++) pf[kk][i] = sh.pf[kk][lane][i];
#pragma unroll
        for (int n = 0; n < NC; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) oc[n][e] = __fmul_rn(oc[n][e], corr[e / 2]);
        mma_ab<TC_KEYS / 16, NC, LD>(oc, pf, Vs + warp * NC * 8);
        __syncthreads(); // every warp is done with the values, P and the maxima: the next chunk's may come
        if (more) tc_load_async<HD, LD>(Vs, in.v, in, t, kb + TC_KEYS);
        __pipeline_commit();
    }
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

// The decode kernel (grid: the work list's capacity x kv heads, a block an
// item; the blocks past this step's items return): a one-token tile's query
// group, all its segments or one of them. A row whose context is one
// segment, or that ran all of them, is finished here; one segment of several
// leaves its partial sums for attention_merge_kernel. Not a loop over items
// per block: the compiler kept the loop's state beside the accumulators (in
// the wmma kernel before, 255 registers at head size 128 against 168).
// COLS: every item one segment (the split mode's work list), each run by
// tc_attend_cols; else tc_attend's warp 0 (an instance a path, so that
// neither holds the other's registers).
template <int HD, bool COLS>
__global__ void __launch_bounds__(TC_WARPS * 32) attention_decode_kernel(bf16 *out, float *lse, const bf16 *q,
                                                                         attn_input<bf16> in, int nh, int nkv,
                                                                         float scale) {
    pdl_begin();
    extern __shared__ __align__(128) unsigned char tc_smem[];
    int G = nh / nkv, first = in.n_tiles - in.n_single, n_work = in.work[0].x;
    if ((int)blockIdx.x >= n_work) return;
    int2 job = in.work[1 + blockIdx.x];
    tc_rows t;
    t.t0 = (size_t)in.tiles[first + job.x].x, t.qstride = (size_t)nh * HD, t.rows = G, t.heads = true;
    t.h0 = blockIdx.y * G, t.seq = in.tok_seq[t.t0], t.kv = (size_t)blockIdx.y * HD;
    t.n_keys = in.tok_pos[t.t0] + 1;
    int n_seg = attention_segments(t.n_keys), s0 = job.y < 0 ? 0 : job.y, s1 = job.y < 0 ? n_seg : job.y + 1;
    if constexpr (COLS) { // one segment: the four warps split its columns, the same bits
        constexpr int NC = HD / 32;
        float oc[NC][4], m[2], l[2];
        tc_attend_cols<HD>(t, s0, q, in, scale, tc_smem, oc, m, l);
        int warp = threadIdx.x / 32, g = threadIdx.x % 32 / 4, tq = threadIdx.x % 4;
#pragma unroll
        for (int r = 0; r < 2; r++) {
            int row = g + 8 * r;
            if (row >= t.rows) continue;
            size_t n = t.token(row);
            int h = t.head(row);
            if (n_seg == 1) { // finished here, as tc_finish does
                float inv = 1.0f / l[r];
                bf16 *o = out + n * t.qstride + (size_t)h * HD + 2 * tq;
#pragma unroll
                for (int c = 0; c < NC; c++)
                    *(uint32_t *)(o + 8 * (warp * NC + c)) =
                        pack_bf16(__fmul_rn(oc[c][2 * r], inv), __fmul_rn(oc[c][2 * r + 1], inv));
                if (lse && !tq && !warp) lse[n * nh + h] = __fadd_rn(m[r], logf(l[r]));
                continue;
            }
            float *p = in.part + (((size_t)job.x * in.seg_cap + job.y) * nh + h) * (HD + 2);
#pragma unroll
            for (int c = 0; c < NC; c++)
                *(float2 *)(p + 8 * (warp * NC + c) + 2 * tq) = make_float2(oc[c][2 * r], oc[c][2 * r + 1]);
            if (!tq && !warp) p[HD] = m[r], p[HD + 1] = l[r];
        }
        return;
    }
    tc_sums<HD> sum;
    tc_attend<HD, 16>(t, s0, s1, q, in, scale, tc_smem, sum);
    if (threadIdx.x >= 32) return; // the rows are warp 0's
    if (job.y < 0 || n_seg == 1) {
        tc_finish<HD>(out, lse, t, sum, nh);
        return;
    }
    int g = threadIdx.x / 4, tq = threadIdx.x % 4;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        int row = g + 8 * r;
        if (row >= t.rows) continue;
        float *p = in.part + (((size_t)job.x * in.seg_cap + job.y) * nh + t.head(row)) * (HD + 2);
#pragma unroll
        for (int c = 0; c < HD / 8; c++) *(float2 *)(p + 8 * c + 2 * tq) = make_float2(sum.o[c][2 * r], sum.o[c][2 * r + 1]);
        if (!tq) p[HD] = sum.m[r], p[HD + 1] = sum.l[r];
    }
}

// A split row's segments merged in order (grid: one-token tiles x groups of
// 8 query heads, a warp per head, each lane a column of every 32), finished
// as tc_finish does. Rows of one segment were finished by the decode kernel.
template <int HD>
__global__ void __launch_bounds__(256) attention_merge_kernel(bf16 *out, float *lse, attn_input<bf16> in, int nh) {
    pdl_begin();
    int i = blockIdx.x, h = blockIdx.y * 8 + threadIdx.x / 32, lane = threadIdx.x % 32;
    size_t n = (size_t)in.tiles[in.n_tiles - in.n_single + i].x;
    int n_seg = attention_segments(in.tok_pos[n] + 1);
    if (h >= nh || n_seg < 2) return;
    size_t seg = (size_t)nh * (HD + 2);
    const float *p = in.part + ((size_t)i * in.seg_cap * nh + h) * (HD + 2);
    float m = p[HD], l = p[HD + 1], o[HD / 32];
#pragma unroll
    for (int j = 0; j < HD / 32; j++) o[j] = p[lane + 32 * j];
    for (int sg = 1; sg < n_seg; sg++) {
        const float *ps = p + sg * seg;
        float nm, a, b;
        merge_scales(m, ps[HD], &nm, &a, &b);
#pragma unroll
        for (int j = 0; j < HD / 32; j++) o[j] = merged(o[j], a, ps[lane + 32 * j], b);
        l = merged(l, a, ps[HD + 1], b);
        m = nm;
    }
    float inv = 1.0f / l;
    bf16 *dst = out + n * nh * HD + (size_t)h * HD;
#pragma unroll
    for (int j = 0; j < HD / 32; j++) dst[lane + 32 * j] = __float2bfloat16_rn(__fmul_rn(o[j], inv));
    if (lse && !lane) lse[n * nh + h] = __fadd_rn(m, logf(l));
}


template <int HD>
static cudaError_t launch_tc(bf16 *out, float *lse, const bf16 *q, const attn_input<bf16> &in, int nh, int nkv,
                             cudaStream_t s) {
    size_t bytes = tc_smem_bytes<HD>(), decode_bytes = dc_smem_bytes<HD>();
    float scale = (float)(1.0 / sqrt(HD));
    static bool raised, raised_decode, raised_cols;
    int singles = in.work ? in.n_single : 0, tiles = in.n_tiles - singles;
    if (tiles) {
        cudaError_t e = raise_smem(attention_tc_kernel<HD>, bytes, &raised);
        if (e != cudaSuccess) return e;
        e = launch_pdl(attention_tc_kernel<HD>, dim3((unsigned)tiles, (unsigned)nh), TC_WARPS * 32, bytes, s, out, lse,
                       q, in, nh, nkv, scale);
        if (e != cudaSuccess) return e;
    }
    if (singles) {
        // the split mode's items are one segment each: the four warps share each (tc_attend_cols)
        bool cols = in.part != nullptr;
        cudaError_t e = cols ? raise_smem(attention_decode_kernel<HD, true>, decode_bytes, &raised_cols)
                             : raise_smem(attention_decode_kernel<HD, false>, decode_bytes, &raised_decode);
        if (e != cudaSuccess) return e;
        // the grid fixed for a batch and a cache, as a captured graph needs
        dim3 grid((unsigned)in.work_cap, (unsigned)nkv);
        e = cols ? launch_pdl(attention_decode_kernel<HD, true>, grid, TC_WARPS * 32, decode_bytes, s, out, lse, q, in,
                              nh, nkv, scale)
                 : launch_pdl(attention_decode_kernel<HD, false>, grid, TC_WARPS * 32, decode_bytes, s, out, lse, q,
                              in, nh, nkv, scale);
        if (e != cudaSuccess) return e;
        if (in.part && in.seg_cap > 1) // a cache of one segment a row never splits: no launch a layer for nothing
            return launch_pdl(attention_merge_kernel<HD>, dim3((unsigned)singles, (unsigned)(nh + 7) / 8), 256, 0, s,
                              out, lse, in, nh);
    }
    return cudaSuccess;
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
