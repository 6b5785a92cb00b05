// Decode attention on tensor cores (bf16, head sizes 64 and 128): a
// decode step's one-token rows, a block for each kv head's query group (the
// group's heads read the keys once), over all of a row's segments or, in
// the split mode, one segment a block with the four warps splitting its
// columns; then the split rows' segments merged in order. The same
// arithmetic as the tile kernel (attention_tc.cu), so the same bits: a
// token's attention does not depend on whether it was decoded or scored.
#include <math.h>
#include <stdint.h>
#include <cuda_pipeline_primitives.h>

#include "model/cuda/flash_tc.cuh"

namespace pic_cuda {

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
static cudaError_t launch_decode(bf16 *out, float *lse, const bf16 *q, const attn_input<bf16> &in, int nh, int nkv,
                                 cudaStream_t s) {
    size_t bytes = dc_smem_bytes<HD>();
    float scale = (float)(1.0 / sqrt(HD));
    static bool raised, raised_cols;
    // the split mode's items are one segment each: the four warps share each (tc_attend_cols)
    bool cols = in.part != nullptr;
    cudaError_t e = cols ? raise_smem(attention_decode_kernel<HD, true>, bytes, &raised_cols)
                         : raise_smem(attention_decode_kernel<HD, false>, bytes, &raised);
    if (e != cudaSuccess) return e;
    // the grid fixed for a batch and a cache, as a captured graph needs
    dim3 grid((unsigned)in.work_cap, (unsigned)nkv);
    e = cols ? launch_pdl(attention_decode_kernel<HD, true>, grid, TC_WARPS * 32, bytes, s, out, lse, q, in, nh, nkv,
                          scale)
             : launch_pdl(attention_decode_kernel<HD, false>, grid, TC_WARPS * 32, bytes, s, out, lse, q, in, nh, nkv,
                          scale);
    if (e != cudaSuccess) return e;
    if (in.part && in.seg_cap > 1) // a cache of one segment a row never splits: no launch a layer for nothing
        return launch_pdl(attention_merge_kernel<HD>, dim3((unsigned)in.n_single, (unsigned)(nh + 7) / 8), 256, 0, s,
                          out, lse, in, nh);
    return cudaSuccess;
}

cudaError_t attention_decode_tc(bf16 *out, float *lse, const bf16 *q, const attn_input<bf16> &in, int nh, int nkv,
                                int head_dim, cudaStream_t s) {
    return head_dim == 64 ? launch_decode<64>(out, lse, q, in, nh, nkv, s)
                          : launch_decode<128>(out, lse, q, in, nh, nkv, s);
}

}  // namespace pic_cuda
