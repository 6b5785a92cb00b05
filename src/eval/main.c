/* pic-eval: metrics over scored sample streams, per dataset and overall.
 *
 * Samples are grouped into problems by (source, id), problems into datasets
 * by source. Every per-dataset number is a mean over problems of a
 * per-problem number, so a problem with 16 samples weighs the same as one
 * with 4 (pooling samples would weigh problems by their sample counts).
 * Overall is the unweighted mean over datasets, as the paper's tables. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/atomic.h"
#include "common/cli.h"
#include "common/json.h"
#include "common/progress.h"
#include "common/stream.h"
#include "eval/metrics.h"

static const char usage[] =
    "Usage: pic-eval [OPTION]... [FILE]...\n"
    "Evaluation metrics of scored sample streams (JSON Lines, plain or zstd; the\n"
    "FILEs one after another, standard input when none or '-').\n"
    "\n"
    "Each record is one sample: 'id' (string or integer) names its problem,\n"
    "'source' (optional) its dataset, 'correct' (bool) or else 'reward' (number,\n"
    "correct when >= --threshold) scores it. Optional: 'response_ids' (its length in\n"
    "tokens; else the length of 'entropy'), 'entropy' (one number >= 0 per response\n"
    "token), 'response' (text, for the reflective words), 'sample' (index; a repeated\n"
    "index of a problem is an error, which catches a file given twice); with --maj\n"
    "'pred' (the extracted answer). Other fields are ignored.\n"
    "\n"
    "Per dataset (in order of first appearance), with n the samples of a problem\n"
    "and c the correct ones:\n"
    "  problems, n          problem count; samples per problem (a range if they vary)\n"
    "  avg@n                mean over problems of c/n\n"
    "  pass@n               fraction of problems with c > 0\n"
    "  maj@n                with --maj: fraction of problems whose majority answer\n"
    "                       is correct (see --maj)\n"
    "  pass@k               mean over problems of 1 - C(n-c,k)/C(n,k) (unbiased,\n"
    "                       Chen et al. 2021); '-' when some problem has n < k\n"
    "  length               mean over problems of the mean response length (tokens)\n"
    "  entropy              mean over problems of the token-mean entropy of all\n"
    "                       the problem's tokens\n"
    "  reflect              mean over problems of reflective words per response\n"
    "Problems with different sample counts are each averaged over their own\n"
    "samples first, so no problem weighs more for having more samples.\n"
    "Overall is the unweighted MEAN OVER DATASETS of each metric (as in the\n"
    "paper's tables), not a mean over all problems; problems and samples are sums.\n"
    "\n"
    "Options:\n"
    "      --k LIST             comma-separated k for pass@k (e.g. 1,4,16)\n"
    "      --maj                add maj@n, the majority vote over all the samples of\n"
    "                           a problem: correct samples vote for the one correct\n"
    "                           answer, the others for their 'pred' (text, trimmed;\n"
    "                           null or empty: no vote), so every record needs\n"
    "                           'pred'. Most votes win; a tie goes to the answer\n"
    "                           voted for first, in 'sample' order\n"
    "      --format FMT         table (aligned, the default), markdown, tsv or json.\n"
    "                           table and markdown print accuracies in percent; tsv\n"
    "                           and json print fractions in [0,1] at full precision\n"
    "      --digits N           decimals of percentages in table/markdown (default 1)\n"
    "      --threshold X        a 'reward' >= X is correct when there is no 'correct'\n"
    "                           (default 0.5)\n"
    "      --reflect-words LIST reflective words and phrases, comma-separated, or\n"
    "                           @FILE with one per line ('#' comments); '' counts\n"
    "                           none. Case-insensitive, whole words, any whitespace\n"
    "                           inside a phrase. Default:\n"
    "                           wait, alternatively, hmm, let's reconsider,\n"
    "                           let me reconsider, re-examine, double-check, recheck,\n"
    "                           on second thought\n"
    "      --default-source S   dataset of records without 'source' (default 'all')\n"
    "  -o, --output FILE        write there (atomically) instead of standard output\n"
    "      --skip-bad           skip malformed records (counted at the end) instead\n"
    "                           of failing\n"
    "  -q, --quiet              no progress, no summary line, no note on an\n"
    "                           undefined pass@k\n"
    "  -h, --help               this help\n"
    "      --version            the version\n"
    "\n"
    "Exit status: 0 success, 1 bad input or I/O error (the message names the file,\n"
    "line and field), 2 usage error.\n";

enum { FMT_TABLE, FMT_MARKDOWN, FMT_TSV, FMT_JSON };

/* ---- problems and datasets ---- */

