// Each CUDA layer's backward (src/model/cuda) against its CPU twin on fresh
// random inputs, odd shapes included; outputs that are written (not
// accumulated) poisoned with NaN first, accumulated ones starting from
// random values on both sides (so a kernel that overwrites fails).
// Norm-wise relative error <= 1e-5 in f32 and <= 1e-2 in bf16, as the
// forward twins (test_cuda_layers). Then the optimizer's twins, and a whole
// model's gradient on the GPU against the CPU's on the same weights: f32
// within 1e-4 (two layers of float sums in other orders, through a softmax),
// bf16 within 5e-2; the same gradient again bit for bit (fixed-order sums),
// and under --recompute bit for bit. TAP skip without a GPU.
#include "cuda_check.cuh"
#include "model/cuda/entry.h"

extern "C" {
#include "model/backward.h"
#include "model/layers.h"
#include "model/parallel.h"
#include "model/adamw.h"
}

// A device copy of a host array of another type (ints, layouts).
template <typename X> static X *up_raw(const X *x, size_t n) {
    X *d;
    cudaMalloc(&d, n * sizeof(X) + 4);
    cudaMemcpy(d, x, n * sizeof(X), cudaMemcpyHostToDevice);
    return d;
}

static float *copy(const float *x, size_t n) {
    float *y = (float *)malloc(n * sizeof(float) + 4);
    memcpy(y, x, n * sizeof(float));
    return y;
}

// distinct: the ids drawn (repeated tokens add up); pad: the row left alone (-1: none)
static void test_embedding(size_t N, int C, int V, int distinct, int pad) {
    float *g0 = rnd<float>((size_t)V * C, 1.0), *dout = rnd<float>(N * C, 1.0), *want = copy(g0, (size_t)V * C);
    int32_t *tok = (int32_t *)malloc(N * sizeof(int32_t));
    for (size_t n = 0; n < N; n++) tok[n] = (int32_t)((rand() % distinct) * (V / distinct));
    embedding_backward(want, dout, tok, N, C, pad);
    float *dg = up<float>(g0, (size_t)V * C), *dd = up<float>(dout, N * C);
    int32_t *dt = up_raw(tok, N);
    size_t sb = pic_cuda::embedding_backward_scratch(N, V);
    void *scratch = NULL;
    cudaMalloc(&scratch, sb);
    CHECK(pic_cuda::embedding_backward(dg, dd, dt, N, C, V, pad, scratch, sb, 0) == cudaSuccess, "embedding backward launches");
    cudaFree(scratch);
    float *got = down(dg, (size_t)V * C);
    SAME(float, got, want, (size_t)V * C, "embedding backward [%zu x %d], repeated tokens", N, C);
    if (pad >= 0)
        CHECK(!memcmp(got + (size_t)pad * C, g0 + (size_t)pad * C, C * sizeof(float)),
              "embedding backward: the pad token's row %d is left as it was", pad);
    // the same adds in the same order: the CPU's bits
    CHECK(!memcmp(got, want, (size_t)V * C * sizeof(float)), "embedding backward [%zu x %d], %d ids of %d: the CPU's bits",
          N, C, distinct, V);
    cudaFree(dg), cudaFree(dd), cudaFree(dt);
    free(g0), free(dout), free(want), free(tok), free(got);
}

