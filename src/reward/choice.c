/* Choice letters (choice.h). The rules, in priority order, as lighteval's
 * IndicesExtractionConfig and Math-Verify's StringExtractionConfig write
 * them as regular expressions: "final answer ... is X", "answer: ... X"
 * within 50 bytes, "answer ... X" within 50 bytes, X at the start of the
 * text, X at the start of a line, and last X standing alone anywhere, the
 * rightmost. A letter stands alone when whitespace (or the start) is
 * before it, optionally "**" and "(", and after it optionally ")" and "**"
 * then sentence punctuation, whitespace, the end, or a non-ASCII character
 * (Chinese punctuation and text: "B。", "B不是"). */
#include "reward/choice.h"

#include "reward/textsearch.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static bool is_key(char c) { return c >= 'A' && c <= 'E'; }

/* The letter whose optional decoration starts at s[i], or 0; *end is set
 * past it. */
static char letter_at(const char *s, size_t n, size_t i, size_t *end) {
    if (i + 1 < n && s[i] == '*' && s[i + 1] == '*') i += 2;
    bool open = i < n && s[i] == '(';
    if (open) i++;
    if (i >= n || !is_key(s[i])) return 0;
    char c = s[i++];
    if (i < n && s[i] == ')') i++;
    else if (open) return 0;
    if (i + 1 < n && s[i] == '*' && s[i + 1] == '*') i += 2;
    if (i < n && !(strchr(".,:; \t\r\n", s[i]) || (unsigned char)s[i] >= 0x80)) return 0;
    if (i < n && strchr(".,:", s[i])) i++;
    if (end) *end = i;
    return c;
}

static bool space_before(const char *s, size_t i) { return i == 0 || rw_space_before(s, i); }

/* The first letter standing alone in s[from..to). */
static char first_alone(const char *s, size_t n, size_t from, size_t to) {
    for (size_t i = from; i < to && i < n; i++)
        if (space_before(s, i)) {
            char c = letter_at(s, n, i, NULL);
            if (c) return c;
        }
    return 0;
}

/* The word w (ASCII, any case) at s[i]. */
static bool word_at(const char *s, size_t n, size_t i, const char *w) {
    size_t l = strlen(w);
    return i + l <= n && strncasecmp(s + i, w, l) == 0;
}

static const char *const answer_words[] = {"answer", "r\xc3\xa9ponse", "respuesta", "antwort", "risposta",
                                           "\xe7\xad\x94\xe6\xa1\x88" /* 答案 */};

/* After the last "final answer" that has " is" within 100 characters (the
 * windows count code points, as Python's '.' matches them: rw_chars_ahead). */
static char after_final(const char *s, size_t n) {
    for (size_t p = n; p-- > 0;) {
        if (!word_at(s, n, p, "final answer")) continue;
        size_t lim = rw_chars_ahead(s, n, p + 12, 100);
        for (size_t j = p + 12; j + 3 <= lim; j++) {
            size_t sp = rw_space_at(s, n, j);
            if (sp && word_at(s, n, j + sp, "is")) {
                size_t k = j + sp + 2;
                if (k < n && s[k] == ':') k++;
                for (size_t w; (w = rw_space_at(s, n, k));) k += w;
                char c = letter_at(s, n, k, NULL);
                if (c) return c;
                break;
            }
        }
    }
    return 0;
}

/* After an answer word (with a colon when colon is set), the first letter
 * within 50 characters; the last such word that has one. */
static char after_answer(const char *s, size_t n, bool colon) {
    for (size_t p = n; p-- > 0;) {
        for (size_t w = 0; w < sizeof answer_words / sizeof *answer_words; w++) {
            if (!word_at(s, n, p, answer_words[w])) continue;
            size_t i = p + strlen(answer_words[w]);
            if (colon) {
                if (i < n && s[i] == ':') i++;
                else if (i + 2 < n && memcmp(s + i, "\xef\xbc\x9a", 3) == 0) i += 3; /* ： */
                else continue;
            }
            char c = first_alone(s, n, i, rw_chars_ahead(s, n, i, 51));
            if (c) return c;
        }
    }
    return 0;
}

rw_choice_kind rw_choice(const char *s, size_t n, char *letter) {
    char c = after_final(s, n);
    if (!c) c = after_answer(s, n, true);
    if (!c) c = after_answer(s, n, false);
    if (!c) c = letter_at(s, n, 0, NULL);
    for (size_t i = 0; !c && i < n; i++)
        if (s[i] == '\n') c = letter_at(s, n, i + 1, NULL);
    if (c) {
        *letter = c;
        return RW_CHOICE_ANCHORED;
    }
    for (size_t i = n; i-- > 0;)
        if (space_before(s, i) && (c = letter_at(s, n, i, NULL))) {
            *letter = c;
            return RW_CHOICE_LOOSE;
        }
    return RW_CHOICE_NONE;
}

