/* Batch invariance of generation (docs/rollout.md): the batch-invariant
 * product equals its documented formula bit for bit whatever the number of
 * rows, the row's place and the thread count, so does attention_forward
 * (whatever the block, tile and group a row falls in), and a sequence
 * decoded alone gets bit-identical logits to the same sequence packed with
 * others. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/cli.h"
#include "model/layers.h"
#include "model/matmul_bi.h"
#include "model/model.h"
#include "model/parallel.h"
#include "model/vec.h"

static const char *fixtures(void) {
    const char *f = getenv("FIXTURES");
    return f ? f : "tests/fixtures";
}

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* The formula of matmul_bi.h, one element at a time, in plain scalars
 * (fmaf: one rounding per step, as the kernels' FMA). */
static float reference(const float *x, const float *w, int K, float init) {
    float lane[16] = {0};
    for (int k = 0; k < K; k++) lane[k % 16] = fmaf(x[k], w[k], lane[k % 16]);
    for (int s = 8; s >= 1; s /= 2)
        for (int l = 0; l < s; l++) lane[l] = lane[l] + lane[l + s];
    return init + lane[0];
}

static void test_kernel(void) {
    static const int Ks[] = {1, 15, 16, 17, 25, 64, 100}, OCs[] = {1, 3, 4, 5, 13, 70}; /* 70: blocks of 12 columns (1 x 8 tiles) */
    unsigned seed = 1;
    int bad_ref = 0, bad_alone = 0, bad_threads = 0, cases = 0;
    for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
        for (size_t oi = 0; oi < sizeof OCs / sizeof *OCs; oi++)
            for (int mode = 0; mode < 4; mode++) {
                int K = Ks[ki], OC = OCs[oi], N = 11;
                bool acc = mode & 1, has_bias = mode & 2;
                float *x = pic_malloc((size_t)N * K * sizeof(float)), *w = pic_malloc((size_t)OC * K * sizeof(float));
                float *b = pic_malloc((size_t)OC * sizeof(float)), *o0 = pic_malloc((size_t)N * OC * sizeof(float));
                float *o = pic_malloc((size_t)N * OC * sizeof(float)), *one = pic_malloc((size_t)OC * sizeof(float));
                for (int i = 0; i < N * K; i++) x[i] = frand(&seed);
                for (int i = 0; i < OC * K; i++) w[i] = frand(&seed);
                for (int i = 0; i < OC; i++) b[i] = frand(&seed);
                for (int i = 0; i < N * OC; i++) o0[i] = frand(&seed);
                const float *bias = has_bias ? b : NULL;
                pic_set_threads(2);
                memcpy(o, o0, (size_t)N * OC * sizeof(float));
                matmul_bi_forward(o, x, w, bias, (size_t)N, K, OC, acc);
                for (int n = 0; n < N; n++)
                    for (int j = 0; j < OC; j++) {
                        float init = (acc ? o0[n * OC + j] : 0.0f) + (bias ? bias[j] : 0.0f);
                        float want = reference(x + (size_t)n * K, w + (size_t)j * K, K, init);
                        if (memcmp(&want, &o[n * OC + j], sizeof want)) bad_ref++;
                    }
                /* every row alone, and every prefix of rows, on one thread */
                pic_set_threads(1);
                for (int n = 0; n < N; n++) {
                    memcpy(one, o0 + (size_t)n * OC, (size_t)OC * sizeof(float));
                    matmul_bi_forward(one, x + (size_t)n * K, w, bias, 1, K, OC, acc);
                    if (memcmp(one, o + (size_t)n * OC, (size_t)OC * sizeof(float))) bad_alone++;
                }
                float *p = pic_malloc((size_t)N * OC * sizeof(float));
                for (int m = 1; m <= N; m++) {
                    memcpy(p, o0, (size_t)m * OC * sizeof(float));
                    matmul_bi_forward(p, x, w, bias, (size_t)m, K, OC, acc);
                    if (memcmp(p, o, (size_t)m * OC * sizeof(float))) bad_threads++;
                }
                free(p);
                cases++;
                free(x), free(w), free(b), free(o0), free(o), free(one);
            }
    CHECK(bad_ref == 0, "matmul_bi_forward is its formula bit for bit (%d cases, %d elements differ)", cases,
          bad_ref);
    CHECK(bad_alone == 0, "a row alone equals the row among 11 (%d rows differ)", bad_alone);
    CHECK(bad_threads == 0, "1 to 11 rows on one thread equal 11 rows on two (%d differ)", bad_threads);
    pic_set_threads(0);
}

/* attention.c's formula for one query row over keys 0..T-1, in plain
 * scalars: scores are fmaf chains in sixteen lanes (d mod 16) and the fixed
 * tree, times the scale; weights exp(s - max) by v16_exp_neg (lane by lane,
 * as the kernel's lanes are independent); their sum in sixteen lanes by key
 * index and the tree; each output element an fmaf chain over keys, times
 * 1 / sum. */
