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
// float in registers (wmma fragments) and rescaled per row; the next keys
// and values arrive by cp.async while a chunk is computed.
//
// Keys come packed (the batch's own) or from a KV cache's pages. Every
// kernel reads them in chunks of 32 or 64 positions starting at multiples
// of the chunk, which divide PIC_KV_PAGE: a chunk lies in one page, so its
// first row is found once (attn_key) and the rest are kv_stride apart. The
// chunks, and so every sum, are the same paged or packed: the same bits.
#include <math.h>
#include <stdint.h>
#include <cuda_pipeline_primitives.h>
#include <mma.h>

#include <algorithm>
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
static_assert(PIC_KV_PAGE % KEYS == 0, "a chunk of keys must not straddle two pages");

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
    attention_kernel<T, DMAX><<<grid, THREADS, bytes, s>>>(out, lse, q, in, nh, nkv, hd, (float)(1.0 / sqrt(hd)));
    return cudaGetLastError();
}

// ---- tensor cores (bf16, head_dim HD = 64 or 128) ------------------------

namespace wmma = nvcuda::wmma;
// A warp owns 16 of the tile's 64 query rows. The float tiles' rows are 4
// floats longer than their data (and a row's two lanes take alternate
// columns) so that the lanes of a warp fall in different banks.
enum { TC_WARPS = 4, TC_KEYS = 64, SLD = TC_KEYS + 4 };
static_assert(PIC_KV_PAGE % TC_KEYS == 0, "a chunk of keys must not straddle two pages");
static_assert(ATTN_SEG % TC_KEYS == 0, "a segment must be whole chunks of keys");

// ROWS query rows: a tile's 64, or a query group's 16 (the decode kernel).
template <int HD, int ROWS = ATTN_TILE> static size_t tc_smem_bytes() {
    return (size_t)ROWS * HD * 2 + 2 * (size_t)TC_KEYS * HD * 2 + (size_t)ROWS * SLD * 4 + (size_t)ROWS * TC_KEYS * 2 +
           (size_t)ROWS * (HD + 4) * 4 + 2 * (size_t)ROWS * 4;
}

// rows x HD bf16 from src (row stride `stride` elements) into dst, zero past `valid` rows; 16-byte pieces.
template <int HD, int THREADS = TC_WARPS * 32>
__device__ void load_rows(bf16 *dst, const bf16 *src, size_t stride, int rows, int valid) {
    for (int i = threadIdx.x; i < rows * HD / 8; i += THREADS) {
        int r = i / (HD / 8), c = i % (HD / 8) * 8;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (r < valid) v = *(const uint4 *)(src + (size_t)r * stride + c);
        *(uint4 *)(dst + r * HD + c) = v;
    }
}

typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> frag_a;
typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> frag_acc;

// A warp's 16 rows of K bf16 (row stride ld) as K / 16 fragments, loaded once for every product they enter:
// each fragment load is a pass over shared memory, and the product's other side is the one that changes.
template <int K> __device__ __forceinline__ void load_a(frag_a (&fa)[K / 16], const bf16 *a, int ld) {
#pragma unroll
    for (int kk = 0; kk < K / 16; kk++) wmma::load_matrix_sync(fa[kk], a + kk * 16, ld);
}

// dst[16, 16 NB] (float, row stride ldd) = a[16, HD] . b[16 NB, HD]^T; a (as fragments) and b rows of HD bf16.
template <int HD, int NB>
__device__ __forceinline__ void warp_abt(float *dst, int ldd, const frag_a (&fa)[HD / 16], const bf16 *b) {
#pragma unroll
    for (int jb = 0; jb < NB; jb++) {
        frag_acc acc;
        wmma::fill_fragment(acc, 0.0f);
#pragma unroll
        for (int kk = 0; kk < HD / 16; kk++) {
            wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> fb;
            wmma::load_matrix_sync(fb, b + jb * 16 * HD + kk * 16, HD);
            wmma::mma_sync(acc, fa[kk], fb, acc);
        }
        wmma::store_matrix_sync(dst + jb * 16, acc, ldd, wmma::mem_row_major);
    }
}
template <int HD, int NB>
__device__ __forceinline__ void warp_abt(float *dst, int ldd, const bf16 *a, const bf16 *b) {
    frag_a fa[HD / 16];
    load_a<HD>(fa, a, HD);
    warp_abt<HD, NB>(dst, ldd, fa, b);
}

