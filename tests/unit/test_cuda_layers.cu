// Each CUDA layer (src/model/cuda) against its CPU twin (src/model) on fresh
// random inputs, odd shapes included, the device output poisoned with NaN
// before every run (so an element a kernel forgets to write fails). Norm-wise
// relative error <= 1e-5 in float32 (both sides are float32 with different
// summation orders: a few ulps times sqrt of the reduction length), <= 1e-2
// in bf16 (inputs rounded to bf16 for both sides; the GPU also rounds its
// outputs and intermediates to bf16, 2^-9 relative each). Attention at head
// sizes 64 and 128 in bf16 exercises the tensor-core kernel, the other sizes
// (up to 192: every instance of the float kernel, 256 the largest) and f32
// the float one; attention through a page table (a KV cache's
// pages) gives packed's bits, and so does a decode step's attention in
// every mode (a block per head, a query group per block, split over
// segments). TAP skip without a GPU.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cuda_check.cuh"
#include "model/cuda/attention_tc.cuh"
#include "model/cuda/mma.cuh"

extern "C" {
#include "model/layers.h"
#include "model/model.h"
#include "model/parallel.h"
#include "model/safetensors.h"
}

using pic_cuda::bf16;

// mma.cuh's layouts, as flash_tc.cuh uses them: Q K^T with K's rows by
// ldmatrix, then P V with P the product packed from the accumulators and V
// by ldmatrix.trans. One warp; 16 rows, 16 keys, 16 columns; integers, so
// every product and sum is exact in float and any order gives the same bits.
__global__ void mma_layouts(float *s_out, float *o_out, const bf16 *q, const bf16 *k, const bf16 *v) {
    __shared__ __align__(16) bf16 qs[16 * 24], ks[16 * 24], vs[16 * 24]; // rows of 16, padded to 24
    int lane = threadIdx.x, g = lane / 4, t = lane % 4;
    for (int i = lane; i < 256; i += 32)
        qs[i / 16 * 24 + i % 16] = q[i], ks[i / 16 * 24 + i % 16] = k[i], vs[i / 16 * 24 + i % 16] = v[i];
    __syncwarp();
    uint32_t a[4], b[4], bv[4];
    pic_cuda::ldmatrix_x4(a, qs + (lane % 8 + 8 * (lane / 8 % 2)) * 24 + 8 * (lane / 16));
    pic_cuda::ldmatrix_x4(b, ks + (lane % 8 + 8 * (lane / 16)) * 24 + 8 * (lane / 8 % 2));
    float sc[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
    pic_cuda::mma_bf16_16816(sc[0], a, b[0], b[1]); // keys 0-7
    pic_cuda::mma_bf16_16816(sc[1], a, b[2], b[3]); // keys 8-15
    for (int j = 0; j < 2; j++)
        for (int e = 0; e < 4; e++) s_out[(g + 8 * (e / 2)) * 16 + 8 * j + 2 * t + e % 2] = sc[j][e];
    uint32_t p[4] = {pic_cuda::pack_bf16(sc[0][0], sc[0][1]), pic_cuda::pack_bf16(sc[0][2], sc[0][3]),
                     pic_cuda::pack_bf16(sc[1][0], sc[1][1]), pic_cuda::pack_bf16(sc[1][2], sc[1][3])};
    pic_cuda::ldmatrix_x4_trans(bv, vs + (lane % 8 + 8 * (lane / 8 % 2)) * 24 + 8 * (lane / 16));
    float o[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
    pic_cuda::mma_bf16_16816(o[0], p, bv[0], bv[1]); // columns 0-7
    pic_cuda::mma_bf16_16816(o[1], p, bv[2], bv[3]); // columns 8-15
    for (int j = 0; j < 2; j++)
        for (int e = 0; e < 4; e++) o_out[(g + 8 * (e / 2)) * 16 + 8 * j + 2 * t + e % 2] = o[j][e];
}

static void test_mma_layouts(void) {
    bf16 hq[256], hk[256], hv[256], *dq, *dk, *dv;
    float s[256], o[256], *ds, *dO;
    for (int i = 0; i < 256; i++) // distinct in every row and column, so a swapped index shows
        hq[i] = (float)(i % 16 - i / 16 % 5), hk[i] = (float)((i * 7) % 5 - 2 + (i / 16 == i % 16)),
        hv[i] = (float)((i * 3) % 7 - 3);
    cudaMalloc(&dq, sizeof hq), cudaMalloc(&dk, sizeof hk), cudaMalloc(&dv, sizeof hv);
    cudaMalloc(&ds, sizeof s), cudaMalloc(&dO, sizeof o);
    cudaMemcpy(dq, hq, sizeof hq, cudaMemcpyHostToDevice);
    cudaMemcpy(dk, hk, sizeof hk, cudaMemcpyHostToDevice);
    cudaMemcpy(dv, hv, sizeof hv, cudaMemcpyHostToDevice);
    mma_layouts<<<1, 32>>>(ds, dO, dq, dk, dv);
    cudaError_t e = cudaDeviceSynchronize();
    cudaMemcpy(s, ds, sizeof s, cudaMemcpyDeviceToHost);
    cudaMemcpy(o, dO, sizeof o, cudaMemcpyDeviceToHost);
    int bad_s = 0, bad_o = 0;
    float ws[256];
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) {
            float w = 0;
            for (int d = 0; d < 16; d++) w += (float)hq[r * 16 + d] * (float)hk[c * 16 + d];
            ws[r * 16 + c] = (float)bf16(w); // P: the scores rounded to bf16, as pack_bf16 does
            bad_s += s[r * 16 + c] != w;
        }
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) {
            float w = 0;
            for (int j = 0; j < 16; j++) w += ws[r * 16 + j] * (float)hv[j * 16 + c];
            bad_o += o[r * 16 + c] != w;
        }
    CHECK(e == cudaSuccess && bad_s == 0 && bad_o == 0,
          "mma.cuh: Q K^T by ldmatrix and mma.sync, then P V from the accumulators by ldmatrix.trans (%d, %d of 256 "
          "elements differ; %s)", bad_s, bad_o, cudaGetErrorString(e));
    cudaFree(dq), cudaFree(dk), cudaFree(dv), cudaFree(ds), cudaFree(dO);
}

