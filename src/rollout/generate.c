/* Generation with continuous batching (docs/rollout.md).
 *
 * Each prompt is prefilled once into a prompt cache (several prompts packed
 * per forward pass, up to --max-batch-tokens), its last logits kept; each of
 * its samples starts by copying the prompt's keys and values into a free
 * sample slot and drawing its first token from those logits. Every step
 * then feeds all sequences in flight one token each. A finished sample
 * frees its slot at once and a waiting one takes it. With the
 * batch-invariant matmul on, a sample's numbers depend only on its prompt
 * and its own random stream (seed, prompt index, sample index), never on
 * which sequences shared its forward passes. */
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/json.h"
#include "model/layers.h"
#include "model/matmul_bi.h"
#include "rollout/gen.h"
#include "rollout/rollout.h"

typedef struct {
    rollout_run *run;
    gen_prompt *pr;
    size_t np, write_at, next_prefill, total_samples;
    /* prefilled prompts whose samples have not all started, in input order */
    gen_prompt **open;
    size_t n_open, open_head;
    pic_kvcache *pkv, *skv; /* prompt slots, sample slots */
    int *free_pslot, n_free_pslot;
    gen_seq *seq;           /* [max_batch_size] by sample slot */
    float *logits;          /* [max_batch_size, V] */
    int V, ctx;
    size_t tokens;
} gen_state;

static void fork_kv(pic_kvcache *dst, int ds, const pic_kvcache *src, int ss) {
    size_t n = (size_t)src->len[ss] * src->kv_dim * sizeof(float);
    for (int l = 0; l < src->n_layers; l++) {
        memcpy(pic_kvcache_k(dst, l, ds), pic_kvcache_k(src, l, ss), n);
        memcpy(pic_kvcache_v(dst, l, ds), pic_kvcache_v(src, l, ss), n);
    }
    dst->len[ds] = src->len[ss];
}

/* Draws the sequence's next token from logits and decides whether it ends
 * there. Returns true when it goes on. */
static bool take_token(gen_state *g, gen_seq *s, const float *logits, sampler_scratch *scratch) {
    rollout_run *run = g->run;
    int32_t t = sampler_next(logits, g->V, &run->sp, scratch, &s->rng);
    float T = run->sp.temperature > 0 ? run->sp.temperature : 1.0f, lp, h;
    logprob_entropy_forward(&lp, &h, logits, &t, 1, g->V, T);
    gen_seq_push(s, t, lp, h);
    g->tokens++;
    if (stop_is_eos(&run->stops, t)) return gen_seq_finish(s, "stop", false), false;
    if (stop_string_hit(&run->stops, prompt_tokenizer(&run->prompts), s->ids, (size_t)s->len))
        return gen_seq_finish(s, "stop", true), false;
    if (s->len >= run->max_new_tokens || s->pr->P + s->len >= g->ctx) return gen_seq_finish(s, "length", false), false;
    return true;
}

static void complete(gen_state *g, gen_seq *s) {
    gen_prompt *pr = s->pr;
    pr->out[s->sample] = gen_sample_record(g->run, s);
    pr->done++;
    gen_seq_reset(s);
}

/* Starts samples of prefilled prompts in every free sample slot. */
static void fork_samples(gen_state *g, sampler_scratch *scratch) {
    rollout_run *run = g->run;
    for (int slot = 0; slot < run->max_batch_size && g->open_head < g->n_open; slot++) {
        gen_seq *s = &g->seq[slot];
        if (s->pr) continue;
        gen_prompt *pr = g->open[g->open_head];
        gen_seq_start(s, pr, pr->started++, run->seed);
        if (pr->started == run->n) {
            g->open_head++;
            g->free_pslot[g->n_free_pslot++] = pr->pslot;
        }
        fork_kv(g->skv, slot, g->pkv, pr->pslot);
        bool go_on = take_token(g, s, pr->logits, scratch);
        if (pr->started == run->n) {
            free(pr->logits);
            pr->logits = NULL;
        }
        if (!go_on) complete(g, s);
    }
}

/* Prefills the next prompts, as many as there are free prompt slots and
 * free sample slots not already promised, up to --max-batch-tokens. */
