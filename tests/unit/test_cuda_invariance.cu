// Exactness on the GPU (docs/gpu.md, Generation). The batch-invariant
// product on the CUDA cores (src/model/cuda/matmul_bi.cu) against the
// CPU's (matmul_bi.c): the same formula, so the same bits wherever the
// inputs are the same floats (float32, and bf16 inputs into float logits),
// whatever the number of rows. The bf16 one on tensor cores
// (matmul_bi_tc.cu): every tiling the same bits, a row alone the batch's
// bits, within a float sum's rounding of the CPU's exact-input result. A whole model with batch_invariant set: a sequence gets the same
// logits and log-probs alone and packed with others; and decoded token by
// token through the device KV cache (prefilled, shared with another slot,
// decoded beside another sequence) it gets the logits and log-probs of
// scoring it whole, bit for bit: what makes generation's log-probs equal
// --score's and pic-update's; so do two sequences sharing a prefix's pages,
// copied on write, in a pool of just the pages they need, taken out of
// order. TAP skip without a GPU.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cuda_host.cuh"
#include "model/cuda/matmul_bi.cuh"

extern "C" {
#include "model/matmul_bi.h"
#include "model/model.h"
#include "model/parallel.h"
#include "model/safetensors.h"
}

using pic_cuda::bf16;

// GPU == CPU bit for bit on one shape; then every row computed alone and the
// first half of the rows on their own give the same bits as the full batch.
template <typename T, typename O> static void test_simt(size_t N, int IC, int OC, bool bias, bool acc) {
    float *x = rnd<T>(N * IC, 1.0), *w = rnd<T>((size_t)OC * IC, 0.2), *b = bias ? rnd<T>(OC, 1.0) : NULL;
    float *init = rnd<O>(N * OC, 1.0), *want = (float *)malloc(N * OC * 4 + 4);
    memcpy(want, init, N * OC * 4);
    matmul_bi_forward(want, x, w, b, N, IC, OC, acc);
    T *dx = up<T>(x, N * IC), *dw = up<T>(w, (size_t)OC * IC), *db = bias ? up<T>(b, OC) : NULL;
    O *dout = up<O>(init, N * OC);
    if (!acc) cudaMemset(dout, 0xff, N * OC * sizeof(O)); // NaN: an element not written fails
    cudaError_t e = pic_cuda::matmul_bi_simt_forward<T, O>(dout, dx, dw, db, N, IC, OC, acc, 0);
    CHECK(e == cudaSuccess, "matmul_bi_simt runs: %s", cudaGetErrorString(e));
    float *got = down(dout, N * OC);
    const char *what = sizeof(T) == 4 ? "f32" : sizeof(O) == 4 ? "bf16 -> f32" : "bf16";
    if (sizeof(O) == 4) {
        CHECK(!memcmp(got, want, N * OC * 4), "%s [%zu x %d] . [%d x %d]^T%s%s: the CPU's bits", what, N, IC, OC, IC,
              bias ? " + bias" : "", acc ? " accumulated" : "");
    } else { // bf16 output: the CPU's float result (init and bias are bf16 values too) rounded once
        size_t bad = 0;
        for (size_t i = 0; i < N * (size_t)OC; i++) bad += got[i] != pic_bf16_to_f32(pic_f32_to_bf16(want[i]));
        CHECK(bad == 0, "%s [%zu x %d] . [%d x %d]^T%s%s: the CPU's result rounded to bf16 (%zu differ)", what, N, IC,
              OC, IC, bias ? " + bias" : "", acc ? " accumulated" : "", bad);
    }
    // rows alone and a prefix: the same bits as in the batch
    O *one = up<O>(init, N * OC);
    size_t half = N / 2 ? N / 2 : 1, diff = 0;
    for (size_t n = 0; n < N; n++)
        pic_cuda::matmul_bi_simt_forward<T, O>(one + n * OC, dx + n * IC, dw, db, 1, IC, OC, acc, 0);
    float *alone = down(one, N * OC);
    diff += memcmp(alone, got, N * OC * 4) != 0;
    O *pre = up<O>(init, N * OC);
    pic_cuda::matmul_bi_simt_forward<T, O>(pre, dx, dw, db, half, IC, OC, acc, 0);
    float *prefix = down(pre, half * OC);
    diff += memcmp(prefix, got, half * OC * 4) != 0;
    CHECK(diff == 0, "%s [%zu x %d x %d]: each row alone and the first %zu rows give the batch's bits", what, N, IC,
          OC, half);
    cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dout), cudaFree(one), cudaFree(pre);
    free(x), free(w), free(b), free(init), free(want), free(got), free(alone), free(prefix);
}