// c[HD / 16] (the warp's [16, HD] in fragments) += p[16, 16 KB] (bf16, row stride ldp) . b[16 KB, HD] (bf16
// rows of HD): each output's k in increasing order, as one product.
template <int HD, int KB>
__device__ __forceinline__ void warp_acc_ab(frag_acc (&c)[HD / 16], const bf16 *p, int ldp, const bf16 *b) {
    frag_a fa[KB];
    load_a<16 * KB>(fa, p, ldp);
#pragma unroll
    for (int db = 0; db < HD / 16; db++)
#pragma unroll
        for (int kk = 0; kk < KB; kk++) {
            wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> fb;
            wmma::load_matrix_sync(fb, b + kk * 16 * HD + db * 16, HD);
            wmma::mma_sync(c[db], fa[kk], fb, c[db]);
        }
}

// acc[16, HD] (float, row stride HD + 4) += p[16, 16 KB] (bf16, row stride ldp) . b[16 KB, HD] (bf16 rows of HD).
template <int HD, int KB>
__device__ __forceinline__ void warp_acc_ab(float *acc, const bf16 *p, int ldp, const bf16 *b) {
    frag_a fa[KB];
    load_a<16 * KB>(fa, p, ldp);
#pragma unroll
    for (int db = 0; db < HD / 16; db++) {
        frag_acc c;
        wmma::load_matrix_sync(c, acc + db * 16, HD + 4, wmma::mem_row_major);
#pragma unroll
        for (int kk = 0; kk < KB; kk++) {
            wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> fb;
            wmma::load_matrix_sync(fb, b + kk * 16 * HD + db * 16, HD);
            wmma::mma_sync(c, fa[kk], fb, c);
        }
        wmma::store_matrix_sync(acc + db * 16, c, HD + 4, wmma::mem_row_major);
    }
}

