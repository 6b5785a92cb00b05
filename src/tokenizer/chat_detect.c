/* Which of pic's chat formats a tokenizer's chat template is (chat.h:
 * pic_chat_for_tokenizer). pic runs no Jinja: a template is recognised by
 * its markers and default system prompt, then held to writing each turn as
 * the format renders it, compared code to code, or refused. */
#include "tokenizer/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "tokenizer/internal.h"

/* The system prompt a ChatML template writes when a conversation brings
 * none: the literal text after a "<|im_start|>system" line that is not an
 * expression ({{ ... }}) or the end of a string literal, up to its
 * <|im_end|>, as written in the template (Jinja escapes and all); NULL when
 * the template has none. */
static const char *chatml_default_system(const char *tmpl, size_t *len) {
    static const char head[] = "<|im_start|>system";
    for (const char *p = strstr(tmpl, head); p; p = strstr(p + 1, head)) {
        const char *q = p + sizeof head - 1;
        if (!strncmp(q, "\\n", 2)) q += 2; /* "\n" in a literal */
        else if (*q == '\n') q++;
        else continue;
        if (*q == '\'' || *q == '"' || *q == '{' || *q == '\0') continue;
        const char *end = strstr(q, "<|im_end|>");
        if (!end) continue;
        *len = (size_t)(end - q);
        return q;
    }
    return NULL;
}

/* Whether Jinja text s holds an {% if %} or {% elif %} tag. */
static bool has_if(const char *s) {
    for (const char *p = strstr(s, "{%"); p; p = strstr(p + 2, "{%")) {
        const char *q = p + 2;
        q += strspn(q, "-+ \t\r\n");
        if (!strncmp(q, "if", 2) || !strncmp(q, "elif", 4)) {
            q += q[0] == 'e' ? 4 : 2;
            if (strchr(" \t\r\n(", *q) && *q) return true;
        }
    }
    return false;
}

/* Whether `at` in Jinja text s stands outside every block ({% if %},
 * {% for %}, ...): what is written there is in every conversation. */
static bool top_level(const char *s, const char *at) {
    static const char *const opens[] = {"if", "for", "macro", "call", "filter", "block", "with", "generation", "raw"};
    int depth = 0;
    for (const char *p = strstr(s, "{%"); p && p < at; p = strstr(p + 2, "{%")) {
        const char *q = p + 2;
        q += strspn(q, "-+ \t\r\n");
        size_t w = strcspn(q, " \t\r\n-+%(");
        /* only the blocks in opens count: {% set x %}...{% endset %} does
         * not open one here, so its end must not close one */
        int step = 1;
        if (w > 3 && !strncmp(q, "end", 3)) q += 3, w -= 3, step = -1;
        for (size_t i = 0; i < sizeof opens / sizeof *opens; i++)
            if (w == strlen(opens[i]) && !strncmp(q, opens[i], w)) depth += step;
    }
    return depth <= 0;
}

/* The first `marker` in s that top_level says every conversation gets, or NULL. */
static const char *always_written(const char *s, const char *marker) {
    for (const char *p = strstr(s, marker); p; p = strstr(p + 1, marker))
        if (top_level(s, p)) return p;
    return NULL;
}

static bool span_is(const char *s, size_t len, const char *want) { return len == strlen(want) && !memcmp(s, want, len); }

/* A Jinja template as the code it runs, for telling formats by what they
 * write rather than by their markers: a list of items, each a block tag,
 * {%CODE%}, or a run of what is written between two of them, {{CODE}}: the
 * template's text (as jinja2 leaves it with transformers' trim_blocks and
 * lstrip_blocks and the tags' - and + signs) as string literals and its
 * {{ }} expressions, joined with +. CODE is written without the spaces
 * between tokens (one stays between two words), each string literal in
 * single quotes with a newline or tab in it as its escape, adjacent
 * literals joined into one ('<|im_end|>' + '\n' is '<|im_end|>\n'), ~ as +,
 * and x.name, unless it is called, as x['name']. Two templates that
 * write the same thing the same way, spelled otherwise, give the same
 * items; comments give none. */
typedef struct {
    tk_str s;   /* the items, one after another */
    size_t *at; /* item i is s.s[at[i]..at[i + 1]) */
    size_t n;
} jinja_prog;

typedef struct {
    tk_str b;
    size_t lit_end; /* b.len after the last literal's closing quote; SIZE_MAX: none */
} jinja_code;