template <typename T> static void test_embedding(size_t N, int C, int V) {
    float *embed = rnd<T>((size_t)V * C, 1.0), *want = (float *)malloc(N * C * sizeof(float));
    int32_t *tok = (int32_t *)malloc(N * sizeof(int32_t)), *dtok;
    for (size_t n = 0; n < N; n++) tok[n] = rand() % V;
    embedding_forward(want, tok, embed, N, C);
    cudaMalloc(&dtok, N * sizeof(int32_t));
    cudaMemcpy(dtok, tok, N * sizeof(int32_t), cudaMemcpyHostToDevice);
    T *de = up<T>(embed, (size_t)V * C), *dout = poisoned<T>(N * C);
    CHECK(pic_cuda::embedding_forward(dout, dtok, de, N, C, 0) == cudaSuccess, "embedding launches");
    float *got = down(dout, N * C);
    SAME(T, got, want, N * C, "embedding [%zu x %d] of %d", N, C, V);
    cudaFree(dtok), cudaFree(de), cudaFree(dout);
    free(embed), free(want), free(tok), free(got);
}

template <typename T> static void test_rmsnorm(size_t N, int C, bool in_place) {
    float *x = rnd<T>(N * C, 2.0), *w = rnd<T>(C, 1.0), *want = (float *)malloc(N * C * 4), *wr = (float *)malloc(N * 4);
    // row 0 tiny (mean square ~3e-7, exact in bf16): there eps = 1e-6 sets most of 1/rms, which dropping it
    // would double; the other rows' ~1.3 hide it (1e-6 of theirs)
    for (int i = 0; i < C; i++) x[i] = ldexpf(x[i], -11);
    rmsnorm_forward(want, wr, x, w, N, C, 1e-6f);
    T *dx = up<T>(x, N * C), *dw = up<T>(w, C), *dout = in_place ? dx : poisoned<T>(N * C);
    float *dr = poisoned<float>(N);
    CHECK(pic_cuda::rmsnorm_forward(dout, dr, dx, dw, N, C, 1e-6f, 0) == cudaSuccess, "rmsnorm launches");
    float *got = down(dout, N * C), *gr = down(dr, N);
    SAME(T, got, want, N * C, "rmsnorm [%zu x %d]%s", N, C, in_place ? " in place" : "");
    SAME(float, gr, wr, N, "rmsnorm 1/rms of %s rows [%zu x %d]", tname<T>(), N, C);
    if (!in_place) { // a row's bits do not depend on the rows beside it: the last one alone
        T *alone = poisoned<T>(C);
        CHECK(pic_cuda::rmsnorm_forward(alone, (float *)NULL, dx + (N - 1) * C, dw, 1, C, 1e-6f, 0) == cudaSuccess,
              "rmsnorm launches");
        float *one = down(alone, C);
        CHECK(!memcmp(one, got + (N - 1) * C, C * sizeof(float)),
              "rmsnorm [%zu x %d]: row %zu alone = among %zu, bit for bit", N, C, N - 1, N);
        cudaFree(alone), free(one);
        cudaFree(dout);
    }
    cudaFree(dx), cudaFree(dw), cudaFree(dr);
    free(x), free(w), free(want), free(wr), free(got), free(gr);
}

// misalign: the bias one element past an aligned address, as a bias inside
// the parameter buffer may be (cuBLASLt's epilogue wants 16 bytes: the
// product then runs on a bias written first).
template <typename T, typename O>
static void test_matmul(pic_cuda::blas *bl, size_t N, int IC, int OC, bool bias, bool acc, bool misalign = false) {
    float *x = rnd<T>(N * IC, 1.0), *w = rnd<T>((size_t)OC * IC, 0.1), *b = bias ? rnd<T>(OC + 1, 1.0) : NULL;
    float *init = rnd<O>(N * OC, 1.0), *want = (float *)malloc(N * OC * 4);
    memcpy(want, init, N * OC * 4);
    matmul_forward(want, x, w, b, N, IC, OC, acc);
    T *dx = up<T>(x, N * IC), *dw = up<T>((float *)w, (size_t)OC * IC), *db = NULL;
    if (bias && misalign) {
        float *shifted = (float *)malloc((OC + 1) * sizeof(float));
        shifted[0] = 0, memcpy(shifted + 1, b, OC * sizeof(float));
        db = up<T>(shifted, OC + 1);
        free(shifted);
    } else if (bias) {
        db = up<T>(b, OC);
    }
    O *dout = acc ? up<O>(init, N * OC) : poisoned<O>(N * OC);
    pic_err err = {""};
    int rc = pic_cuda::matmul_forward<T, O>(bl, dout, dx, dw, db && misalign ? db + 1 : db, N, IC, OC, acc, &err);
    CHECK(rc == 0, "matmul runs %s", err.msg);
    float *got = down(dout, N * OC);
    SAME(T, got, want, N * OC, "matmul [%zu x %d] . [%d x %d]^T%s%s -> %s", N, IC, OC, IC,
         bias ? (misalign ? " + a misaligned bias" : " + bias") : "", acc ? " accumulated" : "", tname<O>());
    cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dout);
    free(x), free(w), free(b), free(init), free(want), free(got);
}

// factor: the tables' attention_factor (yarn's 0.1 ln(factor) + 1; 1 otherwise)
template <typename T> static void test_rope(size_t N, int nh, int hd, float factor) {
    pic_rope_config r;
    memset(&r, 0, sizeof r);
    r.theta = 1e6;
    r.type = PIC_ROPE_DEFAULT;
    int half = hd / 2;
    float *inv = (float *)malloc(half * 4), *wc = (float *)malloc(N * half * 4), *ws = (float *)malloc(N * half * 4);
    rope_inv_freq(inv, &r, hd);
    int *pos = (int *)malloc(N * sizeof(int)), *dpos;
    for (size_t n = 0; n < N; n++) pos[n] = rand() % 5000;
    rope_tables(wc, ws, pos, N, inv, hd, factor);
    float *x = rnd<T>(N * nh * hd, 1.0), *want = (float *)malloc(N * nh * hd * 4);
    memcpy(want, x, N * nh * hd * 4);
    rope_forward(want, N, nh, hd, wc, ws);
    cudaMalloc(&dpos, N * sizeof(int));
    cudaMemcpy(dpos, pos, N * sizeof(int), cudaMemcpyHostToDevice);
    float *dinv = up<float>(inv, half), *dc = poisoned<float>(N * half), *ds = poisoned<float>(N * half);
    T *dx = up<T>(x, N * nh * hd);
    CHECK(pic_cuda::rope_tables(dc, ds, dpos, N, dinv, hd, factor, 0) == cudaSuccess &&
              pic_cuda::rope_forward(dx, N, nh, hd, dc, ds, 0) == cudaSuccess,
          "rope launches");
    float *gc = down(dc, N * half), *gs = down(ds, N * half), *got = down(dx, N * nh * hd);
    SAME(float, gc, wc, N * half, "rope cos table [%zu x %d], positions < 5000, attention factor %g", N, half,
         factor);
    SAME(float, gs, ws, N * half, "rope sin table [%zu x %d]", N, half);
    SAME(T, got, want, N * nh * hd, "rope [%zu x %d heads x %d]", N, nh, hd);
    cudaFree(dpos), cudaFree(dinv), cudaFree(dc), cudaFree(ds), cudaFree(dx);
    free(inv), free(wc), free(ws), free(pos), free(x), free(want), free(gc), free(gs), free(got);
}

