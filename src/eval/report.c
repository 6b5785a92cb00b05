/* pic-eval: the rows of the report (per-problem numbers averaged per
 * dataset, datasets averaged overall) and their formats. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/json.h"
#include "common/stream.h"
#include "eval/eval.h"

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
        if (e->maj) sums[M_MAJ] += eval_majority_correct(p), counts[M_MAJ]++;
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
        /* summed here, divided once below, as a dataset's own mean: each
         * value divided first made ten datasets at 1.0 0.9999999999999999 */
        for (int m = 0; m < M_FIXED; m++) out->m[m] += rows[r].m[m];
        for (size_t k = 0; k < e->nk; k++) out->passk[k] += rows[r].passk[k];
        for (size_t w = 0; w < e->words.n; w++) words[w] += rows[r].word_counts[w];
    }
    if (nrows) {
        for (int m = 0; m < M_FIXED; m++) out->m[m] /= (double)nrows;
        for (size_t k = 0; k < e->nk; k++) out->passk[k] /= (double)nrows;
    } else {
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
 * markdown '|' as '\|', which would end the cell, and '\' as '\\', else a
 * name's own "\|" read as an escaped backslash and the cell's end. */
static char *name_cell(const eval_ctx *e, const char *name) {
    pic_buf b = {0};
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p == '\t') pic_buf_append(&b, "\\t", 2);
        else if (*p == '\n') pic_buf_append(&b, "\\n", 2);
        else if (*p == '\r') pic_buf_append(&b, "\\r", 2);
        else if (*p < 0x20 || *p == 0x7f) pic_buf_printf(&b, "\\x%02x", *p);
        else if (*p == '|' && e->format == FMT_MARKDOWN) pic_buf_append(&b, "\\|", 2);
        else if (*p == '\\' && e->format == FMT_MARKDOWN) pic_buf_append(&b, "\\\\", 2);
        else pic_buf_append(&b, (const char *)p, 1);
    }
    char *cell = pic_strdup(b.data ? b.data : "");
    pic_buf_free(&b);
    return cell;
}

/* Whether pass@k's column is pass@n's again: k is the n of every problem
 * (the overall row's nmin = nmax), where the two are one number under one
 * header; --n 8 --k 1,8 printed "pass@8" twice. The JSON keeps both
 * (pass_n and pass_at_k["8"]: distinct keys, and scripts read k's). */
static bool k_is_n(const eval_ctx *e, size_t k, long long nmin, long long nmax) {
    return nmin == nmax && nmax > 0 && e->ks[k] == nmax;
}

/* The cells of one row, in column order (nmin, nmax: the overall row's,
 * which the header is of). */
static char **row_cells(const eval_ctx *e, const row *r, bool human, long long nmin, long long nmax,
                        size_t *ncells) {
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
        for (size_t k = 0; k < e->nk; k++)
            if (!k_is_n(e, k, nmin, nmax)) c[n++] = fmt_fixed(100 * r->passk[k], dg);
        c[n++] = fmt_fixed(r->m[M_LEN], 1);
        c[n++] = fmt_fixed(r->m[M_ENT], 4);
        c[n++] = fmt_fixed(r->m[M_REFL], 3);
    } else {
        c[n++] = fmt_real(r->m[M_AVG]);
        c[n++] = fmt_real(r->m[M_PASSN]);
        if (e->maj) c[n++] = fmt_real(r->m[M_MAJ]);
        for (size_t k = 0; k < e->nk; k++)
            if (!k_is_n(e, k, nmin, nmax)) c[n++] = fmt_real(r->passk[k]);
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
    for (size_t k = 0; k < e->nk; k++)
        if (!k_is_n(e, k, nmin, nmax)) c[n++] = pic_asprintf("pass@%lld", e->ks[k]);
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

void eval_print_report(FILE *out, const eval_ctx *e) {
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
        for (size_t r = 0; r <= nd; r++) cells[r + 1] = row_cells(e, &rows[r], human, rows[nd].nmin, rows[nd].nmax, &ncols);
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
