/* Reading samples (batch.h). A record is checked whole before it is kept, so
 * that --skip-bad can drop it; without --skip-bad the first problem dies
 * with the record's file, line and field. */
#include "update/batch.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/json.h"
#include "common/stream.h"

static bool int_array(json_t *a, int vocab, size_t *bad_at) {
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= vocab) {
            *bad_at = i;
            return false;
        }
    }
    return true;
}

/* Returns false (record dropped) only under --skip-bad (pic_reader_bad). */
static bool read_one(pic_samples *b, pic_reader *r, json_t *rec, const pic_read_opts *o) {
    json_t *pi = json_object_get(rec, "prompt_ids"), *ri = json_object_get(rec, "response_ids");
    json_t *lp = json_object_get(rec, "logprobs");
    size_t at;
    if (!json_is_array(pi)) return pic_reader_bad(r, "prompt_ids", "missing or not an array (pic-update needs token ids)"), false;
    if (!json_is_array(ri)) return pic_reader_bad(r, "response_ids", "missing or not an array"), false;
    if (json_array_size(pi) == 0) return pic_reader_bad(r, "prompt_ids", "empty: the first response token needs a context"), false;
    if (!int_array(pi, o->vocab, &at))
        return pic_reader_bad(r, "prompt_ids", "element %zu is not a token id of the model (vocabulary %d)", at, o->vocab), false;
    if (!int_array(ri, o->vocab, &at))
        return pic_reader_bad(r, "response_ids", "element %zu is not a token id of the model (vocabulary %d)", at, o->vocab), false;
    size_t np = json_array_size(pi), nr = json_array_size(ri);
    /* positions beyond the context were never trained: generation refuses them too */
    if (np + nr > (size_t)o->context)
        return pic_reader_bad(r, "response_ids", "the prompt's and response's %zu tokens exceed the model's context of %d",
                              np + nr, o->context),
               false;
    float *old = NULL;
    if (o->need_logprobs) {
        if (!json_is_array(lp)) return pic_reader_bad(r, "logprobs", "missing: the policy loss needs the sampler's log-probabilities"), false;
        if (json_array_size(lp) != nr)
            return pic_reader_bad(r, "logprobs", "%zu values for %zu response tokens", json_array_size(lp), nr), false;
        old = pic_malloc((nr + 1) * sizeof *old);
        for (size_t i = 0; i < nr; i++) {
            json_t *v = json_array_get(lp, i);
            double x = json_is_number(v) ? json_number_value(v) : NAN;
            if (!isfinite(x)) {
                free(old);
                return pic_reader_bad(r, "logprobs", "element %zu is not a finite number", i), false;
            }
            if (x > 0) { /* a probability above 1 would make every ratio against it wrong */
                free(old);
                return pic_reader_bad(r, "logprobs", "element %zu: %g is above 0, not a log-probability", i, x), false;
            }
            old[i] = (float)x;
            /* -1e308 is finite, but -inf as a float32: every ratio against
             * it, approx_kl and logp_diff_max would be inf or NaN */
            if (isinf(old[i])) {
                free(old);
                return pic_reader_bad(r, "logprobs", "element %zu: %g is below %g, the lowest float32", i, x, -FLT_MAX),
                       false;
            }
        }
    }
    pic_adv_in ai = {0};
    json_t *adv = json_object_get(rec, "advantage"), *rw = json_object_get(rec, "reward"),
           *co = json_object_get(rec, "correct");
    if (adv && !json_is_null(adv)) {
        if (!json_is_number(adv) || !isfinite(json_number_value(adv)))
            return free(old), pic_reader_bad(r, "advantage", "not a finite number"), false;
        /* the loss takes each token's advantage as a float32: one beyond its
         * range became inf there, and the step's gradient not finite,
         * naming no record */
        if (isinf((float)json_number_value(adv)))
            return free(old), pic_reader_bad(r, "advantage", "%g: above %g in size, the largest float32 (the loss's type)",
                                             json_number_value(adv), FLT_MAX), false;
        ai.has_adv = true, ai.adv = json_number_value(adv);
    }
    if (rw && !json_is_null(rw)) {
        if (!json_is_number(rw) || !isfinite(json_number_value(rw)))
            return free(old), pic_reader_bad(r, "reward", "not a finite number"), false;
        /* a group's variance squares its rewards' deviations: past 1e150
         * they overflow to inf and every advantage became 0, silently */
        if (fabs(json_number_value(rw)) > 1e150)
            return free(old), pic_reader_bad(r, "reward", "%g: above 1e150 in size, the group's variance overflows",
                                             json_number_value(rw)), false;
        ai.has_reward = true, ai.reward = json_number_value(rw);
    }
    if (co && !json_is_null(co) && !json_is_boolean(co)) return free(old), pic_reader_bad(r, "correct", "not a boolean"), false;
    /* the class NSR and PSR keep: by correct, else reward, else a record's
     * own advantage (which wins, docs/update.md), that alone counted negative */
    ai.positive = co && json_is_boolean(co) ? json_is_true(co)
                  : ai.has_reward                ? ai.reward > 0
                                                 : ai.has_adv && ai.adv > 0;
    /* a record without a reward is rewarded by its correct, as pic-reward
     * rewards by default (1 correct, 0 otherwise): GRPO's groups take it */
    if (!ai.has_reward && co && json_is_boolean(co)) ai.has_reward = true, ai.reward = json_is_true(co) ? 1 : 0;
    if (o->need_labels && !ai.has_adv && !ai.has_reward)
        return free(old), pic_reader_bad(r, "reward", "missing, and no correct or advantage either"), false;
    char tmp[64];
    json_t *id = json_object_get(rec, "id");
    if (o->need_labels && !ai.has_adv && (!id || !(json_is_string(id) || json_is_integer(id))))
        return free(old), pic_reader_bad(r, "id", "missing or not a string or integer: GRPO groups samples by id"), false;
    if (json_is_string(id) && strlen(json_string_value(id)) != json_string_length(id))
        return free(old), pic_reader_bad(r, "id", "contains a NUL character (\\u0000)"), false;
    const char *key = id && (json_is_string(id) || json_is_integer(id)) ? pic_id_key((pic_rec){r, rec}, tmp, sizeof tmp) : "";
    json_t *te = json_object_get(rec, "temperature");
    double temperature = 0;
    if (te && !json_is_null(te)) {
        if (!json_is_number(te))
            return free(old), pic_reader_bad(r, "temperature", "not a number (0: greedy)"), false;
        double t = json_number_value(te);
        /* pic-rollout's range: below 0.001 the numbers overflow float (and
         * from about 1e-46 down T is a float 0), above 1e6 it is all flat */
        if (!(t == 0 || (t >= 1e-3 && t <= 1e6)))
            return free(old), pic_reader_bad(r, "temperature", "%g: expected 0 (greedy) or a number from 0.001 to 1e6", t),
                   false;
        /* a greedy record's numbers are T = 1's, as pic-rollout --score reads 0 */
        if (t == 0) t = 1;
        /* (under --skip-bad the majority decides, once all are read:
         * pic_samples_agree_temperature) */
        if (o->agree_temperature && !pic_skip_bad && b->temperature && t != b->temperature)
            return free(old),
                   pic_reader_bad(r, "temperature", "%g differs from the %g of earlier records (give --temperature)", t,
                       b->temperature),
                   false;
        b->temperature = t;
        temperature = t;
    }
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->s = pic_realloc(b->s, b->cap * sizeof *b->s);
        b->adv_in = pic_realloc(b->adv_in, b->cap * sizeof *b->adv_in);
    }
    pic_sample *s = &b->s[b->n];
    s->ids = pic_malloc((np + nr) * sizeof(int32_t));
    for (size_t i = 0; i < np; i++) s->ids[i] = (int32_t)json_integer_value(json_array_get(pi, i));
    for (size_t i = 0; i < nr; i++) s->ids[np + i] = (int32_t)json_integer_value(json_array_get(ri, i));
    s->n_prompt = (int)np, s->n_resp = (int)nr, s->old_logp = old, s->adv = 0, s->temperature = temperature;
    s->file = pic_strdup(pic_reader_name(r)), s->line = pic_reader_lineno(r);
    ai.group = pic_strdup(key);
    b->adv_in[b->n++] = ai;
    return true;
}