static float tree16(float *lane) {
    for (int s = 8; s >= 1; s /= 2)
        for (int l = 0; l < s; l++) lane[l] = lane[l] + lane[l + s];
    return lane[0];
}
static void attention_reference(float *o, float *lse, const float *q, const float *K, const float *V, size_t ld,
                                int T, int hd, float scale) {
    float *p = pic_malloc((size_t)T * sizeof(float)), m = -INFINITY, lane[16] = {0};
    for (int j = 0; j < T; j++) {
        float l16[16] = {0};
        for (int d = 0; d < hd; d++) l16[d % 16] = fmaf(q[d], K[(size_t)j * ld + d], l16[d % 16]);
        p[j] = tree16(l16) * scale;
        m = p[j] > m ? p[j] : m;
    }
    for (int j = 0; j < T; j++) {
        v16 x = {0};
        x[0] = p[j] - m;
        p[j] = v16_exp_neg(false, x)[0];
        lane[j % 16] += p[j];
    }
    float tot = tree16(lane), inv = 1.0f / tot;
    for (int d = 0; d < hd; d++) {
        float acc = 0;
        for (int j = 0; j < T; j++) acc = fmaf(p[j], V[(size_t)j * ld + d], acc);
        o[d] = acc * inv;
    }
    *lse = m + logf(tot);
    free(p);
}

/* Packed sequences of 1 to 130 tokens (blocks of up to 64 / group tokens,
 * so rows fall in 4-, 2- and 1-row tiles), groups of 1 to 4 query heads per
 * kv head, head sizes around the 16- and 32-float steps: every output and
 * log-sum-exp is the formula's, bit for bit, on one thread and on two, and a
 * decode step (one token per sequence, keys from the cache) equals it too. */
static void test_attention(void) {
    static const int hds[] = {8, 16, 24, 32, 40, 64}, groups[] = {1, 2, 3, 4}, lens[] = {1, 5, 17, 70, 130};
    enum { NS = sizeof lens / sizeof *lens, NKV = 2 };
    unsigned seed = 7;
    int bad = 0, bad_decode = 0, cases = 0;
    for (size_t hi = 0; hi < sizeof hds / sizeof *hds; hi++)
        for (size_t gi = 0; gi < sizeof groups / sizeof *groups; gi++) {
            int hd = hds[hi], nh = groups[gi] * NKV, N = 0;
            for (int s = 0; s < NS; s++) N += lens[s];
            size_t ld = (size_t)NKV * hd, qw = (size_t)nh * hd;
            int *seq = pic_malloc((size_t)N * sizeof(int)), *pos = pic_malloc((size_t)N * sizeof(int));
            size_t off[NS];
            for (int s = 0, n = 0; s < NS; s++) {
                off[s] = (size_t)n * ld;
                for (int t = 0; t < lens[s]; t++, n++) seq[n] = s, pos[n] = t;
            }
            float *q = pic_malloc((size_t)N * qw * sizeof(float)), *k = pic_malloc((size_t)N * ld * sizeof(float));
            float *v = pic_malloc((size_t)N * ld * sizeof(float)), *o = pic_malloc((size_t)N * qw * sizeof(float));
            float *lse = pic_malloc((size_t)N * nh * sizeof(float)), want[64], want_lse;
            for (size_t i = 0; i < (size_t)N * qw; i++) q[i] = 3 * frand(&seed);
            for (size_t i = 0; i < (size_t)N * ld; i++) k[i] = frand(&seed), v[i] = frand(&seed);
            size_t wb = attention_workspace_size((size_t)N, 130, nh, NKV);
            void *w = pic_malloc(wb);
            float scale = (float)(1.0 / sqrt(hd));
            for (int threads = 1; threads <= 2; threads++) {
                pic_set_threads(threads);
                pic_attn_input in = {(size_t)N, seq, pos, k, v, off, ld, NULL};
                attention_forward(o, lse, q, &in, nh, NKV, hd, w, wb);
                for (int n = 0; n < N; n++)
                    for (int h = 0; h < nh; h++) {
                        int g = h / groups[gi];
                        attention_reference(want, &want_lse, q + n * qw + (size_t)h * hd, k + off[seq[n]] + (size_t)g * hd,
                                            v + off[seq[n]] + (size_t)g * hd, ld, pos[n] + 1, hd, scale);
                        cases++;
                        if (memcmp(want, o + n * qw + (size_t)h * hd, (size_t)hd * sizeof(float)) ||
                            memcmp(&want_lse, lse + (size_t)n * nh + h, sizeof want_lse))
                            bad++;
                    }
            }
            /* a decode step: the last token of each sequence, alone in the batch */
            int last_seq[NS], last_pos[NS];
            float *q1 = pic_malloc(NS * qw * sizeof(float)), *o1 = pic_malloc(NS * qw * sizeof(float));
            for (int s = 0, n = 0; s < NS; n += lens[s], s++) {
                last_seq[s] = s, last_pos[s] = lens[s] - 1;
                memcpy(q1 + s * qw, q + (size_t)(n + lens[s] - 1) * qw, qw * sizeof(float));
            }
            pic_attn_input step = {NS, last_seq, last_pos, k, v, off, ld, NULL};
            attention_forward(o1, NULL, q1, &step, nh, NKV, hd, w, wb);
            for (int s = 0, n = 0; s < NS; n += lens[s], s++)
                if (memcmp(o1 + s * qw, o + (size_t)(n + lens[s] - 1) * qw, qw * sizeof(float))) bad_decode++;
            free(q1), free(o1), free(w), free(q), free(k), free(v), free(o), free(lse), free(seq), free(pos);
        }
    CHECK(bad == 0, "attention_forward (%s) is its formula bit for bit (%d rows, %d differ)", pic_matmul_bi_isa(),
          cases, bad);
    CHECK(bad_decode == 0, "a decode step's rows equal the same tokens' rows in prefill (%d differ)", bad_decode);
}

