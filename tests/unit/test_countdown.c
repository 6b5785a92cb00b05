/* pic-reward --task countdown: verdicts from the definition (TinyZero's
 * countdown reward: each given number exactly once, + - * / and
 * parentheses, value equal to the target; here evaluated exactly), the
 * extraction order, the bounds, and the fuzzer's regressions. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "reward/countdown.h"

static const long long N3[] = {3, 5, 2};

static cd_verdict judge(const char *e, const long long *nums, int count, long long target) {
    return cd_judge(e, strlen(e), nums, count, target);
}

static void verdict_is(const char *e, long long target, cd_verdict want) {
    cd_verdict got = judge(e, N3, 3, target);
    CHECK(got == want, "[3,5,2] -> %lld: '%s' is %s (got %s)", target, e, cd_verdict_names[want],
          cd_verdict_names[got]);
}

/* A test point's name stays on one line. */
static const char *oneline(const char *s) {
    static char buf[4][256];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s", s);
    for (char *p = b; *p; p++)
        if (*p == '\n') *p = '|';
    return b;
}

static void extracts(const char *resp, const char *want, const char *how) {
    const char *t = NULL, *h = NULL;
    size_t len = 0;
    cd_opts o = {true, true};
    bool ok = cd_extract(resp, strlen(resp), &o, &t, &len, &h);
    if (!want) {
        CHECK(!ok, "nothing extracted from '%s'", oneline(resp));
        return;
    }
    CHECK(ok && len == strlen(want) && memcmp(t, want, len) == 0 && strcmp(h, how) == 0,
          "'%s' gives '%s' by %s (got '%.*s' by %s)", oneline(resp), oneline(want), how, ok ? (int)len : 0,
          ok ? t : "", ok ? h : "-");
}