// The row (0-15) of each of this lane's elements of an accumulator fragment. wmma leaves the layout to the
// GPU, so it is read from the GPU: a tile whose every element is its row, loaded as a fragment. scratch:
// 16 rows of ld floats, which the warp may overwrite.
__device__ __forceinline__ void acc_rows(int (&rows)[frag_acc::num_elements], float *scratch, int ld) {
    int lane = threadIdx.x % 32;
    for (int i = lane; i < 256; i += 32) scratch[i / 16 * ld + i % 16] = (float)(i / 16);
    __syncwarp();
    frag_acc f;
    wmma::load_matrix_sync(f, scratch, ld, wmma::mem_row_major);
#pragma unroll
    for (int e = 0; e < frag_acc::num_elements; e++) rows[e] = (int)f.x[e];
    __syncwarp();
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
template <int HD> __device__ __forceinline__ tc_rows tile_rows(const attn_input<bf16> &in, int nh, int nkv) {
    int2 tile = in.tiles[blockIdx.x];
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
template <int HD, int THREADS = TC_WARPS * 32>
__device__ __forceinline__ void load_rows_async(bf16 *dst, const bf16 *src, size_t stride, int rows, int valid) {
    for (int i = threadIdx.x; i < rows * HD / 8; i += THREADS) {
        int r = i / (HD / 8), c = i % (HD / 8) * 8;
        if (r < valid)
            __pipeline_memcpy_async(dst + r * HD + c, src + (size_t)r * stride + c, 16);
        else
            *(uint4 *)(dst + r * HD + c) = make_uint4(0, 0, 0, 0);
    }
}
template <int HD>
__device__ __forceinline__ void tc_load_async(bf16 *dst, const bf16 *src, const attn_input<bf16> &in,
                                              const tc_rows &t, int kb) {
    int valid = t.n_keys - kb < TC_KEYS ? t.n_keys - kb : TC_KEYS;
    load_rows_async<HD>(dst, src + attn_key(in, t.seq, kb) + t.kv, in.kv_stride, TC_KEYS, valid);
}

// A row's softmax sums over some of its segments, merged: m and l held by
// both lanes of the row, the output's columns in shared memory (o, the
// row's line of the block's float output tile; each lane reads its columns
// half, half + 2, ...). In registers they would hold HD / 2 floats a lane
// through every chunk of keys, the registers the fragments need.
struct tc_sums {
    float m, l;
    const float *o;
};

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

// Segments [s0, s1) of rows t (ATTN_SEG positions each, from fresh sums,
// then merged in order) into each lane's sums. Block-wide: every thread
// calls it; the warps holding rows compute, the others help load the keys.
// ROWS: the rows the shared memory holds, 64 for a tile (every warp's 16)
// or 16 for a query group (warp 0's), which leaves room for more blocks.
template <int HD, int ROWS>
__device__ void tc_attend(const tc_rows &t, int s0, int s1, const bf16 *q, const attn_input<bf16> &in, float scale,
                          unsigned char *smem, tc_sums &sum) {
    constexpr int OLD = HD + 4;
    bf16 *Qs = (bf16 *)smem, *Ks = Qs + ROWS * HD, *Vs = Ks + TC_KEYS * HD;
    float *Sf = (float *)(Vs + TC_KEYS * HD);
    bf16 *Pb = (bf16 *)(Sf + ROWS * SLD);
    float *Of = (float *)(Pb + ROWS * TC_KEYS), *Cr = Of + ROWS * OLD, *Cb = Cr + ROWS;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    // lanes 2r and 2r + 1 of a warp own row 16 warp + r, each every other column
    int row = warp * 16 + lane / 2, half = lane % 2;
    bool computes = warp * 16 < t.rows && warp * 16 < ROWS;
    __syncthreads(); // the block's previous rows are done with the buffers
    load_rows<HD>(Qs, q + t.t0 * t.qstride + (size_t)t.h0 * HD, t.heads ? HD : t.qstride, ROWS, t.rows);
    int my_pos = computes && row < t.rows ? in.tok_pos[t.token(row)] : -1;
    int mine = computes ? row : 0; // (rows of warps that do not compute are past the buffers)
    float *srow = Sf + mine * SLD, *orow = Of + mine * OLD;
    bf16 *prow = Pb + mine * TC_KEYS;
    // The warp's output rows stay in registers, as fragments, over a segment's keys (not in shared memory,
    // which each chunk of keys would load and store whole), its query rows too; a row's rescaling reaches
    // its elements through their rows in the fragment's layout.
    int frow[frag_acc::num_elements];
    frag_a qf[HD / 16];
    frag_acc of[HD / 16];
    __syncthreads(); // Qs
    if (computes) {
        acc_rows(frow, Sf + warp * 16 * SLD, SLD);
        load_a<HD>(qf, Qs + warp * 16 * HD, HD);
    }
    // Keys and values arrive while the block computes: a chunk's keys are asked for as soon as every warp
    // is done with the last chunk's (after S), its values as soon as every warp is done with the last
    // values (after P V), each a group of cp.async copies; waiting for all groups but the newest is waiting
    // for the one about to be read. The arithmetic is the synchronous loads' exactly.
    int kend = s1 * ATTN_SEG < t.n_keys ? s1 * ATTN_SEG : t.n_keys;
    tc_load_async<HD>(Ks, in.k, in, t, s0 * ATTN_SEG);
    __pipeline_commit();
    tc_load_async<HD>(Vs, in.v, in, t, s0 * ATTN_SEG);
    __pipeline_commit();
    for (int sg = s0; sg < s1; sg++) {
        int k1 = (sg + 1) * ATTN_SEG < t.n_keys ? (sg + 1) * ATTN_SEG : t.n_keys;
        float m = -INFINITY, l = 0;
#pragma unroll
        for (int db = 0; db < HD / 16; db++) wmma::fill_fragment(of[db], 0.0f);
        for (int kb = sg * ATTN_SEG; kb < k1; kb += TC_KEYS) {
            bool more = kb + TC_KEYS < kend;
            __pipeline_wait_prior(1); // this chunk's keys (its values may still be coming)
            __syncthreads();
            // S[16 rows, 64 keys] = Q K^T for this warp's rows
            if (computes) warp_abt<HD, TC_KEYS / 16>(Sf + warp * 16 * SLD, SLD, qf, Ks);
            __syncthreads(); // every warp is done with the keys: the next chunk's may come
            if (more) tc_load_async<HD>(Ks, in.k, in, t, kb + TC_KEYS);
            __pipeline_commit();
            float corr = 1.0f;
            if (computes) {
                // the online softmax of this lane's columns (half, half + 2, ...)
                float mt = -INFINITY;
                for (int j = half; j < TC_KEYS; j += 2) {
                    float sc = kb + j <= my_pos ? __fmul_rn(srow[j], scale) : -INFINITY;
                    srow[j] = sc;
                    mt = fmaxf(mt, sc);
                }
                mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 1));
                float m_new = fmaxf(m, mt), ps = 0;
                corr = m_new == -INFINITY ? 1.0f : expf(__fsub_rn(m, m_new));
                for (int j = half; j < TC_KEYS; j += 2) {
                    float p = srow[j] == -INFINITY ? 0.0f : expf(__fsub_rn(srow[j], m_new));
                    prow[j] = __float2bfloat16_rn(p);
                    ps = __fadd_rn(ps, p);
                }
                ps = __fadd_rn(ps, __shfl_xor_sync(0xffffffffu, ps, 1));
                l = __fadd_rn(__fmul_rn(l, corr), ps);
                m = m_new;
                if (!half) Cr[row] = corr;
            }
            __pipeline_wait_prior(1); // this chunk's values (the next keys may still be coming)
            __syncthreads();
            if (computes) {
                // O = O corr + P V for this warp's rows
#pragma unroll
                for (int db = 0; db < HD / 16; db++)
#pragma unroll
                    for (int e = 0; e < frag_acc::num_elements; e++)
                        of[db].x[e] = __fmul_rn(of[db].x[e], Cr[warp * 16 + frow[e]]);
                warp_acc_ab<HD, TC_KEYS / 16>(of, Pb + warp * 16 * TC_KEYS, TC_KEYS, Vs);
            }
            __syncthreads(); // every warp is done with the values: the next chunk's may come
            if (more) tc_load_async<HD>(Vs, in.v, in, t, kb + TC_KEYS);
            __pipeline_commit();
        }
        if (!computes) continue;
        // this segment into the row's sums: the first as it is, later ones merged into the warp's rows of Of
        // (each element merged(Of, a, O, b) of its row's scales, which reach it through frow as corr does)
        if (sg == s0) {
#pragma unroll
            for (int db = 0; db < HD / 16; db++)
                wmma::store_matrix_sync(Of + warp * 16 * OLD + db * 16, of[db], OLD, wmma::mem_row_major);
            sum.m = m, sum.l = l;
            continue;
        }
        float nm, a, b;
        merge_scales(sum.m, m, &nm, &a, &b);
        if (!half) Cr[row] = a, Cb[row] = b;
        __syncwarp();
#pragma unroll
        for (int db = 0; db < HD / 16; db++) {
            frag_acc f;
            wmma::load_matrix_sync(f, Of + warp * 16 * OLD + db * 16, OLD, wmma::mem_row_major);
#pragma unroll
            for (int e = 0; e < frag_acc::num_elements; e++)
                f.x[e] = merged(f.x[e], Cr[warp * 16 + frow[e]], of[db].x[e], Cb[warp * 16 + frow[e]]);
            wmma::store_matrix_sync(Of + warp * 16 * OLD + db * 16, f, OLD, wmma::mem_row_major);
        }
        sum.l = merged(sum.l, a, l, b);
        sum.m = nm;
        __syncwarp(); // Cr and Cb read before the next segment's first corr
    }
    sum.o = orow;
    __syncwarp(); // the warp's rows of Of stored before their lanes read them
}

