/* Countdown answers (countdown.h). The expression is read into postfix
 * order first, so the numbers it uses are checked before any arithmetic,
 * as TinyZero does; only an expression that uses exactly the given numbers
 * is evaluated, so the rationals involved stay as small as those numbers. */
#include "reward/countdown.h"

#include <ctype.h>
#include <gmp.h>
#include <stdlib.h>
#include <string.h>

#include "reward/textsearch.h"

const char *const cd_verdict_names[] = {"correct",           "wrong value", "wrong numbers",
                                        "division by zero", "unparsable",  "no answer"};

/* ---- extraction ---- */

/* The content of the last closed \boxed{...} or \fbox{...}: a few unclosed
 * ones are passed over, then the search stops (bounded work). */
static bool last_box(const char *s, size_t n, size_t *c0, size_t *c1) {
    size_t end = n;
    for (int tries = 0; tries < 8; tries++) {
        size_t b = rw_rfind(s, end, "\\boxed"), f = rw_rfind(s, end, "\\fbox");
        size_t p = b == (size_t)-1 ? f : f == (size_t)-1 ? b : (b > f ? b : f);
        if (p == (size_t)-1) return false;
        size_t j = p + (p == b ? 6 : 5);
        while (j < n && isspace((unsigned char)s[j])) j++;
        if (j < n && s[j] == '{') {
            int depth = 0;
            for (size_t k = j; k < n; k++) {
                if (s[k] == '{') depth++;
                else if (s[k] == '}' && --depth == 0) {
                    *c0 = j + 1;
                    *c1 = k;
                    return true;
                }
            }
        }
        end = p;
    }
    return false;
}

/* The last closed <answer>...</answer>: an unclosed <answer> after it (a
 * response cut off) is passed over, as the last \boxed{} passes over one. */
static bool answer_tag(const char *s, size_t n, size_t *c0, size_t *c1) {
    size_t last = rw_rfind(s, n, "</answer>");
    if (last == (size_t)-1) return false;
    size_t p = rw_rfind(s, last, "<answer>");
    if (p == (size_t)-1) return false;
    const char *e = memmem(s + p + 8, n - p - 8, "</answer>", 9);
    if (!e) return false;
    *c0 = p + 8;
    *c1 = (size_t)(e - s);
    return true;
}

static size_t line_end(const char *s, size_t n, size_t i) {
    const char *nl = memchr(s + i, '\n', n - i);
    return nl ? (size_t)(nl - s) : n;
}

static bool parses(const char *text, size_t len);

/* s[*c0, *c1) without the spaces around it, a sentence's final period and
 * Markdown's bold "**" and code '`' marks around it: no expression starts
 * or ends with "**" (Python's power) or holds a backtick. */
static void trim(const char *s, size_t *c0, size_t *c1) {
    for (;;) {
        if (*c0 < *c1 && (isspace((unsigned char)s[*c0]) || s[*c0] == '`')) ++*c0;
        else if (*c1 - *c0 >= 2 && s[*c0] == '*' && s[*c0 + 1] == '*') *c0 += 2;
        else break;
    }
    for (;;) {
        char c = *c1 > *c0 ? s[*c1 - 1] : 0;
        if (c && (isspace((unsigned char)c) || c == '.' || c == '`')) --*c1;
        else if (*c1 - *c0 >= 2 && c == '*' && s[*c1 - 2] == '*') *c1 -= 2;
        else break;
    }
}

/* "answer: X", "the answer is X", "final answer is: X": X to the line's
 * end. The last "answer" whose X is an expression is taken, so a closing
 * remark ("I hope this answer helps.") does not hide the answer before it;
 * at most 8 are tried (bounded work). When none is an expression, or the
 * last "answer is" / "answer:" ends its line, the last line is read. */