template <typename T, typename G> static void test_rmsnorm(size_t N, int C) {
    float *x = rnd<T>(N * C, 2.0), *w = rnd<T>(C, 1.0), *dy = rnd<G>(N * C, 1.0), *r = (float *)malloc(N * 4);
    float *y = (float *)malloc(N * C * 4), *dx0 = rnd<G>(N * C, 1.0), *dw0 = rnd<float>(C, 1.0);
    rmsnorm_forward(y, r, x, w, N, C, 1e-6f);
    float *wdx = copy(dx0, N * C), *wdw = copy(dw0, C);
    rmsnorm_backward(wdx, wdw, dy, x, w, r, N, C);
    T *dxin = up<T>(x, N * C), *dw = up<T>(w, C);
    G *ddy = up<G>(dy, N * C), *ddx = up<G>(dx0, N * C);
    float *ddw = up<float>(dw0, C), *dr = up<float>(r, N), *scratch = poisoned<float>(pic_cuda::COL_CHUNKS * 3 * C);
    // the q/k norms' chunk count (heads times a layer's) on some shapes
    int chunks = C < 64 ? pic_cuda::COL_CHUNKS * 3 : pic_cuda::COL_CHUNKS;
    cudaError_t e = pic_cuda::rmsnorm_backward<T, G>(ddx, ddw, ddy, dxin, dw, dr, N, C, scratch, chunks, 0);
    CHECK(e == cudaSuccess, "rmsnorm backward launches");
    float *gdx = down(ddx, N * C), *gdw = down(ddw, C);
    SAME(T, gdx, wdx, N * C, "rmsnorm backward dinp [%zu x %d] (%s gradients)", N, C, tname<G>());
    SAME(T, gdw, wdw, C, "rmsnorm backward dweight [%zu x %d]", N, C);
    cudaFree(dxin), cudaFree(dw), cudaFree(ddy), cudaFree(ddx), cudaFree(ddw), cudaFree(dr), cudaFree(scratch);
    free(x), free(w), free(dy), free(r), free(y), free(dx0), free(dw0), free(wdx), free(wdw), free(gdx), free(gdw);
}

// fresh: dinp is overwritten (its start poisoned here), not added to
template <typename T, typename D>
static void test_matmul(pic_cuda::blas *bl, size_t N, int IC, int OC, bool bias, bool fresh = false) {
    float *x = rnd<T>(N * IC, 1.0), *w = rnd<T>((size_t)OC * IC, 0.1), *dy = rnd<T>(N * OC, 1.0);
    float *dx0 = rnd<D>(N * IC, 1.0), *dw0 = rnd<float>((size_t)OC * IC, 1.0), *db0 = rnd<float>(OC, 1.0);
    float *wdx = copy(dx0, N * IC), *wdw = copy(dw0, (size_t)OC * IC), *wdb = copy(db0, OC);
    if (fresh) memset(wdx, 0, N * IC * sizeof(float));
    matmul_backward(wdx, wdw, bias ? wdb : NULL, dy, x, w, N, IC, OC);
    if (fresh)
        for (size_t i = 0; i < N * IC; i++) dx0[i] = NAN;
    T *dx = up<T>(x, N * IC), *dw = up<T>(w, (size_t)OC * IC), *ddy = up<T>(dy, N * OC);
    D *ddx = up<D>(dx0, N * IC);
    float *ddw = up<float>(dw0, (size_t)OC * IC), *ddb = up<float>(db0, OC);
    float *scratch = poisoned<float>(pic_cuda::COL_CHUNKS * OC);
    pic_err err = {""};
    int rc = pic_cuda::matmul_backward<T, D>(bl, ddx, ddw, bias ? ddb : NULL, ddy, dx, dw, N, IC, OC, scratch, &err,
                                             fresh);
    CHECK(rc == 0, "matmul backward runs%s %s", fresh ? " (fresh dinp)" : "", err.msg);
    float *gdx = down(ddx, N * IC), *gdw = down(ddw, (size_t)OC * IC), *gdb = down(ddb, OC);
    SAME(T, gdx, wdx, N * IC, "matmul backward dinp [%zu x %d] . [%d x %d] -> %s", N, OC, OC, IC, tname<D>());
    SAME(T, gdw, wdw, (size_t)OC * IC, "matmul backward dweight [%d x %zu] . [%zu x %d]", OC, N, N, IC);
    if (bias) SAME(T, gdb, wdb, OC, "matmul backward dbias [%zu x %d]", N, OC);
    cudaFree(dx), cudaFree(dw), cudaFree(ddy), cudaFree(ddx), cudaFree(ddw), cudaFree(ddb), cudaFree(scratch);
    free(x), free(w), free(dy), free(dx0), free(dw0), free(db0), free(wdx), free(wdw), free(wdb);
    free(gdx), free(gdw), free(gdb);
}

