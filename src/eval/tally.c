/* pic-eval: records read into problems and datasets, and --maj's votes. */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/json.h"
#include "common/stream.h"
#include "eval/eval.h"

/* Problems and datasets by name: a JSON object of name -> index (jansson's
 * hash table, rather than one more of our own). */
static size_t index_get(const json_t *m, const char *key) {
    const json_t *v = json_object_get(m, key);
    return v ? (size_t)json_integer_value(v) : SIZE_MAX;
}

static void index_put(json_t *m, const char *key, size_t val) {
    if (json_object_set_new(m, key, json_integer((json_int_t)val))) pic_die("out of memory indexing '%s'", key);
}

/* One record's contents, validated before anything is counted, so that
 * --skip-bad can drop it whole. */
typedef struct {
    const char *source;
    char idbuf[32];
    const char *id;
    bool correct;
    bool has_len;
    long long len;
    double ent_sum;
    long long ent_n;
    const char *response;
    size_t response_len;
    bool has_sample;
    long long sample;
    const char *pred; /* --maj: the answer voted for, trimmed; NULL when none */
    size_t pred_len;
    char predbuf[40];
    char msg[96]; /* a message parse_record formats */
} sample_rec;

/* Fills rec from obj; returns NULL or the message of the first problem, with
 * *field the field it concerns. */
static const char *parse_record(const eval_ctx *e, json_t *obj, sample_rec *rec,
                                const char **field) {
    memset(rec, 0, sizeof *rec);
    json_t *v;
    *field = "id";
    v = json_object_get(obj, "id");
    if (!v) return "missing";
    if (json_is_null(v)) return "null (a sample needs its problem's id)";
    if (json_is_string(v)) {
        rec->id = json_string_value(v);
        if (strlen(rec->id) != json_string_length(v)) return "contains a NUL character (\\u0000)";
    } else if (json_is_integer(v)) {
        snprintf(rec->idbuf, sizeof rec->idbuf, "%lld", (long long)json_integer_value(v));
        rec->id = rec->idbuf;
    } else {
        return "not a string or an integer";
    }
    *field = "source";
    v = json_object_get(obj, "source");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v)) return "not a string";
        rec->source = json_string_value(v);
        /* a C string too: "math\u0000x" was counted as dataset "math" */
        if (strlen(rec->source) != json_string_length(v)) return "contains a NUL character (\\u0000)";
    } else {
        rec->source = e->default_source;
    }
    *field = "correct";
    v = json_object_get(obj, "correct");
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v)) return "not a boolean";
        rec->correct = json_is_true(v);
    } else {
        /* which of the two is null and which absent: "missing" sent people
         * looking for a field that was there */
        const char *correct = v ? "'correct' is null" : "no 'correct'";
        *field = "reward";
        v = json_object_get(obj, "reward");
        if (!v || json_is_null(v)) {
            snprintf(rec->msg, sizeof rec->msg, "%s (and %s)", v ? "null" : "missing", correct);
            return rec->msg;
        }
        if (!json_is_number(v) || !isfinite(json_number_value(v))) return "not a finite number";
        rec->correct = json_number_value(v) >= e->threshold;
    }
    *field = "response_ids";
    v = json_object_get(obj, "response_ids");
    if (v && !json_is_null(v)) {
        if (!json_is_array(v)) return "not an array";
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!json_is_integer(json_array_get(v, i))) return "not an array of integers";
        rec->has_len = true;
        rec->len = (long long)json_array_size(v);
    }
    *field = "entropy";
    v = json_object_get(obj, "entropy");
    if (v && !json_is_null(v)) {
        if (!json_is_array(v)) return "not an array";
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *x = json_array_get(v, i);
            if (!json_is_number(x) || !isfinite(json_number_value(x)))
                return "not an array of finite numbers";
            /* a negative one would pull the mean below what was sampled */
            if (json_number_value(x) < 0) {
                snprintf(rec->msg, sizeof rec->msg, "element %zu: %g is negative, not an entropy", i,
                         json_number_value(x));
                return rec->msg;
            }
            rec->ent_sum += json_number_value(x);
        }
        rec->ent_n = (long long)json_array_size(v);
        /* one entropy per response token (docs/DESIGN.md): another count
         * means the two fields describe different responses */
        if (rec->has_len && rec->ent_n != rec->len) {
            snprintf(rec->msg, sizeof rec->msg, "%lld values for %lld response tokens ('response_ids')", rec->ent_n,
                     rec->len);
            return rec->msg;
        }
        if (!rec->has_len) {
            /* one entropy per response token: its length is the length */
            rec->has_len = true;
            rec->len = rec->ent_n;
        }
    }
    *field = "response";
    v = json_object_get(obj, "response");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v)) return "not a string";
        rec->response = json_string_value(v);
        rec->response_len = json_string_length(v);
    }
    *field = "sample";
    v = json_object_get(obj, "sample");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) return "not an integer >= 0";
        rec->has_sample = true;
        rec->sample = json_integer_value(v);
    }
    if (e->maj) {
        *field = "pred";
        v = json_object_get(obj, "pred");
        if (!v) return "missing (--maj votes on it; null when there is no answer)";
        if (json_is_string(v)) {
            rec->pred = json_string_value(v);
            rec->pred_len = json_string_length(v);
            if (strlen(rec->pred) != rec->pred_len) return "contains a NUL character (\\u0000)";
        } else if (json_is_integer(v)) {
            rec->pred_len = (size_t)snprintf(rec->predbuf, sizeof rec->predbuf, "%lld", (long long)json_integer_value(v));
            rec->pred = rec->predbuf;
        } else if (json_is_real(v)) {
            rec->pred_len = (size_t)pic_format_real(rec->predbuf, json_real_value(v));
            rec->pred = rec->predbuf;
        } else if (!json_is_null(v)) {
            return "not a string, a number or null";
        }
        /* " 7" and "7" are one answer; an empty one is none */
        while (rec->pred_len && isspace((unsigned char)rec->pred[0])) rec->pred++, rec->pred_len--;
        while (rec->pred_len && isspace((unsigned char)rec->pred[rec->pred_len - 1])) rec->pred_len--;
        if (rec->pred && !rec->pred_len) rec->pred = NULL;
    }
    return NULL;
}

