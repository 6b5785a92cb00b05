/* Generation with continuous batching (docs/rollout.md), on the model's
 * device (the CPU, or a GPU with its KV cache in device memory).
 *
 * Each step is one forward pass: a token for every sequence in flight and
 * the prefill of the next prompts (up to --max-batch-tokens rows), each
 * into the free slot where its first sample will run (its home). The first
 * tokens of all a prompt's samples are drawn from its last logits right
 * then; each other sample starts by copying the prompt's positions from
 * the home into a free slot. A finished sample frees its slot at once and
 * a waiting one takes it. With the
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
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/json.h"
#include "model/cuda/entry.h"
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
    pic_kvcache *kv;        /* one slot a sequence in flight */
    bool *pinned;           /* [max_batch_size] a home slot kept, idle, for its prompt's samples to come */
    gen_seq *seq;           /* [max_batch_size] by slot */
    float *logits;          /* [max_batch_size, V] */
    sampler_cuda *dev;      /* the device sampler, when the model is on a GPU */
    int V, ctx;
    size_t tokens;
    unsigned long n_started;
} gen_state;

/* The temperature of the recorded numbers (greedy records T = 1's). */
static float stats_temperature(const rollout_run *run) { return run->sp.temperature > 0 ? run->sp.temperature : 1.0f; }

/* On the CPU: draw i's token from the logits z + zrow[i] * V with the
 * stream rng[i], and its log-prob and entropy, for n draws on the pool's
 * threads (a GPU's come from its sampler, draw_device). Each draw depends
 * on its logits and stream alone, so the threads change no byte; a whole
 * vocabulary's draw and statistics are a millisecond or more, which one
 * thread did for every row while the other waited. */
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
    /* the string first: an --eos token need not be special, and one whose
     * text completes a --stop string is cut there too (--stop-cut) */
    if (stop_string_hit(&run->stops, prompt_tokenizer(&run->prompts), s->ids, (size_t)s->len))
        return gen_seq_finish(s, "stop", true), false;
    if (stop_is_eos(&run->stops, t)) return gen_seq_finish(s, "stop", false), false;
    if (s->len >= run->max_new_tokens || s->pr->P + s->len >= g->ctx) return gen_seq_finish(s, "length", false), false;
    return true;
}

/* The sequence in slot has ended: its record is made and the slot freed,
 * unless it is its prompt's home with samples still to start, which copy
 * the prompt's keys and values from there: then the slot waits, pinned. */
static void complete(gen_state *g, int slot) {
    rollout_run *run = g->run;
    gen_seq *s = &g->seq[slot];
    gen_prompt *pr = s->pr;
    for (int i = 0; i < s->len; i++) {
        if (!isfinite(s->lp[i]) || !isfinite(s->ent[i])) {
            char *id = json_dumps(json_object_get(pr->obj, "id"), JSON_ENCODE_ANY);
            pic_die("prompt %zu of the input (id %s), sample %d, response token %d: log-prob %g, entropy %g: the "
                    "model's numbers overflow float (%s)", pr->index + 1, id ? id : "none", s->sample, i,
                    s->lp[i], s->ent[i], run->model_dir);
        }
        run->entropy_sum += s->ent[i];
    }
    pr->done++;
    gen_seq_complete(s);
    if (pr->home == slot && pr->started < g->run->n) g->pinned[slot] = true;
    else pic_kvcache_truncate(g->kv, slot, 0);
}

/* Starts sample pr->started of pr in slot, with the first token drawn at
 * its prompt's prefill; the slot already holds the prompt's positions. */
static void start_sample(gen_state *g, gen_prompt *pr, int slot) {
    rollout_run *run = g->run;
    gen_seq *s = &g->seq[slot];
    gen_first f = pr->first[pr->started];
    gen_seq_start(s, pr, pr->started++);
    s->rng = f.rng;
    s->order = g->n_started++;
    if (pr->started == run->n) {
        free(pr->first);
        pr->first = NULL;
        if (g->pinned[pr->home]) { /* its last sample started elsewhere: the home is free */
            g->pinned[pr->home] = false;
            pic_kvcache_truncate(g->kv, pr->home, 0);
        }
    }
    if (!take_token(g, s, f.tok, f.lp, f.ent)) complete(g, slot);
}