static bool ident_char(char c) {
    return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (unsigned char)c >= 0x80;
}

static bool jinja_space(char c) { return c && strchr(" \t\r\n\v\f", c); }

/* The closing quote of the literal opening at q, or z. */
static const char *literal_end(const char *q, const char *z) {
    for (const char *p = q + 1; p < z; p++) {
        if (*p == '\\' && p + 1 < z) p++;
        else if (*p == *q) return p;
    }
    return z;
}

/* A literal opens: it continues the one before when only a + stands
 * between them and nothing binds it tighter (a filter, a subscript, a
 * call: mergeable false). */
static void lit_open(jinja_code *j, bool mergeable) {
    if (mergeable && j->lit_end != SIZE_MAX && j->b.len == j->lit_end + 1 && j->b.s[j->b.len - 1] == '+') {
        j->b.len -= 2;
        j->b.s[j->b.len] = 0;
    } else {
        tk_str_addc(&j->b, '\'');
    }
}

static void lit_close(jinja_code *j) {
    tk_str_addc(&j->b, '\'');
    j->lit_end = j->b.len;
}

/* A character of a literal's value, as a single-quoted literal writes it. */
static void lit_char(jinja_code *j, char c) {
    if (c == '\n') tk_str_add(&j->b, "\\n", 2);
    else if (c == '\t') tk_str_add(&j->b, "\\t", 2);
    else if (c == '\r') tk_str_add(&j->b, "\\r", 2);
    else if (c == '\'' || c == '\\') tk_str_addc(&j->b, '\\'), tk_str_addc(&j->b, c);
    else tk_str_addc(&j->b, c);
}

/* Template text [a, z) written as it is: a literal. */
static void code_text(jinja_code *j, const char *a, const char *z) {
    if (a == z) return;
    if (j->b.len) tk_str_addc(&j->b, '+');
    lit_open(j, true);
    for (; a < z; a++) lit_char(j, *a);
    lit_close(j);
}

/* A tag's code [p, z). */
static void code_tag(jinja_code *j, const char *p, const char *z) {
    bool space = false;
    while (p < z) {
        char c = *p;
        if (c == '\'' || c == '"') {
            const char *e = literal_end(p, z), *after = e + (e < z);
            while (after < z && jinja_space(*after)) after++;
            lit_open(j, !(after < z && strchr("|[.(", *after)));
            for (const char *q = p + 1; q < e; q++) {
                if (*q == '\\' && q + 1 < e) {
                    q++;
                    if (*q == '"' || *q == '\'') lit_char(j, *q); /* \" is " */
                    else tk_str_addc(&j->b, '\\'), tk_str_addc(&j->b, *q);
                } else {
                    lit_char(j, *q);
                }
            }
            lit_close(j);
            space = false;
            p = e + (e < z);
            continue;
        }
        if (jinja_space(c)) {
            space = true;
            p++;
            continue;
        }
        char last = j->b.len ? j->b.s[j->b.len - 1] : 0;
        if (space && ident_char(last) && ident_char(c)) tk_str_addc(&j->b, ' ');
        space = false;
        if (c == '.' && (ident_char(last) || last == ']' || last == ')') && p + 1 < z && ident_char(p[1]) &&
            !(p[1] >= '0' && p[1] <= '9')) {
            const char *w = p + 1;
            while (w < z && ident_char(*w)) w++;
            const char *after = w;
            while (after < z && jinja_space(*after)) after++;
            if (after < z && *after == '(') tk_str_add(&j->b, p, (size_t)(w - p)); /* a method call */
            else tk_str_add(&j->b, "['", 2), tk_str_add(&j->b, p + 1, (size_t)(w - p - 1)), tk_str_add(&j->b, "']", 2);
            p = w;
            continue;
        }
        tk_str_addc(&j->b, c == '~' ? '+' : c);
        p++;
    }
}

static void prog_item(jinja_prog *g, const char *open, jinja_code *j, const char *close) {
    g->at = pic_realloc(g->at, (g->n + 2) * sizeof *g->at);
    g->at[g->n++] = g->s.len;
    tk_str_add(&g->s, open, 2);
    tk_str_add(&g->s, j->b.s ? j->b.s : "", j->b.len);
    tk_str_add(&g->s, close, 2);
    g->at[g->n] = g->s.len;
    free(j->b.s);
    *j = (jinja_code){{0}, SIZE_MAX};
}