int main(void) {
    /* each number exactly once, any order, any valid expression */
    verdict_is("(3 + 5) * 2", 16, CD_CORRECT);
    verdict_is("2*(5+3)", 16, CD_CORRECT);
    verdict_is("5 * 2 + 3", 13, CD_CORRECT);
    verdict_is("5 * (2 + 3)", 25, CD_CORRECT);
    verdict_is("3 - 5 - 2", -4, CD_CORRECT);           /* left-associative */
    verdict_is("3 - (5 - 2)", 0, CD_CORRECT);
    verdict_is("(5 + 3) / 2", 4, CD_CORRECT);
    verdict_is("5 / 2 * 3", 8, CD_WRONG_VALUE);         /* 7.5: exact, no rounding */
    verdict_is("(5 / 2 + 3) * 2", 11, CD_WRONG_NUMBERS); /* 2 used twice */
    verdict_is("-3 + 5 * 2", 7, CD_CORRECT);            /* unary minus, as Python's eval */
    verdict_is("3 * -5 + 2", -13, CD_CORRECT);
    verdict_is("+3 + 5 * 2", 13, CD_CORRECT);            /* unary plus too */
    verdict_is("(3 + 5) * 2 = +16", 16, CD_CORRECT);     /* and a claim's plus sign */
    verdict_is("3 + 5 + 2 = 10", 10, CD_CORRECT);        /* a claimed value that is the target */
    verdict_is("3 + 5 + 2 = 11", 10, CD_WRONG_VALUE);
    verdict_is("3 + 5 + 2 = 10", 11, CD_WRONG_VALUE);
    verdict_is("3 - 5 - 2 = -4", -4, CD_CORRECT);        /* a claim is signed, as the target */
    verdict_is("3 - 5 - 2 = 4", -4, CD_WRONG_VALUE);
    verdict_is("3 - 5 + 2 = -0", 0, CD_CORRECT);
    verdict_is("3 * 5 * 2 = 030", 30, CD_CORRECT);
    /* a literal with a leading zero is no Python integer (TinyZero's eval
     * raises SyntaxError: format_score, never the score); 0 and 00 are */
    verdict_is("03 + 5 + 2", 10, CD_UNPARSABLE);
    verdict_is("3 + 5 * 02", 13, CD_UNPARSABLE);
    {
        static const long long z[] = {0, 7};
        CHECK(judge("00 + 7", z, 2, 7) == CD_CORRECT, "00 is Python's 0");
        CHECK(judge("0 * 7", z, 2, 0) == CD_CORRECT, "0 is a number");
        CHECK(judge("007 + 0", z, 2, 7) == CD_UNPARSABLE, "007 is no Python integer");
    }
    /* a claim is read whole: beyond the cap of a given number's literal */
    {
        static const long long big[] = {50000, 40000};
        CHECK(judge("50000 * 40000 = 2000000000", big, 2, 2000000000LL) == CD_CORRECT,
              "a claim beyond 10^9 that is the target");
        static const long long edge[] = {1000000000, 1};
        CHECK(judge("1000000000 + 1 = 5000000000", edge, 2, 1000000001LL) == CD_WRONG_VALUE,
              "a wrong claim beyond 10^9 is not capped to the target 10^9 + 1");
        CHECK(judge("50000 * 40000 = 20000000000000000000000", big, 2, 2000000000LL) == CD_WRONG_VALUE,
              "a claim beyond 64 bits is no target");
        static const long long giga[] = {1000000000, 1000000000};
        CHECK(judge("1000000000 * 1000000000 = 1000000000000000000", giga, 2, 1000000000000000000LL) == CD_CORRECT,
              "a claim of 19 digits that is the target");
    }
    /* the numbers: missing, repeated, foreign */
    verdict_is("3 + 5", 8, CD_WRONG_NUMBERS);
    verdict_is("3 + 5 + 2 + 2", 12, CD_WRONG_NUMBERS);
    verdict_is("3 + 5 + 7", 15, CD_WRONG_NUMBERS);
    verdict_is("35 + 2", 37, CD_WRONG_NUMBERS);          /* digits are not numbers */
    verdict_is("3 + 5 + 99999999999999999999 - 99999999999999999999 + 2", 10, CD_WRONG_NUMBERS);
    /* as many numbers as a problem may give (CD_MAX_NUMBERS), each used once */
    {
        long long ones[CD_MAX_NUMBERS];
        char sum[2 * CD_MAX_NUMBERS] = "1";
        for (int i = 0; i < CD_MAX_NUMBERS; i++) ones[i] = 1;
        for (int i = 1; i < CD_MAX_NUMBERS; i++) strcat(sum, "+1");
        CHECK(judge(sum, ones, CD_MAX_NUMBERS, CD_MAX_NUMBERS) == CD_CORRECT, "%d ones sum to %d", CD_MAX_NUMBERS,
              CD_MAX_NUMBERS);
    }
    /* division by zero is no value */
    {
        static const long long z[] = {4, 2, 2};
        CHECK(judge("4 / (2 - 2)", z, 3, 0) == CD_DIV_ZERO, "4 / (2 - 2) is a division by zero");
        CHECK(judge("4 * 2 / 2", z, 3, 4) == CD_CORRECT, "repeated given numbers count as a multiset");
        CHECK(judge("4 * 2 * 4", z, 3, 32) == CD_WRONG_NUMBERS, "but not beyond their multiplicity");
    }
    /* exact rationals: (1/3)*3 is 1, not 0.999.. */
    {
        static const long long q[] = {1, 3, 3};
        CHECK(judge("1 / 3 * 3", q, 3, 1) == CD_CORRECT, "1/3*3 = 1 exactly");
    }
    /* spellings */
    verdict_is("(3+5) \\times 2", 16, CD_CORRECT);
    verdict_is("(3+5)\\cdot 2", 16, CD_CORRECT);
    verdict_is("\\left(3+5\\right) \\cdot 2", 16, CD_CORRECT);
    verdict_is("\\frac{3+5}{2}", 4, CD_CORRECT);
    verdict_is("$(3+5) \\div 2$", 4, CD_CORRECT);
    verdict_is("[3+5] * 2", 16, CD_CORRECT);
    verdict_is("(3+5) \xc3\x97 2", 16, CD_CORRECT);     /* × */
    verdict_is("(3+5) \xc3\xb7 2", 4, CD_CORRECT);      /* ÷ */
    verdict_is("3 \xe2\x88\x92 5 + 2", 0, CD_CORRECT);  /* − */
    /* not expressions of the given numbers */
    verdict_is("", 0, CD_UNPARSABLE);
    verdict_is("3 ** 5 + 2", 245, CD_UNPARSABLE);       /* Python's power: not an operation here */
    verdict_is("3 // 5 + 2", 2, CD_UNPARSABLE);
    verdict_is("2.5 + 3 + 5", 10, CD_UNPARSABLE);
    verdict_is("2(3+5)", 16, CD_UNPARSABLE);            /* no implicit product */
    verdict_is("(3 + 5 * 2", 13, CD_UNPARSABLE);
    verdict_is("(3 + 5] * 2", 16, CD_UNPARSABLE);
    verdict_is("3 + 5 + 2 = x", 10, CD_UNPARSABLE);
    verdict_is("sixteen", 16, CD_UNPARSABLE);
    verdict_is("3 + 5 + \\sqrt{2}", 10, CD_UNPARSABLE);
    /* bounds: depth and length */
    {
        char deep[400], *p = deep;
        for (int i = 0; i < 100; i++) *p++ = '(';
        p += sprintf(p, "3+5+2");
        for (int i = 0; i < 100; i++) *p++ = ')';
        *p = 0;
        CHECK(judge(deep, N3, 3, 10) == CD_UNPARSABLE, "100 nested parentheses exceed the depth bound");
        CHECK(judge(deep + 90, N3, 3, 10) == CD_UNPARSABLE, "unbalanced after cutting");
        char ok[64];
        memset(ok, '(', 10);
        sprintf(ok + 10, "3+5+2))))))))))");
        CHECK(judge(ok, N3, 3, 10) == CD_CORRECT, "10 nested parentheses are fine");
        static char minus[5000];
        memset(minus, '-', 4000);
        strcpy(minus + 4000, "3+5+2");
        CHECK(judge(minus, N3, 3, 10) == CD_UNPARSABLE, "4000 bytes exceed CD_MAX_TEXT");
        CHECK(judge(minus + 3990, N3, 3, 10) == CD_CORRECT, "10 unary minuses cancel: 3 + 5 + 2");
        CHECK(judge(minus + 3989, N3, 3, -3 + 5 + 2) == CD_CORRECT, "11 unary minuses: -3 + 5 + 2");
        CHECK(judge(minus + 3900, N3, 3, 10) == CD_UNPARSABLE, "100 unary minuses exceed the depth bound");
    }
    /* extraction: \boxed first, then <answer>, then "answer", then the last line */
    extracts("so \\boxed{(3+5)*2}.", "(3+5)*2", "boxed");
    extracts("\\boxed{1} then \\boxed{(3+5)*2} <answer>3</answer>", "(3+5)*2", "boxed");
    extracts("\\boxed{(3+5)*2} and \\boxed{ unclosed", "(3+5)*2", "boxed");
    extracts("\\fbox{3+5+2}", "3+5+2", "boxed");
    /* \boxed and \fbox mixed: the last of either */
    extracts("\\boxed{1} then \\fbox{3+5+2}", "3+5+2", "boxed");
    extracts("\\fbox{1} then \\boxed{3+5+2}", "3+5+2", "boxed");
    extracts("<answer> (1 + 2) / 3 </answer>", "(1 + 2) / 3", "answer tag");
    extracts("<answer>1</answer> <answer>(3+5)*2</answer>", "(3+5)*2", "answer tag");
    extracts("<answer>(3+5)*2</answer> so <answer>(3+5", "(3+5)*2", "answer tag");
    extracts("The answer is $(3+5) \\times 2$.\nDone", "$(3+5) \\times 2$", "answer");
    extracts("Answer: 3 + 5 + 2", "3 + 5 + 2", "answer");
    /* a closing remark with "answer" in it does not hide the answer before it */
    extracts("The answer is (3+5)*2.\nI hope this answer helps.", "(3+5)*2", "answer");
    extracts("The answer is (3+5)*2.\nLet me verify this answer.", "(3+5)*2", "answer");
    extracts("Final answer: (3+5)*2\nI hope this answer is right.", "(3+5)*2", "answer");
    extracts("Answer: 3+5+2\nThe answer is:\n(3+5)*2", "(3+5)*2", "last line");
    extracts("Answer: see below\n(3+5)*2", "(3+5)*2", "last line");
    /* bounded work: the last 8 "answer"s and the last 8 boxes are tried, no more */
    {
        static char buf[512];
        strcpy(buf, "The answer is (3+5)*2.");
        for (int i = 0; i < 7; i++) strcat(buf, "\nthis answer helps");
        extracts(buf, "(3+5)*2", "answer");
        strcat(buf, "\nthis answer helps");
        extracts(buf, "this answer helps", "last line");
        strcpy(buf, "\\boxed{3+5+2}");
        for (int i = 0; i < 7; i++) strcat(buf, " \\boxed{");
        strcat(buf, "\n(3+5)*2");
        extracts(buf, "3+5+2", "boxed");
        strcpy(buf, "\\boxed{3+5+2}");
        for (int i = 0; i < 8; i++) strcat(buf, " \\boxed{");
        strcat(buf, "\n(3+5)*2");
        extracts(buf, "(3+5)*2", "last line");
    }
    /* Markdown's bold and code marks are not the expression */
    extracts("The answer is **(3+5)*2**.", "(3+5)*2", "answer");
    extracts("**Answer:** `(3 + 5) * 2 = 16`", "(3 + 5) * 2 = 16", "answer");
    extracts("<answer> **(3+5)*2** </answer>", "(3+5)*2", "answer tag");
    extracts("so\n**(3+5)*2**\n", "(3+5)*2", "last line");
    verdict_is("3 ** 5 + 2", 245, CD_UNPARSABLE);
    extracts("**Answer: 3 * 5 **", "3 * 5", "answer");
    extracts("3 + 5 = 8\n8 * 2 = 16\n", "8 * 2 = 16", "last line");
    extracts("<think>(3+5)*2", NULL, NULL);
    extracts("<think>\\boxed{1}</think> so \\boxed{(3+5)*2}", "(3+5)*2", "boxed");
    /* what follows </think> on its line is the text's start, not its '>' */
    extracts("<think>try 1+2</think>(3+5)*2", "(3+5)*2", "last line");
    extracts("   \n  ", NULL, NULL);
    {
        cd_opts nb = {false, true};
        const char *t, *h;
        size_t len;
        const char *r = "\\boxed{1}\nAnswer: 3+5+2";
        CHECK(cd_extract(r, strlen(r), &nb, &t, &len, &h) && strcmp(h, "answer") == 0,
              "without boxed first, the answer phrase is read");
    }
    /* cd_check: the verdict of a whole response */
    {
        cd_opts o = {true, true};
        cd_result r;
        const char *resp = "3 + 5 = 8, 8 * 2 = 16. \\boxed{(3 + 5) * 2}";
        cd_check(resp, strlen(resp), N3, 3, 16, &o, &r);
        CHECK(r.verdict == CD_CORRECT && strcmp(r.how, "boxed") == 0, "a worked solution is correct");
        cd_check("no digits here", 14, N3, 3, 16, &o, &r);
        CHECK(r.verdict == CD_UNPARSABLE, "prose is unparsable");
        cd_check("", 0, N3, 3, 16, &o, &r);
        CHECK(r.verdict == CD_NO_ANSWER, "nothing is no answer");
    }
    /* regressions found by fuzzing: each must run clean (under ASan in make asan) */
    DIR *d = opendir("tests/fuzz/countdown/regress");
    CHECK(d != NULL, "fuzz regressions directory");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "tests/fuzz/countdown/regress/%s", e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        static char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        cd_opts o = {true, true};
        cd_result r;
        cd_check(buf, n, N3, 3, 16, &o, &r);
        CHECK(r.verdict <= CD_NO_ANSWER, "regression %s gives a verdict", e->d_name);
    }
    if (d) closedir(d);
    return check_done();
}