static bool answer_phrase(const char *s, size_t n, size_t *c0, size_t *c1) {
    size_t end = n;
    for (int tries = 0; tries < 8; tries++) {
        size_t p = rw_rfind_ci(s, end, "answer");
        if (p == (size_t)-1) return false;
        size_t i = p + 6;
        while (i < n && (s[i] == ' ' || s[i] == '*' || s[i] == '>')) i++;
        bool intro = i + 1 < n && s[i] == 'i' && s[i + 1] == 's';
        if (intro) i += 2;
        for (; i < n && (s[i] == ' ' || s[i] == ':' || s[i] == '*'); i++) intro |= s[i] == ':';
        size_t a = i, b = line_end(s, n, i);
        trim(s, &a, &b);
        if (parses(s + a, b - a)) {
            *c0 = a;
            *c1 = b;
            return true;
        }
        /* "The answer is:" ending its line: the answer is on the lines below */
        if (intro && a == b) return false;
        end = p;
    }
    return false;
}

static bool last_line(const char *s, size_t n, size_t *c0, size_t *c1) {
    size_t e = n;
    while (e > 0 && isspace((unsigned char)s[e - 1])) e--;
    if (e == 0) return false;
    size_t b = e;
    while (b > 0 && s[b - 1] != '\n') b--;
    *c0 = b;
    *c1 = e;
    return true;
}

bool cd_extract(const char *s, size_t n, const cd_opts *o, const char **text, size_t *len, const char **how) {
    if (o->after_think) {
        size_t t = rw_rfind(s, n, "</think>");
        if (t != (size_t)-1) s += t + 8, n -= t + 8;
        else if (rw_rfind(s, n, "<think>") != (size_t)-1) return false; /* still thinking */
    }
    size_t c0, c1;
    if (o->boxed && last_box(s, n, &c0, &c1)) *how = "boxed";
    else if (answer_tag(s, n, &c0, &c1)) *how = "answer tag";
    else if (answer_phrase(s, n, &c0, &c1)) *how = "answer";
    else if (last_line(s, n, &c0, &c1)) *how = "last line";
    else return false;
    /* a sentence's period and the spaces around it are not the expression */
    trim(s, &c0, &c1);
    *text = s + c0;
    *len = c1 - c0;
    return true;
}

/* ---- the expression ---- */

typedef enum { T_NUM, T_ADD, T_SUB, T_MUL, T_DIV, T_OPEN, T_CLOSE, T_EQ, T_FRAC, T_END, T_BAD } tok_kind;

typedef struct {
    const char *s;
    size_t n, i;
    tok_kind kind;
    char bracket;        /* which bracket, for T_OPEN / T_CLOSE */
    long long value;     /* for T_NUM; CD_MAX_VALUE + 1 when longer than any given number */
    bool leading_zero;   /* for T_NUM: "05", not "0" or "00" */
    size_t start;        /* where the current token starts */
    int depth;
    /* the postfix program: a number (op 'n', its literal's index) or an operator */
    struct { char op; int lit; } prog[CD_MAX_TEXT];
    int nprog;
    long long lits[CD_MAX_NUMBERS + 1];
    int nlits;
    bool extra_lits;     /* more literals than kept */
} parser;

static bool starts(const parser *P, const char *w) {
    size_t wl = strlen(w);
    return P->n - P->i >= wl && memcmp(P->s + P->i, w, wl) == 0;
}

/* A LaTeX command at P->i (after the backslash's position): which token it
 * is, or whether it is spacing to skip. */
