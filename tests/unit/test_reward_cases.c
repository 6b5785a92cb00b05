/* Agreement of pic-reward with the public graders' test suites
 * (tests/fixtures/reward/verify-cases.jsonl), per source and kind, under
 * each case's own configuration (float rounding, strictness, extraction).
 * Prints the table as TAP comments; checks the floors that the docs claim.
 * PIC_REWARD_CASES_VERBOSE=1 lists every disagreement. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "reward_jsonl.h"
#include "reward/parse.h"
#include "reward/reward.h"

/* Floors: the targets of issue 3, on raw agreement (intended differences
 * count as disagreements here). */
enum { MV_FLOOR = 97, LP_FLOOR = 95, LB_FLOOR = 100 };

/* Cases where pic-reward is more right than the case (docs/reward.md,
 * "Intended differences"). Each must still disagree, so that the list
 * cannot outlive its reason; they are reported apart, never as agreement. */
#define LOG_BASE "the gold is SymPy's LaTeX, which prints a logarithm of any base as \\log; " \
                 "its SymPy form names the base, and \\log alone is base 10 (as latex2sympy reads it)"
static const struct {
    const char *id, *why;
} intended[] = {
    {"l2s-00750", LOG_BASE}, {"l2s-00753", LOG_BASE}, {"l2s-00754", LOG_BASE}, {"l2s-00755", LOG_BASE},
    {"l2s-00756", LOG_BASE}, {"l2s-00767", LOG_BASE}, {"l2s-00768", LOG_BASE}, {"l2s-00769", LOG_BASE},
};

static int intended_index(const char *id) {
    for (size_t k = 0; k < sizeof intended / sizeof intended[0]; k++)
        if (strcmp(intended[k].id, id) == 0) return (int)k;
    return -1;
}

#ifndef FIXTURES
#define FIXTURES "tests/fixtures/reward"
#endif

typedef struct {
    char key[96];
    int n, agree, intended;
} tally;

static tally tallies[64];
static int ntallies;

static tally *tally_for(const char *key) {
    for (int i = 0; i < ntallies; i++)
        if (strcmp(tallies[i].key, key) == 0) return &tallies[i];
    if (ntallies == 64) return &tallies[63];
    tally *t = &tallies[ntallies++];
    snprintf(t->key, sizeof t->key, "%s", key);
    return t;
}

static bool has_type(json_t *list, const char *type, int *prio) {
    size_t i;
    json_t *x;
    if (!json_is_array(list)) return false;
    json_array_foreach(list, i, x) {
        const char *t = json_string_value(json_object_get(x, "type"));
        if (t && strcmp(t, type) == 0) {
            json_t *p = json_object_get(x, "boxed_match_priority");
            if (prio) *prio = p ? (int)json_integer_value(p) : 50;
            return true;
        }
    }
    return false;
}

/* The case's options, mapped onto pic-reward's. */
static rw_opts case_opts(json_t *cfg, bool compare_strings) {
    rw_opts o = rw_default_opts();
    json_t *fr = json_object_get(cfg, "float_rounding");
    if (json_is_integer(fr)) o.eq.float_places = (int)json_integer_value(fr);
    json_t *st = json_object_get(cfg, "strict");
    if (json_is_boolean(st)) o.eq.strict = json_is_true(st);
    int prio = 50;
    json_t *pe = json_object_get(cfg, "pred_extraction");
    if (json_is_array(pe)) {
        bool latex = has_type(pe, "LatexExtractionConfig", &prio);
        o.pred.latex = o.gold.latex = latex;
        o.pred.boxed = o.gold.boxed = latex && prio >= 0;
        o.pred.plain = o.gold.plain = has_type(pe, "ExprExtractionConfig", NULL);
        o.pred.whole = o.gold.whole = false; /* Math-Verify has no whole-text fallback */
    }
    /* compare_strings extracts from gold exactly as from pred */
    if (compare_strings) o.gold = o.pred;
    o.gold.after_think = o.pred.after_think = false;
    return o;
}

typedef struct {
    rw_checker c;
    bool verbose;
} run;