// Tile counters a split product left other than zero (tc_run with counters).
static size_t counters_left;

// One tensor-core product into a fresh copy of init (NaN where not
// accumulating), its segments' scratch poisoned with NaN; with counters,
// a split's partials added by the last block of each tile (else by
// matmul_bi_add), the counters checked back at zero.
template <typename O>
static float *tc_run(const float *init, const bf16 *dx, const bf16 *dw, const bf16 *db, size_t N, int IC, int OC,
                     bool acc, pic_cuda::bi_tiles tiles, cudaError_t *e,
                     pic_cuda::bi_split split = pic_cuda::BI_SPLIT_NEVER, bool counters = false) {
    O *d = up<O>(init, N * OC);
    if (!acc) cudaMemset(d, 0xff, N * OC * sizeof(O));
    size_t segs = (IC + pic_cuda::BI_KSEG - 1) / pic_cuda::BI_KSEG, bytes = segs * N * OC * sizeof(float);
    enum { COUNTERS = 4096 };
    pic_cuda::bi_work work = {NULL, bytes, NULL, counters ? (size_t)COUNTERS : 0};
    cudaMalloc(&work.buf, bytes);
    cudaMemset(work.buf, 0xff, bytes);
    if (counters) cudaMalloc(&work.count, COUNTERS * sizeof(int)), cudaMemset(work.count, 0, COUNTERS * sizeof(int));
    cudaError_t r = pic_cuda::matmul_bi_tc_forward<O>(d, dx, dw, db, N, IC, OC, acc, tiles, split, work, 0);
    if (r != cudaSuccess) *e = r;
    float *h = down(d, N * OC);
    if (counters) {
        int left[COUNTERS];
        cudaMemcpy(left, work.count, sizeof left, cudaMemcpyDeviceToHost);
        for (int i = 0; i < COUNTERS; i++) counters_left += left[i] != 0;
    }
    cudaFree(d);
    cudaFree(work.buf);
    cudaFree(work.count);
    return h;
}