template <typename T> static void test_rope(size_t N, int nh, int hd) {
    int half = hd / 2;
    float *c = rnd<float>(N * half, 1.0), *s = rnd<float>(N * half, 1.0), *dx = rnd<T>(N * nh * hd, 1.0);
    float *want = copy(dx, N * nh * hd);
    rope_backward(want, N, nh, hd, c, s);
    float *dc = up<float>(c, N * half), *ds = up<float>(s, N * half);
    T *ddx = up<T>(dx, N * nh * hd);
    CHECK(pic_cuda::rope_backward(ddx, N, nh, hd, dc, ds, 0) == cudaSuccess, "rope backward launches");
    float *got = down(ddx, N * nh * hd);
    SAME(T, got, want, N * nh * hd, "rope backward [%zu x %d heads x %d]", N, nh, hd);
    cudaFree(dc), cudaFree(ds), cudaFree(ddx);
    free(c), free(s), free(dx), free(want), free(got);
}

template <typename T> static void test_qkv_split(size_t N, int qd, int kvd) {
    size_t w = (size_t)qd + 2 * kvd;
    float *q = rnd<T>(N * qd, 1.0), *k = rnd<T>(N * kvd, 1.0), *v = rnd<T>(N * kvd, 1.0);
    float *want = (float *)malloc(N * w * 4);
    qkv_split_backward(want, q, k, v, N, qd, kvd);
    T *dq = up<T>(q, N * qd), *dk = up<T>(k, N * kvd), *dv = up<T>(v, N * kvd), *out = poisoned<T>(N * w);
    CHECK(pic_cuda::qkv_split_backward(out, dq, dk, dv, N, qd, kvd, 0) == cudaSuccess, "qkv backward launches");
    float *got = down(out, N * w);
    CHECK(!memcmp(got, want, N * w * 4), "%s qkv split backward [%zu x (%d + 2 x %d)]: exact", tname<T>(), N, qd, kvd);
    cudaFree(dq), cudaFree(dk), cudaFree(dv), cudaFree(out);
    free(q), free(k), free(v), free(want), free(got);
}

template <typename T> static void test_swiglu(size_t N, int F) {
    float *gu = rnd<T>(N * 2 * F, 2.0), *dh = rnd<T>(N * F, 1.0), *want = (float *)malloc(N * 2 * F * 4);
    swiglu_backward(want, dh, gu, N, F);
    T *dgu = up<T>(gu, N * 2 * F), *ddh = up<T>(dh, N * F), *out = poisoned<T>(N * 2 * F);
    CHECK(pic_cuda::swiglu_backward(out, ddh, dgu, N, F, 0) == cudaSuccess, "swiglu backward launches");
    float *got = down(out, N * 2 * F);
    SAME(T, got, want, N * 2 * F, "swiglu backward [%zu x %d]", N, F);
    cudaFree(dgu), cudaFree(ddh), cudaFree(out);
    free(gu), free(dh), free(want), free(got);
}