template <typename T> static void test_qkv_split(size_t N, int qd, int kvd) {
    size_t w = (size_t)qd + 2 * kvd;
    float *x = rnd<T>(N * w, 1.0), *q = (float *)malloc(N * qd * 4), *k = (float *)malloc(N * kvd * 4),
          *v = (float *)malloc(N * kvd * 4);
    qkv_split_forward(q, k, v, x, N, qd, kvd);
    T *dx = up<T>(x, N * w), *dq = poisoned<T>(N * qd), *dk = poisoned<T>(N * kvd), *dv = poisoned<T>(N * kvd);
    CHECK(pic_cuda::qkv_split_forward(dq, dk, dv, dx, N, qd, kvd, 0) == cudaSuccess, "qkv split launches");
    float *gq = down(dq, N * qd), *gk = down(dk, N * kvd), *gv = down(dv, N * kvd);
    CHECK(!memcmp(gq, q, N * qd * 4) && !memcmp(gk, k, N * kvd * 4) && !memcmp(gv, v, N * kvd * 4),
          "%s qkv split [%zu x (%d + 2 x %d)]: exact", tname<T>(), N, qd, kvd);
    cudaFree(dx), cudaFree(dq), cudaFree(dk), cudaFree(dv);
    free(x), free(q), free(k), free(v), free(gq), free(gk), free(gv);
}

// Packed keys and values ([N, kvd], sequences of len[] one after another)
// moved into a pool of pages (a KV cache's layout, kvcache.h), the pages in
// reverse order and every row no sequence holds NaN.
template <typename T> struct pool {
    T *k, *v;
    int *table;  // device: [n_seq][slot_pages]
    size_t *off; // device: each sequence's row of the table
    int n_pages;
};
template <typename T> static pool<T> to_pages(const T *k, const T *v, size_t kvd, const int *len, int n_seq) {
    int max_len = 0;
    for (int s = 0; s < n_seq; s++) max_len = len[s] > max_len ? len[s] : max_len;
    int slot_pages = (max_len + PIC_KV_PAGE - 1) / PIC_KV_PAGE, n_pages = n_seq * slot_pages, taken = 0;
    int *table = (int *)malloc((size_t)n_pages * sizeof(int));
    size_t *off = (size_t *)malloc(n_seq * sizeof(size_t)), size = (size_t)n_pages * PIC_KV_PAGE * kvd;
    for (int i = 0; i < n_pages; i++) table[i] = -1;
    pool<T> p = {poisoned<T>(size), poisoned<T>(size), NULL, NULL, n_pages};
    for (int s = 0, n = 0; s < n_seq; s++) {
        off[s] = (size_t)s * slot_pages;
        for (int t = 0; t < len[s]; t++, n++) {
            int *page = &table[off[s] + t / PIC_KV_PAGE];
            if (*page < 0) *page = n_pages - 1 - taken++;
            size_t at = ((size_t)*page * PIC_KV_PAGE + t % PIC_KV_PAGE) * kvd;
            cudaMemcpy(p.k + at, k + (size_t)n * kvd, kvd * sizeof(T), cudaMemcpyDeviceToDevice);
            cudaMemcpy(p.v + at, v + (size_t)n * kvd, kvd * sizeof(T), cudaMemcpyDeviceToDevice);
        }
    }
    cudaMalloc(&p.table, (size_t)n_pages * sizeof(int)), cudaMalloc(&p.off, n_seq * sizeof(size_t));
    cudaMemcpy(p.table, table, (size_t)n_pages * sizeof(int), cudaMemcpyHostToDevice);
    cudaMemcpy(p.off, off, n_seq * sizeof(size_t), cudaMemcpyHostToDevice);
    free(table), free(off);
    return p;
}
template <typename T> static void free_pages(pool<T> &p) { cudaFree(p.k), cudaFree(p.v), cudaFree(p.table), cudaFree(p.off); }