static void jinja_program(const char *text, jinja_prog *g) {
    *g = (jinja_prog){{0}, NULL, 0};
    /* jinja2 drops one newline at the end of a template */
    char *s = pic_strdup(text);
    size_t sl = strlen(s);
    if (sl && s[sl - 1] == '\n') s[--sl] = 0;
    if (sl && s[sl - 1] == '\r') s[--sl] = 0;
    tk_str_add(&g->s, "", 0);
    jinja_code run = {{0}, SIZE_MAX};
    bool strip_after = false, trim_after = false; /* what the last tag does to the text after it */
    for (const char *p = s;;) {
        const char *t = p;
        while ((t = strchr(t, '{')) && t[1] != '{' && t[1] != '%' && t[1] != '#') t++;
        const char *a = p, *z = t ? t : p + strlen(p);
        if (strip_after) {
            while (a < z && jinja_space(*a)) a++;
        } else if (trim_after && a < z && *a == '\n') {
            a++; /* trim_blocks */
        }
        bool line_start = a == s || a[-1] == '\n';
        if (t && t[2] == '-') {
            while (z > a && jinja_space(z[-1])) z--;
        } else if (t && t[1] != '{' && t[2] != '+') { /* lstrip_blocks */
            const char *l = z, *w;
            while (l > a && l[-1] != '\n') l--;
            for (w = l; w < z && jinja_space(*w);) w++;
            if (w == z && (l > a || line_start)) z = l;
        }
        code_text(&run, a, z);
        if (!t) break;
        char kind = t[1];
        const char *c = t + 2 + (t[2] == '-' || t[2] == '+'), *close = NULL;
        if (kind == '#') {
            close = strstr(c, "#}");
        } else {
            const char *want = kind == '{' ? "}}" : "%}";
            for (const char *q = c; *q && !close; q++) {
                if (*q == '\'' || *q == '"') q = literal_end(q, q + strlen(q));
                if (*q && !strncmp(q, want, 2)) close = q;
                if (!*q) break;
            }
        }
        if (!close) close = c + strlen(c);
        const char *ce = close > c && (close[-1] == '-' || close[-1] == '+') ? close - 1 : close;
        if (kind == '{') {
            if (run.b.len) tk_str_addc(&run.b, '+');
            code_tag(&run, c, ce);
        } else if (kind == '%') {
            if (run.b.len) prog_item(g, "{{", &run, "}}");
            jinja_code tag = {{0}, SIZE_MAX};
            code_tag(&tag, c, ce);
            prog_item(g, "{%", &tag, "%}");
        }
        strip_after = ce < close && *ce == '-';
        trim_after = kind != '{' && !(ce < close && *ce == '+');
        if (!*close) break;
        p = close + 2;
    }
    if (run.b.len) prog_item(g, "{{", &run, "}}");
    free(run.b.s);
    free(s);
}

static void jinja_program_free(jinja_prog *g) {
    free(g->s.s);
    free(g->at);
}

/* Jinja text as jinja_program's items, one string (malloc'd). */
static char *jinja_items(const char *s) {
    jinja_prog g;
    jinja_program(s, &g);
    free(g.at);
    return g.s.s;
}

/* Whether Jinja text s writes a message as Llama 3's template does,
 * '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' +
 * message['content'] | trim + '<|eot_id|>', whatever its spacing, quotes
 * and subscripts (message.role), in its code (Llama 3's own sets it to a
 * variable, with newlines in the literal; 3.1's writes it, with \n). */
static bool llama3_turn(const char *s) {
    char *prog = jinja_items(s);
    static const char turn[] =
        "'<|start_header_id|>'+message['role']+'<|end_header_id|>\\n\\n'+message['content']|trim+'<|eot_id|>'";
    bool found = strstr(prog, turn) != NULL;
    free(prog);
    return found;
}

/* The first {% set messages = ... %} (or loop_messages) in Jinja text s
 * that makes the conversation other than the caller's messages or a slice
 * of them (Llama 3.1's messages[1:], once it took the system message out):
 * MiroThinker's puts [system_message] + messages, a system turn of its own,
 * in front. The renderers write the messages they are given, so such a
 * template is none of them, whatever its markers. NULL when there is none. */