static void check_case(json_t *r, int line, void *arg) {
    (void)line;
    run *R = arg;
    rw_checker *cp = &R->c;
    bool verbose = R->verbose;
    const char *id = json_string_value(json_object_get(r, "id"));
    const char *kind = json_string_value(json_object_get(r, "kind"));
    const char *src = json_string_value(json_object_get(r, "source"));
    json_t *gj = json_object_get(r, "gold"), *pj = json_object_get(r, "pred");
    json_t *cfg = json_object_get(r, "config");
    json_t *exp = json_object_get(r, "expected");
    const char *api = json_string_value(json_object_get(cfg, "api"));
    char key[96], repo[48];
    snprintf(repo, sizeof repo, "%.*s", (int)strcspn(src, "/"), src);
    snprintf(key, sizeof key, "%s %s", repo, kind);
    bool agree;
    if (strcmp(kind, "latex_bad") == 0) {
        rw_arena_reset(&cp->arena);
        const char *e;
        agree = rw_parse(&cp->arena, json_string_value(pj), json_string_length(pj), &e) == NULL;
    } else if (strcmp(kind, "latex_parse") == 0) {
        rw_arena_reset(&cp->arena);
        const char *e;
        node *g = rw_parse(&cp->arena, json_string_value(gj), json_string_length(gj), &e);
        node *p = rw_parse(&cp->arena, json_string_value(pj), json_string_length(pj), &e);
        rw_equiv_opts eo = {6, true, false, false}; /* one value, not the grader's name rule */
        agree = g && p && rw_equiv(&cp->arena, g, p, &eo);
    } else if (strcmp(kind, "verify") == 0 && json_is_boolean(exp)) {
        bool cs = api && (strstr(api, "compare_strings") || strstr(api, "parse(gold)"));
        rw_opts o = strncmp(id, "mv-", 3) == 0 ? case_opts(cfg, cs) : rw_default_opts();
        /* other graders' tests hand over bare answers, not responses */
        if (strncmp(id, "mv-", 3) != 0 || (api && strstr(api, "Rational, Float"))) o.pred.whole_first = true;
        rw_result res;
        rw_check(cp, json_string_value(gj), json_string_length(gj), json_string_value(pj),
                 json_string_length(pj), &o, &res);
        agree = res.correct == json_is_true(exp);
        if (verbose && !agree)
            printf("# %s %s: got %d; gold [%s] pred [%s]\n", id, key, res.correct,
                   res.gold.text ? res.gold.text : "-", res.pred.text ? res.pred.text : "-");
    } else {
        return; /* parse/extract/normalize kinds test other APIs */
    }
    int why = intended_index(id);
    if (why >= 0) {
        CHECK(!agree, "%s is an intended difference: %s", id, intended[why].why);
    } else if (verbose && !agree && strcmp(kind, "verify") != 0) {
        printf("# %s %s disagrees\n", id, key);
    }
    tally *t = tally_for(key);
    t->n++;
    t->agree += agree;
    t->intended += why >= 0;
}

int main(void) {
    run R = {.verbose = getenv("PIC_REWARD_CASES_VERBOSE") != NULL};
    rw_checker_init(&R.c);
    bool ok = each_case(FIXTURES "/verify-cases.jsonl", check_case, &R);
    rw_checker_free(&R.c);
    if (!ok) return check_done();
    double mv = 0, lp = 0, lb = 0;
    for (int i = 0; i < ntallies; i++) {
        tally *t = &tallies[i];
        double pct = 100.0 * t->agree / t->n;
        printf("# %-40s %4d/%4d %6.1f%%", t->key, t->agree, t->n, pct);
        if (t->intended) printf("  (+%d intended differences)", t->intended);
        printf("\n");
        if (strcmp(t->key, "Math-Verify verify") == 0) mv = pct;
        if (strcmp(t->key, "latex2sympy2_extended latex_parse") == 0) lp = pct;
        if (strcmp(t->key, "latex2sympy2_extended latex_bad") == 0) lb = pct;
    }
    /* floors: what docs/reward.md reports; a regression fails the suite */
    CHECK(mv >= MV_FLOOR, "Math-Verify verify agreement %.1f%% >= %d%%", mv, MV_FLOOR);
    CHECK(lp >= LP_FLOOR, "latex_parse agreement %.1f%% >= %d%%", lp, LP_FLOOR);
    CHECK(lb >= LB_FLOOR, "latex_bad rejected %.1f%% >= %d%%", lb, LB_FLOOR);
    return check_done();
}