/* A dropped record's id, kept so that a GRPO group it leaves too small can
 * say why: its other members were bad, not absent. */
static void note_skipped(pic_samples *b, const json_t *rec) {
    const json_t *id = json_object_get(rec, "id");
    char tmp[64];
    const char *key = NULL;
    if (json_is_string(id) && strlen(json_string_value(id)) == json_string_length(id)) key = json_string_value(id);
    if (json_is_integer(id)) snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(id)), key = tmp;
    if (!key) return;
    b->skipped = pic_realloc(b->skipped, (b->n_skipped + 1) * sizeof *b->skipped);
    b->skipped[b->n_skipped++] = pic_strdup(key);
}

void pic_samples_read(pic_samples *b, const char *path, const pic_read_opts *o) {
    pic_reader *r = pic_reader_open(path);
    json_t *rec;
    while ((rec = pic_reader_json(r))) {
        if (!read_one(b, r, rec, o)) note_skipped(b, rec);
        json_decref(rec);
    }
    pic_reader_close(r);
}

static void sample_free(pic_sample *s, pic_adv_in *a);

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The temperature most records carry (0 when none carries one), by *count
 * records; *tie another carried as often (0 when none is). */
static double most_common_temperature(const pic_samples *b, size_t *count, double *tie) {
    double *t = pic_malloc((b->n + 1) * sizeof *t), best = 0;
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->s[i].temperature) t[n++] = b->s[i].temperature;
    qsort(t, n, sizeof *t, cmp_double);
    *count = 0, *tie = 0;
    for (size_t i = 0, e; i < n; i = e) {
        for (e = i + 1; e < n && t[e] == t[i]; e++) {}
        if (e - i == *count) *tie = t[i];
        if (e - i > *count) best = t[i], *count = e - i, *tie = 0;
    }
    free(t);
    return best;
}