static bool latex(parser *P, bool *skip) {
    static const struct { const char *name; tok_kind kind; } cmds[] = {
        {"\\times", T_MUL}, {"\\cdot", T_MUL}, {"\\div", T_DIV}, {"\\dfrac", T_FRAC}, {"\\tfrac", T_FRAC},
        {"\\frac", T_FRAC}};
    static const char *const spacing[] = {"\\left", "\\right", "\\quad", "\\qquad", "\\,", "\\;", "\\:",
                                          "\\!",    "\\ ",     "\\(",    "\\)",     "\\[", "\\]"};
    *skip = false;
    for (size_t k = 0; k < sizeof spacing / sizeof *spacing; k++)
        if (starts(P, spacing[k])) {
            P->i += strlen(spacing[k]);
            *skip = true;
            return true;
        }
    if (starts(P, "\\{") || starts(P, "\\}")) {
        P->kind = P->s[P->i + 1] == '{' ? T_OPEN : T_CLOSE;
        P->bracket = '{';
        P->i += 2;
        return true;
    }
    for (size_t k = 0; k < sizeof cmds / sizeof *cmds; k++) {
        size_t l = strlen(cmds[k].name);
        if (starts(P, cmds[k].name) && (P->i + l >= P->n || !isalpha((unsigned char)P->s[P->i + l]))) {
            P->kind = cmds[k].kind;
            P->i += l;
            return true;
        }
    }
    return false;
}

static void next(parser *P) {
    for (;;) {
        while (P->i < P->n && (isspace((unsigned char)P->s[P->i]) || P->s[P->i] == '$')) P->i++;
        if (P->i >= P->n) {
            P->kind = T_END;
            return;
        }
        const unsigned char *u = (const unsigned char *)P->s + P->i;
        char c = P->s[P->i];
        P->start = P->i;
        if (c >= '0' && c <= '9') {
            long long v = 0;
            while (P->i < P->n && P->s[P->i] >= '0' && P->s[P->i] <= '9') {
                v = v * 10 + (P->s[P->i++] - '0');
                if (v > CD_MAX_VALUE) v = CD_MAX_VALUE + 1;
            }
            /* "2.5" or "1,000" is no given number: not an expression here */
            if (P->i < P->n && (P->s[P->i] == '.' || P->s[P->i] == ',') && P->i + 1 < P->n &&
                isdigit((unsigned char)P->s[P->i + 1])) {
                P->kind = T_BAD;
                return;
            }
            P->kind = T_NUM;
            P->value = v;
            P->leading_zero = c == '0' && v != 0;
            return;
        }
        P->bracket = 0;
        switch (c) {
        case '+': P->kind = T_ADD; P->i++; return;
        case '-': P->kind = T_SUB; P->i++; return;
        case '*': P->kind = T_MUL; P->i++; return;
        case '/': P->kind = T_DIV; P->i++; return;
        case '=': P->kind = T_EQ; P->i++; return;
        case '(': case '[': case '{': P->kind = T_OPEN; P->bracket = c == '(' ? '(' : c; P->i++; return;
        case ')': P->kind = T_CLOSE; P->bracket = '('; P->i++; return;
        case ']': P->kind = T_CLOSE; P->bracket = '['; P->i++; return;
        case '}': P->kind = T_CLOSE; P->bracket = '{'; P->i++; return;
        case '\\': {
            bool skip;
            if (!latex(P, &skip)) {
                P->kind = T_BAD;
                return;
            }
            if (skip) continue;
            return;
        }
        default: break;
        }
        /* × ÷ · ⋅ − in UTF-8 */
        if (P->n - P->i >= 2 && u[0] == 0xC3 && (u[1] == 0x97 || u[1] == 0xB7)) {
            P->kind = u[1] == 0x97 ? T_MUL : T_DIV;
            P->i += 2;
            return;
        }
        if (P->n - P->i >= 2 && u[0] == 0xC2 && u[1] == 0xB7) {
            P->kind = T_MUL;
            P->i += 2;
            return;
        }
        if (P->n - P->i >= 3 && u[0] == 0xE2 && ((u[1] == 0x88 && u[2] == 0x92) || (u[1] == 0x8B && u[2] == 0x85))) {
            P->kind = u[1] == 0x88 ? T_SUB : T_MUL;
            P->i += 3;
            return;
        }
        P->kind = T_BAD;
        return;
    }
}

static void emit(parser *P, char op, int lit) {
    /* each token emits at most once, and the text is at most CD_MAX_TEXT bytes */
    P->prog[P->nprog].op = op;
    P->prog[P->nprog].lit = lit;
    P->nprog++;
}