// out and lse of a row from its merged sums.
template <int HD>
__device__ __forceinline__ void tc_finish(bf16 *out, float *lse, const tc_rows &t, int r, int half,
                                          const tc_sums &sum, int nh) {
    float inv = 1.0f / sum.l;
    size_t n = t.token(r);
    int h = t.head(r);
    bf16 *o = out + n * t.qstride + (size_t)h * HD;
#pragma unroll
    for (int i = 0; i < HD / 2; i++) o[half + 2 * i] = __float2bfloat16_rn(__fmul_rn(sum.o[half + 2 * i], inv));
    if (lse && !half) lse[n * nh + h] = __fadd_rn(sum.m, logf(sum.l));
}

// The tile kernel (grid: tiles x query heads): every segment of the tile's
// 64 query rows in one block.
template <int HD>
__global__ void __launch_bounds__(TC_WARPS * 32) attention_tc_kernel(bf16 *out, float *lse, const bf16 *q,
                                                                     attn_input<bf16> in, int nh, int nkv,
                                                                     float scale) {
    extern __shared__ __align__(128) unsigned char tc_smem[];
    tc_rows t = tile_rows<HD>(in, nh, nkv);
    tc_sums sum;
    tc_attend<HD, ATTN_TILE>(t, 0, attention_segments(t.n_keys), q, in, scale, tc_smem, sum);
    int row = threadIdx.x / 32 * 16 + threadIdx.x % 32 / 2;
    if (row < t.rows) tc_finish<HD>(out, lse, t, row, threadIdx.x % 2, sum, nh);
}