/* Starts the waiting samples of prefilled prompts, in input order, in free
 * slots (copying the prompt's positions from its home) or in the prompt's
 * own pinned home (where they still are). */
static void fork_samples(gen_state *g) {
    rollout_run *run = g->run;
    for (int slot = 0; slot < run->max_batch_size && g->open_head < g->n_open; slot++) {
        gen_prompt *pr = g->open[g->open_head];
        if (g->seq[slot].pr) continue;
        /* the prompt's positions the home still holds (all, unless the
         * cache was short of pages: the sample refills the rest) */
        int held = g->kv->len[pr->home] < pr->P ? g->kv->len[pr->home] : pr->P;
        if (g->pinned[slot]) {
            if (slot != pr->home) continue;
            g->pinned[slot] = false;
            pic_kvcache_truncate(g->kv, slot, held);
        } else {
            pic_kvcache_copy(g->kv, slot, pr->home, held);
        }
        start_sample(g, pr, slot);
        if (!pr->first) g->open_head++;
    }
}

/* The uniform sampler_next would draw from rng: one when sampling, none
 * when greedy, so that a stream advances as on the CPU. */
static double next_uniform(const rollout_run *run, pic_rng *rng) {
    return run->sp.temperature > 0 ? pic_rng_uniform(rng) : 0;
}

/* The positions the cache of the sequence in slot lacks: its last token in
 * a decode step; after a preemption, all it dropped (a refill). */
static int to_feed(const gen_state *g, int slot) {
    const gen_seq *s = &g->seq[slot];
    return s->pr->P + s->len - g->kv->len[slot];
}

/* One forward pass: n_dec sequences in flight (slots dec), each fed
 * feed[r] of the positions its cache lacks (its last token in a decode
 * step; after a preemption, all it dropped or, for a refill longer than
 * --max-batch-tokens, the next of its pieces), and n_pre prompts
 * prefilled into their homes (pre), then the draws of its last logits:
 * one for each sequence in flight whose cache is then whole, and the
 * first token of each of a prompt's samples, each from the sample's own
 * stream. */
typedef struct {
    gen_state *g;
    size_t n_draws;
    size_t *row;      /* [n_draws] the pass's row (sequence) of each draw */
    pic_rng **rng;    /* [n_draws] */
    double *u;        /* [n_draws] on a GPU only: each stream's uniform, drawn before the pass */
    int32_t *tok;     /* [n_draws] */
    float *lp, *ent;  /* [n_draws] */
    size_t *first_draw; /* [rows + 1] the draws of row r are first_draw[r] .. first_draw[r + 1] */
} draws;

/* draws for the block of rows i..i+k whose logits z are on the device. */
static int draw_device(void *ctx, size_t i, size_t k, const float *z, void *stream, pic_err *err) {
    draws *d = ctx;
    gen_state *g = d->g;
    rollout_run *run = g->run;
    size_t d0 = d->first_draw[i], nd = d->first_draw[i + k] - d0;
    int *row = pic_malloc((nd ? nd : 1) * sizeof *row);
    for (size_t j = 0; j < nd; j++) row[j] = (int)(d->row[d0 + j] - i);
    int rc = sampler_next_cuda(g->dev, z, k, g->V, &run->sp, nd, row, d->u + d0, stats_temperature(run), d->tok + d0,
                               d->lp + d0, d->ent + d0, stream, err);
    free(row);
    return rc;
}

