/* Unit tests of pic-eval's arithmetic (src/eval/metrics.c): the unbiased
 * pass@k against exact binomial coefficients, its behaviour at large n, and
 * the reflective-word counter. */
#include <math.h>
#include <string.h>

#include "../unit/check.h"
#include "eval/metrics.h"

/* C(n, k) exactly, for the small n where it fits in 64 bits. */
static unsigned long long binom(unsigned n, unsigned k) {
    if (k > n) return 0;
    unsigned long long r = 1;
    for (unsigned i = 1; i <= k; i++) r = r * (n - k + i) / i; /* exact at each step */
    return r;
}

static void test_pass_at_k(void) {
    int bad = 0, cases = 0;
    for (unsigned n = 1; n <= 30; n++)
        for (unsigned c = 0; c <= n; c++)
            for (unsigned k = 1; k <= n; k++) {
                double want = 1.0 - (double)binom(n - c, k) / (double)binom(n, k);
                double got = pic_pass_at_k(n, c, k);
                cases++;
                if (fabs(got - want) > 1e-13) bad++;
            }
    CHECK(bad == 0, "pass@k = 1 - C(n-c,k)/C(n,k) for all n <= 30 (%d cases, %d off)", cases, bad);
    /* By hand: n = 4, c = 1, k = 2: 1 - C(3,2)/C(4,2) = 1 - 3/6 = 0.5. */
    CHECK(pic_pass_at_k(4, 1, 2) == 0.5, "n=4 c=1 k=2 is 0.5");
    CHECK_NEAR(pic_pass_at_k(8, 3, 1), 3.0 / 8, 1e-15, "pass@1 is c/n");
    CHECK(pic_pass_at_k(8, 0, 4) == 0 && pic_pass_at_k(8, 8, 4) == 1, "no / all correct");
    CHECK(pic_pass_at_k(8, 5, 4) == 1, "fewer than k wrong: 1");
    CHECK(isnan(pic_pass_at_k(4, 1, 5)), "k > n: no unbiased estimate");
    CHECK(isnan(pic_pass_at_k(4, 1, 0)) && isnan(pic_pass_at_k(4, 5, 1)) &&
              isnan(pic_pass_at_k(4, -1, 1)),
          "k < 1 or c outside [0, n]: NaN");
    /* Large n, where C(n, k) overflows any float: compare with lgamma. */
    long long n = 1000000, c = 37, k = 5000;
    double logq = lgamma(n - c + 1.0) - lgamma(n - c - k + 1.0) - lgamma(n + 1.0) + lgamma(n - k + 1.0);
    double got = pic_pass_at_k(n, c, k);
    CHECK(isfinite(got) && got > 0 && got < 1, "n = 1e6 stays finite (%.17g)", got);
    /* lgamma(1e6) ~ 1.3e7 carries ~1e-9 absolute error of its own, which is
     * why the product form is used; a long double product is the reference. */
    CHECK_NEAR(1 - got, exp(logq), 1e-7, "n = 1e6 agrees with the log-gamma form");
    long double ref = 1;
    for (long long j = 0; j < k; j++) ref *= (long double)(n - c - j) / (long double)(n - j);
    CHECK_NEAR(1 - got, (double)ref, 1e-12, "n = 1e6 matches a long double product");
    CHECK_NEAR(pic_pass_at_k(n, 500000, 3), 1 - 0.125 * (1 - 1e-6), 1e-6, "half correct, k = 3");
    /* Tiny probabilities survive to the last digits, not only to 1e-9 of
     * their size: 1 - q where q is near 1 cancels, -expm1(log q) does not. */
    CHECK(fabs(pic_pass_at_k(n, 1, 1) / 1e-6 - 1) < 4e-16, "1 in a million: %.17g", pic_pass_at_k(n, 1, 1));
    int off = 0;
    for (long long nn = 1000; nn <= 100000000; nn *= 10)
        for (long long cc = 1; cc <= 7; cc += 3)
            if (fabs(pic_pass_at_k(nn, cc, 1) / ((double)cc / (double)nn) - 1) > 4e-16) off++;
    CHECK(off == 0, "pass@1 is c/n to the last digits up to n = 1e8 (%d off)", off);
    /* 1 - C(n-1, k)/C(n, k) = k/n exactly: one correct sample, c < k form. */
    CHECK(fabs(pic_pass_at_k(10000000, 1, 3) / 3e-7 - 1) < 1e-15, "one correct in 1e7, k = 3");
    /* c <= k form with several factors: 1 - (1 - k/n)(1 - k/(n-1)), near 2k/n. */
    long double a = 3.0L / 10000000, b = 3.0L / 9999999;
    CHECK(fabs(pic_pass_at_k(10000000, 2, 3) / (double)(a + b - a * b) - 1) < 1e-15, "two correct in 1e7, k = 3");
}

static size_t count(const char *text, const char *w) { return pic_count_phrase(text, strlen(text), w); }

