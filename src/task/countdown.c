/* Countdown generation (countdown.h): draw the numbers, then combine random
 * pairs with a random operation until one value is left, as a player would;
 * that value is the target and the combination its witness. Every
 * intermediate result is a positive integer (the TV game's rule), so the
 * witness's steps read as whole-number arithmetic. */
#include "countdown.h"

#include <stdio.h>
#include <string.h>

/* Intermediate results stay below this, so a product of two fits a long. */
enum { VALUE_CAP = 1000000, MAX_DRAWS = 10000 };

typedef struct {
    long value;
    int prec; /* 0 a number, 1 a sum or difference, 2 a product or quotient */
    char text[256];
} item;

/* Level 1 is the smallest with room for held-out problems: three numbers
 * from 1..10 make only about 2,900 distinct problems (numbers and target),
 * which 24,576 SFT examples exhaust; from 1..20, about 15,000. Level 5 is
 * TinyZero's generator's default (6 numbers from 1..100, targets to 1000). */
countdown_level countdown_level_at(int difficulty) {
    static const countdown_level levels[5] = {
        {3, 20, 100}, {4, 20, 200}, {4, 50, 500}, {5, 50, 500}, {6, 100, 1000}};
    return levels[difficulty < 1 ? 0 : difficulty > 5 ? 4 : difficulty - 1];
}

static int prec_of(char op) { return op == '+' || op == '-' ? 1 : 2; }

/* a op b as text with only the parentheses the grammar needs. */
static void combine_text(char *out, size_t cap, const item *a, char op, const item *b) {
    int p = prec_of(op);
    bool pa = a->prec && a->prec < p;
    bool pb = b->prec && (b->prec < p || (b->prec == p && (op == '-' || op == '/')));
    snprintf(out, cap, "%s%s%s %c %s%s%s", pa ? "(" : "", a->text, pa ? ")" : "", op, pb ? "(" : "",
             b->text, pb ? ")" : "");
}

/* One random combination of the numbers; false when it leaves the level. */
static bool draw(countdown *c, const countdown_level *lv, pic_rng *r) {
    item items[COUNTDOWN_MAX_NUMBERS];
    int n = lv->count;
    c->count = n;
    for (int i = 0; i < n; i++) {
        c->numbers[i] = 1 + (long)pic_rng_below(r, (uint64_t)lv->max_number);
        items[i] = (item){c->numbers[i], 0, ""};
        snprintf(items[i].text, sizeof items[i].text, "%ld", c->numbers[i]);
    }
    size_t sl = 0;
    c->solution[0] = 0;
    while (n > 1) {
        int i = (int)pic_rng_below(r, (uint64_t)n), j = (int)pic_rng_below(r, (uint64_t)(n - 1));
        if (j >= i) j++;
        long a = items[i].value, b = items[j].value;
        char ops[4];
        long res[4];
        int nops = 0;
        if (a + b <= VALUE_CAP) ops[nops] = '+', res[nops++] = a + b;
        if (a > b) ops[nops] = '-', res[nops++] = a - b;
        if (a * b <= VALUE_CAP) ops[nops] = '*', res[nops++] = a * b;
        if (b > 1 && a % b == 0) ops[nops] = '/', res[nops++] = a / b;
        if (nops == 0) return false;
        int k = (int)pic_rng_below(r, (uint64_t)nops);
        item m = {res[k], prec_of(ops[k]), ""};
        combine_text(m.text, sizeof m.text, &items[i], ops[k], &items[j]);
        sl += (size_t)snprintf(c->solution + sl, sizeof c->solution - sl, "%ld %c %ld = %ld, ", a, ops[k], b,
                               res[k]);
        /* the result takes i's place, the last item fills j's */
        items[i] = m;
        items[j] = items[n - 1];
        n--;
    }
    c->target = items[0].value;
    if (c->target < 1 || c->target > lv->max_target) return false;
    snprintf(c->witness, sizeof c->witness, "%s", items[0].text);
    if (sl >= 2) sl -= 2; /* the last ", " */
    snprintf(c->solution + sl, sizeof c->solution - sl, ". \\boxed{%s}", c->witness);
    return true;
}

bool countdown_make(countdown *c, const countdown_level *lv, pic_rng *r) {
    for (int t = 0; t < MAX_DRAWS; t++) {
        if (!draw(c, lv, r)) continue;
        size_t pl = (size_t)snprintf(c->problem, sizeof c->problem, "Using the numbers ");
        for (int i = 0; i < c->count; i++)
            pl += (size_t)snprintf(c->problem + pl, sizeof c->problem - pl, "%s%ld", i ? ", " : "", c->numbers[i]);
        snprintf(c->problem + pl, sizeof c->problem - pl,
                 ", each exactly once, and + - * / with parentheses, make %ld.", c->target);
        return true;
    }
    return false;
}