// qkv_rope_forward against the calls it fuses: qkv_split_forward, then
// rope_forward on q and on k (and, for the cache, the rows copied into a
// pool of pages by to_pages), bit for bit; from qkv, and in place after a
// split (Qwen3's path, its q/k norms between).
template <typename T> static void test_qkv_rope(const int *len, int n_seq, int nh, int nkv, int hd) {
    size_t N = 0, qd = (size_t)nh * hd, kvd = (size_t)nkv * hd, w = qd + 2 * kvd, half = hd / 2;
    for (int s = 0; s < n_seq; s++) N += len[s];
    int *seq = (int *)malloc(N * sizeof(int)), *pos = (int *)malloc(N * sizeof(int));
    for (int s = 0, n = 0; s < n_seq; s++)
        for (int t = 0; t < len[s]; t++, n++) seq[n] = s, pos[n] = t;
    pic_rope_config r;
    memset(&r, 0, sizeof r);
    r.theta = 1e4;
    r.type = PIC_ROPE_DEFAULT;
    float *inv = (float *)malloc(half * 4), *x = rnd<T>(N * w, 1.0);
    rope_inv_freq(inv, &r, hd);
    int *dseq, *dpos;
    cudaMalloc(&dseq, N * sizeof(int)), cudaMalloc(&dpos, N * sizeof(int));
    cudaMemcpy(dseq, seq, N * sizeof(int), cudaMemcpyHostToDevice);
    cudaMemcpy(dpos, pos, N * sizeof(int), cudaMemcpyHostToDevice);
    float *dinv = up<float>(inv, half), *dc = poisoned<float>(N * half), *ds = poisoned<float>(N * half);
    T *dqkv = up<T>(x, N * w), *rq = poisoned<T>(N * qd), *rk = poisoned<T>(N * kvd), *rv = poisoned<T>(N * kvd);
    T *fq = poisoned<T>(N * qd), *fk = poisoned<T>(N * kvd), *fv = poisoned<T>(N * kvd), *pk = poisoned<T>(N * kvd);
    pic_cuda::kv_dest<T> none = {};
    bool ran = pic_cuda::rope_tables(dc, ds, dpos, N, dinv, hd, 1.0f, 0) == cudaSuccess &&
               pic_cuda::qkv_split_forward(rq, rk, rv, dqkv, N, (int)qd, (int)kvd, 0) == cudaSuccess &&
               pic_cuda::rope_forward(rq, N, nh, hd, dc, ds, 0) == cudaSuccess &&
               pic_cuda::rope_forward(rk, N, nkv, hd, dc, ds, 0) == cudaSuccess &&
               pic_cuda::qkv_rope_forward(fq, fk, fv, dqkv, N, nh, nkv, hd, dc, ds, none, 0) == cudaSuccess;
    pool<T> want = to_pages(rk, rv, kvd, len, n_seq), got = to_pages(pk, pk, kvd, len, n_seq);
    pic_cuda::kv_dest<T> cache = {got.k, got.v, dseq, dpos, got.off, got.table};
    T *iq = poisoned<T>(N * qd), *ik = poisoned<T>(N * kvd), *iv = poisoned<T>(N * kvd);
    ran = ran && pic_cuda::qkv_split_forward(iq, ik, iv, dqkv, N, (int)qd, (int)kvd, 0) == cudaSuccess &&
          pic_cuda::qkv_rope_forward(iq, ik, iv, (const T *)NULL, N, nh, nkv, hd, dc, ds, cache, 0) == cudaSuccess;
    CHECK(ran, "qkv_rope_forward and the calls it fuses launch");
    size_t pool_n = (size_t)want.n_pages * PIC_KV_PAGE * kvd;
    float *a[5] = {down(rq, N * qd), down(rk, N * kvd), down(rv, N * kvd), down(want.k, pool_n), down(want.v, pool_n)};
    float *b[5] = {down(fq, N * qd), down(fk, N * kvd), down(fv, N * kvd), down(got.k, pool_n), down(got.v, pool_n)};
    float *c[3] = {down(iq, N * qd), down(ik, N * kvd), down(iv, N * kvd)};
    size_t n[5] = {N * qd, N * kvd, N * kvd, pool_n, pool_n};
    bool split = true, in_place = true, cached = true;
    for (int i = 0; i < 3; i++) split = split && !memcmp(a[i], b[i], n[i] * 4);
    for (int i = 0; i < 3; i++) in_place = in_place && !memcmp(a[i], c[i], n[i] * 4);
    for (int i = 3; i < 5; i++) cached = cached && !memcmp(a[i], b[i], n[i] * 4);
    CHECK(split && in_place && cached,
          "%s qkv_rope_forward [%zu tokens, %d + 2 x %d heads of %d] = split, rope of q and k, append, bit for bit "
          "(from qkv %d, in place %d, the cache's %d pages %d)",
          tname<T>(), N, nh, nkv, hd, split, in_place, want.n_pages, cached);
    for (int i = 0; i < 5; i++) free(a[i]), free(b[i]);
    for (int i = 0; i < 3; i++) free(c[i]);
    free_pages(want), free_pages(got);
    cudaFree(dseq), cudaFree(dpos), cudaFree(dinv), cudaFree(dc), cudaFree(ds), cudaFree(dqkv);
    cudaFree(rq), cudaFree(rk), cudaFree(rv), cudaFree(fq), cudaFree(fk), cudaFree(fv), cudaFree(pk);
    cudaFree(iq), cudaFree(ik), cudaFree(iv);
    free(seq), free(pos), free(inv), free(x);
}

// packed's keys through a page table: the output and log-sum-exp are
// packed's (want, wl), bit for bit, since the kernels read the same chunks
// of keys either way.
template <typename T>
static void test_attention_paged(const pic_cuda::attn_input<T> &packed, const T *dq, const int *len, int n_seq,
                                 int nh, int nkv, int hd, const float *want, const float *wl) {
    size_t N = packed.N, kvd = packed.kv_stride, qd = (size_t)nh * hd;
    pool<T> p = to_pages(packed.k, packed.v, kvd, len, n_seq);
    pic_cuda::attn_input<T> in = packed;
    in.k = p.k, in.v = p.v, in.seq_off = p.off, in.page = p.table;
    T *dout = poisoned<T>(N * qd);
    float *dl = poisoned<float>(N * nh);
    cudaError_t e = pic_cuda::attention_forward(dout, dl, dq, in, nh, nkv, hd, 0);
    CHECK(e == cudaSuccess, "paged attention launches: %s", cudaGetErrorString(e));
    float *got = down(dout, N * qd), *gl = down(dl, N * nh);
    CHECK(!memcmp(got, want, N * qd * 4) && !memcmp(gl, wl, N * nh * 4),
          "%s attention through a page table = packed, bit for bit (%d sequences, %d pages, heads of %d)", tname<T>(),
          n_seq, p.n_pages, hd);
    free_pages(p);
    cudaFree(dout), cudaFree(dl);
    free(got), free(gl);
}