static const char *rebinds_messages(const char *s) {
    for (const char *p = strstr(s, "{%"); p; p = strstr(p + 2, "{%")) {
        const char *q = p + 2;
        q += strspn(q, "-+ \t\r\n");
        if (strncmp(q, "set", 3) || !strchr(" \t\r\n", q[3]) || !q[3]) continue;
        q += 3 + strspn(q + 3, " \t\r\n");
        size_t w = strcspn(q, " \t\r\n=-+%");
        if (!span_is(q, w, "messages") && !span_is(q, w, "loop_messages")) continue;
        q += w + strspn(q + w, " \t\r\n");
        const char *end = strstr(q, "%}");
        if (!end) return p;
        while (end > q && strchr(" \t\r\n-+", end[-1])) end--;
        if (*q != '=' || q[1] == '=') return p; /* {% set messages %}...{% endset %}: a string */
        q++;
        q += strspn(q, " \t\r\n");
        size_t len = (size_t)(end - q);
        if (span_is(q, len, "messages")) continue;
        /* messages[...]: one subscript, nothing after it */
        if (len > 9 && !strncmp(q, "messages[", 9) && end[-1] == ']' && memchr(q + 9, ']', len - 10) == NULL &&
            memchr(q + 9, '+', len - 10) == NULL)
            continue;
        return p;
    }
    return NULL;
}

/* What a ChatML format writes, as Jinja that jinja_items reads: each
 * message, the first system message, Qwen2.5's default system turn, an
 * assistant turn of Qwen3's and the generation prompt as the formats'
 * templates write them (Qwen2.5's, Qwen3's, Hermes'), and the turns of
 * their tools blocks, which pic renders too. */
#define CHATML_TURN "{{ '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
/* Qwen3's 2507 templates write `content`, which each message's turn sets
 * to message.content first, when that is a string (pic's always are) */
#define CHATML_TURN_C "{{ '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}"
static const char chatml_content_is_message[] =
    "{% for message in messages %}{% if message.content is string %}{% set content = message.content %}"
    "{% else %}{% set content = '' %}{% endif %}";
#define CHATML_IF_SYS "{% if messages[0].role == 'system' %}"
#define CHATML_SYS "{{ '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}"
#define CHATML_COND "{% if (message.role == 'user') or (message.role == 'system' and not loop.first)"
static const char chatml_plain[] = "{% for message in messages %}" CHATML_TURN "{% endfor %}";
static const char chatml_first_sys[] = CHATML_IF_SYS CHATML_SYS "{% endif %}";
static const char chatml_q25_turn[] = CHATML_COND " or (message.role == 'assistant' and not message.tool_calls) %}"
                                      CHATML_TURN;
static const char chatml_q3_turn[] = CHATML_COND " %}" CHATML_TURN;
static const char chatml_q3_turn_c[] = CHATML_COND " %}" CHATML_TURN_C;
static const char chatml_tool_call_turn[] =
    "{{ '<|im_start|>' + message.role }}{% if message.content %}{{ '\\n' + message.content }}{% endif %}";
static const char chatml_tools_system[] = "{% if tools %}{{ '<|im_start|>system\\n' }}";
static const char chatml_tool_response[] =
    "{{ '<|im_start|>user' }}{% endif %}{{ '\\n<tool_response>\\n' + message.content + '\\n</tool_response>' }}";
static const char chatml_tool_response_c[] =
    "{{ '<|im_start|>user' }}{% endif %}{{ '\\n<tool_response>\\n' + content + '\\n</tool_response>' }}";
static const char chatml_q3_split[] =
    "{% set content = message.content.split('</think>')[-1].lstrip('\\n') %}"
    "{% set reasoning_content = message.content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}";
static const char chatml_q3_split_c[] =
    "{% set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}"
    "{% set content = content.split('</think>')[-1].lstrip('\\n') %}";
static const char chatml_q3_assistant[] =
    "{% if loop.index0 > ns.last_query_index %}{% if loop.last or (not loop.last and reasoning_content) %}"
    "{{ '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + "
    "content.lstrip('\\n') }}{% else %}{{ '<|im_start|>' + message.role + '\\n' + content }}{% endif %}"
    "{% else %}{{ '<|im_start|>' + message.role + '\\n' + content }}{% endif %}";
/* Qwen3-Instruct-2507's assistant turn: no think handling */
static const char chatml_q3i_assistant[] =
    "{% elif message.role == 'assistant' %}{{ '<|im_start|>' + message.role + '\\n' + content }}";