/* Prefills prompts (slots 0..n-1), then decodes steps tokens per sequence
 * (the argmax of each step), keeping target's logits of every step. */
static void decode(pic_model *m, int n, int *const *prompts, const int *plen, int target, int steps, float *keep) {
    int V = m->cfg.vocab_size;
    pic_kvcache *kv = pic_kvcache_new(&m->cfg, n, 64, 0);
    size_t total = 0;
    for (int s = 0; s < n; s++) total += (size_t)plen[s];
    int32_t *tok = pic_malloc(total * sizeof *tok);
    total = 0;
    for (int s = 0; s < n; s++)
        for (int t = 0; t < plen[s]; t++) tok[total++] = prompts[s][t];
    float *z = pic_malloc((size_t)n * V * sizeof(float));
    pic_err err;
    pic_batch b = {n, plen, tok, NULL};
    if (pic_forward(m, kv, &b, PIC_LOGITS_LAST, z, &err)) pic_die("%s", err.msg);
    int *one = pic_malloc((size_t)n * sizeof(int));
    for (int st = 0; st < steps; st++) {
        memcpy(keep + (size_t)st * V, z + (size_t)target * V, (size_t)V * sizeof(float));
        for (int s = 0; s < n; s++) {
            int best = 0;
            for (int i = 1; i < V; i++)
                if (z[(size_t)s * V + i] > z[(size_t)s * V + best]) best = i;
            tok[s] = best;
            one[s] = 1;
        }
        pic_batch d = {n, one, tok, NULL};
        if (pic_forward(m, kv, &d, PIC_LOGITS_LAST, z, &err)) pic_die("%s", err.msg);
    }
    free(one);
    free(z);
    free(tok);
    pic_kvcache_free(kv);
}

static void test_model(const char *name) {
    pic_model m;
    pic_err err;
    char *dir = pic_asprintf("%s/models/%s", fixtures(), name);
    if (pic_model_load(&m, dir, NULL, &err)) pic_die("%s", err.msg);
    int V = m.cfg.vocab_size, steps = 6;
    int a[] = {421, 274, 220, 16, 17, 426, 220, 18, 15, 30, 428, 330, 274};
    int b[] = {331, 257, 69, 335, 338, 59, 329, 90, 7, 87, 12, 16, 23, 336, 87};
    int c[] = {510, 352, 198};
    int *alone[] = {a}, alen[] = {13};
    int *packed[] = {b, a, c, b, c, a, b}, plen[] = {15, 13, 3, 15, 3, 13, 15};
    float *x = pic_malloc((size_t)steps * V * sizeof(float)), *y = pic_malloc((size_t)steps * V * sizeof(float));
    float *z = pic_malloc((size_t)steps * V * sizeof(float));

    m.batch_invariant = true;
    decode(&m, 1, alone, alen, 0, steps, x);
    decode(&m, 7, packed, plen, 1, steps, y);
    pic_set_threads(1);
    decode(&m, 7, packed, plen, 5, steps, z);
    pic_set_threads(0);
    CHECK(!memcmp(x, y, (size_t)steps * V * sizeof(float)),
          "%s: a sequence alone and packed with 6 others: bit-identical logits over %d steps", name, steps);
    CHECK(!memcmp(x, z, (size_t)steps * V * sizeof(float)), "%s: same in another place of the batch, one thread",
          name);

    /* What the kernel is for: OpenBLAS's own products round differently
     * by shape on some machines (reported, not required). */
    m.batch_invariant = false;
    decode(&m, 1, alone, alen, 0, steps, x);
    decode(&m, 7, packed, plen, 1, steps, y);
    float worst = 0;
    for (int i = 0; i < steps * V; i++) {
        float d = x[i] > y[i] ? x[i] - y[i] : y[i] - x[i];
        if (d > worst) worst = d;
    }
    printf("# %s with OpenBLAS: alone vs packed logits differ by up to %g\n", name, (double)worst);
    free(x), free(y), free(z);
    free(dir);
    pic_model_free(&m);
}

int main(void) {
    pic_init("test_rollout_invariance");
    test_kernel();
    test_attention();
    test_model("qwen2-tiny");
    test_model("qwen3-tiny");
    test_model("llama-tiny");
    return check_done();
}