static void pass(gen_state *g, const int *dec, const int *feed, int n_dec, gen_prompt **pre, int n_pre,
                 sampler_scratch *scratch) {
    rollout_run *run = g->run;
    int rows = n_dec + n_pre;
    if (!rows) return;
    int *len = pic_malloc((size_t)rows * sizeof *len), *slot = pic_malloc((size_t)rows * sizeof *slot);
    size_t tokens = 0;
    for (int r = 0; r < n_dec; r++) tokens += (size_t)feed[r];
    for (int i = 0; i < n_pre; i++) tokens += (size_t)pre[i]->P;
    int32_t *tok = pic_malloc(tokens * sizeof *tok);
    draws d = {.g = g, .n_draws = (size_t)n_dec + (size_t)n_pre * (size_t)run->n};
    d.row = pic_malloc(d.n_draws * sizeof *d.row);
    d.rng = pic_malloc(d.n_draws * sizeof *d.rng);
    d.u = g->dev ? pic_malloc(d.n_draws * sizeof *d.u) : NULL;
    d.tok = pic_malloc(d.n_draws * sizeof *d.tok);
    d.lp = pic_malloc(d.n_draws * sizeof *d.lp);
    d.ent = pic_malloc(d.n_draws * sizeof *d.ent);
    d.first_draw = pic_malloc(((size_t)rows + 1) * sizeof *d.first_draw);
    size_t at = 0, nd = 0;
    for (int r = 0; r < n_dec; r++) {
        gen_seq *s = &g->seq[dec[r]];
        int P = s->pr->P, from = g->kv->len[dec[r]];
        len[r] = feed[r], slot[r] = dec[r];
        for (int pos = from; pos < from + feed[r]; pos++) tok[at++] = pos < P ? s->pr->ids[pos] : s->ids[pos - P];
        d.first_draw[r] = nd;
        if (feed[r] == to_feed(g, dec[r])) /* the cache whole after the pass: its next token */
            d.row[nd] = (size_t)r, d.rng[nd++] = &s->rng;
    }
    for (int i = 0; i < n_pre; i++) {
        gen_prompt *pr = pre[i];
        int r = n_dec + i;
        len[r] = pr->P, slot[r] = pr->home;
        memcpy(tok + at, pr->ids, (size_t)pr->P * sizeof *tok);
        at += (size_t)pr->P;
        pr->first = pic_malloc((size_t)run->n * sizeof *pr->first);
        d.first_draw[r] = nd;
        for (int j = 0; j < run->n; j++) {
            pic_rng_seed(&pr->first[j].rng, run->seed, pr->index, (uint64_t)j);
            d.row[nd] = (size_t)r, d.rng[nd++] = &pr->first[j].rng;
        }
    }
    d.first_draw[rows] = nd;
    pic_err err;
    pic_batch b = {rows, len, tok, slot};
    if (g->dev) {
        for (size_t j = 0; j < nd; j++) d.u[j] = next_uniform(run, d.rng[j]);
        if (pic_forward_head(&run->model, g->kv, &b, PIC_LOGITS_LAST, draw_device, &d, &err)) pic_die("%s", err.msg);
    } else {
        if (pic_forward(&run->model, g->kv, &b, PIC_LOGITS_LAST, g->logits, &err)) pic_die("%s", err.msg);
        sample_rows(g, g->logits, d.row, nd, d.rng, d.tok, d.lp, d.ent, scratch);
    }
    for (int r = 0; r < n_dec; r++) {
        size_t k = d.first_draw[r];
        if (k < d.first_draw[r + 1] && !take_token(g, &g->seq[dec[r]], d.tok[k], d.lp[k], d.ent[k]))
            complete(g, dec[r]);
    }
    for (int i = 0; i < n_pre; i++) {
        gen_prompt *pr = pre[i];
        for (int j = 0; j < run->n; j++) {
            size_t k = d.first_draw[n_dec + i] + (size_t)j;
            pr->first[j].tok = d.tok[k], pr->first[j].lp = d.lp[k], pr->first[j].ent = d.ent[k];
        }
        if (run->n > 1) g->open[g->n_open++] = pr;
        start_sample(g, pr, pr->home);
    }
    free(len), free(slot), free(tok);
    free(d.row), free(d.rng), free(d.u), free(d.tok), free(d.lp), free(d.ent), free(d.first_draw);
}

/* Room for the sequence in slot is taken back: its cache is dropped, the
 * sequence stays in its slot, and a later pass refills the cache from its
 * tokens (samples still to start from its prompt refill theirs too).
 * Every row's numbers being independent of the batch (the batch-invariant
 * products), a refill computes the very keys, values and logits that were
 * dropped: the output does not change. */