static const char chatml_q3i_assistant_m[] =
    "{% elif message.role == 'assistant' %}{{ '<|im_start|>' + message.role + '\\n' + message.content }}";
/* Qwen3's tools block: the first system message, no default one */
static const char chatml_q3_tools_head[] = "{% if tools %}{{ '<|im_start|>system\\n' }}{% if messages[0].role == 'system' %}"
                                           "{{ messages[0].content + '\\n\\n' }}{% endif %}";
static const char chatml_gen[] = "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
static const char chatml_gen_q3[] =
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% if enable_thinking is defined and "
    "enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}{% endif %}";
static const char chatml_gen_q3_thinking[] =
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n<think>\\n' }}{% endif %}";

/* Whether the items prog[at..at + len) stand inside an occurrence of the
 * items `pattern` (jinja_items text) in prog. */
static bool items_within(const char *prog, size_t at, size_t len, const char *pattern) {
    size_t pl = strlen(pattern);
    for (const char *k = pattern; (k = strstr(k, "{")) && (size_t)(k - pattern) + len <= pl; k++) {
        size_t off = (size_t)(k - pattern);
        if (off <= at && !memcmp(k, prog + at, len) && !strncmp(prog + at - off, pattern, pl)) return true;
    }
    return false;
}

/* Whether a ChatML template, told to be `kind` (named `name`) by its
 * markers and system prompt, writes what that format renders: each
 * message, the first system message or the default system turn
 * (Qwen2.5's), an assistant turn (Qwen3's) and, last, the generation
 * prompt as the format's template writes them, compared as jinja_items;
 * and nothing else that starts a turn (<|im_start|>) but the tools
 * blocks' turns. Else why says what differs. */
