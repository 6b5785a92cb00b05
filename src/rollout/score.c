/* pic-rollout --score: log-probs and entropies of given responses, by
 * teacher forcing. Records are gathered until a batch holds --batch-tokens
 * tokens, run through one packed forward pass, and written in input order.
 * Response token t of a record is scored from position P - 1 + t of
 * prompt ++ response (P prompt tokens), so the last token is never fed.
 * The products run through the batch-invariant kernel, so a record scores
 * the same alone or packed, and exactly as pic-rollout generated it. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/json.h"
#include "model/matmul_bi.h"
#include "rollout/rollout.h"

typedef struct {
    json_t *obj;
    int32_t *ids; /* prompt ++ response */
    int P, R;
    float T;
    char *where; /* FILE:LINE of the record, for a message */
} item;

typedef struct {
    item *it;
    size_t n, cap, tokens;
} batch;

/* A bad record of reader r: dies, or under --skip-bad is counted and dropped (false). */
#define BAD(run, r, field, ...) (pic_reader_bad(r, field, __VA_ARGS__), false)

static bool parse(rollout_run *run, pic_reader *r, json_t *obj, item *it) {
    int32_t *p = NULL, *q = NULL;
    size_t np = 0, nq = 0;
    const char *field = NULL;
    char msg[512];
    if (!prompt_ids(&run->prompts, obj, &p, &np, &field, msg, sizeof msg)) return BAD(run, r, field, "%s", msg);
    int got = prompt_field_ids(&run->prompts, obj, "response_ids", "response", false, &q, &nq, &field, msg, sizeof msg);
    if (got <= 0) {
        free(p);
        if (!got) return BAD(run, r, "response_ids", "missing (give 'response_ids' token ids or 'response' text)");
        return BAD(run, r, field, "%s", msg);
    }
    /* positions beyond the context were never trained: generation refuses them too */
    if (np + nq > (size_t)run->model.cfg.max_position) {
        free(p);
        free(q);
        return BAD(run, r, "response_ids", "the prompt's and response's %zu tokens exceed the model's context of %d",
                   np + nq, run->model.cfg.max_position);
    }
    it->T = (float)run->temperature;
    if (run->temperature < 0) {
        /* a greedy sample (temperature 0) was scored at T = 1 when generated */
        json_t *t = json_object_get(obj, "temperature");
        it->T = 1.0f;
        if (t && !json_is_null(t)) {
            /* generation's --temperature: below 0.001 the numbers overflow
             * float (and from about 1e-46 down T is a float 0), which was
             * then blamed on the model */
            double v = json_is_number(t) ? json_number_value(t) : -1;
            if (!(v == 0 || (v >= ROLLOUT_MIN_TEMPERATURE && v <= ROLLOUT_MAX_TEMPERATURE))) {
                free(p);
                free(q);
                return BAD(run, r, "temperature", "expected 0 (greedy) or a number from 0.001 to 1e6");
            }
            if (v > 0) it->T = (float)v;
        }
    }
    it->ids = pic_realloc(p, (np + nq + 1) * sizeof *p);
    memcpy(it->ids + np, q, nq * sizeof *q);
    free(q);
    it->P = (int)np;
    it->R = (int)nq;
    it->obj = json_incref(obj);
    it->where = pic_asprintf("%s:%zu", pic_reader_name(r), pic_reader_lineno(r));
    return true;
}

/* Whether obj lacks key as prompt_field_ids reads it: a null is no ids (the
 * text was scored), and the ids that were are written in its place. */
static bool absent(const json_t *obj, const char *key) {
    const json_t *v = json_object_get(obj, key);
    return !v || json_is_null(v);
}