// The decode kernel (grid: the work list's capacity x kv heads, a block an
// item; the blocks past this step's items return): a one-token tile's query
// group, all its segments or one of them. A row whose context is one
// segment, or that ran all of them, is finished here; one segment of several
// leaves its partial sums for attention_merge_kernel. Not a loop over items
// per block: the compiler kept the loop's state beside the fragments, 255
// registers at head size 128 against 168 without it.
template <int HD>
__global__ void __launch_bounds__(TC_WARPS * 32) attention_decode_kernel(bf16 *out, float *lse, const bf16 *q,
                                                                         attn_input<bf16> in, int nh, int nkv,
                                                                         float scale) {
    extern __shared__ __align__(128) unsigned char tc_smem[];
    int G = nh / nkv, first = in.n_tiles - in.n_single, n_work = in.work[0].x;
    int row = threadIdx.x / 32 * 16 + threadIdx.x % 32 / 2, half = threadIdx.x % 2;
    if ((int)blockIdx.x >= n_work) return;
    int2 job = in.work[1 + blockIdx.x];
    tc_rows t;
    t.t0 = (size_t)in.tiles[first + job.x].x, t.qstride = (size_t)nh * HD, t.rows = G, t.heads = true;
    t.h0 = blockIdx.y * G, t.seq = in.tok_seq[t.t0], t.kv = (size_t)blockIdx.y * HD;
    t.n_keys = in.tok_pos[t.t0] + 1;
    int n_seg = attention_segments(t.n_keys), s0 = job.y < 0 ? 0 : job.y, s1 = job.y < 0 ? n_seg : job.y + 1;
    tc_sums sum;
    tc_attend<HD, 16>(t, s0, s1, q, in, scale, tc_smem, sum);
    if (row >= t.rows) return;
    if (job.y < 0 || n_seg == 1) {
        tc_finish<HD>(out, lse, t, row, half, sum, nh);
        return;
    }
    float *p = in.part + (((size_t)job.x * in.seg_cap + job.y) * nh + t.head(row)) * (HD + 2);
#pragma unroll
    for (int i = 0; i < HD / 2; i++) p[half + 2 * i] = sum.o[half + 2 * i];
    if (!half) p[HD] = sum.m, p[HD + 1] = sum.l;
}