void pic_samples_agree_temperature(pic_samples *b) {
    size_t count;
    double tie;
    b->temperature = most_common_temperature(b, &count, &tie);
    if (!pic_skip_bad || !b->temperature) return; /* the reader checked each record against the first */
    if (tie) {
        const pic_sample *x = b->s; /* the first record of the other value */
        while (x->temperature != tie) x++;
        pic_die("%s:%zu: field 'temperature': %g is as common as %g (%zu record%s each): --skip-bad cannot tell "
                "the stray ones (give --temperature)",
                x->file, x->line, tie, b->temperature, count, count == 1 ? "" : "s");
    }
    size_t kept = 0;
    for (size_t i = 0; i < b->n; i++) {
        pic_sample *s = &b->s[i];
        if (!s->temperature || s->temperature == b->temperature) {
            b->s[kept] = *s, b->adv_in[kept] = b->adv_in[i];
            kept++;
            continue;
        }
        pic_bad_record(s->file, s->line, "temperature", "%g differs from the %g of most records (give --temperature)",
                       s->temperature, b->temperature);
        /* its id, as a record the reader skipped: a GRPO group it leaves
         * alone says why (pic_samples_drop_lone) */
        if (*b->adv_in[i].group) {
            b->skipped = pic_realloc(b->skipped, (b->n_skipped + 1) * sizeof *b->skipped);
            b->skipped[b->n_skipped++] = pic_strdup(b->adv_in[i].group);
        }
        sample_free(s, &b->adv_in[i]);
    }
    b->n = kept;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* How many records --skip-bad dropped with the id key (b->skipped sorted). */
static size_t skipped_of(const pic_samples *b, const char *key) {
    size_t lo = 0, hi = b->n_skipped;
    while (lo < hi) { /* the first not below key */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(b->skipped[mid], key) < 0) lo = mid + 1;
        else hi = mid;
    }
    size_t n = 0;
    while (lo + n < b->n_skipped && !strcmp(b->skipped[lo + n], key)) n++;
    return n;
}