static bool chatml_writes(const char *tmpl, pic_chat_kind kind, const char *name, const char *where, char *why,
                          size_t n) {
    bool q3i = kind == PIC_CHAT_QWEN3_INSTRUCT;
    bool q3 = kind == PIC_CHAT_QWEN3 || kind == PIC_CHAT_QWEN3_THINKING || q3i;
    const char *dflt = kind == PIC_CHAT_QWEN2_5 ? tk_chat_qwen25_system
                       : kind == PIC_CHAT_QWEN2_5_MATH
                           ? "Please reason step by step, and put your final answer within \\\\boxed{}."
                           : NULL;
    char *sys_src = dflt ? pic_asprintf("%s{%% else %%}{{ '<|im_start|>system\\n%s<|im_end|>\\n' }}{%% endif %%}",
                                        CHATML_IF_SYS CHATML_SYS, dflt)
                         : pic_strdup(chatml_first_sys);
    const char *gen_src = kind == PIC_CHAT_QWEN3            ? chatml_gen_q3
                          : kind == PIC_CHAT_QWEN3_THINKING ? chatml_gen_q3_thinking
                                                            : chatml_gen;
    jinja_prog g;
    jinja_program(tmpl, &g);
    const char *prog = g.s.s;
    /* Qwen3's 2507 templates: `content` for message.content */
    char *preamble = jinja_items(chatml_content_is_message);
    bool c = q3 && strstr(prog, preamble);
    free(preamble);
    /* what may write a turn's start: the format's own (the first four),
     * the tools blocks' */
    const char *q3_asst = q3i ? c ? chatml_q3i_assistant : chatml_q3i_assistant_m : chatml_q3_assistant;
    const char *src[] = {q3 ? c ? chatml_q3_turn_c : chatml_q3_turn : chatml_q25_turn, sys_src, gen_src,
                         q3 ? q3_asst : chatml_plain, chatml_tools_system,
                         c ? chatml_tool_response_c : chatml_tool_response, q3 ? NULL : chatml_tool_call_turn};
    enum { N = sizeof src / sizeof *src };
    char *want[N] = {0};
    for (size_t i = 0; i < N; i++)
        if (src[i]) want[i] = jinja_items(src[i]);
    char *split = jinja_items(q3i ? "" : c ? chatml_q3_split_c : chatml_q3_split),
         *turn = jinja_items(c ? CHATML_TURN_C : CHATML_TURN), *tools_head = jinja_items(chatml_q3_tools_head);
    size_t gl = strlen(want[2]);
    bool plain = !q3 && !dflt && strstr(prog, want[3]), same = false;
    char lead[2200];
    snprintf(lead, sizeof lead, "%s: a ChatML template that", where);
    /* the first item that starts a turn none of these write, else the
     * first that one of them writes, but elsewhere */
    size_t foreign = g.n, elsewhere = g.n;
    for (size_t i = 0; i < g.n && foreign == g.n; i++) {
        size_t at = g.at[i], len = g.at[i + 1] - at;
        if (!memmem(prog + at, len, "<|im_start|>", 12)) continue;
        bool ok = false, known = false;
        for (size_t k = 0; k < N && !ok; k++) {
            ok = want[k] && items_within(prog, at, len, want[k]);
            known = known || (want[k] && memmem(want[k], strlen(want[k]), prog + at, len));
        }
        if (!known) foreign = i;
        else if (!ok && elsewhere == g.n) elsewhere = i;
    }
    size_t i = foreign < g.n ? foreign : elsewhere;
    if (i < g.n) {
        size_t at = g.at[i], len = g.at[i + 1] - at;
        int shown = len > 160 ? 160 : (int)len;
        const char *more = len > 160 ? "..." : "";
        if (prog[at + 1] == '%')
            snprintf(why, n, "%s builds a turn in a tag that writes nothing (%.*s%s), which %s does not do: it "
                     "writes each message as %s", lead, shown, prog + at, more, name, turn);
        else if (foreign < g.n)
            snprintf(why, n, "%s writes %.*s%s, a turn which %s does not write: it writes each message as %s", lead,
                     shown, prog + at, more, name, turn);
        else if (i == 0)
            snprintf(why, n, "%s writes %.*s%s first, which %s does not", lead, shown, prog + at, more, name);
        else
            snprintf(why, n, "%s writes %.*s%s after %.*s, which %s does not", lead, shown, prog + at, more,
                     (int)(at - g.at[i - 1] > 160 ? 160 : at - g.at[i - 1]), prog + g.at[i - 1], name);
    } else if (!plain && !strstr(prog, want[0])) {
        snprintf(why, n, "%s does not write each message as %s does: %s", lead, name, q3 || dflt ? want[0] : turn);
    } else if (!plain && !strstr(prog, want[1])) {
        snprintf(why, n, "%s does not write the first system message%s as %s does: %s", lead,
                 dflt ? " or the default system turn" : "", name, want[1]);
    } else if (q3 && !(strstr(prog, want[3]) && strstr(prog, split))) {
        snprintf(why, n, "%s does not write an assistant turn as %s does: %s after %s", lead, name, want[3], split);
    } else if (q3 && strstr(prog, want[4]) && !strstr(prog, tools_head)) {
        snprintf(why, n, "%s does not begin its tools block as %s does: %s", lead, name, tools_head);
    } else if (g.s.len < gl || strcmp(prog + g.s.len - gl, want[2])) {
        snprintf(why, n, "%s does not end with %s's generation prompt, %s", lead, name, want[2]);
    } else {
        same = true;
    }
    for (size_t k = 0; k < N; k++) free(want[k]);
    free(split), free(turn), free(tools_head), free(sys_src);
    jinja_program_free(&g);
    return same;
}

/* The ChatML format spec, when chatml_writes says the template writes it. */
static pic_chat *chatml_checked(const char *tmpl, const char *spec, const char *where, char *why, size_t n) {
    pic_chat *c = pic_chat_new(spec);
    if (chatml_writes(tmpl, pic_chat_kind_of(c), spec, where, why, n)) return c;
    pic_chat_free(c);
    return NULL;
}

/* A ChatML template's format: the Qwen formats are told by the system
 * prompt they default to (Qwen2.5-Math's template is Qwen2.5's with
 * another one), Qwen3 by its think blocks. A default system prompt none of
 * them writes, or one beside a think block, would be dropped or misplaced:
 * NULL, with why saying so. */