// A split row's segments merged in order (grid: one-token tiles x groups of
// 8 query heads, a warp per head, each lane a column of every 32), finished
// as tc_finish does. Rows of one segment were finished by the decode kernel.
template <int HD>
__global__ void __launch_bounds__(256) attention_merge_kernel(bf16 *out, float *lse, attn_input<bf16> in, int nh) {
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
    size_t bytes = tc_smem_bytes<HD>(), decode_bytes = tc_smem_bytes<HD, 16>();
    float scale = (float)(1.0 / sqrt(HD));
    static bool raised, raised_decode;
    int singles = in.work ? in.n_single : 0, tiles = in.n_tiles - singles;
    if (tiles) {
        cudaError_t e = raise_smem(attention_tc_kernel<HD>, bytes, &raised);
        if (e != cudaSuccess) return e;
        attention_tc_kernel<HD><<<dim3((unsigned)tiles, (unsigned)nh), TC_WARPS * 32, bytes, s>>>(out, lse, q, in, nh,
                                                                                                  nkv, scale);
    }
    if (singles) {
        cudaError_t e = raise_smem(attention_decode_kernel<HD>, decode_bytes, &raised_decode);
        if (e != cudaSuccess) return e;
        // the grid fixed for a batch and a cache, as a captured graph needs
        attention_decode_kernel<HD><<<dim3((unsigned)in.work_cap, (unsigned)nkv), TC_WARPS * 32, decode_bytes, s>>>(
            out, lse, q, in, nh, nkv, scale);
        if (in.part && in.seg_cap > 1) // a cache of one segment a row never splits: no launch a layer for nothing
            attention_merge_kernel<HD><<<dim3((unsigned)singles, (unsigned)(nh + 7) / 8), 256, 0, s>>>(out, lse, in,
                                                                                                       nh);
    }
    return cudaGetLastError();
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
// A GPU whose blocks cannot hold the tile kernel's shared memory (106 KB at
// head size 128) takes the CUDA cores too, decided once a process so that
// scoring, training and generation take the same path and give the same bits.
static bool tensor_cores(int head_dim) {
    static const bool simt = env_says_simt("PIC_CUDA_ATTN");
    if (simt || (head_dim != 64 && head_dim != 128)) return false;
    return smem_optin() >= (head_dim == 64 ? tc_smem_bytes<64>() : tc_smem_bytes<128>());
}

size_t attention_smem_bytes(bool bf16, int head_dim) {
    if (bf16 && tensor_cores(head_dim)) return head_dim == 64 ? tc_smem_bytes<64>() : tc_smem_bytes<128>();
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
        if (tensor_cores(head_dim))
            return head_dim == 64 ? launch_tc<64>(out, lse, q, in, n_heads, n_kv_heads, s)
                                  : launch_tc<128>(out, lse, q, in, n_heads, n_kv_heads, s);
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

// ---- backward on tensor cores (bf16, head_dim HD = 64 or 128) ------------
//
// The same two passes, each score block's three products on tensor cores:
// S = q K^T and dP = dout V^T from wmma into float, P = exp(S scale - lse)
// and dS = P (dP - D) scale in float, both rounded to bf16 for the products
// that take them (dV += P^T dout, dK += dS^T q, dq += dS K), as flash
// attention's backward does; the sums stay in float in registers (wmma
// fragments), each warp's rows its own, and the streamed rows arrive by
// cp.async behind the work. Still no atomics: the one block that owns an
// output writes it, its products in a fixed order.

// Pass A: a block per key tile (ATTN_KTILE = 32 keys: 2 warps of 16) and kv
// head, against the queries of its sequence 64 at a time; pass B: a block
// per forward query tile (64 rows: 4 warps) and head, keys 64 at a time.
enum { TCA_WARPS = ATTN_KTILE / 16, TCA_Q = 64, TCA_LD = TCA_Q + 4 };

template <int HD> static size_t tc_kv_smem_bytes() {
    return 2 * (size_t)ATTN_KTILE * HD * 2 + 2 * (size_t)TCA_Q * HD * 2 + 2 * (size_t)ATTN_KTILE * TCA_LD * 4 +
           2 * (size_t)ATTN_KTILE * TCA_Q * 2 + 2 * (size_t)ATTN_KTILE * (HD + 4) * 4 + 2 * (size_t)TCA_Q * 4;
}

template <int HD>
__global__ void __launch_bounds__(TCA_WARPS * 32)
    attention_kv_tc_kernel(bf16 *dk, bf16 *dv, const bf16 *dout, const float *lse, const float *D, const bf16 *q,
                           attn_input<bf16> in, const int4 *ktiles, int nh, int nkv, float scale) {
    constexpr int OLD = HD + 4, THREADS = TCA_WARPS * 32;
    extern __shared__ __align__(128) unsigned char tc_smem[];
    bf16 *Ks = (bf16 *)tc_smem, *Vs = Ks + ATTN_KTILE * HD, *Qs = Vs + ATTN_KTILE * HD, *Os = Qs + TCA_Q * HD;
    float *Sf = (float *)(Os + TCA_Q * HD), *dPf = Sf + ATTN_KTILE * TCA_LD;
    bf16 *Pb = (bf16 *)(dPf + ATTN_KTILE * TCA_LD), *dSb = Pb + ATTN_KTILE * TCA_Q;
    float *dKf = (float *)(dSb + ATTN_KTILE * TCA_Q), *dVf = dKf + ATTN_KTILE * OLD, *Ls = dVf + ATTN_KTILE * OLD,
          *Dq = Ls + TCA_Q;
    int4 kt = ktiles[blockIdx.x];
    int g = blockIdx.y, group = nh / nkv, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    size_t k0 = (size_t)kt.x, first = (size_t)kt.z, qstride = (size_t)nh * HD;
    int nk = kt.y, len = kt.w, seq = in.tok_seq[k0], j0 = (int)(k0 - first); // the tile's first key position
    size_t off = attn_key(in, seq, j0) + (size_t)g * HD;                        // j0: a multiple of ATTN_KTILE
    // The queries and dout rows by cp.async behind the work, as tc_attend's keys: dout first (dP needs it
    // first, and dV is done with it before dK is done with the queries).
    {
        int nq = len - j0 < TCA_Q ? len - j0 : TCA_Q;
        size_t at = (first + j0) * qstride + (size_t)(g * group) * HD;
        load_rows_async<HD, THREADS>(Os, dout + at, qstride, TCA_Q, nq);
        __pipeline_commit();
        load_rows_async<HD, THREADS>(Qs, q + at, qstride, TCA_Q, nq);
        __pipeline_commit();
    }
    load_rows<HD, THREADS>(Ks, in.k + off, in.kv_stride, ATTN_KTILE, nk);
    load_rows<HD, THREADS>(Vs, in.v + off, in.kv_stride, ATTN_KTILE, nk);
    // lanes 2r and 2r + 1 of a warp own key row 16 warp + r, each every other query
    int key = warp * 16 + lane / 2, half = lane % 2, kpos = j0 + key;
    // the warp's dK and dV rows in registers over every query (as forward's output), and its keys and values
    frag_acc dkf[HD / 16], dvf[HD / 16];
#pragma unroll
    for (int db = 0; db < HD / 16; db++) wmma::fill_fragment(dkf[db], 0.0f), wmma::fill_fragment(dvf[db], 0.0f);
    frag_a kf[HD / 16], vf[HD / 16];
    __syncthreads(); // Ks, Vs
    load_a<HD>(kf, Ks + warp * 16 * HD, HD);
    load_a<HD>(vf, Vs + warp * 16 * HD, HD);
    for (int hh = 0; hh < group; hh++) {
        int h = g * group + hh;
        for (int qb = j0; qb < len; qb += TCA_Q) {
            int nq = len - qb < TCA_Q ? len - qb : TCA_Q;
            // the chunk after this one: the next queries, or the next head's first
            int next_qb = qb + TCA_Q < len ? qb + TCA_Q : j0, next_h = qb + TCA_Q < len ? h : h + 1;
            int next_nq = len - next_qb < TCA_Q ? len - next_qb : TCA_Q;
            bool more = next_h < (g + 1) * group;
            size_t next_at = (first + next_qb) * qstride + (size_t)next_h * HD;
            // (the last chunk's reads of these ended before the barrier that let its dout go)
            for (int i = threadIdx.x; i < TCA_Q; i += THREADS) {
                size_t row = (first + qb + i) * nh + h;
                Ls[i] = i < nq ? lse[row] : 0.0f;
                Dq[i] = i < nq ? D[row] : 0.0f;
            }
            __pipeline_wait_prior(1); // this chunk's dout (its queries may still be coming)
            __syncthreads();
            // this warp's 16 keys against the 64 queries: dP^T = V dout^T, S^T = K q^T
            warp_abt<HD, TCA_Q / 16>(dPf + warp * 16 * TCA_LD, TCA_LD, vf, Os);
            __pipeline_wait_prior(0); // its queries
            __syncthreads();
            warp_abt<HD, TCA_Q / 16>(Sf + warp * 16 * TCA_LD, TCA_LD, kf, Qs);
            __syncwarp();
            for (int i = half; i < TCA_Q; i += 2) {
                bool live = key < nk && i < nq && kpos <= qb + i;
                float p = live ? expf(Sf[key * TCA_LD + i] * scale - Ls[i]) : 0.0f;
                Pb[key * TCA_Q + i] = __float2bfloat16_rn(p);
                dSb[key * TCA_Q + i] = __float2bfloat16_rn(p * (dPf[key * TCA_LD + i] - Dq[i]) * scale);
            }
            __syncwarp();
            warp_acc_ab<HD, TCA_Q / 16>(dvf, Pb + warp * 16 * TCA_Q, TCA_Q, Os);
            __syncthreads(); // every warp is done with dout: the next chunk's may come
            if (more) load_rows_async<HD, THREADS>(Os, dout + next_at, qstride, TCA_Q, next_nq);
            __pipeline_commit();
            warp_acc_ab<HD, TCA_Q / 16>(dkf, dSb + warp * 16 * TCA_Q, TCA_Q, Qs);
            __syncthreads(); // every warp is done with the queries
            if (more) load_rows_async<HD, THREADS>(Qs, q + next_at, qstride, TCA_Q, next_nq);
            __pipeline_commit();
        }
    }
#pragma unroll
    for (int db = 0; db < HD / 16; db++) {
        wmma::store_matrix_sync(dKf + warp * 16 * OLD + db * 16, dkf[db], OLD, wmma::mem_row_major);
        wmma::store_matrix_sync(dVf + warp * 16 * OLD + db * 16, dvf[db], OLD, wmma::mem_row_major);
    }
    __syncwarp();
    if (key >= nk) return;
    size_t at = off + (size_t)key * in.kv_stride;
    for (int d = half; d < HD; d += 2) {
        dk[at + d] = __float2bfloat16_rn(__bfloat162float(dk[at + d]) + dKf[key * OLD + d]);
        dv[at + d] = __float2bfloat16_rn(__bfloat162float(dv[at + d]) + dVf[key * OLD + d]);
    }
}

template <int HD> static size_t tc_q_smem_bytes() {
    return 2 * (size_t)ATTN_TILE * HD * 2 + 2 * (size_t)TC_KEYS * HD * 2 + 2 * (size_t)ATTN_TILE * SLD * 4 +
           (size_t)ATTN_TILE * TC_KEYS * 2 + (size_t)ATTN_TILE * (HD + 4) * 4;
}

template <int HD>
__global__ void __launch_bounds__(TC_WARPS * 32)
    attention_q_tc_kernel(bf16 *dq, const bf16 *dout, const float *lse, const float *D, const bf16 *q,
                          attn_input<bf16> in, int nh, int nkv, float scale) {
    constexpr int OLD = HD + 4;
    extern __shared__ __align__(128) unsigned char tc_smem[];
    bf16 *Qs = (bf16 *)tc_smem, *Os = Qs + ATTN_TILE * HD, *Ks = Os + ATTN_TILE * HD, *Vs = Ks + TC_KEYS * HD;
    float *Sf = (float *)(Vs + TC_KEYS * HD), *dPf = Sf + ATTN_TILE * SLD;
    bf16 *dSb = (bf16 *)(dPf + ATTN_TILE * SLD);
    float *dQf = (float *)(dSb + ATTN_TILE * TC_KEYS);
    const tc_rows t = tile_rows<HD>(in, nh, nkv);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    size_t q0 = t.t0 * t.qstride + (size_t)t.h0 * HD; // the tile's first row of head h
    // Values and keys by cp.async behind the work, as tc_attend's: the values first (dP needs them first and
    // lets them go after it), the keys after dq += dS K.
    tc_load_async<HD>(Vs, in.v, in, t, 0);
    __pipeline_commit();
    tc_load_async<HD>(Ks, in.k, in, t, 0);
    __pipeline_commit();
    load_rows<HD>(Qs, q + q0, t.qstride, ATTN_TILE, t.rows);
    load_rows<HD>(Os, dout + q0, t.qstride, ATTN_TILE, t.rows);
    int row = warp * 16 + lane / 2, half = lane % 2;
    // the warp's dQ rows in registers over every key (as forward's output), and its queries and dout rows
    frag_acc dqf[HD / 16];
#pragma unroll
    for (int db = 0; db < HD / 16; db++) wmma::fill_fragment(dqf[db], 0.0f);
    frag_a qf[HD / 16], of[HD / 16];
    __syncthreads(); // Qs, Os
    load_a<HD>(qf, Qs + warp * 16 * HD, HD);
    load_a<HD>(of, Os + warp * 16 * HD, HD);
    bool mine = row < t.rows;
    size_t stat = (t.t0 + row) * nh + t.h0; // the row's lse and D
    int my_pos = mine ? in.tok_pos[t.t0 + row] : -1;
    float my_lse = mine ? lse[stat] : 0.0f, my_D = mine ? D[stat] : 0.0f;
    for (int kb = 0; kb < t.n_keys; kb += TC_KEYS) {
        bool more = kb + TC_KEYS < t.n_keys;
        __pipeline_wait_prior(1); // this chunk's values (its keys may still be coming)
        __syncthreads();
        warp_abt<HD, TC_KEYS / 16>(dPf + warp * 16 * SLD, SLD, of, Vs);
        __syncthreads(); // every warp is done with the values: the next chunk's may come
        if (more) tc_load_async<HD>(Vs, in.v, in, t, kb + TC_KEYS);
        __pipeline_commit();
        __pipeline_wait_prior(1); // this chunk's keys (the next values may still be coming)
        __syncthreads();
        warp_abt<HD, TC_KEYS / 16>(Sf + warp * 16 * SLD, SLD, qf, Ks);
        __syncwarp();
        for (int j = half; j < TC_KEYS; j += 2) {
            float p = kb + j <= my_pos ? expf(Sf[row * SLD + j] * scale - my_lse) : 0.0f;
            dSb[row * TC_KEYS + j] = __float2bfloat16_rn(p * (dPf[row * SLD + j] - my_D) * scale);
        }
        __syncwarp();
        warp_acc_ab<HD, TC_KEYS / 16>(dqf, dSb + warp * 16 * TC_KEYS, TC_KEYS, Ks);
        __syncthreads(); // every warp is done with the keys: the next chunk's may come
        if (more) tc_load_async<HD>(Ks, in.k, in, t, kb + TC_KEYS);
        __pipeline_commit();
    }
#pragma unroll
    for (int db = 0; db < HD / 16; db++)
        wmma::store_matrix_sync(dQf + warp * 16 * OLD + db * 16, dqf[db], OLD, wmma::mem_row_major);
    __syncwarp();
    if (!mine) return;
    bf16 *o = dq + q0 + (size_t)row * t.qstride;
    for (int d = half; d < HD; d += 2) o[d] = __float2bfloat16_rn(__bfloat162float(o[d]) + dQf[row * OLD + d]);
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

// What attention_backward's blocks need: the tensor-core pair where it runs
// and fits, else the SIMT passes it falls back to.
size_t attention_backward_smem_bytes(bool bf16, int head_dim) {
    if (bf16 && tensor_cores(head_dim)) {
        size_t tc = head_dim == 64 ? std::max(tc_kv_smem_bytes<64>(), tc_q_smem_bytes<64>())
                                   : std::max(tc_kv_smem_bytes<128>(), tc_q_smem_bytes<128>());
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
        if (tensor_cores(head_dim) &&
            (head_dim == 64 ? launch_backward_tc<64>(dq, dk, dv, dout, lse, D, q, in, ktiles, n_ktiles, n_heads,
                                                     n_kv_heads, s, &e)
                            : launch_backward_tc<128>(dq, dk, dv, dout, lse, D, q, in, ktiles, n_ktiles, n_heads,
                                                      n_kv_heads, s, &e)))
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