// Sequences of lengths len[] packed one after another: each token's
// sequence and position, each sequence's first key row (kv_dim apart) and
// the attention tiles, on the host and on the device.
struct packed {
    size_t N;
    int n_tiles, max_len;
    int *seq, *pos, *dseq, *dpos;
    size_t *off, *doff;
    int2 *tiles, *dtiles;
};
static packed pack(const int *len, int n_seq, int kvd) {
    packed p = {0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    for (int s = 0; s < n_seq; s++) p.N += (size_t)len[s];
    p.seq = (int *)malloc(p.N * sizeof(int)), p.pos = (int *)malloc(p.N * sizeof(int));
    p.off = (size_t *)malloc(n_seq * sizeof(size_t));
    p.tiles = (int2 *)malloc(p.N * sizeof(int2));
    for (int s = 0, n = 0; s < n_seq; s++) {
        p.off[s] = (size_t)n * kvd;
        for (int t = 0; t < len[s]; t += pic_cuda::ATTN_TILE)
            p.tiles[p.n_tiles++] =
                make_int2(n + t, len[s] - t < pic_cuda::ATTN_TILE ? len[s] - t : pic_cuda::ATTN_TILE);
        for (int t = 0; t < len[s]; t++, n++) p.seq[n] = s, p.pos[n] = t;
        if (len[s] > p.max_len) p.max_len = len[s];
    }
    cudaMalloc(&p.dseq, p.N * sizeof(int)), cudaMalloc(&p.dpos, p.N * sizeof(int));
    cudaMalloc(&p.doff, n_seq * sizeof(size_t)), cudaMalloc(&p.dtiles, p.n_tiles * sizeof(int2));
    cudaMemcpy(p.dseq, p.seq, p.N * sizeof(int), cudaMemcpyHostToDevice);
    cudaMemcpy(p.dpos, p.pos, p.N * sizeof(int), cudaMemcpyHostToDevice);
    cudaMemcpy(p.doff, p.off, n_seq * sizeof(size_t), cudaMemcpyHostToDevice);
    cudaMemcpy(p.dtiles, p.tiles, p.n_tiles * sizeof(int2), cudaMemcpyHostToDevice);
    return p;
}
static void free_packed(packed &p) {
    cudaFree(p.dseq), cudaFree(p.dpos), cudaFree(p.doff), cudaFree(p.dtiles);
    free(p.seq), free(p.pos), free(p.off), free(p.tiles);
}

// Packed sequences of lengths len[], keys of the batch itself (no cache).
template <typename T> static void test_attention(const int *len, int n_seq, int nh, int nkv, int hd) {
    size_t need = pic_cuda::attention_smem_bytes(sizeof(T) == 2, hd);
    if (need > pic_cuda::attention_smem_limit()) { // pic_model_load refuses such a model on this GPU
        printf("# %s attention at heads of %d: %zu bytes of shared memory a block, this GPU has %zu: not run\n",
               tname<T>(), hd, need, pic_cuda::attention_smem_limit());
        return;
    }
    int qd = nh * hd, kvd = nkv * hd;
    packed p = pack(len, n_seq, kvd);
    size_t N = p.N;
    float *q = rnd<T>(N * qd, 1.5), *k = rnd<T>(N * kvd, 1.5), *v = rnd<T>(N * kvd, 1.0);
    float *want = (float *)malloc(N * qd * 4), *wl = (float *)malloc(N * nh * 4);
    pic_attn_input in = {N, p.seq, p.pos, k, v, p.off, (size_t)kvd, NULL};
    size_t wb = attention_workspace_size(N, p.max_len, nh, nkv);
    void *work = malloc(wb);
    attention_forward(want, wl, q, &in, nh, nkv, hd, work, wb);
    T *dq = up<T>(q, N * qd), *dk = up<T>(k, N * kvd), *dv = up<T>(v, N * kvd), *dout = poisoned<T>(N * qd);
    float *dl = poisoned<float>(N * nh);
    pic_cuda::attn_input<T> din = {N, p.dseq, p.dpos, dk, dv, p.doff, (size_t)kvd, p.dtiles, p.n_tiles, nullptr};
    cudaError_t e = pic_cuda::attention_forward(dout, dl, dq, din, nh, nkv, hd, 0);
    CHECK(e == cudaSuccess, "attention launches: %s", cudaGetErrorString(e));
    float *got = down(dout, N * qd), *gl = down(dl, N * nh);
    SAME(T, got, want, N * qd, "attention %d sequences (%zu tokens, longest %d), %d/%d heads of %d", n_seq, N,
         p.max_len, nh, nkv, hd);
    SAME(T, gl, wl, N * nh, "attention log-sum-exp, heads of %d", hd);
    test_attention_paged<T>(din, dq, len, n_seq, nh, nkv, hd, got, gl);
    free_packed(p);
    cudaFree(dq), cudaFree(dk), cudaFree(dv), cudaFree(dout), cudaFree(dl);
    free(q), free(k), free(v), free(want), free(wl), free(work), free(got), free(gl);
}

// A decode step through a KV cache's pages in bf16 on tensor cores: the
// last token of every sequence but the last as a one-token tile, beside the
// last sequence's final 70 tokens as prefill tiles (64 and 6). Whichever
// way the one-token tiles run (a block per query head, a query group per
// block, or that split into segments of ATTN_SEG positions and merged),
// every row is the tile kernel's row for that token of the packed
// sequences, bit for bit: the exact on-policy property's attention part.
// The lengths put decode rows on both sides of segment boundaries.
static void test_attention_decode(int nh, int nkv, int hd) {
    static const int len[] = {1, 64, 65, 511, 512, 513, 1025, 1100, 1600};
    const int n_seq = 9, tail = 70, n_single = n_seq - 1;
    int qd = nh * hd, kvd = nkv * hd;
    // the packed sequences, scored by the tile kernel: what each row must be
    packed pk = pack(len, n_seq, kvd);
    size_t N = pk.N, last[n_seq];
    for (int s = 0, n = 0; s < n_seq; s++) n += len[s], last[s] = (size_t)n - 1;
    float *q = rnd<bf16>(N * qd, 1.5), *k = rnd<bf16>(N * kvd, 1.5), *v = rnd<bf16>(N * kvd, 1.0);
    bf16 *dq = up<bf16>(q, N * qd), *dk = up<bf16>(k, N * kvd), *dv = up<bf16>(v, N * kvd);
    bf16 *dout = poisoned<bf16>(N * qd);
    float *dl = poisoned<float>(N * nh);
    pic_cuda::attn_input<bf16> packed_in = {N, pk.dseq, pk.dpos, dk, dv, pk.doff, (size_t)kvd, pk.dtiles, pk.n_tiles,
                                            nullptr};
    cudaError_t e = pic_cuda::attention_forward(dout, dl, dq, packed_in, nh, nkv, hd, 0);
    float *want = down(dout, N * qd), *wl = down(dl, N * nh);

    // the step: its tokens' rows of q, positions, sequences; prefill tiles first
    size_t M = (size_t)n_single + tail;
    size_t *row = (size_t *)malloc(M * sizeof(size_t)); // the packed token of each step token
    int *sseq = (int *)malloc(M * sizeof(int)), *spos = (int *)malloc(M * sizeof(int));
    int2 stiles[2 + n_single];
    for (int t = 0; t < tail; t++) row[t] = last[n_seq - 1] - (tail - 1) + t;
    for (int s = 0; s < n_single; s++) row[tail + s] = last[s];
    for (size_t i = 0; i < M; i++) sseq[i] = pk.seq[row[i]], spos[i] = pk.pos[row[i]];
    stiles[0] = make_int2(0, 64), stiles[1] = make_int2(64, tail - 64);
    for (int s = 0; s < n_single; s++) stiles[2 + s] = make_int2(tail + s, 1);
    bf16 *sq = poisoned<bf16>(M * qd);
    for (size_t i = 0; i < M; i++)
        cudaMemcpy(sq + i * qd, dq + row[i] * qd, qd * sizeof(bf16), cudaMemcpyDeviceToDevice);
    int *dsseq = NULL, *dspos = NULL;
    int2 *dstiles = NULL, *dwork = NULL;
    cudaMalloc(&dsseq, M * sizeof(int)), cudaMalloc(&dspos, M * sizeof(int)), cudaMalloc(&dstiles, sizeof stiles);
    cudaMemcpy(dsseq, sseq, M * sizeof(int), cudaMemcpyHostToDevice);
    cudaMemcpy(dspos, spos, M * sizeof(int), cudaMemcpyHostToDevice);
    cudaMemcpy(dstiles, stiles, sizeof stiles, cudaMemcpyHostToDevice);
    pool<bf16> p = to_pages(dk, dv, (size_t)kvd, len, n_seq);
    int seg_cap = pic_cuda::attention_segments(len[n_seq - 1]);
    int2 *work = (int2 *)malloc((1 + (size_t)n_single * seg_cap) * sizeof(int2));
    float *dpart = poisoned<float>((size_t)n_single * seg_cap * nh * (hd + 2));
    cudaMalloc(&dwork, (1 + (size_t)n_single * seg_cap) * sizeof(int2));
    // a block an item, the grid work_cap long: split, the rows' items are fewer than that (lengths differ)
    static const char *names[] = {"a block per head", "a query group per block", "split over segments"};
    for (int variant = 0; variant < 3; variant++) {
        pic_cuda::attn_decode mode = (pic_cuda::attn_decode)variant;
        pic_cuda::attn_input<bf16> in = {M, dsseq, dspos, p.k, p.v, p.off, (size_t)kvd, dstiles, 2 + n_single, p.table};
        if (mode != pic_cuda::ATTN_DECODE_HEAD) {
            int items = pic_cuda::attention_decode_work(work, stiles + 2, spos, n_single, mode);
            cudaMemcpy(dwork, work, (1 + (size_t)items) * sizeof(int2), cudaMemcpyHostToDevice);
            in.n_single = n_single, in.work = dwork, in.seg_cap = seg_cap;
            in.work_cap = n_single * (mode == pic_cuda::ATTN_DECODE_SPLIT ? seg_cap : 1);
            in.part = mode == pic_cuda::ATTN_DECODE_SPLIT ? dpart : nullptr;
        }
        bf16 *sout = poisoned<bf16>(M * qd);
        float *sl = poisoned<float>(M * nh);
        cudaError_t es = pic_cuda::attention_forward(sout, sl, sq, in, nh, nkv, hd, 0);
        float *got = down(sout, M * qd), *gl = down(sl, M * nh);
        es = es == cudaSuccess ? cudaGetLastError() : es;
        int bad = -1;
        for (size_t i = 0; i < M && bad < 0; i++)
            if (memcmp(got + i * qd, want + row[i] * qd, qd * 4) || memcmp(gl + i * nh, wl + row[i] * nh, nh * 4))
                bad = (int)i;
        CHECK(e == cudaSuccess && es == cudaSuccess && bad < 0,
              "bf16 decode attention, %s, = the tile kernel's rows, bit for bit (%d/%d heads of %d; first differing "
              "step row %d; %s)",
              names[variant], nh, nkv, hd, bad, cudaGetErrorString(es));
        cudaFree(sout), cudaFree(sl);
        free(got), free(gl);
    }
    free_pages(p);
    free_packed(pk);
    cudaFree(dq), cudaFree(dk), cudaFree(dv), cudaFree(dout), cudaFree(dl), cudaFree(sq), cudaFree(dsseq);
    cudaFree(dspos), cudaFree(dstiles), cudaFree(dwork), cudaFree(dpart);
    free(q), free(k), free(v), free(want), free(wl), free(row), free(sseq), free(spos), free(work);
}

// The decode attention's host side: which mode a model gets, and the work
// list (a row at position p has p / ATTN_SEG + 1 segments when split, one
// item for all of them otherwise). No GPU needed.
static void test_decode_work(void) {
    using namespace pic_cuda;
    CHECK(attention_segments(1) == 1 && attention_segments(512) == 1 && attention_segments(513) == 2 &&
              attention_segments(8448) == 17,
          "segments of 512 positions: 1, 512, 513 and 8448 positions make 1, 1, 2 and 17");
    // without the tensor-core kernels (PIC_CUDA_ATTN=simt, or a GPU whose blocks cannot hold them) a
    // decode step runs a block a head
    attn_decode split64 = attention_tensor_cores(64) ? ATTN_DECODE_SPLIT : ATTN_DECODE_HEAD,
                split128 = attention_tensor_cores(128) ? ATTN_DECODE_SPLIT : ATTN_DECODE_HEAD;
    CHECK(attention_decode_mode(true, 14, 2, 64) == split64 && attention_decode_mode(true, 12, 2, 128) == split128 &&
              attention_decode_mode(false, 14, 2, 64) == ATTN_DECODE_HEAD &&
              attention_decode_mode(true, 8, 2, 80) == ATTN_DECODE_HEAD &&
              attention_decode_mode(true, 17, 1, 64) == ATTN_DECODE_HEAD &&
              attention_decode_mode(true, 16, 1, 64) == split64,
          "decode modes: split in bf16 at heads of 64 and 128 with groups up to 16; else a block per head");
    // sm_86 and sm_89 (A10, L4, L40S) give a block 99 KB
    size_t f128 = attention_tc_smem_bytes(128), b128 = attention_tc_backward_smem_bytes(128);
    CHECK(f128 <= 101376 && b128 <= 101376,
          "the tensor-core attention at heads of 128 fits the 99 KB a block of sm_86 and sm_89 (forward %zu bytes, "
          "backward %zu)", f128, b128);
    int pos[5] = {0, 511, 512, 1023, 1024};
    int2 tiles[5], work[1 + 5 * 3];
    for (int i = 0; i < 5; i++) tiles[i] = make_int2(4 - i, 1); // tile i's token is 4 - i, at pos[i]
    int rev[5] = {pos[4], pos[3], pos[2], pos[1], pos[0]};   // tok_pos, by token
    static const int want[][2] = {{0, 0}, {1, 0}, {2, 0}, {2, 1}, {3, 0}, {3, 1}, {4, 0}, {4, 1}, {4, 2}};
    int n = attention_decode_work(work, tiles, rev, 5, ATTN_DECODE_SPLIT), ok = n == 9 && work[0].x == 9;
    for (int w = 0; ok && w < 9; w++) ok = work[1 + w].x == want[w][0] && work[1 + w].y == want[w][1];
    CHECK(ok, "split work list: (row, segment) for every segment of rows at 0, 511, 512, 1023, 1024 (%d items)", n);
    n = attention_decode_work(work, tiles, rev, 5, ATTN_DECODE_GROUP), ok = n == 5 && work[0].x == 5;
    for (int w = 0; ok && w < 5; w++) ok = work[1 + w].x == w && work[1 + w].y == -1;
    CHECK(ok, "group work list: one item a row, all its segments (%d items)", n);
}

template <typename T> static void test_swiglu(size_t N, int F) {
    float *gu = rnd<T>(N * 2 * F, 2.0), *want = (float *)malloc(N * F * 4);
    swiglu_forward(want, gu, N, F);
    T *dgu = up<T>(gu, N * 2 * F), *dout = poisoned<T>(N * F);
    CHECK(pic_cuda::swiglu_forward(dout, dgu, N, F, 0) == cudaSuccess, "swiglu launches");
    float *got = down(dout, N * F);
    SAME(T, got, want, N * F, "swiglu [%zu x %d]", N, F);
    cudaFree(dgu), cudaFree(dout);
    free(gu), free(want), free(got);
}

static void test_logits(size_t N, int V, float temp) {
    float *z = rnd<float>(N * V, 3.0), *wl = (float *)malloc(N * 4), *wh = (float *)malloc(N * 4);
    int32_t *tg = (int32_t *)malloc(N * 4), *dtg;
    for (size_t n = 0; n < N; n++) tg[n] = rand() % V;
    logprob_entropy_forward(wl, wh, z, tg, N, V, temp);
    cudaMalloc(&dtg, N * 4);
    cudaMemcpy(dtg, tg, N * 4, cudaMemcpyHostToDevice);
    float *dz = up<float>(z, N * V), *dl = poisoned<float>(N), *dh = poisoned<float>(N);
    CHECK(pic_cuda::logprob_entropy_forward(dl, dh, dz, dtg, N, V, temp, 0) == cudaSuccess, "logits launch");
    float *gl = down(dl, N), *gh = down(dh, N);
    SAME(float, gl, wl, N, "log-probs of [%zu x %d] at T %.1f", N, V, temp);
    SAME(float, gh, wh, N, "entropies of [%zu x %d] at T %.1f", N, V, temp);
    cudaFree(dtg), cudaFree(dz), cudaFree(dl), cudaFree(dh);
    free(z), free(wl), free(wh), free(tg), free(gl), free(gh);
}

template <typename T> static void all_layers(bool pedantic) {
    void *ws;
    cudaMalloc(&ws, 32u << 20);
    pic_cuda::blas *bl = NULL;
    pic_err err = {""};
    if (!CHECK(pic_cuda::blas_create(&bl, 0, ws, 32u << 20, pedantic, &err) == 0, "cuBLASLt handle %s", err.msg)) return;
    test_embedding<T>(37, 67, 101);
    // rows of 64, 128 and 256 threads (norm_lanes: C over 4, a warp to a block), the last block part-full
    test_rmsnorm<T>(33, 129, false);
    test_rmsnorm<T>(7, 500, true);
    test_rmsnorm<T>(3, 1100, false);
    test_rmsnorm<T>(45, 16, true); // a q/k norm: rows of one head, in place
    test_matmul<T, T>(bl, 37, 67, 131, true, false);
    test_matmul<T, T>(bl, 1, 64, 96, false, true);
    test_matmul<T, T>(bl, 130, 257, 75, true, true);
    test_matmul<T, T>(bl, 33, 64, 70, true, false, true);
    test_matmul<T, T>(bl, 33, 64, 70, true, true, true);
    test_matmul<T, float>(bl, 29, 64, 1003, false, false); // the lm_head: float logits
    test_rope<T>(29, 3, 10, 1.0f);
    test_rope<T>(17, 2, 128, 1.1386f); // yarn at factor 4
    test_qkv_split<T>(23, 48, 16);
    static const int rope_lens[] = {1, 70, 5, 130};
    test_qkv_rope<T>(rope_lens, 4, 6, 2, 64);
    test_qkv_rope<T>(rope_lens + 1, 2, 3, 3, 10);
    test_swiglu<T>(19, 77);
    static const int lens[] = {1, 70, 5, 130, 64};
    static const int hds[] = {8, 16, 32, 64, 80, 128, 192}; // 192: the float kernel's largest instance (up to 256)
    for (int i = 0; i < 7; i++) test_attention<T>(lens, 5, 6, 2, hds[i]);
    test_attention<T>(lens + 3, 1, 4, 4, 64); // one sequence, no grouping
    static const int longer[] = {1100, 513};   // several segments of ATTN_SEG keys
    test_attention<T>(longer, 2, 6, 2, 64);
    test_attention<T>(longer, 2, 4, 1, 128);
    pic_cuda::blas_destroy(bl);
    cudaFree(ws);
}

// A whole model on the GPU against the same weights on the CPU: a qwen2 of
// odd sizes (hidden 138: q/k/v biases off 16-byte boundaries, so the
// bias-first product runs inside a real forward beside the epilogue's) with
// heads of 64, so bf16 also runs the tensor-core attention. f32: 1e-5 on
// the logits (two layers of float rounding in different orders); bf16:
// 4e-2, the sum of the ~20 bf16 roundings (2^-9 each) in series from the
// embedding to the logits if they all added up. Log-probs and entropies:
// the head on the same hidden states, to the same bounds. Its rope is
// yarn's, so the forward's tables carry an attention factor (1.139) too.
// llama: the same sizes as a llama with attention_bias and mlp_bias, so that
// the o projection's and the MLP's biases count too (qwen2 has q/k/v's).
static void test_model(pic_model_dtype dtype, bool llama = false) {
    static const char qwen2_json[] =
        "{\"model_type\":\"qwen2\",\"vocab_size\":301,\"hidden_size\":138,\"intermediate_size\":203,"
        "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,\"head_dim\":64,"
        "\"max_position_embeddings\":512,\"rms_norm_eps\":1e-6,\"tie_word_embeddings\":false,"
        "\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4.0,\"original_max_position_embeddings\":128}}";
    static const char llama_json[] =
        "{\"model_type\":\"llama\",\"vocab_size\":301,\"hidden_size\":138,\"intermediate_size\":203,"
        "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,\"head_dim\":64,"
        "\"max_position_embeddings\":512,\"rms_norm_eps\":1e-6,\"tie_word_embeddings\":false,"
        "\"attention_bias\":true,\"mlp_bias\":true}";
    pic_config cfg;
    pic_err err = {""};
    if (!CHECK(pic_config_parse(&cfg, llama ? llama_json : qwen2_json, "test config", &err) == 0,
               "test config parses %s", err.msg))
        return;
    if (llama && !CHECK(cfg.o_bias && cfg.mlp_bias, "the llama has o and MLP biases")) return;
    pic_model cpu, gpu;
    pic_model_init(&cpu, &cfg);
    pic_model_init(&gpu, &cfg);
    pic_params_init_random(&cpu.params, 5, 0.05f);
    pic_params_init_random(&gpu.params, 5, 0.05f);
    for (size_t i = 0; i < cpu.params.n_desc; i++) // non-zero biases, so that they count
        if (strstr(cpu.params.desc[i].name, ".bias"))
            for (size_t j = 0; j < cpu.params.desc[i].numel; j++)
                cpu.params.data[cpu.params.desc[i].offset + j] = gpu.params.data[gpu.params.desc[i].offset + j] =
                    0.1f * (float)((j * 7) % 11) - 0.5f;
    if (dtype == PIC_DTYPE_BF16) // both sides from the same bf16 weights
        for (size_t i = 0; i < cpu.params.numel; i++)
            cpu.params.data[i] = gpu.params.data[i] = pic_bf16_to_f32(pic_f32_to_bf16(cpu.params.data[i]));
    pic_model_opts o = {PIC_DEVICE_CUDA, dtype, 512, false, 0};
    if (!CHECK(pic_model_to_device(&gpu, &o, &err) == 0, "%s model on the GPU: %s", pic_model_dtype_name(dtype),
               err.msg))
        return;
    int lens[3] = {150, 1, 70}, V = cfg.vocab_size;
    size_t N = 221;
    int32_t *tok = (int32_t *)malloc((N + 1) * sizeof(int32_t));
    for (size_t i = 0; i <= N; i++) tok[i] = (int32_t)(rand() % V);
    pic_batch b = {3, lens, tok, NULL};
    float *want = (float *)malloc(N * V * 4), *got = (float *)malloc(N * V * 4);
    for (size_t i = 0; i < N * (size_t)V; i++) got[i] = NAN;
    bool ran = pic_forward(&cpu, NULL, &b, PIC_LOGITS_ALL, want, &err) == 0 &&
               pic_forward(&gpu, NULL, &b, PIC_LOGITS_ALL, got, &err) == 0;
    if (!CHECK(ran, "forward passes run: %s", err.msg)) return;
    double bound = dtype == PIC_DTYPE_F32 ? 1e-5 : 4e-2, e = relerr(got, want, N * V);
    CHECK(e <= bound, "%s %s model: logits of 3 packed sequences, relative error %.3g <= %.0e",
          pic_model_dtype_name(dtype), cfg.model_type, e, bound);
    size_t *rows = (size_t *)malloc(N * sizeof(size_t));
    for (size_t i = 0; i < N; i++) rows[i] = N - 1 - i; // any order
    float *lw = (float *)malloc(N * 4), *hw = (float *)malloc(N * 4), *lg = (float *)malloc(N * 4),
          *hg = (float *)malloc(N * 4);
    ran = pic_forward_stats(&cpu, rows, N, tok + 1, 0.7f, lw, hw, &err) == 0 &&
          pic_forward_stats(&gpu, rows, N, tok + 1, 0.7f, lg, hg, &err) == 0;
    if (CHECK(ran, "log-probs and entropies run: %s", err.msg)) {
        double el = relerr(lg, lw, N), eh = relerr(hg, hw, N);
        CHECK(el <= bound && eh <= bound, "%s model: log-probs and entropies at T 0.7, relative errors %.3g, %.3g",
              pic_model_dtype_name(dtype), el, eh);
    }
    int big = 513;
    pic_batch bb = {1, &big, tok, NULL};
    int32_t *many = (int32_t *)calloc(513, sizeof(int32_t));
    bb.tokens = many;
    CHECK(pic_forward(&gpu, NULL, &bb, PIC_LOGITS_NONE, NULL, &err) != 0 && strstr(err.msg, "--max-batch-tokens"),
          "more tokens than the arena holds is an error naming --max-batch-tokens");
    pic_model_free(&cpu);
    pic_model_free(&gpu);
    free(tok), free(want), free(got), free(rows), free(lw), free(hw), free(lg), free(hg), free(many);
}

int main(void) {
    test_decode_work();
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        printf("# no CUDA device: the layers' checks are skipped\n");
        return check_done();
    }
    pic_set_threads(2);
    srand(11);
    test_mma_layouts();
    all_layers<float>(true);
    all_layers<bf16>(false);
    test_attention_decode(14, 2, 64); // Qwen2.5-0.5B's group of 7
    test_attention_decode(12, 2, 128); // 1.5B's 6
    test_attention_decode(4, 4, 128);  // no grouping
    test_attention_decode(16, 1, 64);  // the largest group a slice holds
    test_logits(9, 1001, 1.0f);
    test_logits(5, 4099, 0.6f);
    test_model(PIC_DTYPE_F32);
    test_model(PIC_DTYPE_BF16);
    test_model(PIC_DTYPE_F32, true);
    return check_done();
}