// The bf16 product on tensor cores: within a float sum's rounding of the
// exact-input result the CPU computes (bf16 inputs are exact in float: every
// product is exact, only the K sums and the adds of init and bias round, so
// |err| <= (K + 2) 2^-23 (sum |x w| + |init| + |bias|), twice float's
// sequential bound for hardware that truncates, plus one bf16 rounding of
// the output; the segments' S adds stay inside that bound: K + S <= 2 K);
// the small, medium, large and automatic tilings the same bits, each with a
// block per segment of k or one for all; each row alone, the first half of
// the rows, and the operands read
// element by element (misaligned copies) the batch's bits.
template <typename O> static void test_tc(size_t N, int IC, int OC, bool bias, bool acc) {
    float *x = rnd<bf16>(N * IC, 1.0), *w = rnd<bf16>((size_t)OC * IC, 0.2), *b = bias ? rnd<bf16>(OC, 1.0) : NULL;
    float *init = rnd<O>(N * OC, 1.0), *want = (float *)malloc(N * OC * 4 + 4);
    memcpy(want, init, N * OC * 4);
    matmul_bi_forward(want, x, w, b, N, IC, OC, acc);
    bf16 *dx = up<bf16>(x, N * IC), *dw = up<bf16>(w, (size_t)OC * IC), *db = bias ? up<bf16>(b, OC) : NULL;
    const char *what = sizeof(O) == 4 ? "bf16 -> f32" : "bf16";
    cudaError_t e = cudaSuccess;
    float *got = tc_run<O>(init, dx, dw, db, N, IC, OC, acc, pic_cuda::BI_TILES_LARGE, &e);
    CHECK(e == cudaSuccess, "matmul_bi_tc runs: %s", cudaGetErrorString(e));
    size_t bad = 0;
    double worst = 0;
    for (size_t n = 0; n < N; n++)
        for (int j = 0; j < OC; j++) {
            double mag = (acc ? fabs(init[n * OC + j]) : 0) + (bias ? fabs(b[j]) : 0);
            for (int k = 0; k < IC; k++) mag += fabs((double)x[n * IC + k] * w[(size_t)j * IC + k]);
            double ref = want[n * OC + j], d = fabs(got[n * OC + j] - ref);
            double tol = (IC + 2) * ldexp(mag, -23) + (sizeof(O) == 2 ? ldexp(fabs(ref), -8) : 0);
            bad += !(d <= tol);
            if (mag > 0 && d / mag > worst) worst = d / mag;
        }
    CHECK(bad == 0, "%s tensor cores [%zu x %d] . [%d x %d]^T%s%s: within a float sum's rounding of the CPU's "
          "(%zu outside; worst error / sum |x w| %.2g)", what, N, IC, OC, IC, bias ? " + bias" : "",
          acc ? " accumulated" : "", bad, worst);
    size_t diff[7] = {0};
    pic_cuda::bi_tiles other[4] = {pic_cuda::BI_TILES_SMALL, pic_cuda::BI_TILES_MEDIUM, pic_cuda::BI_TILES_AUTO,
                                   pic_cuda::BI_TILES_LARGE};
    for (int i = 0; i < 3; i++) {
        float *o = tc_run<O>(init, dx, dw, db, N, IC, OC, acc, other[i], &e);
        diff[i] = memcmp(o, got, N * OC * 4) != 0;
        free(o);
    }
    bool segments = IC > pic_cuda::BI_KSEG;
    for (int i = 0; i < 4 && segments; i++) // a block per segment, the partials added by a second kernel
        for (bool counters : {false, true}) {  // or by each tile's last block
            float *o = tc_run<O>(init, dx, dw, db, N, IC, OC, acc, other[i], &e, pic_cuda::BI_SPLIT_ALWAYS, counters);
            diff[6] += memcmp(o, got, N * OC * 4) != 0;
            free(o);
        }
    for (size_t n = 0; n < N; n++) { // alone: the automatic tiling picks the small one, and splits when it may
        float *o = tc_run<O>(init + n * OC, dx + n * IC, dw, db, 1, IC, OC, acc, pic_cuda::BI_TILES_AUTO, &e,
                             pic_cuda::BI_SPLIT_AUTO, n % 2 == 1);
        diff[3] += memcmp(o, got + n * OC, OC * 4) != 0;
        free(o);
    }
    size_t half = N / 2 ? N / 2 : 1;
    float *o = tc_run<O>(init, dx, dw, db, half, IC, OC, acc, pic_cuda::BI_TILES_AUTO, &e, pic_cuda::BI_SPLIT_AUTO);
    diff[4] = memcmp(o, got, half * OC * 4) != 0;
    free(o);
    bf16 *mx = up<bf16>(x, N * IC + 1), *mw = up<bf16>(w, (size_t)OC * IC + 1);
    cudaMemcpy(mx + 1, dx, N * IC * 2, cudaMemcpyDeviceToDevice); // one element off 16 bytes: element by element
    cudaMemcpy(mw + 1, dw, (size_t)OC * IC * 2, cudaMemcpyDeviceToDevice);
    o = tc_run<O>(init, mx + 1, mw + 1, db, N, IC, OC, acc, pic_cuda::BI_TILES_LARGE, &e);
    diff[5] = memcmp(o, got, N * OC * 4) != 0;
    free(o);
    if (segments) { // element by element and a block per segment together
        o = tc_run<O>(init, mx + 1, mw + 1, db, N, IC, OC, acc, pic_cuda::BI_TILES_SMALL, &e, pic_cuda::BI_SPLIT_ALWAYS);
        diff[5] += memcmp(o, got, N * OC * 4) != 0;
        free(o);
    }
    CHECK(e == cudaSuccess && !diff[0] && !diff[1] && !diff[2] && !diff[3] && !diff[4] && !diff[5] && !diff[6] &&
              !counters_left,
          "%s tensor cores [%zu x %d x %d]: the same bits in small/medium/auto tiles (%zu %zu %zu), %s, each row "
          "alone (%zu rows differ), the first %zu rows (%zu), operands misaligned (%zu); tile counters left "
          "non-zero: %zu",
          what, N, IC, OC, diff[0], diff[1], diff[2],
          segments ? (diff[6] ? "NOT with a block per segment (partials added by a kernel and by each tile's last "
                                "block)"
                              : "with a block per segment of k (partials added by a kernel and by each tile's last "
                                "block)")
                   : "one segment",
          diff[3], half, diff[4], diff[5], counters_left);
    cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(mx), cudaFree(mw);
    free(x), free(w), free(b), free(init), free(want), free(got);
}