static bool expr(parser *P);

/* A group "{expr}" (after \frac). */
static bool group(parser *P) {
    if (P->kind != T_OPEN || P->bracket != '{') return false;
    next(P);
    if (!expr(P) || P->kind != T_CLOSE || P->bracket != '{') return false;
    next(P);
    return true;
}

static bool primary(parser *P) {
    if (++P->depth > CD_MAX_DEPTH) return false;
    bool ok = true;
    if (P->kind == T_NUM && P->leading_zero) {
        /* no expression's number: TinyZero's validate_equation reads "05"
         * as 5 (int()), but its evaluate_equation cannot (Python's eval
         * refuses a leading zero, "0" and "00" aside), so it is never
         * correct there. A claim's "= 030" is read whole, as before. */
        ok = false;
    } else if (P->kind == T_NUM) {
        int idx = P->nlits < CD_MAX_NUMBERS + 1 ? P->nlits : CD_MAX_NUMBERS;
        if (P->nlits < CD_MAX_NUMBERS + 1) P->lits[P->nlits++] = P->value;
        else P->extra_lits = true;
        emit(P, 'n', idx);
        next(P);
    } else if (P->kind == T_SUB || P->kind == T_ADD) {
        /* unary signs, as Python's eval in TinyZero's checker reads them */
        bool neg = P->kind == T_SUB;
        next(P);
        ok = primary(P);
        if (ok && neg) emit(P, '~', 0);
    } else if (P->kind == T_OPEN) {
        char b = P->bracket;
        next(P);
        ok = expr(P) && P->kind == T_CLOSE && P->bracket == b;
        if (ok) next(P);
    } else if (P->kind == T_FRAC) {
        next(P);
        ok = group(P) && group(P);
        if (ok) emit(P, '/', 0);
    } else {
        ok = false;
    }
    P->depth--;
    return ok;
}

static bool term(parser *P) {
    if (!primary(P)) return false;
    while (P->kind == T_MUL || P->kind == T_DIV) {
        char op = P->kind == T_MUL ? '*' : '/';
        next(P);
        if (!primary(P)) return false;
        emit(P, op, 0);
    }
    return true;
}

static bool expr(parser *P) {
    if (++P->depth > CD_MAX_DEPTH) return false;
    bool ok = term(P);
    while (ok && (P->kind == T_ADD || P->kind == T_SUB)) {
        char op = P->kind == T_ADD ? '+' : '-';
        next(P);
        ok = term(P);
        if (ok) emit(P, op, 0);
    }
    P->depth--;
    return ok;
}

