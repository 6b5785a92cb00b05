/* The paged KV cache (kvcache.h): the pool's accounting (pages taken as
 * slots grow, shared by pic_kvcache_copy, copied on the first write into a
 * shared page, given back on truncation; the table rows marked dirty for
 * a GPU's upload, the peak of pages in use), its errors, and, on the fixture
 * models, that a sequence decoded through pages (shared with other slots,
 * copied on write, across page boundaries) gets the very logits it gets
 * scored whole: the pages move rows, never a sum. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/cli.h"
#include "model/model.h"

static const char *fixtures(void) {
    const char *f = getenv("FIXTURES");
    return f ? f : "tests/fixtures";
}

/* Pages in use, counted from the table: each page's references. */
static bool refs_match_table(const pic_kvcache *kv) {
    int *count = pic_calloc((size_t)kv->n_pages, sizeof *count);
    for (size_t i = 0; i < (size_t)kv->n_slots * kv->slot_pages; i++)
        if (kv->table[i] >= 0) count[kv->table[i]]++;
    int used = 0;
    bool same = true;
    for (int p = 0; p < kv->n_pages; p++) same &= count[p] == kv->refs[p], used += count[p] > 0;
    free(count);
    return same && used + kv->n_free == kv->n_pages;
}

static void test_accounting(void) {
    pic_config c = {.n_layers = 2, .n_kv_heads = 1, .head_dim = 4};
    pic_kvcache *kv = pic_kvcache_new(&c, 3, 200, 7);
    pic_err err;
    CHECK(kv->slot_pages == 4 && kv->n_free == 7, "200 positions a slot: rows of 4 pages; 7 free");
    CHECK(pic_kvcache_full_pages(3, 200) == 12, "every slot at its longest: 12 pages");

    CHECK(pic_kvcache_grow(kv, 0, 70, &err) == 0 && kv->n_free == 5, "70 positions take 2 pages");
    /* dirty: the table rows a GPU must upload again (cuda/forward.cu);
     * peak: the most pages in use at once (pic-rollout reports it) */
    CHECK(kv->dirty[0] && !kv->dirty[1] && !kv->dirty[2] && kv->peak == 2,
          "growing marks the slot's row dirty, no other; 2 pages the peak");
    kv->dirty[0] = false;
    CHECK(pic_kvcache_grow(kv, 0, 64, &err) == 0 && !kv->dirty[0] && kv->n_free == 5,
          "a grow that takes no page leaves the row clean");
    kv->len[0] = 70; /* as pic_forward does after writing them */
    float *tail = pic_kvcache_k(kv, 1, pic_kvcache_page(kv, 0, 69));
    for (int i = 0; i < PIC_KV_PAGE * 4; i++) tail[i] = (float)i;

    pic_kvcache_copy(kv, 1, 0, 70);
    CHECK(kv->len[1] == 70 && kv->n_free == 5 && kv->refs[pic_kvcache_page(kv, 0, 0)] == 2,
          "a copy shares the pages: none taken, each held twice");
    CHECK(pic_kvcache_pages_needed(kv, 1, 71) == 1 && pic_kvcache_pages_needed(kv, 1, 129) == 2,
          "writing into the shared page needs a copy of it, and a page past it one more");
    CHECK(pic_kvcache_pages_needed(kv, 1, 70) == 0, "writing nothing needs nothing");
    int shared = pic_kvcache_page(kv, 1, 69);
    CHECK(pic_kvcache_grow(kv, 1, 71, &err) == 0 && pic_kvcache_page(kv, 1, 69) != shared &&
              pic_kvcache_page(kv, 1, 0) == pic_kvcache_page(kv, 0, 0),
          "the first write copies the shared tail page; the full page stays shared");
    const float *copy = pic_kvcache_k(kv, 1, pic_kvcache_page(kv, 1, 69));
    CHECK(!memcmp(copy, tail, PIC_KV_PAGE * 4 * sizeof(float)), "the copy holds the page's keys");
    CHECK(kv->refs[shared] == 1 && kv->n_free == 4 && refs_match_table(kv), "the original is slot 0's alone");
    kv->len[1] = 71;

    CHECK(pic_kvcache_grow(kv, 2, 300, &err) != 0 && strstr(err.msg, "overflow"), "past max_len: %s", err.msg);
    CHECK(pic_kvcache_grow(kv, 2, 200, &err) == 0 && kv->n_free == 0, "a slot at its longest takes the last 4");
    CHECK(pic_kvcache_grow(kv, 0, 130, &err) != 0 && strstr(err.msg, "--kv-cache-tokens") && kv->n_free == 0 &&
              pic_kvcache_page(kv, 0, 69) == shared,
          "an empty pool is an error that names --kv-cache-tokens and takes nothing: %s", err.msg);

    CHECK(kv->peak == 7, "all 7 pages in use: the peak is 7 (%d)", kv->peak);
    kv->len[2] = 10; /* a forward that wrote 10 of the 200 it took room for */
    kv->dirty[2] = false;
    pic_kvcache_truncate(kv, 2, 10);
    CHECK(kv->n_free == 3 && refs_match_table(kv), "truncation gives back the pages past the length");
    CHECK(kv->dirty[2] && kv->peak == 7, "truncation marks the row dirty; the peak stays");
    pic_kvcache_truncate(kv, 0, 0);
    CHECK(kv->n_free == 4 && kv->refs[pic_kvcache_page(kv, 1, 0)] == 1 && refs_match_table(kv),
          "emptying slot 0 frees its own page; the one slot 1 shares stays");
    pic_kvcache_copy(kv, 1, 1, 5);
    CHECK(kv->len[1] == 5 && kv->n_free == 5 && refs_match_table(kv), "a copy onto itself truncates");
    pic_kvcache_truncate(kv, 1, 0);
    pic_kvcache_truncate(kv, 2, 0);
    CHECK(kv->n_free == 7 && refs_match_table(kv), "all pages back in the pool");
    int grown = pic_kvcache_grow(kv, 0, 10, &err);
    CHECK(grown == 0 && kv->peak == 7, "a grow after them keeps the peak of 7 (%d)", kv->peak);
    pic_kvcache_truncate(kv, 0, 0);
    pic_kvcache_free(kv);
}