static pic_chat *chatml_format(const pic_tokenizer *t, const char *tmpl, const char *where, char *why, size_t n) {
    /* Hermes-2-Pro-Llama-3's (Llama 3 fine-tunes', LFM2's) write bos_token
     * before the first turn: undefined, so nothing, for Qwen's tokenizers,
     * which have none, else a token no ChatML format writes */
    if (strstr(tmpl, "bos_token") && pic_tokenizer_bos_id(t) >= 0) {
        snprintf(why, n, "%s: a ChatML template that writes the tokenizer's BOS (bos_token), which none of the "
                 "formats pic renders (" PIC_CHAT_FORMATS ") does", where);
        return NULL;
    }
    size_t len = 0;
    const char *dflt = chatml_default_system(tmpl, &len);
    bool think = strstr(tmpl, "<think>") != NULL;
    /* the generation prompt (what follows the last add_generation_prompt)
     * opens the think block, a literal ending in <think>\n (Qwen3's 2507
     * thinking models, QwQ), unless a switch decides: Qwen3.5's opens it
     * unless enable_thinking is false, others as force_thinking says (NULL
     * below). Qwen3's own closes an empty one there, which is no opening. */
    const char *gen = tmpl;
    for (const char *p = strstr(tmpl, "add_generation_prompt"); p; p = strstr(p + 1, "add_generation_prompt")) gen = p;
    bool opens = strstr(gen, "<think>\\n'") || strstr(gen, "<think>\\n\"");
    bool switched = has_if(gen);
    /* Phi-4's (and Phi-4-reasoning's) turns are <|im_start|>ROLE<|im_sep|>
     * with no newline after them: ChatML's markers, another format */
    if (!strstr(gen, "<|im_start|>assistant\\n") && !strstr(gen, "<|im_start|>assistant\n")) {
        snprintf(why, n, "%s: a ChatML template whose generation prompt is not '<|im_start|>assistant' and a newline "
                 "(Phi-4's has <|im_sep|> there), which none of the formats pic renders (" PIC_CHAT_FORMATS ") writes",
                 where);
        return NULL;
    }
    /* SmolLM3's writes a system turn of its own (metadata, a date, its
     * instructions) before every conversation, outside any {% if %} */
    if (always_written(tmpl, "<|im_start|>system")) {
        snprintf(why, n, "%s: a ChatML template that writes a system turn into every conversation (SmolLM3's "
                 "metadata, say), which none of the formats pic renders (" PIC_CHAT_FORMATS ") writes", where);
        return NULL;
    }
    /* Qwen3-Instruct-2507's: Qwen3's without a think block anywhere; a
     * ChatML template that is not chatml may be it */
    if (!dflt && !think) {
        pic_chat *c = chatml_checked(tmpl, "chatml", where, why, n);
        if (c) return c;
        char other[4096];
        if ((c = chatml_checked(tmpl, "qwen3-instruct", where, other, sizeof other))) {
            if (n) *why = 0;
            return c;
        }
        if (strstr(tmpl, "is string")) snprintf(why, n, "%s", other); /* a 2507 template's reason */
        return NULL;
    }
    if (!dflt && !(opens && switched))
        return chatml_checked(tmpl, opens ? "qwen3-thinking" : think ? "qwen3" : "chatml", where, why, n);
    /* qwen25_math_system's backslash is doubled in the template's literal */
    if (!think && span_is(dflt, len, tk_chat_qwen25_system)) return chatml_checked(tmpl, "qwen2.5", where, why, n);
    if (!think && span_is(dflt, len, "Please reason step by step, and put your final answer within \\\\boxed{}."))
        return chatml_checked(tmpl, "qwen2.5-math", where, why, n);
    if (!dflt) {
        snprintf(why, n, "%s: a ChatML template whose generation prompt opens a think block or not as a switch "
                 "(enable_thinking, say) decides, which none of the formats pic renders (" PIC_CHAT_FORMATS ") does",
                 where);
        return NULL;
    }
    int shown = len > 80 ? 80 : (int)len;
    snprintf(why, n, "%s: a ChatML template with the default system prompt '%.*s%s'%s, which none of the formats pic "
             "renders (" PIC_CHAT_FORMATS ") writes", where, shown, dflt, len > 80 ? "..." : "",
             think ? " and a think block" : "");
    return NULL;
}

