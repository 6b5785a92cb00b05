/* Unit tests of pic-reward's library: equivalence rules, extraction, and the
 * bounds (huge exponents, deep nesting, 10 MB responses, bad bytes). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "reward/choice.h"
#include "reward/parse.h"
#include "reward/reward.h"
#include "reward/units.h"

static rw_checker C;

static int verdict(const char *gold, const char *pred) {
    rw_opts o = rw_default_opts();
    o.pred.whole_first = true;
    rw_result r;
    rw_check(&C, gold, strlen(gold), pred, strlen(pred), &o, &r);
    return r.correct;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void equal(const char *g, const char *p, int want) {
    CHECK(verdict(g, p) == want, "%s %s %s", g, want ? "==" : "!=", p);
}

/* A response (not a bare answer) under Math-Verify's extraction targets:
 * LaTeX and/or plain expressions. */
static void response(const char *g, const char *resp, bool latex, bool plain, int want) {
    rw_opts o = rw_default_opts();
    o.pred.latex = o.gold.latex = latex;
    o.pred.plain = o.gold.plain = plain;
    rw_result r;
    rw_check(&C, g, strlen(g), resp, strlen(resp), &o, &r);
    char shown[256]; /* one TAP line: newlines shown as spaces */
    snprintf(shown, sizeof shown, "%s", resp);
    for (char *c = shown; *c; c++)
        if (*c == '\n') *c = ' ';
    CHECK(r.correct == want, "response [%s] %s %s (extracted [%s])", shown, want ? "==" : "!=", g,
          r.pred.text ? r.pred.text : "-");
}

static void parses(const char *s, bool want) {
    rw_arena_reset(&C.arena);
    const char *err;
    node *t = rw_parse(&C.arena, s, strlen(s), &err);
    CHECK((t != NULL) == want, "%s %s (%s)", s, want ? "parses" : "is rejected", err ? err : "ok");
}

static void choice_is(const char *s, rw_choice_kind want_kind, char want) {
    char l = 0;
    rw_choice_kind k = rw_choice(s, strlen(s), &l);
    char shown[128]; /* one TAP line */
    snprintf(shown, sizeof shown, "%s", s);
    for (char *c = shown; *c; c++)
        if (*c == '\n') *c = ' ';
    CHECK(k == want_kind && (k == RW_CHOICE_NONE || l == want), "choice in [%s] is %c (kind %d, got %c kind %d)", shown,
          want ? want : '-', want_kind, l ? l : '-', k);
}

/* choice.c: the letter extraction's priorities, and which golds are choices */
static void choices(void) {
    choice_is("The final answer is B. I hope it is correct. A", RW_CHOICE_ANCHORED, 'B');
    choice_is("Answer: D, not A", RW_CHOICE_ANCHORED, 'D');
    choice_is("answer: (C) and the answer is B", RW_CHOICE_ANCHORED, 'C'); /* the colon ranks first */
    choice_is("C is wrong\nB is right", RW_CHOICE_ANCHORED, 'C');
    choice_is("it is not A, so it is B", RW_CHOICE_LOOSE, 'B');
    choice_is("Apples and Bananas", RW_CHOICE_NONE, 0);
    choice_is("(F) is not a choice", RW_CHOICE_NONE, 0);
    char l = 0;
    CHECK(rw_choice_gold("(A) 5", 5, &l) && l == 'A', "(A) 5 is the choice A");
    CHECK(rw_choice_gold("C Cecile", 8, &l) && l == 'C', "C Cecile is the choice C");
    CHECK(!rw_choice_gold("A 5", 3, &l), "A 5 is math, not a choice");
    CHECK(!rw_choice_gold("\\frac{1}{2}", 10, &l), "LaTeX is not a choice");
    /* MATH's choices: a text command around the letter */
    CHECK(rw_choice_gold("\\text{(C)}", 10, &l) && l == 'C', "\\text{(C)} is the choice C");
    CHECK(rw_choice_gold("\\mathrm{E}", 10, &l) && l == 'E', "\\mathrm{E} is the choice E");
    CHECK(rw_choice_gold("\\textbf{(B) }12", 15, &l) && l == 'B', "\\textbf{(B) }12 is the choice B");
    CHECK(!rw_choice_gold("\\text{(A) and (C)}", 18, &l), "\\text{(A) and (C)} lists two letters");
    CHECK(!rw_choice_gold("\\text{Devon}", 12, &l), "\\text{Devon} is a word");
    CHECK(!rw_choice_gold("A, D, F, G, H", 13, &l), "A, D, F, G, H lists letters, some past E");
    CHECK(!rw_choice_gold("\\text{A, D, F, G, H}", 20, &l), "\\text{A, D, F, G, H} lists letters");
    CHECK(rw_choice_boxed("\\textbf{(B)}\\ 7", 15, &l) && l == 'B', "\\textbf{(B)} 7 in a box is B");
    CHECK(!rw_choice_boxed("Bx", 2, &l), "Bx in a box is no letter");
}