static int cmp_ll(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static bool same_numbers(const parser *P, const long long *numbers, int count) {
    if (P->extra_lits || P->nlits != count) return false;
    long long a[CD_MAX_NUMBERS + 1], b[CD_MAX_NUMBERS + 1];
    memcpy(a, P->lits, (size_t)count * sizeof *a);
    memcpy(b, numbers, (size_t)count * sizeof *b);
    qsort(a, (size_t)count, sizeof *a, cmp_ll);
    qsort(b, (size_t)count, sizeof *b, cmp_ll);
    return memcmp(a, b, (size_t)count * sizeof *a) == 0;
}

/* Runs the postfix program exactly; the stack holds at most count values. */
static cd_verdict evaluate(const parser *P, long long target, bool claim_ok) {
    mpq_t st[CD_MAX_NUMBERS + 1];
    int sp = 0;
    cd_verdict v = CD_WRONG_VALUE;
    for (int k = 0; k < P->nprog; k++) {
        char op = P->prog[k].op;
        if (op == 'n') {
            mpq_init(st[sp]);
            mpq_set_si(st[sp++], (long)P->lits[P->prog[k].lit], 1);
        } else if (op == '~') {
            mpq_neg(st[sp - 1], st[sp - 1]);
        } else {
            mpq_ptr a = st[sp - 2], b = st[sp - 1];
            if (op == '/' && mpq_sgn(b) == 0) {
                v = CD_DIV_ZERO;
                break;
            }
            if (op == '+') mpq_add(a, a, b);
            else if (op == '-') mpq_sub(a, a, b);
            else if (op == '*') mpq_mul(a, a, b);
            else mpq_div(a, a, b);
            mpq_clear(st[--sp]);
        }
    }
    if (v != CD_DIV_ZERO) {
        mpq_t t;
        mpq_init(t);
        mpq_set_si(t, (long)target, 1);
        if (sp == 1 && mpq_equal(st[0], t) && claim_ok) v = CD_CORRECT;
        mpq_clear(t);
    }
    while (sp > 0) mpq_clear(st[--sp]);
    return v;
}

/* Whether the claimed value, the digits d[0, n) with a sign, is the target:
 * read whole, not capped as a given number's literal is, since a value
 * (and so a target) may pass CD_MAX_VALUE or be negative. */
static bool claim_is(const char *d, size_t n, bool neg, long long target) {
    while (n > 1 && *d == '0') d++, n--;
    if (n > 19) return false; /* beyond any 64-bit target */
    unsigned long long v = 0;
    for (size_t k = 0; k < n; k++) v = v * 10 + (unsigned long long)(d[k] - '0');
    unsigned long long mag = target < 0 ? (unsigned long long)(-(target + 1)) + 1 : (unsigned long long)target;
    return v == mag && (v == 0 || neg == (target < 0));
}

/* Parses the whole text: an expression, then maybe "= N" (N maybe
 * signed), whose digits and sign are kept in claim / claim_len / neg. */
static bool parse_all(parser *P, const char **claim, size_t *claim_len, bool *neg) {
    *claim = NULL;
    next(P);
    bool ok = expr(P);
    if (ok && P->kind == T_EQ) {
        next(P);
        *neg = P->kind == T_SUB;
        if (*neg || P->kind == T_ADD) next(P);
        ok = P->kind == T_NUM;
        if (ok) {
            *claim = P->s + P->start;
            *claim_len = P->i - P->start;
            next(P);
        }
    }
    return ok && P->kind == T_END;
}

static bool parses(const char *text, size_t len) {
    if (len == 0 || len > CD_MAX_TEXT) return false;
    parser *P = malloc(sizeof *P);
    if (!P) return false;
    *P = (parser){.s = text, .n = len};
    const char *claim;
    size_t claim_len;
    bool neg, ok = parse_all(P, &claim, &claim_len, &neg);
    free(P);
    return ok;
}

cd_verdict cd_judge(const char *expr_text, size_t len, const long long *numbers, int count, long long target) {
    if (len == 0 || len > CD_MAX_TEXT) return CD_UNPARSABLE;
    parser *P = malloc(sizeof *P);
    if (!P) return CD_UNPARSABLE;
    *P = (parser){.s = expr_text, .n = len};
    /* "expr = N": the value it claims must be the target too */
    const char *claim;
    size_t claim_len = 0;
    bool neg = false;
    bool ok = parse_all(P, &claim, &claim_len, &neg);
    bool claim_ok = !claim || claim_is(claim, claim_len, neg, target);
    cd_verdict v;
    if (!ok) v = CD_UNPARSABLE;
    else if (count < 1 || count > CD_MAX_NUMBERS || !same_numbers(P, numbers, count)) v = CD_WRONG_NUMBERS;
    else v = evaluate(P, target, claim_ok);
    free(P);
    return v;
}

void cd_check(const char *s, size_t n, const long long *numbers, int count, long long target, const cd_opts *o,
              cd_result *r) {
    *r = (cd_result){NULL, 0, NULL, CD_NO_ANSWER};
    if (!cd_extract(s, n, o, &r->text, &r->len, &r->how)) return;
    r->verdict = cd_judge(r->text, r->len, numbers, count, target);
}