typedef struct {
    long long sample;
    size_t file, line;
} sample_loc;

typedef struct {
    char *key; /* the hash key: source length, source and id, \x1f between */
    const char *id; /* points into key */
    size_t dataset;
    long long n, c;
    double len_sum;
    long long len_n;
    double ent_sum;
    long long ent_tokens;
    double refl_sum;
    long long refl_n, refl_any;
    sample_loc *seen; /* sorted by sample, for duplicate detection */
    size_t nseen, capseen;
    /* --maj: the correct answer's first vote, and (after count_votes) the
     * leading wrong answer's votes and first vote. A vote's order is its
     * 'sample' index, else its place in the reading. */
    long long c_first, w_best, w_first;
} problem;

/* --maj: one wrong answer of one problem (a distinct 'pred'). */
typedef struct {
    size_t problem;
    long long votes, first;
} answer;

typedef struct {
    char *name;
    long long *word_counts;
} dataset;

/* Problems and datasets by name: a JSON object of name -> index (jansson's
 * hash table, rather than one more of our own). */
static size_t index_get(const json_t *m, const char *key) {
    const json_t *v = json_object_get(m, key);
    return v ? (size_t)json_integer_value(v) : SIZE_MAX;
}

static void index_put(json_t *m, const char *key, size_t val) {
    if (json_object_set_new(m, key, json_integer((json_int_t)val))) pic_die("out of memory indexing '%s'", key);
}

typedef struct {
    /* options */
    long long *ks;
    size_t nk;
    int format, digits;
    double threshold;
    pic_wordlist words;
    const char *default_source;
    bool maj;
    /* data */
    problem *problems;
    size_t nproblems, capproblems;
    dataset *datasets;
    size_t ndatasets, capdatasets;
    json_t *pmap, *dmap;
    answer *answers;
    size_t nanswers, capanswers;
    json_t *amap; /* problem index \x1f pred -> answer index */
    char **files;
    size_t nfiles;
    long long records;
} eval_ctx;