/* rw_strip_units keeps t[0, want): Math-Verify's two unit rules. */
static void strips(const char *t, const char *want) {
    size_t n = rw_strip_units(t, strlen(t), false);
    CHECK(n == strlen(want) && memcmp(t, want, n) == 0, "units of [%s] leave [%.*s], want [%s]", t, (int)n, t, want);
}

static void units(void) {
    strips("5 apples", "5");
    strips("12 \\text{ apples}", "12");
    /* "\\[ 12 \\text{ apples} \\]": the environment's padding keeps the \\text */
    CHECK(rw_strip_units("12 \\text{ apples}", 17, true) == 17, "a padded \\text stays");
    CHECK(rw_strip_units("12 cm", 5, true) == 2, "a padded unit word goes");
    strips("6 \\text{ cm}^2", "6");
    strips("4 square feet", "4");       /* twice: "feet", then "square" */
    strips("2h", "2");                  /* after a digit */
    strips("\\frac{1}{2}t", "\\frac{1}{2}"); /* after a '}' */
    strips("xt", "xt");                 /* after a letter: a name */
    strips("5 dollars", "5 dollars");   /* not in the list */
    strips("\\text{5 cm}", "\\text{5 cm}"); /* would vanish: kept */
    strips("cm", "cm");
    strips("p = -1 \\text{ and } p = 2", "p = -1 \\text{ and } p = 2"); /* \\text{and} is a comma first */
    strips("x \\text{ if } x > 0", "x \\text{ if } x > 0"); /* no '}' at the end */
    strips("3 m, 4 m", "3 m, 4");        /* only the end */
}