static void flush(rollout_run *run, batch *b) {
    /* records with an empty response need no forward pass */
    int *len = pic_malloc((b->n + 1) * sizeof *len);
    int32_t *tokens = pic_malloc((b->tokens + 1) * sizeof *tokens);
    size_t *first = pic_malloc((b->n + 1) * sizeof *first);
    int ns = 0;
    size_t nt = 0;
    for (size_t i = 0; i < b->n; i++) {
        item *it = &b->it[i];
        first[i] = nt;
        if (!it->R) continue;
        len[ns++] = it->P + it->R - 1;
        memcpy(tokens + nt, it->ids, (size_t)(it->P + it->R - 1) * sizeof *tokens);
        nt += (size_t)(it->P + it->R - 1);
    }
    pic_err err;
    pic_batch pb = {ns, len, tokens, NULL};
    if (ns && pic_forward(&run->model, NULL, &pb, PIC_LOGITS_NONE, NULL, &err))
        pic_die("%s", err.msg); /* records were validated: this is an internal error */
    /* The head runs once per stretch of records at one temperature (all
     * of them, as a rule): each row's statistics are its own, so a record
     * scores as it would alone, and on a GPU the stretch costs one wait. */
    size_t *rows = pic_malloc((b->tokens + 1) * sizeof *rows);
    int32_t *targets = pic_malloc((b->tokens + 1) * sizeof *targets);
    float *lp_all = pic_malloc((b->tokens + 1) * sizeof *lp_all), *h_all = pic_malloc((b->tokens + 1) * sizeof *h_all);
    for (size_t i = 0, end; i < b->n; i = end) {
        size_t n = 0;
        for (end = i; end < b->n && b->it[end].T == b->it[i].T; end++) {
            item *it = &b->it[end];
            for (size_t t = 0; t < (size_t)it->R; t++, n++) {
                rows[n] = first[end] + (size_t)it->P - 1 + t;
                targets[n] = it->ids[it->P + t];
            }
        }
        if (n && pic_forward_stats(&run->model, rows, n, targets, b->it[i].T, lp_all, h_all, &err))
            pic_die("%s", err.msg);
        for (size_t j = i, at = 0; j < end; at += (size_t)b->it[j].R, j++) {
            item *it = &b->it[j];
            size_t R = (size_t)it->R;
            const float *lp = lp_all + at, *h = h_all + at;
            /* Text in, ids out too: the trainer reads token ids, so a record
             * scored from text (an SFT set, a re-templated problem) is ready
             * for pic-update. Ids the record brought are left as they are. */
            if (absent(it->obj, "prompt_ids"))
                json_object_set_new(it->obj, "prompt_ids", pic_json_ints(it->ids, (size_t)it->P));
            if (absent(it->obj, "response_ids"))
                json_object_set_new(it->obj, "response_ids", pic_json_ints(it->ids + it->P, R));
            for (size_t t = 0; t < R; t++)
                if (!isfinite(lp[t]) || !isfinite(h[t]))
                    pic_die("%s: field '%s': response token %zu scored %g (entropy %g): the model's numbers overflow "
                            "float (%s)", it->where, run->logprobs_field, t, lp[t], h[t], run->model_dir);
            json_object_set_new(it->obj, run->logprobs_field, pic_json_floats(lp, R));
            if (run->entropy_field) json_object_set_new(it->obj, run->entropy_field, pic_json_floats(h, R));
            pic_writer_json_new(run->w, it->obj); /* printed on the writer's thread */
            run->records++;
            run->tokens += R;
            free(it->ids);
            free(it->where);
        }
    }
    free(rows);
    free(targets);
    free(lp_all);
    free(h_all);
    free(len);
    free(tokens);
    free(first);
    b->n = 0;
    b->tokens = 0;
    pic_progress_update(&run->progress, (double)run->records, 0, NULL);
}

void score_stream(rollout_run *run, pic_reader *r) {
    /* the generator's arithmetic: a sample's own log-probs come back bit
     * for bit, whatever the packing (docs/rollout.md) */
    run->model.batch_invariant = !run->fast;
    pic_matmul_bi_isa(); /* resolves PIC_ISA now: a bad value fails before any work */
    batch b = {0};
    json_t *obj;
    while ((obj = pic_reader_json(r))) {
        item it;
        bool ok = parse(run, r, obj, &it);
        json_decref(obj);
        if (!ok) continue;
        size_t n = it.R ? (size_t)(it.P + it.R - 1) : 0;
        if (b.n && b.tokens + n > run->batch_tokens) flush(run, &b);
        if (b.n == b.cap) b.it = pic_realloc(b.it, (b.cap = b.cap * 2 + 16) * sizeof *b.it);
        b.it[b.n++] = it;
        b.tokens += n;
    }
    if (b.n) flush(run, &b);
    free(b.it);
}
