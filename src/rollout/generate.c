/* Generation with continuous batching (docs/rollout.md), on the model's
 * device (the CPU, or a GPU with its KV cache in device memory).
 *
 * Each prompt is prefilled once into a prompt cache (several prompts packed
 * per forward pass, up to --max-batch-tokens), and the first tokens of all
 * its samples are drawn from its last logits right then; each sample starts
 * by copying the prompt's keys and values into a free sample slot. Every
 * step then feeds all sequences in flight one token each. A finished sample
 * frees its slot at once and a waiting one takes it. With the
 * batch-invariant matmul on, a sample's numbers depend only on its prompt
 * and its own random stream (seed, prompt index, sample index), never on
 * which sequences shared its forward passes.
 *
 * On the CPU the host gets each step's logits and samples from them
 * (sampler.h), and a token's log-prob and entropy come from
 * logprob_entropy_forward over the same logits. On a GPU the logits stay
 * there (pic_forward_head): the device sampler (cuda/sampler.h) draws each
 * token against the uniform the host drew from the sample's own stream, as
 * the CPU's would, and takes its log-prob and entropy with the model's own
 * head kernel, the numbers --score and pic-update compute there, bit for
 * bit; only the tokens and those two numbers per row come back. */
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/json.h"
#include "model/layers.h"
#include "model/matmul_bi.h"
#include "model/parallel.h"
#include "rollout/cuda/sampler.h"
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
    size_t *rows;           /* [max_batch_size] */
    float *lp, *ent;        /* [max_batch_size] */
    sampler_cuda *dev;      /* the device sampler, when the model is on a GPU */
    int V, ctx;
    size_t tokens;
} gen_state;

/* The temperature of the recorded numbers (greedy records T = 1's). */
static float stats_temperature(const rollout_run *run) { return run->sp.temperature > 0 ? run->sp.temperature : 1.0f; }

/* On the CPU: row i's token drawn from the logits z + zrow[i] * V with the
 * stream rng[i], and its log-prob and entropy, for n rows on the pool's
 * threads (a GPU's come from its sampler, decode_device). Each row's draw
 * depends on its logits and stream alone, so the threads change no byte;
 * a whole vocabulary's draw and statistics are a millisecond or more,
 * which one thread did for every row while the other waited. */
typedef struct {
    gen_state *g;
    const float *z;
    const size_t *zrow;
    pic_rng *const *rng;
    int32_t *tok;
    float *lp, *h;
    sampler_scratch *scratch; /* one a thread */
} sample_args;

static void sample_rows_task(void *ctx, size_t begin, size_t end, int tid) {
    const sample_args *a = ctx;
    const rollout_run *run = a->g->run;
    int V = a->g->V;
    float T = stats_temperature(run);
    for (size_t i = begin; i < end; i++) {
        const float *z = a->z + a->zrow[i] * (size_t)V;
        a->tok[i] = sampler_next(z, V, &run->sp, &a->scratch[tid], a->rng[i]);
        logprob_entropy_forward(a->lp + i, a->h + i, z, a->tok + i, 1, V, T);
    }
}

static void sample_rows(gen_state *g, const float *z, const size_t *zrow, size_t n, pic_rng *const *rng,
                        int32_t *tok, float *lp, float *h, sampler_scratch *scratch) {
    sample_args a = {g, z, zrow, rng, tok, lp, h, scratch};
    pic_parallel_for(n, 1 + 65536 / (size_t)g->V, sample_rows_task, &a);
}

/* Appends token t to the sequence and decides whether it ends there.
 * Returns true when it goes on. */