static bool prefill(gen_state *g) {
    rollout_run *run = g->run;
    int free_slots = 0;
    for (int i = 0; i < run->max_batch_size; i++) free_slots += !g->seq[i].pr;
    long waiting = 0;
    for (size_t i = g->open_head; i < g->n_open; i++) waiting += run->n - g->open[i]->started;
    int n = 0;
    size_t tokens = 0;
    size_t first = g->next_prefill;
    while (g->next_prefill < g->np && g->n_free_pslot > n && waiting < free_slots) {
        gen_prompt *pr = &g->pr[g->next_prefill];
        if (n && tokens + (size_t)pr->P > run->batch_tokens) break;
        tokens += (size_t)pr->P;
        waiting += run->n;
        n++;
        g->next_prefill++;
    }
    if (!n) return false;
    int *len = pic_malloc((size_t)n * sizeof *len), *slot = pic_malloc((size_t)n * sizeof *slot);
    int32_t *tok = pic_malloc(tokens * sizeof *tok);
    float *z = pic_malloc((size_t)n * g->V * sizeof *z);
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        gen_prompt *pr = &g->pr[first + (size_t)i];
        pr->pslot = g->free_pslot[--g->n_free_pslot];
        pic_kvcache_truncate(g->pkv, pr->pslot, 0);
        len[i] = pr->P;
        slot[i] = pr->pslot;
        memcpy(tok + at, pr->ids, (size_t)pr->P * sizeof *tok);
        at += (size_t)pr->P;
    }
    pic_err err;
    pic_batch b = {n, len, tok, slot};
    if (pic_forward(&run->model, g->pkv, &b, PIC_LOGITS_LAST, z, &err)) pic_die("%s", err.msg);
    for (int i = 0; i < n; i++) {
        gen_prompt *pr = &g->pr[first + (size_t)i];
        pr->logits = pic_malloc((size_t)g->V * sizeof(float));
        memcpy(pr->logits, z + (size_t)i * g->V, (size_t)g->V * sizeof(float));
        g->open[g->n_open++] = pr;
    }
    free(len), free(slot), free(tok), free(z);
    return true;
}

/* One token for every sequence in flight. */
static void decode_step(gen_state *g, sampler_scratch *scratch) {
    rollout_run *run = g->run;
    int n = 0;
    int *len = pic_malloc((size_t)run->max_batch_size * sizeof *len);
    int *slot = pic_malloc((size_t)run->max_batch_size * sizeof *slot);
    int32_t *tok = pic_malloc((size_t)run->max_batch_size * sizeof *tok);
    for (int i = 0; i < run->max_batch_size; i++)
        if (g->seq[i].pr) {
            len[n] = 1;
            slot[n] = i;
            tok[n++] = g->seq[i].ids[g->seq[i].len - 1];
        }
    if (n) {
        pic_err err;
        pic_batch b = {n, len, tok, slot};
        if (pic_forward(&run->model, g->skv, &b, PIC_LOGITS_LAST, g->logits, &err)) pic_die("%s", err.msg);
        for (int i = 0; i < n; i++) {
            gen_seq *s = &g->seq[slot[i]];
            if (!take_token(g, s, g->logits + (size_t)i * g->V, scratch)) {
                complete(g, s);
                pic_kvcache_truncate(g->skv, slot[i], 0);
            }
        }
    }
    free(len), free(slot), free(tok);
}

static void write_ready(gen_state *g) {
    rollout_run *run = g->run;
    while (g->write_at < g->np && g->pr[g->write_at].done == run->n) {
        gen_prompt *pr = &g->pr[g->write_at++];
        for (int i = 0; i < run->n; i++) {
            pic_writer_json(run->w, pr->out[i]);
            json_decref(pr->out[i]);
            run->samples++;
        }
        gen_prompt_free(pr);
    }
}

void generate(rollout_run *run, pic_reader **readers, int n_readers) {
    gen_state g = {.run = run, .V = run->model.cfg.vocab_size, .ctx = run->model.cfg.max_position};
    int pmax = 0;
    g.pr = gen_read_prompts(run, readers, n_readers, &g.np, &pmax);
    g.total_samples = g.np * (size_t)run->n;
    run->model.batch_invariant = true;
    pic_matmul_bi_isa(); /* resolves PIC_ISA now: a bad value fails before any work */
    if (g.np) {
        int B = run->max_batch_size, Q = B < (int)g.np ? B : (int)g.np;
        long max_len = (long)pmax + run->max_new_tokens;
        if (max_len > g.ctx) max_len = g.ctx;
        g.pkv = pic_kvcache_new(&run->model.cfg, Q, pmax);
        g.skv = pic_kvcache_new(&run->model.cfg, B, (int)max_len);
        g.free_pslot = pic_malloc((size_t)Q * sizeof *g.free_pslot);
        for (int i = Q; i-- > 0;) g.free_pslot[g.n_free_pslot++] = i;
        g.open = pic_malloc(g.np * sizeof *g.open);
        g.seq = pic_calloc((size_t)B, sizeof *g.seq);
        g.logits = pic_malloc((size_t)B * g.V * sizeof(float));
    }
    sampler_scratch scratch = {0};
    double t0 = pic_now();
    while (g.write_at < g.np) {
        for (;;) {
            fork_samples(&g, &scratch);
            if (!prefill(&g)) break;
        }
        decode_step(&g, &scratch);
        write_ready(&g);
        double dt = pic_now() - t0;
        char extra[64];
        snprintf(extra, sizeof extra, "%.0f tokens/s", dt > 0 ? (double)g.tokens / dt : 0.0);
        size_t done = run->samples;
        for (size_t i = g.write_at; i < g.np; i++) done += (size_t)g.pr[i].done;
        pic_progress_update(&run->progress, (double)done, (double)g.total_samples, extra);
    }
    run->tokens += g.tokens;
    sampler_free(&scratch);
    if (g.seq)
        for (int i = 0; i < run->max_batch_size; i++) gen_seq_free(&g.seq[i]);
    free(g.seq);
    free(g.logits);
    free(g.open);
    free(g.free_pslot);
    free(g.pr);
    pic_kvcache_free(g.pkv);
    pic_kvcache_free(g.skv);
    run->model.batch_invariant = false;
}