int main(void) {
    rw_checker_init(&C);
    units();
    /* exact rationals, decimals, rounding */
    equal("\\frac{1}{2}", "0.5", 1);
    equal("\\frac{1}{3}", "0.333333", 1);
    equal("\\frac{1}{3}", "0.333", 0);
    equal("1000", "1,000", 1);
    equal("\\dfrac{10}{9}", "10/9", 1);
    equal("3\\frac{1}{2}", "\\frac{7}{2}", 1);
    equal("-3\\frac{1}{2}", "-3.5", 1);
    equal("2^{10}", "1024", 1);
    /* irrationals and variables */
    equal("\\sqrt{8}", "2\\sqrt{2}", 1);
    equal("\\sqrt[3]{27}", "3", 1);
    equal("1 - \\frac{1}{e}", "1 + \\frac{1}{e}", 0);
    equal("\\frac{x+2}{7}", "\\frac{x}{7}+\\frac{2}{7}", 1);
    equal("\\tan^2(y)+1", "\\sec^2(y)", 1);
    equal("|x|", "x", 0);
    equal("\\pi", "3.14159", 0);
    /* structures */
    equal("(1, 2)", "(2, 1)", 0);
    equal("\\{1, 2\\}", "\\{2, 1\\}", 1);
    equal("[0, 1)", "[0, 1]", 0);
    equal("3 \\pm 2\\sqrt{2}", "\\{3 - 2\\sqrt{2}, 3 + 2\\sqrt{2}\\}", 1);
    equal("x = 3", "3", 1);
    equal("x \\geq 5", "5 \\leq x", 1);
    equal("x > 5", "x < 5", 0);
    equal("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", 1);
    equal("\\text{Evelyn}", "\\text{evelyn}", 1);
    equal("28\\%", "0.28", 1);
    /* extraction */
    equal("9", "so the answer is \\boxed{9}.", 1);
    equal("9", "<think>\\boxed{9}</think> the answer is \\boxed{8}", 0);
    equal("9", "The final answer is $9$. I hope it is correct.", 1);
    equal("9", "<think>still thinking \\boxed{9}", 0);
    response("1000.99", "it costs $1,000.99", false, true, 1); /* money, not math */
    response("1000.99", "it costs $1,000.99", true, true, 1);
    response("10/9", "so it is \\frac{10}{9}", true, true, 1); /* a bare \frac of numbers */
    response("9", "Answer $ \n 9 \n $", true, false, 0); /* no inline math across lines */
    response("14916", "The final answer is $14 {, }916$. I hope it is correct.", true, false, 1);
    response("0.2", "or $\\boxed{20}$ percent.", true, true, 1);
    /* 20% against 20: unequal values, but the box's fallback string is "20",
     * without the percent word after the environment, and verify compares
     * the fallback strings too */
    response("20", "or $\\boxed{20}$ Percent.", true, true, 1);
    response("21", "or $\\boxed{20}$ Percent.", true, true, 0);
    response("-1", "\\boxed{W(n) = 1 \\text{ and } W(n) = -1", true, true, 1); /* unclosed box */
    equal("0", "So the os then when we 9/3 we get 8 so the answer is 0", 1); /* prose is not math */

    /* latex2sympy's notation */
    equal("x", "\\variable{x}", 1);
    equal("x_{i,j}", "\\variable{x_{i,j}}", 1);
    parses("\\variable{x_yz}", false);
    parses("\\variable{\\sin xy}", false);
    parses("a\\%", false);
    parses("5\\%", true);
    equal("\\frac{x}{100}", "\\variable{x}\\%", 1);
    equal("|x|", "\\left\\vertx\\right\\vert", 1); /* a command glued to a letter */
    equal("2", "\\ulcorner 1.1\\urcorner", 1);
    equal("1", "\\llcorner 1.9\\lrcorner", 1);
    equal("x_{23}^{2}", "x^2_{23}", 1);
    equal("\\lambda_{23}", "lambda_{23}", 1); /* SymPy prints some Greek names bare */
    equal("bar{x}_n", "\\overline{x}_n", 1);
    equal("10^{300}", "10^300", 1);
    equal("\\frac{1}{2x}", "1/2x", 1); /* juxtaposition binds tighter than / */
    equal("14916", "14{,}916", 1);
    equal("\\infty", "\\infty\\%", 1);
    equal("-3", "\\{1+2\\}\\{3-4\\}", 1);
    equal("a + i b", "a+Ib", 1);
    /* a text command around i or e names the letter (latex2sympy) */
    equal("i", "\\textbf{i}", 1);
    equal("e", "\\text{e}", 1);
    equal("e", "\\textbf{i}", 0);
    /* a complex exponent: the principal value */
    equal("-1", "e^{I\\pi}", 1);
    equal("1", "e^{I\\pi}", 0);
    equal("i", "e^{\\frac{I\\pi}{2}}", 1);
    equal("e^{-\\frac{\\pi}{2}}", "I^{I}", 1);
    /* nested bars: |(|x| |y|)|, as latex2sympy's grammar reads them */
    equal("\\left|{x}\\right| \\left|{y}\\right|", "||x||y||", 1);
    equal("\\left|{x}\\right|", "||x||y||", 0);
    equal("|x| y |z|", "|x|y|z|", 1);
    parses("||x|", false);
    equal("1 - f{\\left(x \\right)}", "1-f(x)", 1);
    parses("\\boxed{ p = 5, q = 2 \\quad ; \\quad p = 7, q = 2}", true);
    equal("x^{\\frac{3}{2}}", "x\\sqrt{x}", 1); /* also for negative x */
    /* a decimal meets an irrational: both rounded, as Math-Verify */
    equal("\\pi", "3.141593", 1);
    equal("2.60000000000000014551500593823 \\cdot 10^{-31}", "1E-32 * (1E29\\mod 74)", 1);

    /* operations on finite sets are computed */
    equal("\\left\\{2, 4\\right\\} \\cap \\left(\\left\\{1, 2\\right\\} \\cap \\left\\{2, 3\\right\\}\\right)",
          "{1,2} \\cap {2,3} \\cap {2,4}", 1);
    equal("\\{1, 2, 3\\}", "\\{1,2\\} \\cup \\{2,3\\}", 1);
    equal("\\{1, 3\\}", "\\{1,2\\} \\setminus \\{2,3\\}", 0);

    /* gcd and lcm, numeric and symbolic (SymPy's answers) */
    equal("\\frac{6}{5}", "\\gcd(2.4, 3.6)", 1);
    equal("618", "\\lcm(-1.5, 618)", 1);
    equal("25", "\\gcd(125, 50x)", 1);
    equal("250 x", "\\operatorname{lcm}(125, 50x)", 1);
    equal("1", "\\gcd(a, b)", 1);
    equal("a", "\\gcd(a, b)", 0);
    equal("- x y", "\\lcm(y, -x)", 1);
    equal("\\sqrt{10}", "\\operatorname{lcm}(\\sqrt{5}, \\sqrt{2})", 1);
    equal("4 x^{\\frac{3}{2}} + 304 \\sqrt{x}", "\\lcm(x + 76, \\sqrt{x} * 4)", 1);
    equal("0.5 x + y", "y + \\lcm(0.4x, 8/3) / 2", 1); /* a decimal: monic */

    /* integrals and limits, part by part */
    equal("\\int x\\, dx", "\\int x dx", 1);
    equal("\\int x\\, dx", "\\int x^2 dx", 0);
    equal("\\int x\\, dx", "\\int_0^1 x dx", 0);
    equal("\\int x\\, dx", "\\int x dy", 0);
    equal("\\int x\\, dx", "\\int_{ }^{} \\left(x dx\\right)", 1);
    equal("\\int \\frac{1}{z}\\, dz", "\\int \\frac{dz}{z}", 1);
    equal("\\int \\left(a + x\\right)\\, dx", "\\int (x+a)", 1); /* no differential: dx */
    equal("\\int \\left(a + x\\right)\\, da", "\\int (x+a)", 0);
    equal("\\int \\left(\\frac{1}{b} + \\frac{1}{a}\\right)\\, dx", "\\int \\frac{1}{a} + \\frac{1}{b} dx", 1);
    equal("\\lim_{x \\to 3^+} a", "\\lim_{x \\rightarrow 3} a", 1);
    equal("\\lim_{x \\to 3^-} a", "\\lim_{x \\to 3^{+}} a", 0);
    equal("\\lim_{x \\to \\infty}\\left(1 \\frac{1}{x}\\right)", "\\lim_{x \\to \\infty} x^{-1}", 1);
    equal("\\lim_{x \\to \\infty} x", "\\lim_{x \\to 0} x", 0);
    equal("\\sum_{k=1}^{10} k^{2}", "\\sum_{k = 1}^{10} k^2", 1);

    /* bounds: each of these must answer quickly */
    const char *huge[][2] = {
        {"2^{10^{100}}", "2^{10^{100}}"},      {"10^{10^{10}}", "10^{10^{10}}+1"},
        {"(10^{100})!", "1"},                 {"9^{9^{9^{9}}}", "9^{9^{9^{9}}}"},
        {"\\binom{10^{9}}{5}", "1"},          {"1E99999", "1E99999"},
        {"x", "\\lcm((((x^{64})^{64})^{64})^{64}, x)"}, {"1", "\\gcd(2^{10^{9}}, 3x)"},
        {"\\int x dx", "\\int \\int \\int \\int x dx dx dx dx"},
        {"\\sin(x^{10^7})", "\\sin(x^{10^7}+1)"}, {"e^{I x^{10^7}}", "1"},
        {"\\cos(10^{10^6})", "1"},
    };
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        double t0 = now();
        int v = verdict(huge[i][0], huge[i][1]);
        double dt = now() - t0;
        CHECK(dt < 0.05, "%s vs %s: verdict %d in %.3f ms", huge[i][0], huge[i][1], v, dt * 1e3);
    }
    /* nested sums would be 10^12 terms: one comparison's term budget stops
     * them (a loose bound: this is about ending, under sanitizers too) */
    double t1 = now();
    int nested = verdict("1", "\\sum_{i=1}^{10000}\\sum_{j=1}^{10000}\\sum_{k=1}^{10000} 1");
    CHECK(nested == 0 && now() - t1 < 2.0, "nested sums of 10^12 terms: verdict %d in %.0f ms", nested,
          (now() - t1) * 1e3);
    CHECK(verdict("50005000", "\\sum_{k=1}^{10000} k") == 1, "a sum of 10^4 terms within the budget");
    CHECK(verdict("2^{10^{100}}", "2^{10^{100}}") == 1, "a huge power equals itself (by structure)");
    CHECK(verdict("10^{10^{10}}", "10^{10^{10}}+1") == 0, "a huge power is not declared equal to its successor");
    /* below the exponent range a value is undefined, not the 0 MPFR rounds
     * it to: x^{10^9} overflows at |x| > 2.1 and underflowed to 0 on both
     * sides at |x| < 1, so every point of x's agreed */
    equal("x^{10^9}", "2x^{10^9}", 0);
    equal("x^{10^9}", "x^{10^9+1}", 0);
    equal("x^{-10^9}", "2x^{-10^9}", 0);
    equal("0", "e^{-10^{10}}", 0);
    equal("1", "1+e^{-10^{10}}", 0);
    equal("x^{10^9}", "x^{10^9}", 1); /* by structure */
    /* nor is a sum that lost a term: at the points left, x^{3 \cdot 10^8}
     * is too large for the 1 to change it */
    equal("x^{3\\cdot 10^8}", "x^{3\\cdot 10^8}+1", 0);
    /* a periodic function of a real with no bits left below its point is
     * undefined: its value would be noise, the same for 10^{100} and
     * 10^{100}+1 */
    equal("\\sin(10^{100})", "\\sin(10^{100}+1)", 0);
    equal("\\sin(10^{30})", "-\\sin(-10^{30})", 1);

    size_t big = 10u << 20;
    char *s = malloc(big + 64);
    /* 10 MB response ending in an answer */
    memset(s, 'a', big);
    strcpy(s + big, " \\boxed{42}");
    rw_opts o = rw_default_opts();
    rw_result r;
    double t0 = now();
    rw_check(&C, "42", 2, s, strlen(s), &o, &r);
    CHECK(r.correct, "10 MB response: answer found (%.0f ms)", (now() - t0) * 1e3);
    /* 10^5 nested braces, open and balanced */
    size_t nb = 100000;
    for (size_t i = 0; i < nb; i++) s[i] = '{';
    for (size_t i = 0; i < nb; i++) s[nb + i] = '}';
    s[2 * nb] = 0;
    t0 = now();
    rw_check(&C, "1", 1, s, 2 * nb, &o, &r);
    CHECK(!r.correct, "10^5 nested braces: a result, no crash (%.0f ms)", (now() - t0) * 1e3);
    memcpy(s, "\\boxed", 6);
    rw_check(&C, "1", 1, s, nb, &o, &r);
    CHECK(!r.correct, "\\boxed with 10^5 unclosed braces");
    for (size_t i = 0; i < 4000; i++) s[i] = "(["[i % 2];
    rw_arena_reset(&C.arena);
    /* the call first: a function's arguments have no order, and gcc read err
     * before rw_parse set it */
    const char *err = NULL;
    node *deep = rw_parse(&C.arena, s, 4000, &err);
    CHECK(deep == NULL, "4000 open brackets fail cleanly: %s", err ? err : "?");
    /* invalid UTF-8 and NUL bytes */
    const char bad[] = "\\boxed{\xff\xfe 1} \xc3 \0 \\boxed{2\0}";
    rw_check(&C, "2", 1, bad, sizeof bad - 1, &o, &r);
    CHECK(!r.correct || r.correct, "invalid UTF-8 and NUL: a verdict (%d)", r.correct);
    rw_arena_reset(&C.arena);
    CHECK(rw_parse(&C.arena, "1\0" "2", 3, &err) == NULL, "a NUL byte inside an answer is not math");
    free(s);

    /* regressions found by fuzzing: each must run clean (under ASan in make asan) */
    DIR *d = opendir("tests/fuzz/reward/regress");
    CHECK(d != NULL, "fuzz regressions directory");
    struct dirent *e;
    int nreg = 0;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "tests/fuzz/reward/regress/%s", e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        /* each text in a heap block of its own size, so that ASan sees a
         * read one past its end (the stack buffer's rest hid one) */
        char *all = malloc(n ? n : 1), *half = malloc(n - n / 2 ? n - n / 2 : 1);
        if (!all || !half) abort();
        memcpy(all, buf, n);
        memcpy(half, buf + n / 2, n - n / 2);
        rw_check(&C, all, n / 2, half, n - n / 2, &o, &r);
        rw_check(&C, "1", 1, all, n, &o, &r);
        rw_check(&C, "\\frac{1}{2}", 11, all, n, &o, &r);
        free(all);
        free(half);
        nreg++;
    }
    if (d) closedir(d);
    CHECK(nreg > 0, "%d fuzz regressions replayed", nreg);
    choices();
    /* a unit word ends an answer; one with a power ("cm^2", not in
     * latex2sympy's list) or inside an expression is letters */
    equal("6", "6 cm^2", 0);
    equal("12", "12 square units", 1);
    equal("3", "2m+1", 0);
    equal("2m+1", "2m + 1", 1);
    equal("3", "3 s, 4 s", 0);
    rw_checker_free(&C);
    return check_done();
}