// O: float (in place over the logits, as the f32 head does) or bf16 (its own buffer).
template <typename O> static void test_logits(size_t N, int V, float temp, bool with_ent) {
    float *z = rnd<float>(N * V, 3.0), *gl = rnd<float>(N, 1.0), *ge = rnd<float>(N, 1.0);
    // row 0 far below zero (softmax does not see the shift): a block's maximum taken as 0 would underflow it
    for (int i = 0; i < V; i++) z[i] -= 128.0f;
    float *want = (float *)malloc(N * V * 4);
    int32_t *tg = (int32_t *)malloc(N * 4);
    for (size_t n = 0; n < N; n++) tg[n] = rand() % V;
    logprob_entropy_backward(want, z, tg, gl, with_ent ? ge : NULL, N, V, temp);
    float *dz = up<float>(z, N * V), *dgl = up<float>(gl, N), *dge = up<float>(ge, N);
    int32_t *dtg = up_raw(tg, N);
    O *out = sizeof(O) == 4 ? (O *)dz : poisoned<O>(N * V);
    cudaError_t e = pic_cuda::logprob_entropy_backward<O>(out, dz, dtg, dgl, with_ent ? dge : NULL, N, V, temp, 0);
    CHECK(e == cudaSuccess, "logits backward launches");
    float *got = down(out, N * V);
    SAME(O, got, want, N * V, "logits backward [%zu x %d] at T %.1f%s%s", N, V, temp, with_ent ? " + entropy" : "",
         sizeof(O) == 4 ? " in place" : "");
    if (sizeof(O) != 4) cudaFree(out);
    cudaFree(dz), cudaFree(dgl), cudaFree(dge), cudaFree(dtg);
    free(z), free(gl), free(ge), free(want), free(tg), free(got);
}

// Packed sequences of lengths len[] without a cache, as training runs them.
template <typename T> static void test_attention(const int *len, int n_seq, int nh, int nkv, int hd) {
    size_t need = pic_cuda::attention_backward_smem_bytes(sizeof(T) == 2, hd);
    if (need > pic_cuda::attention_smem_limit()) { // pic_train_init_cuda refuses such a model on this GPU
        printf("# %s attention backward at heads of %d: %zu bytes of shared memory a block, this GPU has %zu: "
               "not run\n", tname<T>(), hd, need, pic_cuda::attention_smem_limit());
        return;
    }
    size_t N = 0;
    for (int s = 0; s < n_seq; s++) N += (size_t)len[s];
    int qd = nh * hd, kvd = nkv * hd, max_len = 0, nt = 0, nk = 0;
    int *seq = (int *)malloc(N * sizeof(int)), *pos = (int *)malloc(N * sizeof(int));
    size_t *off = (size_t *)malloc(n_seq * sizeof(size_t));
    int2 *tiles = (int2 *)malloc(N * sizeof(int2));
    int4 *kt = (int4 *)malloc(N * sizeof(int4));
    for (int s = 0, n = 0; s < n_seq; s++) {
        off[s] = (size_t)n * kvd;
        for (int t = 0; t < len[s]; t += pic_cuda::ATTN_TILE)
            tiles[nt++] = make_int2(n + t, len[s] - t < pic_cuda::ATTN_TILE ? len[s] - t : pic_cuda::ATTN_TILE);
        for (int t = 0; t < len[s]; t += pic_cuda::ATTN_KTILE)
            kt[nk++] = make_int4(n + t, len[s] - t < pic_cuda::ATTN_KTILE ? len[s] - t : pic_cuda::ATTN_KTILE, n, len[s]);
        for (int t = 0; t < len[s]; t++, n++) seq[n] = s, pos[n] = t;
        if (len[s] > max_len) max_len = len[s];
    }
    float *q = rnd<T>(N * qd, 1.5), *k = rnd<T>(N * kvd, 1.5), *v = rnd<T>(N * kvd, 1.0), *dout = rnd<T>(N * qd, 1.0);
    float *out = (float *)malloc(N * qd * 4), *lse = (float *)malloc(N * nh * 4);
    pic_attn_input in = {N, seq, pos, k, v, off, (size_t)kvd};
    size_t wb = attention_workspace_size(N, max_len, nh, nkv);
    void *work = malloc(wb);
    attention_forward(out, lse, q, &in, nh, nkv, hd, work, wb);
    if (sizeof(T) == 2) // the GPU reads the forward's output in T
        for (size_t i = 0; i < N * qd; i++) out[i] = pic_bf16_to_f32(pic_f32_to_bf16(out[i]));
    float *dq0 = rnd<T>(N * qd, 0.1), *dk0 = rnd<T>(N * kvd, 0.1), *dv0 = rnd<T>(N * kvd, 0.1);
    float *wdq = copy(dq0, N * qd), *wdk = copy(dk0, N * kvd), *wdv = copy(dv0, N * kvd);
    attention_backward(wdq, wdk, wdv, dout, out, lse, q, &in, n_seq, nh, nkv, hd);
    int *dseq = up_raw(seq, N), *dpos = up_raw(pos, N);
    size_t *doff = up_raw(off, (size_t)n_seq);
    int2 *dtiles = up_raw(tiles, (size_t)nt);
    int4 *dkt = up_raw(kt, (size_t)nk);
    T *dq = up<T>(q, N * qd), *dk = up<T>(k, N * kvd), *dv = up<T>(v, N * kvd), *ddout = up<T>(dout, N * qd);
    T *dout_f = up<T>(out, N * qd), *gq = up<T>(dq0, N * qd), *gk = up<T>(dk0, N * kvd), *gv = up<T>(dv0, N * kvd);
    float *dl = up<float>(lse, N * nh), *D = poisoned<float>(N * nh);
    pic_cuda::attn_input<T> din = {N, dseq, dpos, dk, dv, doff, (size_t)kvd, dtiles, nt, nullptr};
    cudaError_t e = pic_cuda::attention_backward(gq, gk, gv, ddout, dout_f, dl, dq, din, dkt, nk, nh, nkv, hd, D, 0);
    CHECK(e == cudaSuccess, "attention backward launches: %s", cudaGetErrorString(e));
    float *hq = down(gq, N * qd), *hk = down(gk, N * kvd), *hv = down(gv, N * kvd);
    SAME(T, hq, wdq, N * qd, "attention backward dq: %d sequences (%zu tokens, longest %d), %d/%d heads of %d", n_seq,
         N, max_len, nh, nkv, hd);
    SAME(T, hk, wdk, N * kvd, "attention backward dk, heads of %d", hd);
    SAME(T, hv, wdv, N * kvd, "attention backward dv, heads of %d", hd);
    cudaFree(dseq), cudaFree(dpos), cudaFree(doff), cudaFree(dtiles), cudaFree(dkt), cudaFree(dq), cudaFree(dk);
    cudaFree(dv), cudaFree(ddout), cudaFree(dout_f), cudaFree(gq), cudaFree(gk), cudaFree(gv), cudaFree(dl), cudaFree(D);
    free(seq), free(pos), free(off), free(tiles), free(kt), free(q), free(k), free(v), free(dout), free(out), free(lse);
    free(work), free(dq0), free(dk0), free(dv0), free(wdq), free(wdk), free(wdv), free(hq), free(hk), free(hv);
}

