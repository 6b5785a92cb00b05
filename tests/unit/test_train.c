/* pic_train_step's memory (src/update/train.c, src/model/acts.c): one
 * pic-update process per training step pays a page fault for every page it
 * touches, so its arena is sized once for the largest forward of the run
 * (pic_trainer_reserve) and the backward's scratch lives in it. Steps that
 * need no more memory than earlier ones then fault almost no new pages, even
 * where malloc hands every large block back to the system on free (glibc
 * does above 32 MB, the size of the demo's arena; M_MMAP_THRESHOLD is
 * lowered here so that a tiny model shows it). And the arena's size changes
 * no result. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"
#include "common/cli.h"
#include "common/rng.h"
#include "model/acts.h"
#include "model/parallel.h"
#include "update/train.h"

enum { K = 4, PER = 16, PROMPT = 16 }; /* optimizer steps, samples per step, prompt tokens */

static long minor_faults(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

static void load(pic_model *m, pic_trainer *t) {
    pic_err err;
    if (pic_model_load(m, "tests/fixtures/models/qwen2-tiny", NULL, &err)) pic_die("%s", err.msg);
    pic_train_cfg tc = {0};
    pic_loss_defaults(&tc.loss);
    pic_adamw_defaults(&tc.opt);
    tc.loss.alpha = 0.1;
    tc.max_grad_norm = 1.0;
    tc.temperature = 0.6f;
    pic_trainer_init(t, m, &tc);
}

int main(void) {
#ifdef M_MMAP_THRESHOLD
    mallopt(M_MMAP_THRESHOLD, 64 << 10);
#endif
    pic_set_threads(1);
    pic_rng rng;
    pic_rng_seed(&rng, 5, 0, 0);
    /* step k's responses are 16 + 8k tokens: each step is bigger than the last */
    pic_sample s[K * PER];
    memset(s, 0, sizeof s);
    for (int i = 0; i < K * PER; i++) {
        s[i].n_prompt = PROMPT, s[i].n_resp = 16 + 8 * (i / PER);
        s[i].ids = pic_malloc((size_t)(s[i].n_prompt + s[i].n_resp) * sizeof(int32_t));
        s[i].old_logp = pic_malloc((size_t)s[i].n_resp * sizeof(float));
        for (int j = 0; j < s[i].n_prompt + s[i].n_resp; j++) s[i].ids[j] = (int32_t)pic_rng_below(&rng, 500);
        for (int j = 0; j < s[i].n_resp; j++) s[i].old_logp[j] = -6.0f - (float)pic_rng_uniform(&rng);
        s[i].adv = i % 3 ? 1.0 : -1.0;
    }

    pic_model m[2];
    pic_trainer t[2];
    pic_step_stats st;
    for (int k = 0; k < 2; k++) load(&m[k], &t[k]);
    pic_trainer_reserve(&t[0], s, K * PER, K);
    size_t n_max = (size_t)PER * (PROMPT + 16 + 8 * (K - 1));
    CHECK(m[0].acts.cap >= n_max && m[0].acts.cap_seq >= PER && m[0].acts.cap_ctx >= PROMPT + 16 + 8 * (K - 1),
          "pic_trainer_reserve sizes the arena for the largest step (%zu tokens for %zu)", m[0].acts.cap, n_max);
    /* the largest micro-batch first and a budget that splits the steps
     * unevenly: the arena is sized by the maxima over all micro-batches,
     * not by the last one (the same 8 x 56 tokens, 14 sequences of 32, 56
     * positions) */
    {
        pic_sample rev[K * PER];
        for (int i = 0; i < K * PER; i++) rev[i] = s[K * PER - 1 - i];
        pic_model mr;
        pic_trainer tr;
        load(&mr, &tr);
        int big = PROMPT + 16 + 8 * (K - 1);
        tr.cfg.micro_tokens = (size_t)8 * (size_t)big;
        pic_trainer_reserve(&tr, rev, K * PER, K);
        CHECK(mr.acts.cap >= (size_t)8 * (size_t)big && mr.acts.cap_seq >= 14 && mr.acts.cap_ctx >= big,
              "pic_trainer_reserve takes the maxima over the micro-batches (%zu tokens, %d sequences, %d positions)",
              mr.acts.cap, (int)mr.acts.cap_seq, (int)mr.acts.cap_ctx);
        pic_trainer_free(&tr), pic_model_free(&mr);
    }
    void *arena = m[0].acts.mem;
    size_t a, e;
    long f0 = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass) f0 = minor_faults();
        for (int k = 0; k < K; k++) {
            pic_step_slice(K * PER, k, K, &a, &e);
            pic_train_step(&t[0], s + a, e - a, true, &st);
        }
    }
    long faults = minor_faults() - f0;
    CHECK(m[0].acts.mem == arena, "steps of growing size keep the reserved arena");
    /* the first pass touched every page the steps need; with a scratch of
     * its own, each backward of the second would fault it in again */
    size_t n_min = (size_t)PER * (PROMPT + 16);
    long bound = K * (long)(pic_backward_scratch_floats(&m[0].cfg, n_min) * sizeof(float)) / sysconf(_SC_PAGESIZE) / 4;
    CHECK(faults < bound, "the same %d steps again: %ld minor faults (bound %ld)", K, faults, bound);

    /* the same first step in an arena of its own size: the same bits */
    pic_step_slice(K * PER, 0, K, &a, &e);
    pic_train_step(&t[1], s + a, e - a, true, &st);
    pic_model big;
    pic_trainer tbig;
    load(&big, &tbig);
    pic_trainer_reserve(&tbig, s, K * PER, K);
    pic_train_step(&tbig, s + a, e - a, true, &st);
    CHECK(m[1].acts.cap < big.acts.cap &&
              !memcmp(m[1].params.data, big.params.data, big.params.numel * sizeof(float)),
          "a step's weights do not depend on the arena's size (%zu or %zu tokens)", m[1].acts.cap, big.acts.cap);

    for (int k = 0; k < 2; k++) pic_trainer_free(&t[k]), pic_model_free(&m[k]);
    pic_trainer_free(&tbig), pic_model_free(&big);
    for (int i = 0; i < K * PER; i++) free(s[i].ids), free(s[i].old_logp);
    return check_done();
}