size_t pic_samples_drop_lone(pic_samples *b, const pic_adv_cfg *c, bool say) {
    if (c->mode != PIC_ADV_GRPO || !pic_skip_bad || !b->n_skipped || !b->n) return 0;
    qsort(b->skipped, b->n_skipped, sizeof *b->skipped, cmp_str);
    size_t *idx = pic_adv_group_order(b->adv_in, b->n), *lost = pic_calloc(b->n, sizeof *lost);
    /* a group as pic_advantages finds it: its lone reward is the one sample
     * that needs a baseline (the others, if any, bring their own advantage) */
    for (size_t s = 0, e; s < b->n; s = e) {
        const char *g = b->adv_in[idx[s]].group;
        size_t k = 0;
        for (e = s; e < b->n && !strcmp(b->adv_in[idx[e]].group, g); e++) k += b->adv_in[idx[e]].has_reward;
        size_t skipped = *g && k == 1 ? skipped_of(b, g) : 0;
        for (size_t i = s; i < e && skipped; i++)
            if (b->adv_in[idx[i]].has_reward && !b->adv_in[idx[i]].has_adv) lost[idx[i]] = skipped;
    }
    free(idx);
    size_t kept = 0, dropped = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (!lost[i]) {
            b->s[kept] = b->s[i], b->adv_in[kept] = b->adv_in[i];
            kept++;
            continue;
        }
        if (say)
            pic_warn("%s:%zu: field 'id': a group of one sample has no GRPO baseline: the other %zu record%s of id "
                     "'%s' %s skipped as bad; dropped (--skip-bad)",
                     b->s[i].file, b->s[i].line, lost[i], lost[i] == 1 ? "" : "s", b->adv_in[i].group,
                     lost[i] == 1 ? "was" : "were");
        sample_free(&b->s[i], &b->adv_in[i]);
        dropped++;
    }
    free(lost);
    b->n = kept;
    return dropped;
}

void pic_samples_advantages(pic_samples *b, const pic_adv_cfg *c) {
    double *adv = pic_malloc((b->n + 1) * sizeof *adv);
    size_t at = 0;
    const char *why = "";
    if (pic_advantages(c, b->adv_in, b->n, adv, &at, &why)) {
        const pic_sample *s = &b->s[at];
        const char *group = b->adv_in[at].group;
        size_t skipped = 0;
        for (size_t i = 0; i < b->n_skipped && *group; i++) skipped += !strcmp(b->skipped[i], group);
        /* the record named is good: its group lost members to --skip-bad */
        if (skipped && strstr(why, "group"))
            pic_die("%s:%zu: field 'id': %s: the other %zu record%s of id '%s' %s skipped as bad (--skip-bad)",
                    s->file, s->line, why, skipped, skipped == 1 ? "" : "s", group, skipped == 1 ? "was" : "were");
        pic_die("%s:%zu: field '%s': %s", s->file, s->line, strstr(why, "reward") ? "reward" : "id", why);
    }
    for (size_t i = 0; i < b->n; i++) {
        /* the loss takes it as a float32 (as a record's own, read above):
         * Dr. GRPO's r - mean, divided by no std, can pass its range from
         * rewards below 1e150, and became inf there, the step dying of a
         * gradient not finite that named no record */
        if (isinf((float)adv[i]))
            pic_die("%s:%zu: field 'reward': its advantage r - mean, %g, is above %g in size, the largest float32 "
                    "(the loss's type)",
                    b->s[i].file, b->s[i].line, adv[i], FLT_MAX);
        b->s[i].adv = adv[i];
    }
    free(adv);
}

static void sample_free(pic_sample *s, pic_adv_in *a) {
    free(s->ids);
    free(s->old_logp);
    free(s->file);
    free((char *)a->group);
}

void pic_samples_keep_class(pic_samples *b, bool keep_positive) {
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (b->adv_in[i].positive != keep_positive) {
            sample_free(&b->s[i], &b->adv_in[i]);
            continue;
        }
        b->s[k] = b->s[i], b->adv_in[k] = b->adv_in[i];
        k++;
    }
    b->n = k;
}

void pic_samples_free(pic_samples *b) {
    for (size_t i = 0; i < b->n; i++) sample_free(&b->s[i], &b->adv_in[i]);
    for (size_t i = 0; i < b->n_skipped; i++) free(b->skipped[i]);
    free(b->skipped);
    free(b->s);
    free(b->adv_in);
    memset(b, 0, sizeof *b);
}