template <typename T> static void all_layers(bool pedantic) {
    void *ws;
    cudaMalloc(&ws, 32u << 20);
    pic_cuda::blas *bl = NULL;
    pic_err err = {""};
    if (!CHECK(pic_cuda::blas_create(&bl, 0, ws, 32u << 20, pedantic, &err) == 0, "cuBLASLt handle %s", err.msg)) return;
    test_rmsnorm<T, float>(33, 129);
    test_rmsnorm<T, T>(450, 16); // a q/k norm: rows of one head
    test_matmul<T, T>(bl, 37, 67, 131, true);
    test_matmul<T, float>(bl, 130, 257, 75, true);
    test_matmul<T, T>(bl, 29, 64, 1003, false); // the lm_head
    test_matmul<T, float>(bl, 130, 257, 75, true, true); // a fresh dinp: the layers' scratch gradients
    test_matmul<T, T>(bl, 29, 64, 1003, false, true);
    test_rope<T>(29, 3, 10);
    test_rope<T>(17, 2, 128);
    test_qkv_split<T>(23, 48, 16);
    test_swiglu<T>(19, 77);
    static const int lens[] = {1, 70, 5, 130, 33};
    static const int hds[] = {8, 16, 32, 64, 80, 128, 192}; // 192: the kernels' largest instances (up to 256)
    for (int i = 0; i < 7; i++) test_attention<T>(lens, 5, 6, 2, hds[i]);
    test_attention<T>(lens + 3, 1, 4, 4, 64); // one sequence, no grouping
    pic_cuda::blas_destroy(bl);
    cudaFree(ws);
}