static bool take_token(gen_state *g, gen_seq *s, int32_t t, float lp, float h) {
    rollout_run *run = g->run;
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
static void fork_samples(gen_state *g) {
    rollout_run *run = g->run;
    for (int slot = 0; slot < run->max_batch_size && g->open_head < g->n_open; slot++) {
        gen_seq *s = &g->seq[slot];
        if (s->pr) continue;
        gen_prompt *pr = g->open[g->open_head];
        gen_first f = pr->first[pr->started];
        gen_seq_start(s, pr, pr->started++, run->seed);
        s->rng = f.rng;
        if (pr->started == run->n) {
            g->open_head++;
            g->free_pslot[g->n_free_pslot++] = pr->pslot;
        }
        pic_kvcache_fork(g->skv, slot, g->pkv, pr->pslot);
        if (pr->started == run->n) {
            free(pr->first);
            pr->first = NULL;
        }
        if (!take_token(g, s, f.tok, f.lp, f.ent)) {
            complete(g, s);
            pic_kvcache_truncate(g->skv, slot, 0);
        }
    }
}

/* Each sample's first token, from its own stream, for the n prompts just
 * prefilled (logits z, one row each): the draws a sample would make at its
 * start, made now so that the prompt's logits and hidden state need not be
 * kept (and its log-probs come from the same forward). */
static void first_tokens(gen_state *g, gen_prompt *pr, int n, const float *z,
                         sampler_scratch *scratch) {
    rollout_run *run = g->run;
    size_t k = (size_t)n * run->n, *zrow = pic_malloc(k * sizeof *zrow);
    int32_t *tok = pic_malloc(k * sizeof *tok);
    float *lp = pic_malloc(k * sizeof *lp), *h = pic_malloc(k * sizeof *h);
    pic_rng **rng = pic_malloc(k * sizeof *rng);
    for (int i = 0; i < n; i++) {
        pr[i].first = pic_malloc((size_t)run->n * sizeof *pr[i].first);
        for (int j = 0; j < run->n; j++) {
            gen_first *f = &pr[i].first[j];
            size_t at = (size_t)i * run->n + (size_t)j;
            pic_rng_seed(&f->rng, run->seed, pr[i].index, (uint64_t)j);
            rng[at] = &f->rng;
            zrow[at] = (size_t)i;
        }
    }
    sample_rows(g, z, zrow, k, rng, tok, lp, h, scratch);
    for (size_t at = 0; at < k; at++) {
        gen_first *f = &pr[at / run->n].first[at % run->n];
        f->tok = tok[at], f->lp = lp[at], f->ent = h[at];
    }
    free(zrow), free(tok), free(lp), free(h), free(rng);
}

/* The uniform sampler_next would draw from rng: one when sampling, none
 * when greedy, so that a stream advances as on the CPU. */
static double next_uniform(const rollout_run *run, pic_rng *rng) {
    return run->sp.temperature > 0 ? pic_rng_uniform(rng) : 0;
}

/* first_tokens on a GPU, for the block of prompts pr[i..i+k) whose last
 * logits z are on the device: the same draws from the same streams. */
typedef struct {
    gen_state *g;
    gen_prompt *pr;
} first_ctx;

static int first_tokens_device(void *ctx, size_t i, size_t k, const float *z, void *stream, pic_err *err) {
    first_ctx *c = ctx;
    gen_state *g = c->g;
    rollout_run *run = g->run;
    size_t nd = k * (size_t)run->n;
    int *row = pic_malloc(nd * sizeof *row);
    double *u = pic_malloc(nd * sizeof *u);
    int32_t *tok = pic_malloc(nd * sizeof *tok);
    float *lp = pic_malloc(nd * sizeof *lp), *h = pic_malloc(nd * sizeof *h);
    for (size_t j = 0, at = 0; j < k; j++) {
        gen_prompt *pr = &c->pr[i + j];
        pr->first = pic_malloc((size_t)run->n * sizeof *pr->first);
        for (int s = 0; s < run->n; s++, at++) {
            gen_first *f = &pr->first[s];
            pic_rng_seed(&f->rng, run->seed, pr->index, (uint64_t)s);
            u[at] = next_uniform(run, &f->rng);
            row[at] = (int)j;
        }
    }
    int rc = sampler_next_cuda(g->dev, z, k, g->V, &run->sp, nd, row, u, stats_temperature(run), tok, lp, h, stream, err);
    for (size_t at = 0; !rc && at < nd; at++) {
        gen_first *f = &c->pr[i + at / run->n].first[at % run->n];
        f->tok = tok[at], f->lp = lp[at], f->ent = h[at];
    }
    free(row), free(u), free(tok), free(lp), free(h);
    return rc;
}

/* Prefills the next prompts, as many as there are free prompt slots and
 * free sample slots not already promised, up to --max-batch-tokens. */
static bool prefill(gen_state *g, sampler_scratch *scratch) {
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
    float *z = g->dev ? NULL : pic_malloc((size_t)n * g->V * sizeof *z);
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
    if (g->dev) {
        first_ctx fc = {g, &g->pr[first]};
        if (pic_forward_head(&run->model, g->pkv, &b, PIC_LOGITS_LAST, first_tokens_device, &fc, &err))
            pic_die("%s", err.msg);
    } else {
        if (pic_forward(&run->model, g->pkv, &b, PIC_LOGITS_LAST, z, &err)) pic_die("%s", err.msg);
        first_tokens(g, &g->pr[first], n, z, scratch);
    }
    for (int i = 0; i < n; i++) g->open[g->n_open++] = &g->pr[first + (size_t)i];
    free(len), free(slot), free(tok), free(z);
    return true;
}

/* A decode step's draws on a GPU, for the block of rows i..i+k (sequence
 * slot[row] each) whose logits z are on the device. */
typedef struct {
    gen_state *g;
    const int *slot;
    int32_t *tok;
} decode_ctx;

static int decode_device(void *ctx, size_t i, size_t k, const float *z, void *stream, pic_err *err) {
    decode_ctx *c = ctx;
    gen_state *g = c->g;
    rollout_run *run = g->run;
    int *row = pic_malloc(k * sizeof *row);
    double *u = pic_malloc(k * sizeof *u);
    for (size_t j = 0; j < k; j++) {
        row[j] = (int)j;
        u[j] = next_uniform(run, &g->seq[c->slot[i + j]].rng);
    }
    int rc = sampler_next_cuda(g->dev, z, k, g->V, &run->sp, k, row, u, stats_temperature(run), c->tok + i, g->lp + i,
                               g->ent + i, stream, err);
    free(row), free(u);
    return rc;
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
        if (g->dev) {
            decode_ctx dc = {g, slot, tok};
            if (pic_forward_head(&run->model, g->skv, &b, PIC_LOGITS_LAST, decode_device, &dc, &err))
                pic_die("%s", err.msg);
        } else {
            if (pic_forward(&run->model, g->skv, &b, PIC_LOGITS_LAST, g->logits, &err)) pic_die("%s", err.msg);
            pic_rng **rng = pic_malloc((size_t)n * sizeof *rng);
            for (int i = 0; i < n; i++) {
                g->rows[i] = (size_t)i; /* one token each: row i is sequence i's, and so is logits row i */
                rng[i] = &g->seq[slot[i]].rng;
            }
            sample_rows(g, g->logits, g->rows, (size_t)n, rng, tok, g->lp, g->ent, scratch);
            free(rng);
        }
        for (int i = 0; i < n; i++) {
            gen_seq *s = &g->seq[slot[i]];
            if (!take_token(g, s, tok[i], g->lp[i], g->ent[i])) {
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
    run->model.batch_invariant = !run->fast;
    pic_matmul_bi_isa(); /* resolves PIC_ISA now: a bad value fails before any work */
    if (g.np) {
        int B = run->max_batch_size, Q = B < (int)g.np ? B : (int)g.np;
        long max_len = (long)pmax + run->max_new_tokens;
        if (max_len > g.ctx) max_len = g.ctx;
        pic_err err;
        g.pkv = pic_kvcache_for(&run->model, Q, pmax, &err);
        if (g.pkv) g.skv = pic_kvcache_for(&run->model, B, (int)max_len, &err);
        if (!g.skv) pic_die("%s", err.msg);
        g.rows = pic_malloc((size_t)B * sizeof *g.rows);
        g.lp = pic_malloc((size_t)B * sizeof *g.lp);
        g.ent = pic_malloc((size_t)B * sizeof *g.ent);
        g.free_pslot = pic_malloc((size_t)Q * sizeof *g.free_pslot);
        for (int i = Q; i-- > 0;) g.free_pslot[g.n_free_pslot++] = i;
        g.open = pic_malloc(g.np * sizeof *g.open);
        g.seq = pic_calloc((size_t)B, sizeof *g.seq);
        if (run->model.device == PIC_DEVICE_CUDA) { /* no logits on the host: the device samples */
            if (!(g.dev = sampler_cuda_new())) pic_die("the device sampler: out of memory");
        } else
            g.logits = pic_malloc((size_t)B * g.V * sizeof(float));
    }
    sampler_scratch *scratch = pic_calloc((size_t)pic_threads(), sizeof *scratch); /* one a thread */
    double t0 = pic_now();
    while (g.write_at < g.np) {
        for (;;) {
            fork_samples(&g);
            if (!prefill(&g, scratch)) break;
        }
        decode_step(&g, scratch);
        write_ready(&g);
        double dt = pic_now() - t0;
        char extra[64];
        snprintf(extra, sizeof extra, "%.0f tokens/s", dt > 0 ? (double)g.tokens / dt : 0.0);
        size_t done = run->samples;
        for (size_t i = g.write_at; i < g.np; i++) done += (size_t)g.pr[i].done;
        pic_progress_update(&run->progress, (double)done, (double)g.total_samples, extra);
    }
    run->tokens += g.tokens;
    for (int t = 0; t < pic_threads(); t++) sampler_free(&scratch[t]);
    free(scratch);
    if (g.seq)
        for (int i = 0; i < run->max_batch_size; i++) gen_seq_free(&g.seq[i]);
    free(g.seq);
    free(g.logits);
    sampler_cuda_free(g.dev);
    free(g.rows), free(g.lp), free(g.ent);
    free(g.open);
    free(g.free_pslot);
    free(g.pr);
    pic_kvcache_free(g.pkv);
    pic_kvcache_free(g.skv);
    run->model.batch_invariant = false;
}