static void preempt(gen_state *g, int slot) {
    pic_kvcache_truncate(g->kv, slot, 0);
    g->run->preemptions++;
}

/* The last resort for room: the prompts idle homes keep for samples still
 * to start are dropped (those samples refill them). Whether any was. */
static bool empty_pinned(gen_state *g) {
    bool any = false;
    for (int i = 0; i < g->run->max_batch_size; i++)
        if (g->pinned[i] && g->kv->len[i]) pic_kvcache_truncate(g->kv, i, 0), any = true;
    return any;
}

typedef struct {
    unsigned long order;
    int slot;
} in_flight;

/* The pages the decode rows among the first n in flight will take. */
static long decode_pages(const gen_state *g, const in_flight *live, int n) {
    int *slots = pic_malloc((size_t)n * sizeof *slots), *lens = pic_malloc((size_t)n * sizeof *lens), k = 0;
    for (int i = 0; i < n; i++) {
        int slot = live[i].slot;
        if (to_feed(g, slot) == 1) slots[k] = slot, lens[k++] = g->kv->len[slot] + 1;
    }
    long need = pic_kvcache_batch_pages(g->kv, k, slots, lens);
    free(slots), free(lens);
    return need;
}

static int earlier(const void *x, const void *y) {
    const in_flight *a = x, *b = y;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* Adds to the pass the sequences whose cache a preemption dropped, earliest
 * first, as the free pages (need: those already promised) and the token
 * budget allow; one longer than the budget goes when nothing else runs,
 * a budget's worth of its positions a pass (a GPU's activations hold no
 * more), and draws its next token when the last piece is in. Every
 * position's numbers are the same fed in one pass or in pieces (each
 * attends to the keys before it, cached or not, in the same chunks).
 * Returns whether one has to wait. */
static bool add_refills(gen_state *g, const in_flight *live, int n_live, int *dec, int *feed, int *n_dec,
                        long *need, size_t *tokens) {
    bool waits = false;
    size_t budget = g->run->batch_tokens;
    for (int i = 0; i < n_live; i++) {
        int slot = live[i].slot, f = to_feed(g, slot);
        if (f == 1) continue;
        bool piece = !*tokens && (size_t)f > budget;
        if (piece) f = (int)budget;
        int pages = pic_kvcache_pages_needed(g->kv, slot, g->kv->len[slot] + f);
        if (*need + pages <= g->kv->n_free && *tokens + (size_t)f <= budget) {
            dec[*n_dec] = slot, feed[(*n_dec)++] = f;
            *need += pages, *tokens += (size_t)f;
            waits |= piece; /* the rest of it still waits */
        } else {
            waits = true;
        }
    }
    return waits;
}

/* One step: a token for every sequence in flight and, in the same forward
 * pass, the prefill of the next prompts, each into a free slot where its
 * first sample will run, as many as the free slots can take with their
 * samples (one slot each), up to --max-batch-tokens rows in all. A prompt
 * that does not fit beside the sequences in flight (but alone would) is
 * prefilled in a pass of its own, with the prompts after it that fit.
 *
 * The cache's pages bound it too (--kv-cache-tokens): when the sequences
 * in flight need more pages than are free, the latest started give theirs
 * up (preempt); those are refilled, earliest first, as pages and tokens
 * allow, and no new prompt starts while one waits. With every sequence's
 * pages in the pool (the default) none of this ever happens. */