/* A prompt's samples writing their first tokens together: the page they
 * all share is copied by every one but the last, which finds it its own
 * and writes in place. The default pool (every slot at its longest) holds
 * exactly that, so a count of one copy a sample would preempt one. */
static void test_batch_pages(void) {
    pic_config c = {.n_layers = 1, .n_kv_heads = 1, .head_dim = 4};
    enum { N = 4 };
    pic_kvcache *kv = pic_kvcache_new(&c, N + 1, 200, 0); /* 4 pages a slot, 20 in all */
    pic_err err = {0}; /* printed by a passing check too: a message, never stack bytes */
    CHECK(pic_kvcache_grow(kv, 0, 80, &err) == 0, "a prompt of 80 positions in slot 0");
    kv->len[0] = 80;
    int slots[N + 1], lens[N + 1];
    for (int i = 0; i < N; i++) {
        if (i) pic_kvcache_copy(kv, i, 0, 80);
        slots[i] = i, lens[i] = 81;
    }
    int tail = pic_kvcache_page(kv, 0, 79), full = pic_kvcache_page(kv, 0, 0);
    CHECK(kv->refs[tail] == N && kv->n_free == 18, "%d slots share the prompt's 2 pages", N);
    CHECK(pic_kvcache_batch_pages(kv, N, slots, lens) == N - 1, "all %d writing the shared page: %d copies", N,
          N - 1);
    CHECK(pic_kvcache_batch_pages(kv, N - 1, slots, lens) == N - 1, "%d of its %d holders: a copy each", N - 1, N);
    CHECK(pic_kvcache_batch_pages(kv, 1, slots, lens) == 1, "one of them alone: one copy");
    lens[1] = 129;
    CHECK(pic_kvcache_batch_pages(kv, N, slots, lens) == N, "one writing past the page: a page more");
    lens[1] = 81;
    slots[N] = N, lens[N] = 10;
    CHECK(pic_kvcache_batch_pages(kv, N + 1, slots, lens) == N, "an empty slot beside them: its own new page");
    int free0 = kv->n_free;
    for (int i = 0; i < N; i++) CHECK(pic_kvcache_grow(kv, i, 81, &err) == 0, "slot %d grows: %s", i, err.msg);
    CHECK(free0 - kv->n_free == N - 1 && kv->refs[tail] == 1 && kv->refs[full] == N && refs_match_table(kv),
          "growing them took %d pages (%d): the last writes the shared page in place", N - 1, free0 - kv->n_free);
    pic_kvcache_free(kv);
}