/* ---- reading ---- */

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
static void count_votes(eval_ctx *e) {
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
static bool majority_correct(const problem *p) {
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
static void read_file(eval_ctx *e, const char *path, size_t fileno, pic_progress *prog) {
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

/* ---- metrics ---- */

enum { M_AVG, M_PASSN, M_MAJ, M_LEN, M_ENT, M_REFL, M_REFL_ANY, M_FIXED };

typedef struct {
    const char *name;
    long long problems, samples, nmin, nmax;
    double m[M_FIXED];
    double *passk; /* nk values; NaN when undefined */
    long long *word_counts;
} row;

static double mean_or_nan(double sum, long long n) { return n ? sum / (double)n : NAN; }

static void dataset_row(const eval_ctx *e, size_t d, row *out) {
    double sums[M_FIXED] = {0};
    long long counts[M_FIXED] = {0};
    double *ksum = pic_calloc(e->nk ? e->nk : 1, sizeof *ksum);
    bool *kbad = pic_calloc(e->nk ? e->nk : 1, sizeof *kbad);
    out->name = e->datasets[d].name;
    out->problems = out->samples = 0;
    out->nmin = LLONG_MAX;
    out->nmax = 0;
    for (size_t i = 0; i < e->nproblems; i++) {
        const problem *p = &e->problems[i];
        if (p->dataset != d) continue;
        out->problems++;
        out->samples += p->n;
        if (p->n < out->nmin) out->nmin = p->n;
        if (p->n > out->nmax) out->nmax = p->n;
        sums[M_AVG] += (double)p->c / (double)p->n, counts[M_AVG]++;
        sums[M_PASSN] += p->c > 0, counts[M_PASSN]++;
        if (e->maj) sums[M_MAJ] += majority_correct(p), counts[M_MAJ]++;
        if (p->len_n) sums[M_LEN] += p->len_sum / (double)p->len_n, counts[M_LEN]++;
        if (p->ent_tokens) sums[M_ENT] += p->ent_sum / (double)p->ent_tokens, counts[M_ENT]++;
        if (p->refl_n) {
            sums[M_REFL] += p->refl_sum / (double)p->refl_n, counts[M_REFL]++;
            sums[M_REFL_ANY] += (double)p->refl_any / (double)p->refl_n, counts[M_REFL_ANY]++;
        }
        for (size_t k = 0; k < e->nk; k++) {
            double v = pic_pass_at_k(p->n, p->c, e->ks[k]);
            if (isnan(v)) kbad[k] = true;
            else ksum[k] += v;
        }
    }
    for (int m = 0; m < M_FIXED; m++) out->m[m] = mean_or_nan(sums[m], counts[m]);
    out->passk = pic_calloc(e->nk ? e->nk : 1, sizeof *out->passk);
    for (size_t k = 0; k < e->nk; k++) {
        out->passk[k] = kbad[k] ? NAN : ksum[k] / (double)out->problems;
        if (kbad[k])
            pic_info("%s: pass@%lld undefined: some problems have fewer than %lld samples (min %lld)",
                     out->name, e->ks[k], e->ks[k], out->nmin);
    }
    out->word_counts = e->datasets[d].word_counts;
    free(ksum);
    free(kbad);
}

/* Overall: each metric the mean over datasets, undefined (NaN) when any
 * dataset lacks it: a mean over a subset would not be the same table. */
static void overall_row(const eval_ctx *e, const row *rows, size_t nrows, row *out,
                        long long *words) {
    memset(out, 0, sizeof *out);
    out->name = "Overall";
    out->nmin = LLONG_MAX;
    out->passk = pic_calloc(e->nk ? e->nk : 1, sizeof *out->passk);
    out->word_counts = words;
    for (size_t r = 0; r < nrows; r++) {
        out->problems += rows[r].problems;
        out->samples += rows[r].samples;
        if (rows[r].nmin < out->nmin) out->nmin = rows[r].nmin;
        if (rows[r].nmax > out->nmax) out->nmax = rows[r].nmax;
        for (int m = 0; m < M_FIXED; m++) out->m[m] += rows[r].m[m] / (double)nrows;
        for (size_t k = 0; k < e->nk; k++) out->passk[k] += rows[r].passk[k] / (double)nrows;
        for (size_t w = 0; w < e->words.n; w++) words[w] += rows[r].word_counts[w];
    }
    if (!nrows) {
        for (int m = 0; m < M_FIXED; m++) out->m[m] = NAN;
        for (size_t k = 0; k < e->nk; k++) out->passk[k] = NAN;
        out->nmin = 0;
    }
}

/* ---- output ---- */

static char *fmt_real(double x) {
    if (isnan(x)) return pic_strdup("-");
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    return pic_strdup(buf);
}

static char *fmt_fixed(double x, int digits) {
    return isnan(x) ? pic_strdup("-") : pic_asprintf("%.*f", digits, x);
}

static char *fmt_n(const row *r) {
    if (!r->problems) return pic_strdup("-");
    if (r->nmin == r->nmax) return pic_asprintf("%lld", r->nmin);
    return pic_asprintf("%lld-%lld", r->nmin, r->nmax);
}

/* A dataset name as a cell: control characters escaped (\t, \n, \r,
 * \xHH), since a tab or a newline in a 'source' broke the row apart, and in
 * markdown '|' as '\|', which would end the cell. */
static char *name_cell(const eval_ctx *e, const char *name) {
    pic_buf b = {0};
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p == '\t') pic_buf_append(&b, "\\t", 2);
        else if (*p == '\n') pic_buf_append(&b, "\\n", 2);
        else if (*p == '\r') pic_buf_append(&b, "\\r", 2);
        else if (*p < 0x20 || *p == 0x7f) pic_buf_printf(&b, "\\x%02x", *p);
        else if (*p == '|' && e->format == FMT_MARKDOWN) pic_buf_append(&b, "\\|", 2);
        else pic_buf_append(&b, (const char *)p, 1);
    }
    char *cell = pic_strdup(b.data ? b.data : "");
    pic_buf_free(&b);
    return cell;
}

/* The cells of one row, in column order. */
static char **row_cells(const eval_ctx *e, const row *r, bool human, size_t *ncells) {
    size_t n = 0, cap = 9 + e->nk;
    char **c = pic_malloc(cap * sizeof *c);
    int dg = e->digits;
    c[n++] = name_cell(e, r->name);
    c[n++] = pic_asprintf("%lld", r->problems);
    c[n++] = fmt_n(r);
    if (human) {
        c[n++] = fmt_fixed(100 * r->m[M_AVG], dg);
        c[n++] = fmt_fixed(100 * r->m[M_PASSN], dg);
        if (e->maj) c[n++] = fmt_fixed(100 * r->m[M_MAJ], dg);
        for (size_t k = 0; k < e->nk; k++) c[n++] = fmt_fixed(100 * r->passk[k], dg);
        c[n++] = fmt_fixed(r->m[M_LEN], 1);
        c[n++] = fmt_fixed(r->m[M_ENT], 4);
        c[n++] = fmt_fixed(r->m[M_REFL], 3);
    } else {
        c[n++] = fmt_real(r->m[M_AVG]);
        c[n++] = fmt_real(r->m[M_PASSN]);
        if (e->maj) c[n++] = fmt_real(r->m[M_MAJ]);
        for (size_t k = 0; k < e->nk; k++) c[n++] = fmt_real(r->passk[k]);
        c[n++] = fmt_real(r->m[M_LEN]);
        c[n++] = fmt_real(r->m[M_ENT]);
        c[n++] = fmt_real(r->m[M_REFL]);
    }
    *ncells = n;
    return c;
}

static char **header_cells(const eval_ctx *e, long long nmin, long long nmax, size_t *ncells) {
    size_t n = 0;
    char **c = pic_malloc((9 + e->nk) * sizeof *c);
    /* "avg@8" when every problem has 8 samples, else the generic "avg@n" */
    char *nn = nmin == nmax && nmax > 0 ? pic_asprintf("%lld", nmax) : pic_strdup("n");
    c[n++] = pic_strdup("dataset");
    c[n++] = pic_strdup("problems");
    c[n++] = pic_strdup("n");
    c[n++] = pic_asprintf("avg@%s", nn);
    c[n++] = pic_asprintf("pass@%s", nn);
    if (e->maj) c[n++] = pic_asprintf("maj@%s", nn);
    for (size_t k = 0; k < e->nk; k++) c[n++] = pic_asprintf("pass@%lld", e->ks[k]);
    c[n++] = pic_strdup("length");
    c[n++] = pic_strdup("entropy");
    c[n++] = pic_strdup("reflect");
    free(nn);
    *ncells = n;
    return c;
}

/* A cell padded to width columns (display columns, not bytes: a dataset
 * named in CJK took two columns a character and pushed its row out of line),
 * on the left (right-aligned) or on the right. */
static void put_cell(FILE *out, const char *cell, size_t width, bool right) {
    size_t w = pic_display_width(cell), pad = width > w ? width - w : 0;
    if (right) fprintf(out, "%*s", (int)pad, "");
    fputs(cell, out);
    if (!right) fprintf(out, "%*s", (int)pad, "");
}

static void print_text(FILE *out, const eval_ctx *e, char ***cells, size_t nrows, size_t ncols) {
    size_t *w = pic_calloc(ncols, sizeof *w);
    for (size_t r = 0; r < nrows; r++)
        for (size_t c = 0; c < ncols; c++)
            if (pic_display_width(cells[r][c]) > w[c]) w[c] = pic_display_width(cells[r][c]);
    /* a markdown delimiter cell needs a '-' beside its ':' to be one */
    for (size_t c = 0; c < ncols && e->format == FMT_MARKDOWN; c++)
        if (w[c] < 2) w[c] = 2;
    for (size_t r = 0; r < nrows; r++) {
        if (e->format == FMT_TSV) {
            for (size_t c = 0; c < ncols; c++) fprintf(out, "%s%s", c ? "\t" : "", cells[r][c]);
            fputc('\n', out);
        } else if (e->format == FMT_MARKDOWN) {
            fputc('|', out);
            for (size_t c = 0; c < ncols; c++) {
                fputc(' ', out);
                put_cell(out, cells[r][c], w[c], c > 0);
                fputs(" |", out);
            }
            fputc('\n', out);
            if (r == 0) {
                fputc('|', out);
                for (size_t c = 0; c < ncols; c++) {
                    /* the dataset column left-aligned, numbers right-aligned */
                    fputs(c ? " " : " :", out);
                    for (size_t i = 0; i < w[c] - 1; i++) fputc('-', out);
                    fputs(c ? ": |" : " |", out);
                }
                fputc('\n', out);
            }
        } else {
            for (size_t c = 0; c < ncols; c++) {
                if (c) fputs("  ", out);
                /* the last cell is right-aligned, so no trailing spaces */
                put_cell(out, cells[r][c], w[c], c > 0);
            }
            fputc('\n', out);
        }
    }
    free(w);
}

/* JSON has no NaN or infinity, and jansson's json_real refuses them: an
 * infinite mean (entropies near 1e308 summed) dropped its key from the
 * object. Both are null. */
static json_t *num_or_null(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static json_t *row_json(const eval_ctx *e, const row *r) {
    json_t *o = json_object();
    json_object_set_new(o, "dataset", json_string(r->name));
    json_object_set_new(o, "problems", json_integer(r->problems));
    json_object_set_new(o, "samples", json_integer(r->samples));
    json_object_set_new(o, "n_min", json_integer(r->problems ? r->nmin : 0));
    json_object_set_new(o, "n_max", json_integer(r->nmax));
    json_object_set_new(o, "avg", num_or_null(r->m[M_AVG]));
    json_object_set_new(o, "pass_n", num_or_null(r->m[M_PASSN]));
    if (e->maj) json_object_set_new(o, "maj_n", num_or_null(r->m[M_MAJ]));
    json_t *pk = json_object();
    for (size_t k = 0; k < e->nk; k++) {
        char key[32];
        snprintf(key, sizeof key, "%lld", e->ks[k]);
        json_object_set_new(pk, key, num_or_null(r->passk[k]));
    }
    json_object_set_new(o, "pass_at_k", pk);
    json_object_set_new(o, "length", num_or_null(r->m[M_LEN]));
    json_object_set_new(o, "entropy", num_or_null(r->m[M_ENT]));
    json_object_set_new(o, "reflect", num_or_null(r->m[M_REFL]));
    json_object_set_new(o, "reflect_any", num_or_null(r->m[M_REFL_ANY]));
    json_t *wc = json_object();
    for (size_t w = 0; w < e->words.n; w++)
        json_object_set_new(wc, e->words.words[w], json_integer(r->word_counts[w]));
    json_object_set_new(o, "reflect_words", wc);
    return o;
}

static void print_report(FILE *out, const eval_ctx *e) {
    size_t nd = e->ndatasets;
    row *rows = pic_calloc(nd + 1, sizeof *rows);
    long long *words = pic_calloc(e->words.n ? e->words.n : 1, sizeof *words);
    for (size_t d = 0; d < nd; d++) dataset_row(e, d, &rows[d]);
    overall_row(e, rows, nd, &rows[nd], words);
    if (e->format == FMT_JSON) {
        json_t *o = json_object(), *arr = json_array(), *ks = json_array();
        for (size_t k = 0; k < e->nk; k++) json_array_append_new(ks, json_integer(e->ks[k]));
        for (size_t d = 0; d < nd; d++) json_array_append_new(arr, row_json(e, &rows[d]));
        json_object_set_new(o, "k", ks);
        json_object_set_new(o, "datasets", arr);
        json_object_set_new(o, "overall", row_json(e, &rows[nd]));
        json_object_set_new(o, "overall_is", json_string("mean over datasets"));
        json_object_set_new(o, "skipped", json_integer((json_int_t)pic_bad_records));
        pic_buf b = {0};
        pic_json_dump(&b, o);
        pic_buf_append(&b, "\n", 1);
        fwrite(b.data, 1, b.len, out);
        pic_buf_free(&b);
        json_decref(o);
    } else {
        bool human = e->format != FMT_TSV;
        size_t nrows = nd + 2, ncols = 0;
        char ***cells = pic_malloc(nrows * sizeof *cells);
        cells[0] = header_cells(e, rows[nd].nmin, rows[nd].nmax, &ncols);
        for (size_t r = 0; r <= nd; r++) cells[r + 1] = row_cells(e, &rows[r], human, &ncols);
        print_text(out, e, cells, nrows, ncols);
        for (size_t r = 0; r < nrows; r++) {
            for (size_t c = 0; c < ncols; c++) free(cells[r][c]);
            free(cells[r]);
        }
        free(cells);
    }
    for (size_t r = 0; r <= nd; r++) free(rows[r].passk);
    free(rows);
    free(words);
}

/* ---- options ---- */

static void parse_ks(eval_ctx *e, const char *arg) {
    pic_list l;
    pic_option_list(&l, "--k", arg);
    for (size_t j = 0; j < l.n; j++) {
        long long k = pic_parse_int("--k", l.items[j], 1, 1LL << 40);
        for (size_t i = 0; i < e->nk; i++)
            if (e->ks[i] == k) pic_usage_error("--k: %lld given twice", k);
        e->ks = pic_realloc(e->ks, (e->nk + 1) * sizeof *e->ks);
        e->ks[e->nk++] = k;
    }
    pic_list_free(&l);
}

/* The words are keys of --format json's reflect_words, which jansson
 * refuses unless they are UTF-8: a word of Latin-1 was counted in the table
 * and missing from the JSON, silently. The line of its first bad byte, and
 * in *byte and *at where on it and which (0 when the text is UTF-8). */
static size_t bad_utf8(const char *text, size_t *byte, unsigned char *at) {
    size_t ok = pic_utf8_valid_prefix(text), line = 1, bol = 0;
    if (!text[ok]) return 0;
    for (size_t i = 0; i < ok; i++)
        if (text[i] == '\n') line++, bol = i + 1;
    *byte = ok - bol + 1;
    *at = (unsigned char)text[ok];
    return line;
}

static void parse_words(eval_ctx *e, const char *arg) {
    char err[256];
    size_t byte;
    unsigned char at;
    pic_wordlist_free(&e->words);
    if (arg[0] == '@') {
        size_t len, col, line;
        char *text = pic_read_file(arg + 1, &len);
        if ((line = pic_nul_line(text, len, &col)))
            pic_die("%s:%zu: reflective words: a raw NUL byte at column %zu", arg + 1, line, col);
        if ((line = bad_utf8(text, &byte, &at)))
            pic_die("%s:%zu: reflective words: invalid UTF-8 (0x%02x) at byte %zu", arg + 1, line, at, byte);
        if (pic_wordlist_parse(text, &e->words, err, sizeof err))
            pic_die("%s: reflective words: %s", arg + 1, err);
        free(text);
    } else if (bad_utf8(arg, &byte, &at)) {
        pic_usage_error("--reflect-words: invalid UTF-8 (0x%02x) at byte %zu", at, byte);
    } else if (pic_wordlist_parse(arg, &e->words, err, sizeof err)) {
        pic_usage_error("--reflect-words: %s", err);
    }
}

enum { OPT_K = 256, OPT_MAJ, OPT_FORMAT, OPT_DIGITS, OPT_THRESHOLD, OPT_WORDS, OPT_DEFSRC, OPT_SKIP, OPT_VERSION };

int main(int argc, char **argv) {
    pic_init("pic-eval");
    static const struct option opts[] = {
        {"k", required_argument, 0, OPT_K},
        {"maj", no_argument, 0, OPT_MAJ},
        {"format", required_argument, 0, OPT_FORMAT},
        {"digits", required_argument, 0, OPT_DIGITS},
        {"threshold", required_argument, 0, OPT_THRESHOLD},
        {"reflect-words", required_argument, 0, OPT_WORDS},
        {"default-source", required_argument, 0, OPT_DEFSRC},
        {"output", required_argument, 0, 'o'},
        {"skip-bad", no_argument, 0, OPT_SKIP},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, OPT_VERSION},
        {0, 0, 0, 0},
    };
    eval_ctx e = {.format = FMT_TABLE, .digits = 1, .threshold = 0.5, .default_source = "all",
                  .pmap = json_object(), .dmap = json_object(), .amap = json_object()};
    char err[256];
    if (pic_wordlist_parse(pic_reflect_default, &e.words, err, sizeof err)) pic_die("%s", err);
    const char *output = NULL;
    int c;
    while ((c = pic_getopt(argc, argv, "o:qh", opts, NULL)) != -1) {
        switch (c) {
        case OPT_K: parse_ks(&e, optarg); break;
        case OPT_MAJ: e.maj = true; break;
        case OPT_FORMAT:
            if (!strcmp(optarg, "table")) e.format = FMT_TABLE;
            else if (!strcmp(optarg, "markdown")) e.format = FMT_MARKDOWN;
            else if (!strcmp(optarg, "tsv")) e.format = FMT_TSV;
            else if (!strcmp(optarg, "json")) e.format = FMT_JSON;
            else pic_usage_error("--format: '%s' is not table, markdown, tsv or json", optarg);
            break;
        case OPT_DIGITS: e.digits = (int)pic_parse_int("--digits", optarg, 0, 15); break;
        case OPT_THRESHOLD: e.threshold = pic_parse_double("--threshold", optarg, -1e300, 1e300); break;
        case OPT_WORDS: parse_words(&e, optarg); break;
        case OPT_DEFSRC:
            if (!*optarg) pic_usage_error("--default-source: empty name");
            e.default_source = optarg;
            break;
        case 'o':
            if (!*optarg) pic_usage_error("--output: empty file name");
            output = optarg;
            break;
        case OPT_SKIP: pic_skip_bad = true; break;
        case 'q': pic_quiet = 1; break;
        case 'h': pic_print_help(usage);
        case OPT_VERSION: pic_print_version();
        default: pic_usage_error("unknown option or missing argument");
        }
    }

    e.nfiles = optind < argc ? (size_t)(argc - optind) : 1;
    e.files = pic_malloc(e.nfiles * sizeof *e.files);
    for (size_t f = 0; f < e.nfiles; f++) {
        const char *a = optind < argc ? argv[optind + (int)f] : "-";
        e.files[f] = (char *)(strcmp(a, "-") ? a : "<stdin>");
    }
    pic_progress prog;
    pic_progress_start(&prog, "records");
    for (size_t f = 0; f < e.nfiles; f++)
        read_file(&e, optind < argc ? argv[optind + (int)f] : NULL, f, &prog);
    pic_progress_end(&prog);
    if (!e.records) pic_die_no_records(argc - optind, argv + optind, "records");
    count_votes(&e);

    pic_atomic_file af;
    FILE *out = output ? pic_atomic_open(&af, output) : stdout;
    print_report(out, &e);
    if (output) {
        if (pic_atomic_commit(&af) != 0) pic_die("%s: %s", output, strerror(errno));
    } else {
        pic_stdout_close();
    }
    pic_note_bad_records();
    pic_info("%lld samples, %zu problems, %zu datasets", e.records, e.nproblems, e.ndatasets);

    for (size_t i = 0; i < e.nproblems; i++) {
        free(e.problems[i].key);
        free(e.problems[i].seen);
    }
    for (size_t d = 0; d < e.ndatasets; d++) {
        free(e.datasets[d].name);
        free(e.datasets[d].word_counts);
    }
    free(e.problems);
    free(e.datasets);
    json_decref(e.pmap);
    json_decref(e.dmap);
    json_decref(e.amap);
    free(e.answers);
    free(e.files);
    free(e.ks);
    pic_wordlist_free(&e.words);
    return 0;
}