/* s[i] standing alone: not part of a word or a command's name ("\Delta",
 * "Alice"). */
static bool alone(const char *s, size_t n, size_t i) {
    return (i == 0 || !(isalnum((unsigned char)s[i - 1]) || s[i - 1] == '\\')) &&
           (i + 1 >= n || !isalnum((unsigned char)s[i + 1]));
}

/* A choice letter standing alone at s[i]. */
static bool lone_key(const char *s, size_t n, size_t i) { return is_key(s[i]) && alone(s, n, i); }

/* Several letters listed ("A, C, D", "(A) and (C)", "A C D", "A;C", and
 * letters past E: "A, D, F, G, H", the graphs that have an inverse): only
 * capital letters, brackets, separators and "and"/"or", two letters or
 * more. No single choice, so neither a gold letter nor a response's. */
static bool lists_letters(const char *s, size_t n) {
    int letters = 0;
    for (size_t i = 0; i < n; i++) {
        if (isupper((unsigned char)s[i]) && alone(s, n, i)) {
            letters++;
        } else if (i + 3 <= n && !strncmp(s + i, "and", 3) && (i == 0 || !isalpha((unsigned char)s[i - 1])) &&
                   (i + 3 == n || !isalpha((unsigned char)s[i + 3]))) {
            i += 2;
        } else if (i + 2 <= n && !strncmp(s + i, "or", 2) && (i == 0 || !isalpha((unsigned char)s[i - 1])) &&
                   (i + 2 == n || !isalpha((unsigned char)s[i + 2]))) {
            i += 1;
        } else if (!strchr(" \t()[],;.&", s[i])) {
            return false;
        }
    }
    return letters >= 2;
}

/* A gold opening with a text command, as MATH writes its choices
 * ("\text{(C)}", "\textbf{(B)}\ 7", "\mathrm{(D)}"): its braces' content
 * then the rest, into buf (of at least n bytes); 0 for none. */
static size_t unwrap_text(const char *s, size_t n, char *buf) {
    static const char *const cmds[] = {"\\text", "\\textbf", "\\textrm", "\\mathrm", "\\mathbf"};
    for (size_t c = 0; c < sizeof cmds / sizeof *cmds; c++) {
        size_t i = strlen(cmds[c]);
        if (n < i || memcmp(s, cmds[c], i) != 0) continue;
        while (i < n && s[i] == ' ') i++;
        if (i >= n || s[i] != '{') continue;
        const char *close = memchr(s + i + 1, '}', n - i - 1);
        if (!close || memchr(s + i + 1, '{', (size_t)(close - s) - i - 1)) return 0;
        size_t k = (size_t)(close - s) - i - 1;
        memcpy(buf, s + i + 1, k);
        memcpy(buf + k, close + 1, n - (size_t)(close - s) - 1);
        return n - i - 2;
    }
    return 0;
}

bool rw_choice_gold(const char *s, size_t n, char *letter) {
    if (n > 200) return false;
    for (size_t w; (w = rw_space_at(s, n, 0));) s += w, n -= w;
    for (size_t w; (w = rw_space_before(s, n));) n -= w;
    char buf[200];
    size_t m = unwrap_text(s, n, buf);
    if (m) return rw_choice_gold(buf, m, letter);
    if (lists_letters(s, n)) return false;
    /* "(A) 5", "B. 12 cm", "C": a marked option, whatever its text */
    size_t end = 0;
    char c = letter_at(s, n, 0, &end);
    if (c && (end == n || s[0] == '(' || s[end - 1] == '.' || s[end - 1] == ':')) {
        *letter = c;
        return true;
    }
    /* math, not an option's text: "A + B", "B - A" name no choice (a
     * hyphen inside a word, "C Mary-Jane", is text) */
    for (size_t i = 0; i < n; i++) {
        if (isdigit((unsigned char)s[i]) || strchr("\\$={+*/^_<>|", s[i])) return false;
        if (s[i] == '-' && !(i > 0 && isalpha((unsigned char)s[i - 1]) && i + 1 < n && isalpha((unsigned char)s[i + 1])))
            return false;
    }
    return rw_choice(s, n, letter) == RW_CHOICE_ANCHORED;
}

bool rw_choice_boxed(const char *s, size_t n, char *letter) {
    size_t i = 0;
    for (;;) {
        while (i < n && strchr(" ({*$~", s[i])) i++;
        if (i < n && s[i] == '\\') {
            i++;
            while (i < n && isalpha((unsigned char)s[i])) i++;
            continue;
        }
        break;
    }
    if (i >= n || !is_key(s[i])) return false;
    if (i + 1 < n && isalnum((unsigned char)s[i + 1])) return false;
    /* "\boxed{A, B}", "\boxed{A \text{ or } B}": a hedge, no single choice */
    for (size_t k = i + 1; k < n; k++)
        if (lone_key(s, n, k)) return false;
    *letter = s[i];
    return true;
}