// The fused AdamW kernel and the device's global norm against adamw.c.
static void test_optimizer(size_t n) {
    float *p = rnd<float>(n, 1.0), *g = rnd<float>(n, 0.01), *m = rnd<float>(n, 0.001), *v = rnd<float>(n, 0.001);
    for (size_t i = 0; i < n; i++) v[i] = fabsf(v[i]);
    pic_adamw_cfg c;
    pic_adamw_defaults(&c);
    // a step and a decay large enough that dropping either term moves the
    // weights by 1e-3 of themselves, a hundred times the check's tolerance
    c.weight_decay = 0.1;
    const double lr = 1e-2;
    float *wp = copy(p, n), *wm = copy(m, n), *wv = copy(v, n);
    pic_adamw_step(wp, g, wm, wv, n, lr, &c, 7);
    float *dp = up<float>(p, n), *dg = up<float>(g, n), *dm = up<float>(m, n), *dv = up<float>(v, n);
    bf16 *dw = poisoned<bf16>(n);
    cudaError_t e = pic_cuda::pic_adamw_step<bf16>(dp, dg, dm, dv, n, lr, c.beta1, c.beta2, c.eps, c.weight_decay, 7,
                                                   dw, 0);
    CHECK(e == cudaSuccess, "AdamW launches");
    float *gp = down(dp, n), *gm = down(dm, n), *gv = down(dv, n), *gw = down(dw, n);
    SAME(float, gp, wp, n, "AdamW weights, %zu parameters", n);
    SAME(float, gm, wm, n, "AdamW first moments");
    SAME(float, gv, wv, n, "AdamW second moments");
    // the kernel is adamw.c's loop body, each operation rounded alone: its bits (eps, for one, moves the
    // denominator by a few ulps where the second moment is ~1e-6, inside the norm-wise tolerance)
    CHECK(!memcmp(gp, wp, n * 4) && !memcmp(gm, wm, n * 4) && !memcmp(gv, wv, n * 4),
          "AdamW weights and moments: the CPU's bits");
    float *rounded = (float *)malloc(n * 4);
    for (size_t i = 0; i < n; i++) rounded[i] = pic_bf16_to_f32(pic_f32_to_bf16(gp[i]));
    CHECK(!memcmp(rounded, gw, n * 4), "the bf16 weights are the master weights rounded");
    double *dn, *scratch, norm = 0;
    cudaMalloc(&dn, sizeof(double)), cudaMalloc(&scratch, pic_cuda::NORM_BLOCKS * sizeof(double));
    pic_cuda::grad_sumsq(dn, dg, n, scratch, 0);
    cudaMemcpy(&norm, dn, sizeof(double), cudaMemcpyDeviceToHost);
    norm = sqrt(norm);
    double want = pic_clip_grad_norm(g, n, 0);
    CHECK(fabs(norm - want) <= 1e-12 * want, "gradient norm %.17g = %.17g (double sums)", norm, want);
    cudaFree(dp), cudaFree(dg), cudaFree(dm), cudaFree(dv), cudaFree(dw), cudaFree(dn), cudaFree(scratch);
    free(p), free(g), free(m), free(v), free(wp), free(wm), free(wv), free(gp), free(gm), free(gv), free(gw), free(rounded);
}

static void fail(const pic_err &err) {
    fprintf(stderr, "test_cuda_backward: %s\n", err.msg);
    exit(1);
}