static size_t dataset_of(eval_ctx *e, const char *name) {
    size_t d = index_get(e->dmap, name);
    if (d != SIZE_MAX) return d;
    if (e->ndatasets == e->capdatasets) {
        e->capdatasets = e->capdatasets ? 2 * e->capdatasets : 8;
        e->datasets = pic_realloc(e->datasets, e->capdatasets * sizeof *e->datasets);
    }
    dataset *ds = &e->datasets[e->ndatasets];
    ds->name = pic_strdup(name);
    ds->word_counts = pic_calloc(e->words.n ? e->words.n : 1, sizeof *ds->word_counts);
    index_put(e->dmap, ds->name, e->ndatasets);
    return e->ndatasets++;
}

static problem *problem_of(eval_ctx *e, const sample_rec *rec) {
    /* The source's length first: "a\x1fb" + "c" and "a" + "b\x1fc" are
     * two problems. */
    size_t source_len = strlen(rec->source);
    char *key = pic_asprintf("%zu\x1f%s\x1f%s", source_len, rec->source, rec->id);
    size_t p = index_get(e->pmap, key);
    if (p != SIZE_MAX) {
        free(key);
        return &e->problems[p];
    }
    if (e->nproblems == e->capproblems) {
        e->capproblems = e->capproblems ? 2 * e->capproblems : 1024;
        e->problems = pic_realloc(e->problems, e->capproblems * sizeof *e->problems);
    }
    problem *pr = &e->problems[e->nproblems];
    memset(pr, 0, sizeof *pr);
    pr->key = key;
    pr->id = key + strlen(key) - strlen(rec->id);
    pr->dataset = dataset_of(e, rec->source);
    pr->c_first = pr->w_first = LLONG_MAX;
    index_put(e->pmap, key, e->nproblems);
    e->nproblems++;
    return pr;
}

/* Records the sample index; returns the earlier location of a duplicate. */
static const sample_loc *note_sample(problem *pr, long long sample, size_t file, size_t line) {
    size_t lo = 0, hi = pr->nseen;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pr->seen[mid].sample < sample) lo = mid + 1;
        else hi = mid;
    }
    if (lo < pr->nseen && pr->seen[lo].sample == sample) return &pr->seen[lo];
    if (pr->nseen == pr->capseen) {
        pr->capseen = pr->capseen ? 2 * pr->capseen : 8;
        pr->seen = pic_realloc(pr->seen, pr->capseen * sizeof *pr->seen);
    }
    memmove(pr->seen + lo + 1, pr->seen + lo, (pr->nseen - lo) * sizeof *pr->seen);
    pr->seen[lo] = (sample_loc){sample, file, line};
    pr->nseen++;
    return NULL;
}

/* --maj: the sample's vote. Every correct sample votes for the one correct
 * answer (each equals the gold, so \frac{1}{2} and 0.5 are one answer);
 * a wrong one for its 'pred' as written; one without an answer abstains. */