// A model on the GPU with batch_invariant set: sequence 0's logits and
// log-probs alone equal those it gets packed behind and before others.
static void test_model_invariance(pic_model_dtype dtype) {
    static const char cfg_json[] =
        "{\"model_type\":\"qwen2\",\"vocab_size\":257,\"hidden_size\":100,\"intermediate_size\":171,"
        "\"num_hidden_layers\":3,\"num_attention_heads\":2,\"num_key_value_heads\":1,\"head_dim\":64,"
        "\"max_position_embeddings\":512,\"rms_norm_eps\":1e-6,\"tie_word_embeddings\":true}";
    pic_config cfg;
    pic_err err = {""};
    if (!CHECK(pic_config_parse(&cfg, cfg_json, "test config", &err) == 0, "test config parses %s", err.msg)) return;
    pic_model gpu;
    pic_model_init(&gpu, &cfg);
    pic_params_init_random(&gpu.params, 7, 0.05f);
    pic_model_opts o = {PIC_DEVICE_CUDA, dtype, 512, false, 0};
    if (!CHECK(pic_model_to_device(&gpu, &o, &err) == 0, "model on the GPU: %s", err.msg)) return;
    gpu.batch_invariant = true;
    int V = cfg.vocab_size, L = 41;
    int32_t tok[300];
    for (int i = 0; i < 300; i++) tok[i] = (int32_t)(rand() % V);
    // alone: [seq]; packed: [other 100][seq][other 17]
    int alone_len[1] = {L}, packed_len[3] = {100, L, 17};
    int32_t packed[158];
    memcpy(packed, tok + 200, 100 * sizeof(int32_t));
    memcpy(packed + 100, tok, L * sizeof(int32_t));
    memcpy(packed + 100 + L, tok + 250, 17 * sizeof(int32_t));
    float *a = (float *)malloc((size_t)L * V * 4), *p = (float *)malloc(158 * (size_t)V * 4);
    pic_batch ba = {1, alone_len, tok, NULL}, bp = {3, packed_len, packed, NULL};
    size_t rows_a[40], rows_p[40];
    float lpa[40], lpp[40], ha[40], hp[40];
    for (int i = 0; i < 40; i++) rows_a[i] = (size_t)i, rows_p[i] = 100 + (size_t)i;
    bool ran = pic_forward(&gpu, NULL, &ba, PIC_LOGITS_ALL, a, &err) == 0 &&
               pic_forward_stats(&gpu, rows_a, 40, tok + 1, 0.6f, lpa, ha, &err) == 0 &&
               pic_forward(&gpu, NULL, &bp, PIC_LOGITS_ALL, p, &err) == 0 &&
               pic_forward_stats(&gpu, rows_p, 40, tok + 1, 0.6f, lpp, hp, &err) == 0;
    if (CHECK(ran, "%s model: forwards run %s", pic_model_dtype_name(dtype), err.msg)) {
        CHECK(!memcmp(a, p + 100 * (size_t)V, (size_t)L * V * 4) && !memcmp(lpa, lpp, sizeof lpa) &&
                  !memcmp(ha, hp, sizeof ha),
              "%s model: a sequence's logits, log-probs and entropies alone = packed among others, bit for bit",
              pic_model_dtype_name(dtype));
    }
    pic_model_free(&gpu);
    free(a), free(p);
}

// A small qwen3 (head size 64, two layers) with random weights on the GPU
// in dtype, batch-invariant; false, with a failed check, when it cannot be.
static bool small_model(pic_model *m, pic_model_dtype dtype, uint64_t seed, pic_err *err) {
    static const char cfg_json[] =
        "{\"model_type\":\"qwen3\",\"vocab_size\":203,\"hidden_size\":128,\"intermediate_size\":160,"
        "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,\"head_dim\":64,"
        "\"max_position_embeddings\":1024,\"rms_norm_eps\":1e-6,\"tie_word_embeddings\":false}";
    pic_config cfg;
    if (!CHECK(pic_config_parse(&cfg, cfg_json, "test config", err) == 0, "test config parses %s", err->msg))
        return false;
    pic_model_init(m, &cfg);
    pic_params_init_random(&m->params, seed, 0.05f);
    pic_model_opts o = {PIC_DEVICE_CUDA, dtype, 1024, false, 0};
    if (!CHECK(pic_model_to_device(m, &o, err) == 0, "model on the GPU: %s", err->msg)) return false;
    m->batch_invariant = true;
    return true;
}