// One training micro-batch's gradient of a model: the forward, the head
// backward over every response row with upstream dlogp and dent, backward.
static void model_grad(pic_model *m, const pic_batch *b, size_t n_rows, const size_t *rows, const int32_t *tg,
                       const float *dlogp, const float *dent, float *grad) {
    pic_err err = {""};
    if (pic_forward(m, NULL, b, PIC_LOGITS_NONE, NULL, &err)) fail(err);
    if (m->device == PIC_DEVICE_CPU) {
        pic_params gv;
        pic_params_views(&gv, &m->cfg, grad);
        memset(grad, 0, m->params.numel * 4);
        float *dlnf = (float *)calloc(m->n_tokens * m->cfg.hidden_size, 4);
        pic_head_backward(m, rows, n_rows, tg, 0.8f, dlogp, dent, dlnf, &gv);
        pic_backward(m, b, dlnf, &gv);
        free(dlnf);
        pic_params_views_free(&gv);
        return;
    }
    if (pic_grad_zero_cuda(m, &err)) fail(err);
    pic_head_backward(m, rows, n_rows, tg, 0.8f, dlogp, dent, NULL, NULL);
    pic_backward(m, b, NULL, NULL);
    if (pic_train_state_get_cuda(m, PIC_STATE_GRAD, 0, grad, m->params.numel, &err)) fail(err);
}