static void vote(eval_ctx *e, problem *pr, const sample_rec *rec) {
    long long order = rec->has_sample ? rec->sample : pr->n;
    if (rec->correct) {
        if (order < pr->c_first) pr->c_first = order;
        return;
    }
    if (!rec->pred) return;
    size_t p = (size_t)(pr - e->problems);
    char *key = pic_asprintf("%zu\x1f%.*s", p, (int)rec->pred_len, rec->pred);
    size_t a = index_get(e->amap, key);
    if (a == SIZE_MAX) {
        if (e->nanswers == e->capanswers) {
            e->capanswers = e->capanswers ? 2 * e->capanswers : 1024;
            e->answers = pic_realloc(e->answers, e->capanswers * sizeof *e->answers);
        }
        a = e->nanswers++;
        e->answers[a] = (answer){p, 0, LLONG_MAX};
        index_put(e->amap, key, a);
    }
    free(key);
    e->answers[a].votes++;
    if (order < e->answers[a].first) e->answers[a].first = order;
}

/* --maj: each problem's leading wrong answer, its votes and its first vote
 * (the earliest among answers tied for the lead). */
void eval_count_votes(eval_ctx *e) {
    for (size_t a = 0; a < e->nanswers; a++) {
        const answer *an = &e->answers[a];
        problem *pr = &e->problems[an->problem];
        if (an->votes > pr->w_best || (an->votes == pr->w_best && an->first < pr->w_first)) {
            pr->w_best = an->votes;
            pr->w_first = an->first;
        }
    }
}

/* --maj: 1 when the majority answer is the correct one. The most votes win;
 * a tie goes to the answer voted for first (in 'sample' order), as
 * Counter.most_common and verl's maj@N take the first of equals. */
bool eval_majority_correct(const problem *p) {
    if (p->c == 0) return false;
    return p->c > p->w_best || (p->c == p->w_best && p->c_first < p->w_first);
}

static void add_sample(eval_ctx *e, problem *pr, const sample_rec *rec) {
    if (e->maj) vote(e, pr, rec);
    pr->n++;
    pr->c += rec->correct;
    if (rec->has_len) {
        pr->len_sum += (double)rec->len;
        pr->len_n++;
    }
    pr->ent_sum += rec->ent_sum;
    pr->ent_tokens += rec->ent_n;
    if (rec->response && e->words.n) {
        long long total = 0;
        dataset *ds = &e->datasets[pr->dataset];
        for (size_t w = 0; w < e->words.n; w++) {
            long long k = (long long)pic_count_phrase(rec->response, rec->response_len, e->words.words[w]);
            ds->word_counts[w] += k;
            total += k;
        }
        pr->refl_sum += (double)total;
        pr->refl_n++;
        pr->refl_any += total > 0;
    }
}

/* A record that cannot be used: fatal, or counted under --skip-bad. */
void eval_read_file(eval_ctx *e, const char *path, size_t fileno, pic_progress *prog) {
    pic_reader *r = pic_reader_open(path);
    json_t *obj;
    while ((obj = pic_reader_json(r))) {
        sample_rec rec;
        const char *field, *why = parse_record(e, obj, &rec, &field);
        if (why) {
            pic_reader_bad(r, field, "%s", why);
        } else {
            problem *pr = problem_of(e, &rec);
            const sample_loc *dup =
                rec.has_sample ? note_sample(pr, rec.sample, fileno, pic_reader_lineno(r)) : NULL;
            if (dup) {
                pic_reader_bad(r, "sample", "sample %lld of problem '%s' (%s) repeats %s:%zu", rec.sample,
                    pr->id, e->datasets[pr->dataset].name, e->files[dup->file], dup->line);
            } else {
                add_sample(e, pr, &rec);
                e->records++;
            }
        }
        json_decref(obj);
        if (prog->on && e->records % 4096 == 0) pic_progress_update(prog, (double)e->records, 0, NULL);
    }
    pic_reader_close(r);
}

void eval_free(eval_ctx *e) {
    for (size_t i = 0; i < e->nproblems; i++) {
        free(e->problems[i].key);
        free(e->problems[i].seen);
    }
    for (size_t d = 0; d < e->ndatasets; d++) {
        free(e->datasets[d].name);
        free(e->datasets[d].word_counts);
    }
    free(e->problems);
    free(e->datasets);
    json_decref(e->pmap);
    json_decref(e->dmap);
    json_decref(e->amap);
    free(e->answers);
    free(e->files);
    free(e->ks);
    pic_wordlist_free(&e->words);
}