// The head's log-probs and entropies of 1100 rows (each of 300 tokens'
// rows, in a scattered order, some more than once) in blocks of 64 and two
// stages (a stage holds the 1024 tokens the model was loaded for): each row's
// are its own, so they equal that row's alone, bit for bit. The blocks run
// back to back with one wait a stage, each reading its rows, targets and
// result slots at its own offset: a block that read another's would differ.
static void test_head_stages(pic_model_dtype dtype) {
    pic_model m;
    pic_err err = {""};
    setenv("PIC_CUDA_HEAD_ROWS", "64", 1);
    bool made = small_model(&m, dtype, 11, &err);
    unsetenv("PIC_CUDA_HEAD_ROWS");
    if (!made) return;
    enum { T = 300, N = 1100 };
    int V = m.cfg.vocab_size, len = T;
    int32_t tok[T + 1], tg[N];
    size_t rows[N];
    static float lp[N], h[N], lp1[T], h1[T];
    for (int i = 0; i <= T; i++) tok[i] = (int32_t)(rand() % V);
    for (int i = 0; i < N; i++) rows[i] = (size_t)(i * 7) % T, tg[i] = tok[rows[i] + 1];
    pic_batch b = {1, &len, tok, NULL};
    bool ok = pic_forward(&m, NULL, &b, PIC_LOGITS_NONE, NULL, &err) == 0 &&
              pic_forward_stats(&m, rows, N, tg, 0.8f, lp, h, &err) == 0;
    for (size_t r = 0; r < T && ok; r++) ok = pic_forward_stats(&m, &r, 1, tok + r + 1, 0.8f, &lp1[r], &h1[r], &err) == 0;
    if (CHECK(ok, "%s: the head's statistics run: %s", pic_model_dtype_name(dtype), err.msg)) {
        int bad = 0;
        for (int i = 0; i < N; i++) bad += memcmp(&lp[i], &lp1[rows[i]], 4) || memcmp(&h[i], &h1[rows[i]], 4);
        CHECK(bad == 0,
              "%s: 1100 rows' log-probs and entropies in blocks of 64 and two stages = each row's alone, bit for "
              "bit (%d differ)",
              pic_model_dtype_name(dtype), bad);
    }
    pic_model_free(&m);
}

