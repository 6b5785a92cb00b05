/* Problem generators: operand sizes grow with difficulty; every answer is an
 * integer, so the verifier's exact path decides correctness. */
#include "task.h"

#include <stdio.h>

const char *const task_kind_names[TASK_KINDS] = {"add", "sub", "mul", "div", "eq"};

unsigned task_kinds_at(int difficulty) {
    unsigned k = 1u << TASK_ADD | 1u << TASK_SUB;
    if (difficulty >= 2) k |= 1u << TASK_MUL;
    if (difficulty >= 3) k |= 1u << TASK_EQ;
    if (difficulty >= 4) k |= 1u << TASK_DIV;
    return k;
}

/* An integer with the given number of digits (1 digit: 0..9). */
static long digits(pic_rng *r, int n) {
    long lo = 1, hi = 10;
    for (int i = 1; i < n; i++) lo *= 10, hi *= 10;
    if (n == 1) lo = 0;
    return lo + (long)pic_rng_below(r, (uint64_t)(hi - lo));
}

static int clampi(int x, int lo, int hi) { return x < lo ? lo : x > hi ? hi : x; }

void task_make(task *t, task_kind kind, int d, pic_rng *r) {
    long a, b, x, ans;
    t->kind = kind;
    switch (kind) {
    case TASK_ADD:
        a = digits(r, d), b = digits(r, d), ans = a + b;
        snprintf(t->problem, sizeof t->problem, "What is %ld + %ld?", a, b);
        snprintf(t->solution, sizeof t->solution, "%ld + %ld = %ld. \\boxed{%ld}", a, b, ans, ans);
        break;
    case TASK_SUB:
        a = digits(r, d), b = digits(r, d);
        /* Below difficulty 3 results stay non-negative. */
        if (d < 3 && b > a) x = a, a = b, b = x;
        ans = a - b;
        snprintf(t->problem, sizeof t->problem, "What is %ld - %ld?", a, b);
        snprintf(t->solution, sizeof t->solution, "%ld - %ld = %ld. \\boxed{%ld}", a, b, ans, ans);
        break;
    case TASK_MUL:
        a = digits(r, clampi(d - 1, 1, 3)), b = digits(r, clampi(d - 2, 1, 2)), ans = a * b;
        snprintf(t->problem, sizeof t->problem, "What is %ld * %ld?", a, b);
        snprintf(t->solution, sizeof t->solution, "%ld * %ld = %ld. \\boxed{%ld}", a, b, ans, ans);
        break;
    case TASK_DIV:
        b = 2 + (long)pic_rng_below(r, 8), ans = digits(r, clampi(d - 2, 1, 3)), a = ans * b;
        snprintf(t->problem, sizeof t->problem, "What is %ld / %ld?", a, b);
        snprintf(t->solution, sizeof t->solution, "%ld / %ld = %ld. \\boxed{%ld}", a, b, ans, ans);
        break;
    case TASK_EQ:
    default: {
        /* a*x + b = c with an integer root x. */
        a = 2 + (long)pic_rng_below(r, d >= 4 ? 18 : 8);
        x = digits(r, clampi(d - 2, 1, 2));
        if (d >= 4 && pic_rng_below(r, 2)) x = -x;
        b = digits(r, clampi(d - 1, 1, 3));
        long c = a * x + b;
        ans = x;
        snprintf(t->problem, sizeof t->problem, "Solve for x: %ldx + %ld = %ld.", a, b, c);
        snprintf(t->solution, sizeof t->solution,
                 "%ldx = %ld - %ld = %ld, so x = %ld / %ld = %ld. \\boxed{%ld}", a, c, b, c - b,
                 c - b, a, x, x);
        break;
    }
    }
    snprintf(t->answer, sizeof t->answer, "%ld", ans);
}