/* Two slots sharing a page, both writing into it: the first copies it,
 * the second then holds it alone and writes in place, so one page. */
static void test_two_holders(void) {
    pic_config c = {.n_layers = 1, .n_kv_heads = 1, .head_dim = 4};
    pic_kvcache *kv = pic_kvcache_new(&c, 2, 100, 0);
    pic_err err = {0};
    CHECK(pic_kvcache_grow(kv, 0, 10, &err) == 0, "a prompt of 10 positions in slot 0");
    kv->len[0] = 10;
    pic_kvcache_copy(kv, 1, 0, 10);
    int slots[2] = {0, 1}, lens[2] = {11, 11};
    CHECK(pic_kvcache_batch_pages(kv, 2, slots, lens) == 1, "both holders of a page writing it: one copy");
    int free0 = kv->n_free;
    CHECK(pic_kvcache_grow(kv, 0, 11, &err) == 0 && pic_kvcache_grow(kv, 1, 11, &err) == 0 &&
              free0 - kv->n_free == 1 && refs_match_table(kv),
          "growing both took that one page");
    pic_kvcache_free(kv);
}

/* On model name: a prompt of 70 tokens (past a page) is prefilled in slot
 * 0, shared into slots 1 and 2 mid-page, and three different continuations
 * are decoded a token a step, each slot's logits compared with its whole
 * sequence scored in one pass, bit for bit (the batch-invariant products). */