// Prefill 17 tokens into slot 1, share it with slot 2, decode the rest there
// one token a step beside a sequence in slot 0; every step's logits and the
// sampled-token stats equal scoring the whole sequence without a cache. 600
// positions: in bf16 the decode attention splits past 512 (ATTN_SEG), in
// the decode graph of two sequences.
static void test_kv_decode(pic_model_dtype dtype) {
    pic_model m;
    pic_err err = {""};
    if (!small_model(&m, dtype, 9, &err)) return;
    const pic_config &cfg = m.cfg;
    enum { L = 600, P = 17 };
    int V = cfg.vocab_size;
    int32_t tok[L], other[L];
    for (int i = 0; i < L; i++) tok[i] = (int32_t)(rand() % V), other[i] = (int32_t)(rand() % V);
    float *whole = (float *)malloc((size_t)L * V * 4), *step = (float *)malloc(2 * (size_t)V * 4);
    size_t rows[L];
    float lw[L], hw[L];
    for (int i = 0; i < L; i++) rows[i] = (size_t)i;
    int len_whole = L;
    pic_batch bw = {1, &len_whole, tok, NULL};
    bool ok = pic_forward(&m, NULL, &bw, PIC_LOGITS_ALL, whole, &err) == 0 &&
              pic_forward_stats(&m, rows, L - 1, tok + 1, 0.6f, lw, hw, &err) == 0;
    pic_kvcache *kv = ok ? pic_kvcache_for(&m, 3, L, 0, &err) : NULL;
    if (!CHECK(ok && kv, "%s: scoring runs and the device KV cache is made: %s", pic_model_dtype_name(dtype), err.msg))
        return;
    // prefill: ours into slot 1, the other's first 30 tokens into slot 0
    int plen[2] = {P, 30}, pslot[2] = {1, 0};
    int32_t ptok[P + 30];
    memcpy(ptok, tok, P * sizeof(int32_t));
    memcpy(ptok + P, other, 30 * sizeof(int32_t));
    float *plog = (float *)malloc(2 * (size_t)V * 4);
    pic_batch bp = {2, plen, ptok, pslot};
    ok = pic_forward(&m, kv, &bp, PIC_LOGITS_LAST, plog, &err) == 0;
    size_t bad = ok && memcmp(plog, whole + (size_t)(P - 1) * V, (size_t)V * 4) != 0, bad_stats = 0;
    pic_kvcache_copy(kv, 2, 1, kv->len[1]);
    for (int t = P; t < L - 1 && ok; t++) {
        int one[2] = {1, 1}, slots[2] = {0, 2};
        int32_t in[2] = {other[30 + (t - P) % (L - 30)], tok[t]};
        if (kv->len[0] >= L) pic_kvcache_truncate(kv, 0, 0); // the neighbour restarts: continuous batching
        pic_batch bd = {2, one, in, slots};
        size_t r = 1;
        float lp, h;
        ok = pic_forward(&m, kv, &bd, PIC_LOGITS_LAST, step, &err) == 0 &&
             pic_forward_stats(&m, &r, 1, tok + t + 1, 0.6f, &lp, &h, &err) == 0;
        bad += ok && memcmp(step + V, whole + (size_t)t * V, (size_t)V * 4) != 0;
        bad_stats += ok && (memcmp(&lp, &lw[t], 4) || memcmp(&h, &hw[t], 4));
    }
    if (CHECK(ok, "%s: prefill and decode through the KV cache run: %s", pic_model_dtype_name(dtype), err.msg))
        CHECK(bad == 0 && bad_stats == 0,
              "%s: decoding through the KV cache (a shared slot, a neighbour) = scoring whole, bit for bit "
              "(%zu logits rows, %zu log-prob/entropy pairs differ)",
              pic_model_dtype_name(dtype), bad, bad_stats);
    pic_kvcache_free(kv);
    pic_model_free(&m);
    free(whole), free(step), free(plog);
}

// Rows of a pass's PIC_LOGITS_ALL logits (from row) that differ from rows
// pos.. of a sequence scored whole.
static size_t rows_differ(const float *got, size_t row, const float *whole, int pos, int n, int V) {
    size_t bad = 0;
    for (int i = 0; i < n; i++)
        bad += memcmp(got + (row + i) * (size_t)V, whole + (size_t)(pos + i) * V, (size_t)V * 4) != 0;
    return bad;
}

