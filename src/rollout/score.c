/* pic-rollout --score: log-probs and entropies of given responses, by
 * teacher forcing. Records are gathered until a batch holds --batch-tokens
 * tokens, run through one packed forward pass, and written in input order.
 * Response token t of a record is scored from position P - 1 + t of
 * prompt ++ response (P prompt tokens), so the last token is never fed. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/json.h"
#include "rollout/rollout.h"

typedef struct {
    json_t *obj;
    int32_t *ids; /* prompt ++ response */
    int P, R;
    float T;
} item;

typedef struct {
    item *it;
    size_t n, cap, tokens;
} batch;

/* A bad record: fatal, or counted and skipped with --skip-bad. */
static bool bad(rollout_run *run, pic_reader *r, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool bad(rollout_run *run, pic_reader *r, const char *field, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!run->skip_bad) pic_reader_die(r, field, "%s", msg);
    run->skipped++;
    return false;
}

/* ids from an integer array field, or from tokenizing a text field. */
static bool get_ids(rollout_run *run, pic_reader *r, json_t *obj, const char *ids_field, const char *text_field,
                    bool special, int32_t **ids, size_t *n) {
    json_t *a = json_object_get(obj, ids_field);
    int V = run->model.cfg.vocab_size;
    if (a && !json_is_null(a)) {
        if (!json_is_array(a)) return bad(run, r, ids_field, "expected an array of token ids");
        *n = json_array_size(a);
        *ids = pic_malloc((*n + 1) * sizeof **ids);
        for (size_t i = 0; i < *n; i++) {
            json_t *e = json_array_get(a, i);
            if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) >= V) {
                free(*ids);
                return bad(run, r, ids_field, "element %zu: expected a token id in [0, %d)", i, V);
            }
            (*ids)[i] = (int32_t)json_integer_value(e);
        }
        return true;
    }
    json_t *t = json_object_get(obj, text_field);
    if (!t || json_is_null(t))
        return bad(run, r, ids_field, "missing (give '%s' token ids or '%s' text)", ids_field, text_field);
    if (!json_is_string(t)) return bad(run, r, text_field, "expected a string");
    if (!run->tok) run->tok = pic_tokenizer_load(run->model_dir);
    if (pic_tokenizer_encode(run->tok, json_string_value(t), json_string_length(t), special, ids, n))
        return bad(run, r, text_field, "invalid UTF-8 at byte %zu", *n);
    for (size_t i = 0; i < *n; i++)
        if ((*ids)[i] >= V) {
            free(*ids);
            return bad(run, r, text_field, "token %zu has id %d, outside the model's vocabulary (%d)", i,
                       (int)(*ids)[i], V);
        }
    return true;
}

static bool parse(rollout_run *run, pic_reader *r, json_t *obj, item *it) {
    int32_t *p, *q;
    size_t np, nq;
    if (!get_ids(run, r, obj, "prompt_ids", "prompt", run->add_special, &p, &np)) return false;
    if (!np) {
        free(p);
        return bad(run, r, "prompt_ids", "empty: the first response token needs a token to follow");
    }
    if (!get_ids(run, r, obj, "response_ids", "response", false, &q, &nq)) {
        free(p);
        return false;
    }
    it->T = (float)run->temperature;
    if (run->temperature < 0) {
        json_t *t = json_object_get(obj, "temperature");
        it->T = 1.0f;
        if (t && !json_is_null(t)) {
            if (!json_is_number(t) || !(json_number_value(t) > 0) || !isfinite(json_number_value(t))) {
                free(p);
                free(q);
                return bad(run, r, "temperature", "expected a positive number");
            }
            it->T = (float)json_number_value(t);
        }
    }
    it->ids = pic_realloc(p, (np + nq + 1) * sizeof *p);
    memcpy(it->ids + np, q, nq * sizeof *q);
    free(q);
    it->P = (int)np;
    it->R = (int)nq;
    it->obj = json_incref(obj);
    return true;
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
    for (size_t i = 0; i < b->n; i++) {
        item *it = &b->it[i];
        size_t R = (size_t)it->R;
        size_t *rows = pic_malloc((R + 1) * sizeof *rows);
        float *lp = pic_malloc((R + 1) * sizeof *lp), *h = pic_malloc((R + 1) * sizeof *h);
        for (size_t t = 0; t < R; t++) rows[t] = first[i] + (size_t)it->P - 1 + t;
        if (R) pic_forward_stats(&run->model, rows, R, it->ids + it->P, it->T, lp, h);
        json_object_set_new(it->obj, run->logprobs_field, pic_json_floats(lp, R));
        if (run->entropy_field) json_object_set_new(it->obj, run->entropy_field, pic_json_floats(h, R));
        pic_writer_json(run->w, it->obj);
        run->records++;
        run->tokens += R;
        free(rows);
        free(lp);
        free(h);
        json_decref(it->obj);
        free(it->ids);
    }
    free(len);
    free(tokens);
    free(first);
    b->n = 0;
    b->tokens = 0;
    pic_progress_update(&run->progress, (double)run->records, 0, NULL);
}

void score_stream(rollout_run *run, pic_reader *r) {
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