static void step(gen_state *g, sampler_scratch *scratch) {
    rollout_run *run = g->run;
    pic_kvcache *kv = g->kv;
    int B = run->max_batch_size, n_dec = 0, n_pre = 0, free_slots = 0, n_live = 0;
    int *dec = pic_malloc((size_t)B * sizeof *dec), *feed = pic_malloc((size_t)B * sizeof *feed);
    gen_prompt **pre = pic_malloc((size_t)B * sizeof *pre);
    in_flight *live = pic_malloc((size_t)B * sizeof *live);
    for (int i = 0; i < B; i++) {
        if (g->seq[i].pr) live[n_live++] = (in_flight){g->seq[i].order, i};
        else free_slots += !g->pinned[i];
    }
    qsort(live, (size_t)n_live, sizeof *live, earlier);
    long need = decode_pages(g, live, n_live); /* pages the pass will take */
    for (int i = n_live - 1; i > 0 && need > kv->n_free; i--)
        if (to_feed(g, live[i].slot) == 1) {
            preempt(g, live[i].slot);
            need = decode_pages(g, live, i); /* a page it shared may now be another's alone */
        }
    if (need > kv->n_free) empty_pinned(g);
    if (need > kv->n_free) /* cannot be: the pool holds the earliest sequence at its longest */
        pic_die("the kv cache's %d pages of %d positions hold too little to go on (%d free, %ld needed by the "
                "earliest sequence): raise --kv-cache-tokens",
                kv->n_pages, PIC_KV_PAGE, kv->n_free, need);
    for (int i = 0; i < B; i++) /* the decode rows, in slot order as without preemption */
        if (g->seq[i].pr && to_feed(g, i) == 1) dec[n_dec] = i, feed[n_dec++] = 1;
    size_t tokens = (size_t)n_dec;
    bool refill_waits = add_refills(g, live, n_live, dec, feed, &n_dec, &need, &tokens);
    if (!n_dec && refill_waits && empty_pinned(g)) /* nothing would run: idle homes give way */
        refill_waits = add_refills(g, live, n_live, dec, feed, &n_dec, &need, &tokens);
    free(live);
    long waiting = 0;
    for (size_t i = g->open_head; i < g->n_open; i++) waiting += run->n - g->open[i]->started;
    bool alone = false; /* the prompts go in a pass without the decode rows */
    while (!refill_waits && g->next_prefill < g->np && waiting < free_slots) {
        gen_prompt *pr = &g->pr[g->next_prefill];
        long pages = (pr->P + PIC_KV_PAGE - 1) / PIC_KV_PAGE;
        if (need + pages > kv->n_free) break;
        if (!n_pre && n_dec && tokens + (size_t)pr->P > run->batch_tokens) alone = true, tokens = 0;
        if (n_pre && tokens + (size_t)pr->P > run->batch_tokens) break;
        tokens += (size_t)pr->P;
        need += pages;
        waiting += run->n;
        pre[n_pre++] = pr;
        g->next_prefill++;
    }
    /* Nothing to run is a wait for fork_samples (a sample that ended on its
     * first token leaves its siblings to the next step) unless sequences in
     * flight wait for pages (cannot be: all but the earliest and idle homes
     * gave theirs up). */
    if (!n_dec && !n_pre && n_live)
        pic_die("the kv cache's %d pages of %d positions hold too little to go on (%d free): raise --kv-cache-tokens",
                kv->n_pages, PIC_KV_PAGE, kv->n_free);
    for (int i = 0, slot = 0; i < n_pre; i++, slot++) { /* each a free slot, lowest first */
        while (g->seq[slot].pr || g->pinned[slot]) slot++;
        pre[i]->home = slot;
    }
    if (alone) {
        pass(g, NULL, NULL, 0, pre, n_pre, scratch);
        pass(g, dec, feed, n_dec, NULL, 0, scratch);
    } else {
        pass(g, dec, feed, n_dec, pre, n_pre, scratch);
    }
    free(dec), free(feed), free(pre);
}

typedef struct {
    const rollout_run *run;
    gen_prompt *pr;
} prompt_job;

/* On the writer's thread (run_streams): the records of a prompt whose
 * samples are all done, in sample order. */
static void write_prompt(pic_writer *w, void *ctx) {
    prompt_job *j = ctx;
    for (int i = 0; i < j->run->n; i++) {
        pic_writer_json_new(w, gen_sample_record(j->run, j->pr, i));
        gen_sample_free(&j->pr->out[i]);
    }
    gen_prompt_free(j->pr);
    free(j);
}

/* Hands the prompts whose samples are all done, in input order, to the
 * writer. */