// The paged cache on the GPU: a pool of exactly the 6 pages the run ends
// with, its pages taken out of order (a sequence prefilled into slot 2 and
// dropped first); sequences a and b share a prefix of P tokens (mid-page)
// by pic_kvcache_copy, then both write into the shared page (a token of a,
// and C tokens of b across a page boundary, in one pass: the first copies
// the page) and go on a token a step past a second boundary. Every row's
// logits are those of scoring a, or b, whole.
static void test_kv_paged(pic_model_dtype dtype) {
    pic_model m;
    pic_err err = {""};
    if (!small_model(&m, dtype, 11, &err)) return;
    const pic_config &cfg = m.cfg;
    enum { L = 150, P = 40, C = 30, J = 100 };
    int V = cfg.vocab_size;
    int32_t a[L], b[L], junk[J];
    for (int i = 0; i < L; i++) a[i] = (int32_t)(rand() % V), b[i] = i < P ? a[i] : (int32_t)(rand() % V);
    for (int i = 0; i < J; i++) junk[i] = (int32_t)(rand() % V);
    float *wa = (float *)malloc((size_t)L * V * 4), *wb = (float *)malloc((size_t)L * V * 4);
    float *got = (float *)malloc((size_t)(P > C + 1 ? P : C + 1) * V * 4); // the prefix's rows, or a pass's
    int len = L;
    pic_batch ba = {1, &len, a, NULL}, bb = {1, &len, b, NULL};
    bool ok = pic_forward(&m, NULL, &ba, PIC_LOGITS_ALL, wa, &err) == 0 &&
              pic_forward(&m, NULL, &bb, PIC_LOGITS_ALL, wb, &err) == 0;
    pic_kvcache *kv = ok ? pic_kvcache_for(&m, 3, L, 6, &err) : NULL;
    if (!CHECK(ok && kv, "%s: scoring runs and a paged KV cache of 6 pages is made: %s", pic_model_dtype_name(dtype),
               err.msg))
        return;
    size_t bad = 0;
    // the junk takes the first two pages and gives them back: a's and b's come in another order
    int jl = J, js = 2, pl = P, ps = 0;
    pic_batch bj = {1, &jl, junk, &js}, bp = {1, &pl, a, &ps};
    ok = pic_forward(&m, kv, &bj, PIC_LOGITS_NONE, NULL, &err) == 0 &&
         pic_forward(&m, kv, &bp, PIC_LOGITS_ALL, got, &err) == 0;
    bad += ok ? rows_differ(got, 0, wa, 0, P, V) : 0;
    pic_kvcache_truncate(kv, 2, 0);
    pic_kvcache_copy(kv, 1, 0, P);
    int two[2] = {1, C}, slots[2] = {0, 1};
    int32_t in[1 + C];
    in[0] = a[P];
    memcpy(in + 1, b + P, C * sizeof(int32_t));
    pic_batch both = {2, two, in, slots};
    ok = ok && pic_forward(&m, kv, &both, PIC_LOGITS_ALL, got, &err) == 0;
    bad += ok ? rows_differ(got, 0, wa, P, 1, V) + rows_differ(got, 1, wb, P, C, V) : 0;
    while (ok && kv->len[0] < L) { // a token a step each, b while it has tokens left
        int one[2] = {1, 1}, pa = kv->len[0], pb = kv->len[1];
        int32_t step[2] = {a[pa], pb < L ? b[pb] : 0};
        pic_batch bd = {pb < L ? 2 : 1, one, step, slots};
        ok = pic_forward(&m, kv, &bd, PIC_LOGITS_ALL, got, &err) == 0;
        bad += ok ? rows_differ(got, 0, wa, pa, 1, V) + (pb < L ? rows_differ(got, 1, wb, pb, 1, V) : 0) : 0;
    }
    if (CHECK(ok, "%s: paged prefill, copy on write and decode run: %s", pic_model_dtype_name(dtype), err.msg)) {
        CHECK(bad == 0,
              "%s: two sequences through shared, copied-on-write, out-of-order pages = each scored whole, bit for "
              "bit (%zu logits rows differ)",
              pic_model_dtype_name(dtype), bad);
        CHECK(kv->n_free == 0 && kv->len[0] == L && kv->len[1] == L,
              "%s: the pool's 6 pages hold both sequences (%d free, lengths %d and %d)", pic_model_dtype_name(dtype),
              kv->n_free, kv->len[0], kv->len[1]);
    }
    pic_kvcache_free(kv);
    pic_model_free(&m);
    free(wa), free(wb), free(got);
}

int main(void) {
    if (skip_without_gpu()) return 0;
    pic_set_threads(2);
    srand(13);
    test_simt<float, float>(37, 67, 131, true, false);
    test_simt<float, float>(1, 64, 96, false, true);
    test_simt<float, float>(130, 257, 75, true, true);
    test_simt<float, float>(29, 896, 1003, false, false);
    test_simt<bf16, float>(29, 64, 1003, false, false); // the lm_head: bf16 in, float logits
    test_simt<bf16, bf16>(37, 67, 131, true, false);
    test_simt<bf16, bf16>(33, 130, 70, true, true);
    // tensor cores: odd K (element by element), K % 32 != 0, tails of every tile
    test_tc<float>(29, 64, 1003, false, false);
    test_tc<bf16>(37, 67, 131, true, false);
    test_tc<bf16>(33, 130, 70, true, true);
    test_tc<bf16>(45, 72, 200, true, false);
    test_tc<float>(300, 896, 1003, true, true);
    test_tc<bf16>(3, 1000, 96, true, true);       // four segments, the last short, decode-sized
    test_tc<float>(17, 4864, 136, false, false);  // 0.5B's down projection's k: 19 segments
    test_model_invariance(PIC_DTYPE_F32);
    test_model_invariance(PIC_DTYPE_BF16);
    test_head_stages(PIC_DTYPE_F32);
    test_head_stages(PIC_DTYPE_BF16);
    test_kv_decode(PIC_DTYPE_F32);
    test_kv_decode(PIC_DTYPE_BF16);
    test_kv_paged(PIC_DTYPE_F32);
    test_kv_paged(PIC_DTYPE_BF16);
    return check_done();
}
