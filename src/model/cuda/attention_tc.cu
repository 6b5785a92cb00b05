// Attention on tensor cores: the bf16 kernels attention.cu runs at head
// sizes 64 and 128 (the real models'), forward (a query tile's, and a
// decode step's query group) and backward, the same flash-style passes as
// its SIMT kernels. The two products of each block of scores run on tensor
// cores (wmma, bf16 in, float accumulate), the online softmax between them:
// S = Q K^T per 16-row warp slice, P = exp(S - m) rounded to bf16 for P V as
// flash attention does, the output kept in float in registers (wmma
// fragments) and rescaled per row; the next keys and values arrive by
// cp.async while a chunk is computed. Keys come in chunks of 64 positions
// from multiples of 64, packed or from a KV cache's pages (attention.cu).
#include <math.h>
#include <stdint.h>
#include <cuda_pipeline_primitives.h>
#include <mma.h>

#include <algorithm>

#include "model/cuda/attention_tc.cuh"

namespace pic_cuda {

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