// llama: a llama with attention_bias and mlp_bias (o's and the MLP's biases, which no qwen has)
static void test_model_grad(pic_model_dtype dtype, bool qk_norm, bool llama = false) {
    char cfg_json[600];
    snprintf(cfg_json, sizeof cfg_json,
             "{\"model_type\":\"%s\",\"vocab_size\":301,\"hidden_size\":138,\"intermediate_size\":203,"
             "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,\"head_dim\":64,"
             "\"max_position_embeddings\":1024,\"rms_norm_eps\":1e-6,\"tie_word_embeddings\":%s%s}",
             llama ? "llama" : qk_norm ? "qwen3" : "qwen2", qk_norm ? "true" : "false",
             llama ? ",\"attention_bias\":true,\"mlp_bias\":true" : "");
    pic_config cfg;
    pic_err err = {""};
    if (!CHECK(pic_config_parse(&cfg, cfg_json, "test config", &err) == 0, "test config parses %s", err.msg)) return;
    pic_model cpu, gpu[2];
    pic_model *all[3] = {&cpu, &gpu[0], &gpu[1]};
    for (int i = 0; i < 3; i++) {
        pic_model_init(all[i], &cfg);
        pic_params_init_random(&all[i]->params, 5, 0.05f);
        if (dtype == PIC_DTYPE_BF16)
            for (size_t j = 0; j < cpu.params.numel; j++)
                all[i]->params.data[j] = pic_bf16_to_f32(pic_f32_to_bf16(all[i]->params.data[j]));
    }
    pic_model_retain(&cpu, true);
    pic_model_opts o = {PIC_DEVICE_CUDA, dtype, 1024, true, 0};
    for (int i = 0; i < 2; i++) {
        // both run their heads 64 rows at a time (336 rows: six blocks), as
        // a real vocabulary's does: blocks of another size sum the lm_head's
        // gradient in another order (cuBLASLt adds each block's product to
        // it), so only the same blocks can give the same bits
        setenv("PIC_CUDA_HEAD_ROWS", "64", 1);
        int rc = pic_model_to_device(&gpu[i], &o, &err) || pic_train_init_cuda(&gpu[i], i == 1, 0, gpu[i].params.numel, &err);
        unsetenv("PIC_CUDA_HEAD_ROWS");
        if (!CHECK(rc == 0, "%s model on the GPU for training%s: %s", pic_model_dtype_name(dtype),
                   i ? " (recompute)" : "", err.msg))
            return;
    }
    // 600 tokens: in bf16 the forward's softmax spans two segments of 512 keys (ATTN_SEG)
    int lens[3] = {600, 1, 70}, V = cfg.vocab_size;
    size_t N = 671, nr = 0;
    int32_t *tok = (int32_t *)malloc((N + 1) * sizeof(int32_t)), *tg = (int32_t *)malloc(N * sizeof(int32_t));
    size_t *rows = (size_t *)malloc(N * sizeof(size_t));
    for (size_t i = 0; i <= N; i++) tok[i] = (int32_t)(rand() % V);
    for (size_t i = 0; i < N; i += 2) rows[nr] = i, tg[nr++] = tok[i + 1]; // every other token a response row
    float *dlogp = rnd<float>(nr, 0.1), *dent = rnd<float>(nr, 0.1);
    pic_batch b = {3, lens, tok, NULL};
    size_t P = cpu.params.numel;
    float *want = (float *)malloc(P * 4), *got = (float *)malloc(P * 4), *again = (float *)malloc(P * 4),
          *rec = (float *)malloc(P * 4);
    model_grad(&cpu, &b, nr, rows, tg, dlogp, dent, want);
    model_grad(&gpu[0], &b, nr, rows, tg, dlogp, dent, got);
    model_grad(&gpu[0], &b, nr, rows, tg, dlogp, dent, again);
    model_grad(&gpu[1], &b, nr, rows, tg, dlogp, dent, rec);
    double bound = dtype == PIC_DTYPE_F32 ? 1e-4 : 5e-2, e = relerr(got, want, P);
    const char *name = llama ? "llama (o and MLP biases)" : qk_norm ? "qwen3 (q/k norm, tied)" : "qwen2 (biases)";
    CHECK(e <= bound, "%s %s model gradient, relative error %.3g <= %.0e", pic_model_dtype_name(dtype), name, e, bound);
    // tensor by tensor too, in fp32: the embedding's and lm_head's large
    // gradients would hide a wrong norm weight or bias in the whole
    // vector's error (in bf16 a small tensor's error has no bound derived
    // yet: its worst is printed for the record)
    const pic_param_desc *worst = NULL;
    double worst_e = 0;
    for (size_t t = 0; t < cpu.params.n_desc; t++) {
        const pic_param_desc *d = &cpu.params.desc[t];
        double et = relerr(got + d->offset, want + d->offset, d->numel);
        if (!worst || et > worst_e) worst = d, worst_e = et;
    }
    if (dtype == PIC_DTYPE_F32)
        CHECK(worst_e <= bound, "%s %s: every tensor's gradient within %.0e (worst %s, %.3g)",
              pic_model_dtype_name(dtype), name, bound, worst ? worst->name : "-", worst_e);
    else
        printf("# %s %s: the worst tensor's gradient error %.3g (%s)\n", pic_model_dtype_name(dtype), name, worst_e,
               worst ? worst->name : "-");
    CHECK(!memcmp(got, again, P * 4), "%s %s: the same gradient again, bit for bit", pic_model_dtype_name(dtype), name);
    CHECK(!memcmp(got, rec, P * 4), "%s %s: --recompute gives the same gradient, bit for bit",
          pic_model_dtype_name(dtype), name);
    for (int i = 0; i < 3; i++) pic_model_free(all[i]);
    free(tok), free(tg), free(rows), free(dlogp), free(dent), free(want), free(got), free(again), free(rec);
}

int main(void) {
    if (skip_without_gpu()) return 0;
    pic_set_threads(2);
    srand(12);
    test_embedding(41, 67, 11, 7, -1);
    test_embedding(41, 67, 11, 7, 0); // padding_idx: token 0, drawn often
    test_embedding(700, 300, 5000, 600, -1); // columns past one block, runs of one and more
    all_layers<float>(true);
    all_layers<bf16>(false);
    test_logits<float>(9, 1001, 1.0f, true);
    test_logits<float>(5, 4099, 0.6f, false);
    test_logits<float>(3, 4099, 1.3f, true); // the entropy's sums over several rounds of a row
    test_logits<bf16>(7, 1001, 0.8f, true);
    test_optimizer(100003);
    test_model_grad(PIC_DTYPE_F32, false);
    test_model_grad(PIC_DTYPE_F32, true);
    test_model_grad(PIC_DTYPE_BF16, false);
    test_model_grad(PIC_DTYPE_BF16, true);
    test_model_grad(PIC_DTYPE_F32, false, true);
    return check_done();
}
