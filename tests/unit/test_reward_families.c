/* Agreement of pic-reward with Math-Verify on cases that tests/unit/
 * test_reward_cases.c does not hold (tests/fixtures/reward/families.jsonl,
 * issue 16): numbers to a precision, relations and sets, units, choices,
 * extraction outside \boxed{}, ... Each case is run as Math-Verify's test
 * helper compare_strings runs it: the same extraction targets for gold and
 * pred, boxed first, its float rounding and set-relation option. Prints the
 * agreement per family as TAP comments and fails below the target.
 * PIC_REWARD_CASES_VERBOSE=1 lists every disagreement. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "reward_jsonl.h"
#include "reward/reward.h"

enum { TARGET = 97 }; /* issue 16: >= 97% agreement overall, every family >= 90% */
enum { FAMILY_FLOOR = 90 };

#ifndef FIXTURES
#define FIXTURES "tests/fixtures/reward"
#endif

typedef struct {
    char name[32];
    int n, agree;
} tally;

static tally tallies[32];
static int ntallies;

static tally *tally_for(const char *name) {
    for (int i = 0; i < ntallies; i++)
        if (strcmp(tallies[i].name, name) == 0) return &tallies[i];
    if (ntallies == 32) return &tallies[31];
    tally *t = &tallies[ntallies++];
    snprintf(t->name, sizeof t->name, "%s", name);
    return t;
}

static bool lists(json_t *arr, const char *s) {
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) if (strcmp(json_string_value(x), s) == 0) return true;
    return false;
}

/* compare_strings(gold, pred, match_types, precision, allow_set_relation_comp) */
static rw_opts case_opts(json_t *r) {
    rw_opts o = rw_default_opts();
    json_t *mt = json_object_get(r, "match_types");
    o.pred.latex = lists(mt, "latex");
    o.pred.boxed = o.pred.latex;
    o.pred.plain = lists(mt, "expr");
    o.pred.whole = o.pred.whole_first = false;
    o.pred.after_think = false;
    o.gold = o.pred;
    json_t *p = json_object_get(r, "precision");
    if (json_is_integer(p)) o.eq.float_places = (int)json_integer_value(p);
    o.eq.set_relation = json_is_true(json_object_get(r, "allow_set_relation_comp"));
    return o;
}

typedef struct {
    rw_checker c;
    bool verbose;
    int total, agreed, intended;
} run;

static void check_case(json_t *r, int line, void *arg) {
    run *R = arg;
    json_t *gj = json_object_get(r, "gold"), *pj = json_object_get(r, "pred");
    const char *family = json_string_value(json_object_get(r, "family"));
    rw_opts o = case_opts(r);
    /* latex2sympy's own tests parse with its default NormalizationConfig,
     * whose units step is off ("- c" keeps its c) */
    const char *src = json_string_value(json_object_get(r, "source"));
    if (src && strncmp(src, "latex2sympy2_extended tests/", 28) == 0) o.pred.units = o.gold.units = false;
    rw_result res;
    rw_check(&R->c, json_string_value(gj), json_string_length(gj), json_string_value(pj), json_string_length(pj), &o,
             &res);
    bool agree = res.correct == json_is_true(json_object_get(r, "expected"));
    /* an intended difference (docs/reward.md) must still differ, and is
     * counted apart, never as agreement */
    const char *why = json_string_value(json_object_get(r, "intended"));
    if (why) {
        CHECK(!agree, "line %d is an intended difference: %s", line, why);
        R->intended++;
        return;
    }
    if (R->verbose && !agree)
        printf("# line %d %s (%s): got %d; gold [%s] pred [%s]\n", line, family,
               json_string_value(json_object_get(r, "source")), res.correct, res.gold.text ? res.gold.text : "-",
               res.pred.text ? res.pred.text : "-");
    tally *t = tally_for(family ? family : "?");
    t->n++;
    t->agree += agree;
    R->total++;
    R->agreed += agree;
}

int main(void) {
    run R = {.verbose = getenv("PIC_REWARD_CASES_VERBOSE") != NULL};
    rw_checker_init(&R.c);
    bool ok = each_case(FIXTURES "/families.jsonl", check_case, &R);
    rw_checker_free(&R.c);
    if (!ok) return check_done();
    for (int i = 0; i < ntallies; i++) {
        tally *t = &tallies[i];
        printf("# %-12s %4d/%4d %6.1f%%\n", t->name, t->agree, t->n, 100.0 * t->agree / t->n);
    }
    double pct = R.total ? 100.0 * R.agreed / R.total : 0;
    printf("# %-12s %4d/%4d %6.1f%%  (+%d intended differences)\n", "all", R.agreed, R.total, pct, R.intended);
    CHECK(pct >= TARGET, "agreement %.1f%% >= %d%%", pct, TARGET);
    for (int i = 0; i < ntallies; i++)
        CHECK(100.0 * tallies[i].agree / tallies[i].n >= FAMILY_FLOOR, "family %s >= %d%%", tallies[i].name,
              FAMILY_FLOOR);
    /* every case agrees now, so one that stops agreeing is a regression,
     * which the floors above let through (one precision case in 67 is
     * 1.5%): a difference that is meant is marked "intended" instead */
    CHECK(R.agreed == R.total, "every case agrees but the intended differences (%d of %d; "
                               "PIC_REWARD_CASES_VERBOSE=1 lists the others)", R.agreed, R.total);
    return check_done();
}