pic_chat *pic_chat_for_tokenizer(const pic_tokenizer *t, char *why, size_t n) {
    const char *tmpl = pic_tokenizer_chat_template(t), *file = t->chat_template_file;
    if (n) *why = 0;
    if (!file) { /* no template: the special tokens tell */
        if (pic_tokenizer_token_to_id(t, "<|im_start|>") >= 0) return pic_chat_new("chatml");
        if (pic_tokenizer_token_to_id(t, "<|start_header_id|>") >= 0) return pic_chat_new("llama3");
        if (pic_tokenizer_token_to_id(t, "<｜User｜>") >= 0) return pic_chat_new("deepseek-r1");
        return NULL;
    }
    size_t fl = strlen(file);
    bool jinja = fl >= 6 && !strcmp(file + fl - 6, ".jinja");
    char where[2048];
    snprintf(where, sizeof where, "%s%s", file, jinja ? "" : ": field 'chat_template'");
    if (!tmpl) {
        if (jinja) snprintf(why, n, "%s: holds a NUL byte: not a template", file);
        else snprintf(why, n, "%s: neither a string nor a list holding a \"default\" template", where);
        return NULL;
    }
    const char *set = rebinds_messages(tmpl);
    if (set && (strstr(tmpl, "<|im_start|>") || strstr(tmpl, "<|start_header_id|>") || strstr(tmpl, "<｜User｜>"))) {
        const char *close = strstr(set, "%}");
        int len = close ? (int)(close + 2 - set) : (int)strlen(set), shown = len > 80 ? 80 : len;
        snprintf(why, n, "%s: a template that makes its own conversation ('%.*s%s': MiroThinker's puts a system "
                 "turn of its own first), which none of the formats pic renders (" PIC_CHAT_FORMATS ") does", where,
                 shown, set, len > 80 ? "..." : "");
        return NULL;
    }
    if (strstr(tmpl, "<|im_start|>")) return chatml_format(t, tmpl, where, why, n);
    /* Llama 3.1, 3.2 and 3.3 open every conversation with a system turn of
     * date lines; Llama 3 has none */
    if (strstr(tmpl, "<|start_header_id|>")) {
        /* both write each message as Llama 3's template does: its header
         * and its content trimmed. Llama 3.2 Vision's has 3.1's date lines
         * but writes the content as it is (a problem ending in a newline
         * keeps it); told by its markers alone, it was llama3.1 */
        if (!llama3_turn(tmpl)) {
            snprintf(why, n, "%s: a Llama 3 template that does not write each message as Llama 3's does ('<|"
                     "start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + "
                     "'<|eot_id|>'; Llama 3.2 Vision's leaves the content untrimmed), which none of the formats pic "
                     "renders (" PIC_CHAT_FORMATS ") writes", where);
            return NULL;
        }
        if (strstr(tmpl, "Cutting Knowledge Date: December 2023")) return pic_chat_new("llama3.1");
        /* Llama 3's writes a header per message; Nemotron's (Llama 3.3
         * Nemotron Super) writes a system turn of its own, "detailed
         * thinking on", before every conversation, which llama3 leaves out */
        if (always_written(tmpl, "<|start_header_id|>system")) {
            snprintf(why, n, "%s: a Llama 3 template that writes a system turn into every conversation without "
                     "Llama 3.1's date lines (Nemotron's 'detailed thinking on', say), which none of the formats pic "
                     "renders (" PIC_CHAT_FORMATS ") writes", where);
            return NULL;
        }
        /* (Nemotron Super v1.5's builds the headers from variables, writes
         * a system turn of them into every conversation and leaves the
         * content untrimmed: the check above refuses it) */
        return pic_chat_new("llama3");
    }
    /* DeepSeek-R1's templates differ in what follows a user turn: the
     * distilled models' open a think block in the generation prompt (the
     * Jinja literal's \n is a backslash and an n here); R1-0528's Qwen3
     * distill ends the user turn with <｜Assistant｜> and opens none, and one
     * with enable_thinking closes it again. Only the first is deepseek-r1. */
    if (strstr(tmpl, "<｜User｜>") && strstr(tmpl, "<｜Assistant｜><think>\\n'") && !strstr(tmpl, "is_last_user") &&
        !strstr(tmpl, "enable_thinking"))
        return pic_chat_new("deepseek-r1");
    /* DeepSeek-V3's, R1-0528's and the first distills': DeepSeek's markers,
     * another prompt */
    if (strstr(tmpl, "<｜User｜>")) {
        snprintf(why, n, "%s: a DeepSeek template whose generation prompt does not open a think block as DeepSeek-R1's "
                 "distilled models' does ('<｜Assistant｜><think>\\n'), or that depends on is_last_user or enable_thinking "
                 "(DeepSeek-V3's, R1-0528's), which none of the formats pic renders (" PIC_CHAT_FORMATS ") writes", where);
        return NULL;
    }
    snprintf(why, n, "%s: none of the formats pic renders (" PIC_CHAT_FORMATS "): it holds none of their markers", where);
    return NULL;
}