static void test_reflect(void) {
    CHECK(count("Wait, that is wrong. wait.", "wait") == 2, "case-insensitive, punctuation bounds");
    CHECK(count("awaited waiting await", "wait") == 0, "word boundaries");
    CHECK(count("Let's\n  reconsider: let\xe2\x80\x99s reconsider", "let's reconsider") == 2,
          "whitespace runs and the typographic apostrophe");
    /* Python's \s in a str pattern: "let's\u00a0reconsider", "let me\u202freconsider",
     * "on\u2009second\u3000thought"; U+200B (zero width) is no space to it */
    CHECK(count("let's\xc2\xa0reconsider let me\xe2\x80\xafreconsider", "let's reconsider") == 1 &&
              count("let me\xe2\x80\xafreconsider", "let me reconsider") == 1 &&
              count("On\xe2\x80\x89second\xe3\x80\x80 thought", "on second thought") == 1 &&
              count("on\xe2\x80\x8bsecond thought", "on second thought") == 0,
          "a phrase's space matches Unicode whitespace, as Python's \\s");
    /* "wait\u1680", "\u0085wait": the Ogham space mark and C1 controls are no \w either */
    CHECK(count("wait\xe1\x9a\x80 \xc2\x85wait", "wait") == 2, "Unicode spaces and C1 controls bound a word");
    CHECK(count("\xe2\x80\x9cWait\xe2\x80\x9d", "wait") == 1, "curly quotes are punctuation");
    CHECK(count("caf\xc3\xa9wait wait\xc3\xa9", "wait") == 0, "UTF-8 letters are word bytes");
    /* as Python's \b: "5\u3002Wait\uff0c", "\u00a0wait\u00a0", "\u00abhmm\u00bb", "\u00bfwait?" */
    CHECK(count("5\xe3\x80\x82Wait\xef\xbc\x8c \xc2\xa0wait\xc2\xa0 \xc2\xabwait\xc2\xbb \xc2\xbfwait?", "wait") == 4,
          "CJK, fullwidth and Latin-1 punctuation and spaces bound a word");
    CHECK(count("\xe6\x89\x80wait \xc2\xb5wait wait\xc2\xb2", "wait") == 0,
          "CJK letters, the micro sign and a superscript digit are word characters");
    /* symbols are no \w to Python either: "Hmm\U0001F914", "\u2234wait", "x\u2192wait\u2260",
     * "\u2713Wait\u2605", "\u20acwait" (an emoji, math, arrows, a check mark, currency) */
    CHECK(count("Hmm\xf0\x9f\xa4\x94 \xe2\x88\xb4hmm x\xe2\x86\x92hmm\xe2\x89\xa0 \xe2\x9c\x93Hmm\xe2\x98\x85 "
                "\xe2\x82\xachmm",
                "hmm") == 5,
          "emoji, mathematical, arrow, dingbat and currency symbols bound a word");
    /* but the enclosed and dingbat digits are \w (str.isalnum): "\u2460wait", "wait\u2776", "\U0001F101wait" */
    CHECK(count("\xe2\x91\xa0wait wait\xe2\x9d\xb6 \xf0\x9f\x84\x81wait", "wait") == 0,
          "circled and dingbat digits are word characters");
    CHECK(count("re-examine re examine", "re-examine") == 1, "hyphen is literal");
    CHECK(count("hmmm hmm", "hmm") == 1, "whole words only");
    CHECK(count("wait_ _wait wait_1 wait", "wait") == 1, "'_' is a word character, as Python's \\w");
    CHECK(count("", "wait") == 0 && count("wait", "") == 0, "empty text or word");

    pic_wordlist w;
    char err[128];
    CHECK(pic_wordlist_parse(" Wait ,Let's   Reconsider\n\n# note\nhmm\n", &w, err, sizeof err) == 0,
          "parse a list");
    CHECK(w.n == 3 && !strcmp(w.words[0], "wait") && !strcmp(w.words[1], "let's reconsider") &&
              !strcmp(w.words[2], "hmm"),
          "lowercased, whitespace collapsed, comments and blank lines dropped");
    pic_wordlist_free(&w);
    CHECK(pic_wordlist_parse("", &w, err, sizeof err) == 0 && w.n == 0, "empty list is valid");
    const char *empty_item[] = {",", "wait,,hmm", "wait,", " ,wait", "wait, # x"};
    for (size_t k = 0; k < sizeof empty_item / sizeof *empty_item; k++)
        CHECK(pic_wordlist_parse(empty_item[k], &w, err, sizeof err) == -1 && strstr(err, "empty word"),
              "an empty item is an error: '%s'", empty_item[k]);
    CHECK(pic_wordlist_parse("wait,-x", &w, err, sizeof err) == -1, "a word must start with a letter");
    const char *twice[] = {"wait,Wait", "let's reconsider,Let's   reconsider"};
    for (size_t k = 0; k < sizeof twice / sizeof *twice; k++)
        CHECK(pic_wordlist_parse(twice[k], &w, err, sizeof err) == -1 && strstr(err, "given twice"),
              "a word given twice is an error: '%s'", twice[k]);
    int rc = pic_wordlist_parse(pic_reflect_default, &w, err, sizeof err);
    CHECK(rc == 0 && w.n == 9, "the default list parses (%zu words)", w.n);
    pic_wordlist_free(&w);
}

static void test_width(void) {
    CHECK(pic_display_width("") == 0 && pic_display_width("aime24") == 6, "ASCII: one column a byte");
    CHECK(pic_display_width("\xe6\x95\xb0\xe5\xad\xa6") == 4, "CJK: two columns a character (6 bytes)");
    CHECK(pic_display_width("caf\xc3\xa9") == 4, "Latin-1 letter: one column (2 bytes)");
    CHECK(pic_display_width("cafe\xcc\x81") == 4, "a combining accent takes no column");
    CHECK(pic_display_width("\xed\x95\x9c") == 2, "Hangul syllable: two");
    CHECK(pic_display_width("\xf0\x9f\x98\x80") == 2, "emoji: two");
    CHECK(pic_display_width("a\xff\xc3") == 3, "malformed bytes: one column each");
}

int main(void) {
    test_pass_at_k();
    test_reflect();
    test_width();
    return check_done();
}