static void test_model(const char *name) {
    pic_model m;
    pic_err err;
    char *dir = pic_asprintf("%s/models/%s", fixtures(), name);
    if (pic_model_load(&m, dir, NULL, &err)) pic_die("%s", err.msg);
    m.batch_invariant = true;
    enum { P = 70, STEPS = 64, L = P + STEPS, S = 3 };
    int V = m.cfg.vocab_size;
    int32_t seq[S][L];
    unsigned r = 7;
    for (int t = 0; t < L; t++)
        for (int s = 0; s < S; s++) {
            r = r * 1103515245u + 12345u;
            seq[s][t] = t < P ? seq[0][t] : (int32_t)((r >> 8) % (unsigned)V);
            if (t < P && s == 0) seq[0][t] = (int32_t)((r >> 8) % (unsigned)V);
        }
    float *whole = pic_malloc((size_t)S * L * V * sizeof(float)), *step = pic_malloc((size_t)S * V * sizeof(float));
    for (int s = 0; s < S; s++) {
        int len = L;
        pic_batch b = {1, &len, seq[s], NULL};
        if (pic_forward(&m, NULL, &b, PIC_LOGITS_ALL, whole + (size_t)s * L * V, &err)) pic_die("%s", err.msg);
    }
    /* pages: the prompt's 2, copies of its tail for two slots (the last to
     * write keeps the original), and one past position 127 for each */
    pic_kvcache *kv = pic_kvcache_for(&m, S, 256, 2 + 2 + S, &err);
    int plen = P, zero = 0;
    pic_batch pb = {1, &plen, seq[0], &zero};
    float *last = pic_malloc((size_t)V * sizeof(float));
    if (pic_forward(&m, kv, &pb, PIC_LOGITS_LAST, last, &err)) pic_die("%s", err.msg);
    size_t bad = memcmp(last, whole + (size_t)(P - 1) * V, (size_t)V * sizeof(float)) != 0;
    pic_kvcache_copy(kv, 1, 0, P);
    pic_kvcache_copy(kv, 2, 0, P);
    for (int t = P; t < L; t++) {
        int one[S] = {1, 1, 1}, slots[S] = {2, 0, 1};
        int32_t in[S] = {seq[2][t], seq[0][t], seq[1][t]};
        pic_batch db = {S, one, in, slots};
        if (pic_forward(&m, kv, &db, PIC_LOGITS_LAST, step, &err)) pic_die("%s: %s", name, err.msg);
        for (int i = 0; i < S; i++)
            bad += memcmp(step + (size_t)i * V, whole + ((size_t)slots[i] * L + t) * V, (size_t)V * sizeof(float)) != 0;
    }
    CHECK(bad == 0, "%s: three continuations of a shared 70-token prompt, decoded through %d pages, equal their "
                    "whole sequences scored, bit for bit (%zu rows differ)",
          name, kv->n_pages, bad);
    CHECK(kv->n_free == 0 && refs_match_table(kv), "%s: the prompt's first page shared by all; the pool used up",
          name);
    int sixty = 60; /* positions 134..193: a page past the one slot 0 holds */
    pic_batch ob = {1, &sixty, seq[0], &zero};
    CHECK(pic_forward(&m, kv, &ob, PIC_LOGITS_NONE, NULL, &err) != 0 && strstr(err.msg, "the batch needs 1") &&
              kv->n_free == 0,
          "%s: a batch the pool cannot hold by one page is an error: %s", name, err.msg);
    int to_max = 256 - kv->len[0] + 1; /* one position past the slot's 256 */
    pic_batch xb = {1, &to_max, seq[1], &zero};
    CHECK(pic_forward(&m, kv, &xb, PIC_LOGITS_NONE, NULL, &err) != 0 && strstr(err.msg, "overflow the kv cache"),
          "%s: one position past max_len is an overflow: %s", name, err.msg);
    /* a batch that names its slots badly is refused before anything is written */
    int ones[3] = {1, 1, 1}, twice[3] = {1, 2, 1}, absent[2] = {0, 3}, len0 = kv->len[0];
    int32_t toks[3] = {seq[0][0], seq[0][1], seq[0][2]};
    pic_batch sb = {3, ones, toks, twice}, ab = {2, ones, toks, absent};
    CHECK(pic_forward(&m, kv, &sb, PIC_LOGITS_NONE, NULL, &err) != 0 &&
              strstr(err.msg, "sequences 0 and 2 share kv cache slot 1") && kv->len[0] == len0,
          "%s: two sequences of a batch in one slot: %s", name, err.msg);
    CHECK(pic_forward(&m, kv, &ab, PIC_LOGITS_NONE, NULL, &err) != 0 &&
              strstr(err.msg, "sequence 1: kv cache slot 3 does not exist"),
          "%s: a slot past the cache's: %s", name, err.msg);
    int none[2] = {1, 0}, in_order[2] = {0, 1};
    int32_t past[1] = {V};
    pic_batch nb = {2, none, toks, in_order}, vb = {1, ones, past, &zero};
    CHECK(pic_forward(&m, kv, &nb, PIC_LOGITS_NONE, NULL, &err) != 0 && strstr(err.msg, "sequence 1 of the batch has no tokens"),
          "%s: a sequence of no tokens: %s", name, err.msg);
    CHECK(pic_forward(&m, kv, &vb, PIC_LOGITS_NONE, NULL, &err) != 0 && strstr(err.msg, "outside the vocabulary") &&
              kv->len[0] == len0,
          "%s: the token id vocab_size is outside the vocabulary: %s", name, err.msg);
    pic_kvcache_free(kv);
    free(whole), free(step), free(last), free(dir);
    pic_model_free(&m);
}

int main(void) {
    pic_init("test_kvcache");
    test_accounting();
    test_batch_pages();
    test_two_holders();
    test_model("qwen2-tiny");
    test_model("qwen3-tiny");
    test_model("llama-tiny");
    return check_done();
}