static void write_ready(gen_state *g) {
    rollout_run *run = g->run;
    while (g->write_at < g->np && g->pr[g->write_at].done == run->n) {
        prompt_job *j = pic_malloc(sizeof *j);
        *j = (prompt_job){run, &g->pr[g->write_at++]};
        run->samples += (size_t)run->n;
        pic_writer_defer(run->w, write_prompt, j);
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
        int B = run->max_batch_size;
        /* a prompt is prefilled in one pass, which a GPU's activations, sized
         * at load by --max-batch-tokens, must hold (refills go in pieces) */
        if (run->model.device == PIC_DEVICE_CUDA && (size_t)pmax > run->batch_tokens)
            pic_die("the longest prompt has %d tokens, more than --max-batch-tokens %zu, which sizes the GPU's "
                    "activations: raise --max-batch-tokens to at least %d",
                    pmax, run->batch_tokens, pmax);
        long max_len = (long)pmax + run->max_new_tokens;
        if (max_len > g.ctx) max_len = g.ctx;
        pic_err err;
        long full = pic_kvcache_full_pages(B, (int)max_len), pages = 0; /* 0: the library's default */
        if (run->kv_cache_tokens) {
            pages = (run->kv_cache_tokens + PIC_KV_PAGE - 1) / PIC_KV_PAGE;
            if (pages < pic_kvcache_full_pages(1, (int)max_len))
                pic_die("--kv-cache-tokens %ld holds less than one sequence at its longest (%ld positions: the "
                        "longest prompt and --max-new-tokens)", run->kv_cache_tokens, max_len);
            if (pages > full) pages = full;
        }
        if (!(g.kv = pic_kvcache_for(&run->model, B, (int)max_len, (int)pages, &err))) pic_die("%s", err.msg);
        if (!pages && g.kv->n_pages < full)
            pic_info("the KV cache holds %d of the %ld pages of %d positions that every sequence at its longest "
                     "would take (the GPU's free memory): sequences may be preempted and recomputed",
                     g.kv->n_pages, full, PIC_KV_PAGE);
        g.open = pic_malloc(g.np * sizeof *g.open);
        g.seq = pic_calloc((size_t)B, sizeof *g.seq);
        g.pinned = pic_calloc((size_t)B, sizeof *g.pinned);
        if (run->model.device == PIC_DEVICE_CUDA) { /* no logits on the host: the device samples */
            if (!(g.dev = sampler_cuda_new())) pic_die("the device sampler: out of memory");
        } else
            g.logits = pic_malloc((size_t)B * g.V * sizeof(float));
    }
    sampler_scratch *scratch = pic_calloc((size_t)pic_threads(), sizeof *scratch); /* one a thread */
    double t0 = pic_now();
    while (g.write_at < g.np) {
        fork_samples(&g);
        step(&g, scratch);
        write_ready(&g);
        double dt = pic_now() - t0;
        char extra[64];
        snprintf(extra, sizeof extra, "%.0f tokens/s", dt > 0 ? (double)g.tokens / dt : 0.0);
        size_t done = run->samples;
        for (size_t i = g.write_at; i < g.np; i++) done += (size_t)g.pr[i].done;
        pic_progress_update(&run->progress, (double)done, (double)g.total_samples, extra);
    }
    run->tokens += g.tokens;
    pic_writer_foreground(run->w); /* its jobs read the prompts */
    for (int t = 0; t < pic_threads(); t++) sampler_free(&scratch[t]);
    free(scratch);
    if (g.seq)
        for (int i = 0; i < run->max_batch_size; i++) gen_seq_free(&g.seq[i]);
    free(g.seq);
    free(g.pinned);
    free(g.logits);
    sampler_cuda_free(g.dev);
    free(g.open);
    free(g.pr);
    if (g.kv) run->kv_peak = g.kv->peak, run->kv_pages = g.kv->n_pages;
    const char *no_graphs = pic_cuda_graphs_off(&run->model);
    if (no_graphs) pic_warn("decode steps ran without CUDA graphs from a failed capture on (%s)", no_graphs);
    pic_kvcache_free(g.kv);
    run->model.batch_invariant = false;
}
