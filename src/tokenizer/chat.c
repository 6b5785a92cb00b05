/* Chat formats (chat.h). Each renderer follows its Jinja template line by
 * line for plain-text messages; what the templates do with tool calls inside
 * assistant messages is out of scope (messages carry text only). */
#include "tokenizer/chat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cli.h"
#include "common/stream.h"
#include "tokenizer/internal.h"

struct pic_chat {
    pic_chat_kind kind;
    char *name;
    char *tmpl; /* PIC_CHAT_FILE: the file's text */
};

static const char qwen25_system[] = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
static const char qwen25_math_system[] = "Please reason step by step, and put your final answer within \\boxed{}.";
static const char tools_intro[] =
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
static const char tools_outro[] =
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
    "<args-json-object>}\n</tool_call><|im_end|>\n";

/* A template file is checked whole when read: invalid UTF-8 in it would
 * otherwise fail the encoding of every prompt, blamed on the record's
 * 'problem' at a byte offset of the rendered text. */
static void check_template_text(const char *path, const char *text, size_t len) {
    size_t col, at = pic_nul_line(text, len, &col);
    if (at) pic_die("%s: line %zu, column %zu: a chat template file must not contain NUL bytes", path, at, col);
    size_t byte;
    unsigned char value;
    if ((at = pic_utf8_bad_line(text, len, &byte, &value)))
        pic_die("%s: line %zu, byte %zu: invalid UTF-8 (0x%02x): a chat template file is UTF-8 text", path, at, byte,
                value);
    if (!strstr(text, "{problem}"))
        pic_die("%s: not a chat template: no {problem} in it (or use " PIC_CHAT_FORMATS ")", path);
}

/* The built-in formats, as PIC_CHAT_FORMATS names them. */
static const struct {
    const char *name;
    pic_chat_kind kind;
} formats[] = {{"chatml", PIC_CHAT_CHATML}, {"qwen2.5", PIC_CHAT_QWEN2_5}, {"qwen3", PIC_CHAT_QWEN3},
               {"qwen3-thinking", PIC_CHAT_QWEN3_THINKING}, {"qwen3-nothink", PIC_CHAT_QWEN3_NOTHINK},
               {"qwen2.5-math", PIC_CHAT_QWEN2_5_MATH}, {"llama3", PIC_CHAT_LLAMA3},
               {"llama3.1", PIC_CHAT_LLAMA3_1}, {"deepseek-r1", PIC_CHAT_DEEPSEEK_R1}};

static pic_chat_kind format_kind(const char *spec) {
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
        if (!strcmp(spec, formats[i].name)) return formats[i].kind;
    return PIC_CHAT_FILE;
}

pic_chat *pic_chat_new(const char *spec) {
    pic_chat *c = pic_calloc(1, sizeof *c);
    c->name = pic_strdup(spec);
    c->kind = format_kind(spec);
    if (c->kind == PIC_CHAT_FILE) {
        size_t len;
        c->tmpl = pic_read_file(spec, &len);
        check_template_text(spec, c->tmpl, len);
    }
    return c;
}

bool pic_chat_spec_known(const char *spec) {
    if (format_kind(spec) != PIC_CHAT_FILE) return true;
    struct stat st;
    return stat(spec, &st) == 0 || (errno != ENOENT && errno != ENOTDIR);
}

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
#define CHATML_IF_SYS "{% if messages[0].role == 'system' %}"
#define CHATML_SYS "{{ '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}"
#define CHATML_COND "{% if (message.role == 'user') or (message.role == 'system' and not loop.first)"
static const char chatml_plain[] = "{% for message in messages %}" CHATML_TURN "{% endfor %}";
static const char chatml_first_sys[] = CHATML_IF_SYS CHATML_SYS "{% endif %}";
static const char chatml_q25_turn[] = CHATML_COND " or (message.role == 'assistant' and not message.tool_calls) %}"
                                      CHATML_TURN;
static const char chatml_q3_turn[] = CHATML_COND " %}" CHATML_TURN;
static const char chatml_tool_call_turn[] =
    "{{ '<|im_start|>' + message.role }}{% if message.content %}{{ '\\n' + message.content }}{% endif %}";
static const char chatml_tools_system[] = "{% if tools %}{{ '<|im_start|>system\\n' }}";
static const char chatml_tool_response[] =
    "{{ '<|im_start|>user' }}{% endif %}{{ '\\n<tool_response>\\n' + message.content + '\\n</tool_response>' }}";
static const char chatml_q3_split[] =
    "{% set content = message.content.split('</think>')[-1].lstrip('\\n') %}"
    "{% set reasoning_content = message.content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}";
static const char chatml_q3_assistant[] =
    "{% if loop.index0 > ns.last_query_index %}{% if loop.last or (not loop.last and reasoning_content) %}"
    "{{ '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + "
    "content.lstrip('\\n') }}{% else %}{{ '<|im_start|>' + message.role + '\\n' + content }}{% endif %}"
    "{% else %}{{ '<|im_start|>' + message.role + '\\n' + content }}{% endif %}";
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
    bool q3 = kind == PIC_CHAT_QWEN3 || kind == PIC_CHAT_QWEN3_THINKING;
    const char *dflt = kind == PIC_CHAT_QWEN2_5 ? qwen25_system
                       : kind == PIC_CHAT_QWEN2_5_MATH
                           ? "Please reason step by step, and put your final answer within \\\\boxed{}."
                           : NULL;
    char *sys_src = dflt ? pic_asprintf("%s{%% else %%}{{ '<|im_start|>system\\n%s<|im_end|>\\n' }}{%% endif %%}",
                                        CHATML_IF_SYS CHATML_SYS, dflt)
                         : pic_strdup(chatml_first_sys);
    const char *gen_src = kind == PIC_CHAT_QWEN3            ? chatml_gen_q3
                          : kind == PIC_CHAT_QWEN3_THINKING ? chatml_gen_q3_thinking
                                                            : chatml_gen;
    /* what may write a turn's start: the format's own (the first four),
     * the tools blocks' */
    const char *src[] = {q3 ? chatml_q3_turn : chatml_q25_turn, sys_src, gen_src,
                         q3 ? chatml_q3_assistant : chatml_plain, chatml_tools_system, chatml_tool_response,
                         q3 ? NULL : chatml_tool_call_turn};
    enum { N = sizeof src / sizeof *src };
    char *want[N] = {0};
    for (size_t i = 0; i < N; i++)
        if (src[i]) want[i] = jinja_items(src[i]);
    char *split = jinja_items(chatml_q3_split), *turn = jinja_items(CHATML_TURN);
    jinja_prog g;
    jinja_program(tmpl, &g);
    const char *prog = g.s.s;
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
    } else if (g.s.len < gl || strcmp(prog + g.s.len - gl, want[2])) {
        snprintf(why, n, "%s does not end with %s's generation prompt, %s", lead, name, want[2]);
    } else {
        same = true;
    }
    for (size_t k = 0; k < N; k++) free(want[k]);
    free(split), free(turn), free(sys_src);
    jinja_program_free(&g);
    return same;
}

/* The ChatML format spec, when chatml_writes says the template writes it. */
static pic_chat *chatml_checked(const char *tmpl, const char *spec, const char *where, char *why, size_t n) {
    pic_chat *c = pic_chat_new(spec);
    if (chatml_writes(tmpl, c->kind, spec, where, why, n)) return c;
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
    if (!dflt && !(opens && switched))
        return chatml_checked(tmpl, opens ? "qwen3-thinking" : think ? "qwen3" : "chatml", where, why, n);
    /* qwen25_math_system's backslash is doubled in the template's literal */
    if (!think && span_is(dflt, len, qwen25_system)) return chatml_checked(tmpl, "qwen2.5", where, why, n);
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
        /* llama3 writes each message as Llama 3's template does: its header
         * and its content trimmed. Nemotron Super v1.5's builds the
         * headers from variables ({% set start_header = ... %}), writes a
         * system turn of them into every conversation and leaves the
         * content untrimmed: told by its markers alone, it was llama3 */
        if (!llama3_turn(tmpl)) {
            snprintf(why, n, "%s: a Llama 3 template that does not write each message as Llama 3's does ('<|"
                     "start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + "
                     "'<|eot_id|>'), which none of the formats pic renders (" PIC_CHAT_FORMATS ") writes", where);
            return NULL;
        }
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
    snprintf(why, n, "%s: none of the formats pic renders (" PIC_CHAT_FORMATS "): it holds none of their markers", where);
    return NULL;
}

void pic_chat_free(pic_chat *c) {
    if (!c) return;
    free(c->name);
    free(c->tmpl);
    free(c);
}

pic_chat_kind pic_chat_kind_of(const pic_chat *c) { return c->kind; }
const char *pic_chat_name(const pic_chat *c) { return c->name; }

const char *pic_chat_turn_end(const pic_chat *c) {
    switch (c->kind) {
    case PIC_CHAT_LLAMA3:
    case PIC_CHAT_LLAMA3_1: return "<|eot_id|>";
    case PIC_CHAT_DEEPSEEK_R1: return "<｜end▁of▁sentence｜>";
    case PIC_CHAT_FILE: return NULL;
    default: return "<|im_end|>";
    }
}

const char *pic_chat_missing_marker(const pic_chat *c, const pic_tokenizer *t) {
    static const char *const chatml[] = {"<|im_start|>", "<|im_end|>", NULL};
    static const char *const llama3[] = {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                                         "<|eot_id|>", NULL};
    static const char *const deepseek[] = {"<｜begin▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>",
                                           "<｜end▁of▁sentence｜>", NULL};
    const char *const *m = c->kind == PIC_CHAT_LLAMA3 || c->kind == PIC_CHAT_LLAMA3_1 ? llama3
                           : c->kind == PIC_CHAT_DEEPSEEK_R1 ? deepseek
                           : c->kind == PIC_CHAT_FILE        ? NULL
                                                             : chatml;
    for (; m && *m; m++)
        if (pic_tokenizer_token_to_id(t, *m) < 0) return *m;
    return NULL;
}

bool pic_chat_doubles_bos(const pic_chat *c, const pic_tokenizer *t) {
    int32_t bos = pic_tokenizer_bos_id(t), *ids = NULL;
    size_t n = 0;
    char *text = pic_chat_prompt(c, "x");
    bool twice = bos >= 0 && pic_tokenizer_encode(t, text, strlen(text), true, &ids, &n) == 0 && n >= 2 &&
                 ids[0] == bos && ids[1] == bos;
    free(ids);
    free(text);
    return twice;
}

static void add(tk_str *b, const char *s) { tk_str_add(b, s, strlen(s)); }

static void add3(tk_str *b, const char *a, const char *m, const char *z) {
    add(b, a);
    add(b, m);
    add(b, z);
}

/* Python's str.isspace, which Jinja's trim and str.strip use. */
static bool py_space(uint32_t c) { return tk_is_whitespace(c) || (c >= 0x1C && c <= 0x1F); }

static uint32_t char_before(const char *s, size_t i, size_t *start) {
    size_t k = i - 1;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    uint32_t cp = 0;
    pic_utf8_next(s, i, k, &cp);
    *start = k;
    return cp;
}

/* s[*a..*b) without leading (lead) and trailing (trail) characters in set:
 * the set is Python whitespace when only_nl is false, else "\n". */
static void strip(const char *s, size_t *a, size_t *b, bool lead, bool trail, bool only_nl) {
    uint32_t cp;
    int l;
    while (lead && *a < *b && (l = pic_utf8_next(s, *b, *a, &cp)) > 0 && (only_nl ? cp == '\n' : py_space(cp)))
        *a += (size_t)l;
    size_t k;
    while (trail && *b > *a && ((cp = char_before(s, *b, &k)), only_nl ? cp == '\n' : py_space(cp))) *b = k;
}

static void add_span(tk_str *b, const char *s, size_t a, size_t z) { tk_str_add(b, s + a, z - a); }

static void add_tools(tk_str *b, const json_t *tools) {
    add(b, tools_intro);
    for (size_t i = 0; i < json_array_size(tools); i++) {
        /* jansson's default (non-compact) separators are Python json.dumps'
         * ", " and ": ", and without ENSURE_ASCII it writes UTF-8 as is,
         * as transformers' tojson does */
        char *js = json_dumps(json_array_get(tools, i), JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        add(b, "\n");
        add(b, js ? js : "null");
        free(js);
    }
    add(b, tools_outro);
}

/* A run of tool messages becomes one user turn of <tool_response> blocks. */
static void add_tool_msg(tk_str *b, const pic_chat_msg *m, size_t n, size_t i) {
    if (i == 0 || strcmp(m[i - 1].role, "tool")) add(b, "<|im_start|>user");
    add3(b, "\n<tool_response>\n", m[i].content, "\n</tool_response>");
    if (i + 1 == n || strcmp(m[i + 1].role, "tool")) add(b, "<|im_end|>\n");
}

/* ChatML as Qwen2.5's template writes it; default_system is the system
 * prompt of a conversation without one (NULL: none; with tools, Qwen2.5's). */
static const char *render_qwen25(tk_str *b, const pic_chat_msg *m, size_t n, const pic_chat_opts *o,
                                 const char *default_system) {
    bool first_sys = !strcmp(m[0].role, "system");
    if (o->tools && json_array_size(o->tools)) {
        add(b, "<|im_start|>system\n");
        add(b, first_sys ? m[0].content : default_system ? default_system : qwen25_system);
        add(b, "\n\n");
        add_tools(b, o->tools);
    } else if (first_sys) add3(b, "<|im_start|>system\n", m[0].content, "<|im_end|>\n");
    else if (default_system) add3(b, "<|im_start|>system\n", default_system, "<|im_end|>\n");
    for (size_t i = first_sys ? 1 : 0; i < n; i++) {
        const char *r = m[i].role;
        if (!strcmp(r, "user") || !strcmp(r, "system") || !strcmp(r, "assistant")) {
            add3(b, "<|im_start|>", r, "\n");
            add3(b, m[i].content, "<|im_end|>", "\n");
        } else if (!strcmp(r, "tool")) add_tool_msg(b, m, n, i);
        else return "a role other than system, user, assistant or tool";
    }
    if (o->add_generation_prompt) add(b, "<|im_start|>assistant\n");
    return NULL;
}

static bool is_tool_response(const char *s) {
    size_t n = strlen(s);
    return n >= 31 && !strncmp(s, "<tool_response>", 15) && !strcmp(s + n - 16, "</tool_response>");
}

/* Qwen3's assistant turn: reasoning before </think> is kept only after the
 * last real user query, and shown in a <think> block there. */
static void qwen3_assistant(tk_str *b, const char *s, bool after_query, bool last) {
    size_t n = strlen(s), ca = 0, cb = n, ra = 0, rb = 0;
    const char *end = NULL;
    for (const char *p = strstr(s, "</think>"); p; p = strstr(p + 1, "</think>")) end = p;
    if (end) {
        const char *first_end = strstr(s, "</think>");
        ca = (size_t)(end - s) + 8; /* content: after the last </think>, leading newlines off */
        strip(s, &ca, &cb, true, false, true);
        ra = 0, rb = (size_t)(first_end - s); /* reasoning: before the first </think> */
        strip(s, &ra, &rb, false, true, true);
        for (const char *p = s; (p = strstr(p, "<think>")) && (size_t)(p - s) < rb; p++) ra = (size_t)(p - s) + 7;
        strip(s, &ra, &rb, true, false, true);
    }
    add(b, "<|im_start|>assistant\n");
    if (after_query && (last || rb > ra)) {
        add(b, "<think>\n");
        strip(s, &ra, &rb, true, true, true);
        add_span(b, s, ra, rb);
        add(b, "\n</think>\n\n");
        strip(s, &ca, &cb, true, false, true);
    }
    add_span(b, s, ca, cb);
    add(b, "<|im_end|>\n");
}

/* Qwen3; opens: the generation prompt opens the think block, whatever
 * enable_thinking says (qwen3-thinking). */
static const char *render_qwen3(tk_str *b, const pic_chat_msg *m, size_t n, const pic_chat_opts *o, bool opens) {
    bool first_sys = !strcmp(m[0].role, "system");
    if (o->tools && json_array_size(o->tools)) {
        add(b, "<|im_start|>system\n");
        if (first_sys) add3(b, m[0].content, "\n\n", "");
        add_tools(b, o->tools);
    } else if (first_sys) add3(b, "<|im_start|>system\n", m[0].content, "<|im_end|>\n");
    size_t last_query = n - 1;
    for (size_t i = n; i-- > 0;)
        if (!strcmp(m[i].role, "user") && !is_tool_response(m[i].content)) {
            last_query = i;
            break;
        }
    for (size_t i = first_sys ? 1 : 0; i < n; i++) {
        const char *r = m[i].role;
        if (!strcmp(r, "user") || !strcmp(r, "system")) {
            add3(b, "<|im_start|>", r, "\n");
            add3(b, m[i].content, "<|im_end|>", "\n");
        } else if (!strcmp(r, "assistant")) qwen3_assistant(b, m[i].content, i > last_query, i + 1 == n);
        else if (!strcmp(r, "tool")) add_tool_msg(b, m, n, i);
        else return "a role other than system, user, assistant or tool";
    }
    if (o->add_generation_prompt) {
        add(b, "<|im_start|>assistant\n");
        if (opens) add(b, "<think>\n");
        else if (o->enable_thinking == 0) add(b, "<think>\n\n</think>\n\n");
    }
    return NULL;
}

/* s without Python's whitespace at either end (Jinja's trim). */
static void add_trimmed(tk_str *b, const char *s) {
    size_t a = 0, z = strlen(s);
    strip(s, &a, &z, true, true, false);
    add_span(b, s, a, z);
}

/* A Llama 3 turn: the role's header, the content trimmed. */
static void add_llama_turn(tk_str *b, const char *role, const char *content) {
    add3(b, "<|start_header_id|>", role, "<|end_header_id|>\n\n");
    add_trimmed(b, content);
    add(b, "<|eot_id|>");
}

static const char *render_llama3(tk_str *b, const pic_chat_msg *m, size_t n, const pic_chat_opts *o) {
    if (o->tools && json_array_size(o->tools)) return "tools, which only the Qwen formats render";
    add(b, "<|begin_of_text|>");
    for (size_t i = 0; i < n; i++) add_llama_turn(b, m[i].role, m[i].content);
    if (o->add_generation_prompt) add(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return NULL;
}

/* Llama 3.1 to 3.3 Instruct: a system turn always, its date lines before
 * the system message (trimmed); a tool's output in an ipython turn, as
 * JSON, since the template's 'is iterable' holds for a string. The date is
 * the one Llama 3.1's template writes and 3.2's falls back to; 3.2's writes
 * the day's date where the renderer gives it a clock (transformers does):
 * pic keeps a run's prompts the same from one day to the next. */
static const char *render_llama31(tk_str *b, const pic_chat_msg *m, size_t n, const pic_chat_opts *o) {
    if (o->tools && json_array_size(o->tools)) return "tools, which only the Qwen formats render";
    add(b, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
           "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n");
    size_t first = !strcmp(m[0].role, "system");
    if (first) add_trimmed(b, m[0].content);
    add(b, "<|eot_id|>");
    for (size_t i = first; i < n; i++) {
        if (!strcmp(m[i].role, "tool") || !strcmp(m[i].role, "ipython")) {
            json_t *js = json_string(m[i].content);
            char *text = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
            json_decref(js);
            if (!text) return "a tool message that is not UTF-8";
            add3(b, "<|start_header_id|>ipython<|end_header_id|>\n\n", text, "<|eot_id|>");
            free(text);
        } else {
            add_llama_turn(b, m[i].role, m[i].content);
        }
    }
    if (o->add_generation_prompt) add(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return NULL;
}

/* DeepSeek-R1's distilled models: the system prompt is the last system
 * message's, wherever it stands, written bare after the BOS; an assistant
 * turn keeps only what follows its last </think>, as the template's
 * content.split('</think>')[-1]. */
static const char *render_deepseek_r1(tk_str *b, const pic_chat_msg *m, size_t n, const pic_chat_opts *o) {
    const char *system = "";
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(m[i].role, "system")) system = m[i].content;
        else if (strcmp(m[i].role, "user") && strcmp(m[i].role, "assistant"))
            return "a role other than system, user or assistant";
    }
    add3(b, "<｜begin▁of▁sentence｜>", system, "");
    for (size_t i = 0; i < n; i++) {
        const char *s = m[i].content;
        if (!strcmp(m[i].role, "user")) {
            add3(b, "<｜User｜>", s, "");
        } else if (!strcmp(m[i].role, "assistant")) {
            for (const char *p = strstr(s, "</think>"); p; p = strstr(p + 1, "</think>")) s = p + 8;
            add3(b, "<｜Assistant｜>", s, "<｜end▁of▁sentence｜>");
        }
    }
    if (o->add_generation_prompt) add(b, "<｜Assistant｜><think>\n");
    return NULL;
}

static const char *render_file(tk_str *b, const pic_chat *c, const pic_chat_msg *m, size_t n) {
    if (n != 1 || strcmp(m[0].role, "user")) return "a template file takes exactly one user message";
    const char *p = c->tmpl, *q;
    while ((q = strstr(p, "{problem}"))) {
        tk_str_add(b, p, (size_t)(q - p));
        add(b, m[0].content);
        p = q + 9;
    }
    add(b, p);
    return NULL;
}

char *pic_chat_render(const pic_chat *c, const pic_chat_msg *msgs, size_t n, const pic_chat_opts *opts,
                      const char **err) {
    pic_chat_opts dflt = {true, -1, NULL};
    if (!opts) opts = &dflt;
    if (n == 0) {
        *err = "no messages";
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content) {
            *err = "a message without role or content";
            return NULL;
        }
    tk_str b = {0};
    const char *e = NULL;
    switch (c->kind) {
    case PIC_CHAT_CHATML: e = render_qwen25(&b, msgs, n, opts, NULL); break;
    case PIC_CHAT_QWEN2_5: e = render_qwen25(&b, msgs, n, opts, qwen25_system); break;
    case PIC_CHAT_QWEN2_5_MATH: e = render_qwen25(&b, msgs, n, opts, qwen25_math_system); break;
    case PIC_CHAT_QWEN3: e = render_qwen3(&b, msgs, n, opts, false); break;
    case PIC_CHAT_QWEN3_THINKING: e = render_qwen3(&b, msgs, n, opts, true); break;
    case PIC_CHAT_QWEN3_NOTHINK: {
        pic_chat_opts off = *opts; /* Qwen3 with enable_thinking=False */
        off.enable_thinking = 0;
        e = render_qwen3(&b, msgs, n, &off, false);
        break;
    }
    case PIC_CHAT_LLAMA3: e = render_llama3(&b, msgs, n, opts); break;
    case PIC_CHAT_LLAMA3_1: e = render_llama31(&b, msgs, n, opts); break;
    case PIC_CHAT_DEEPSEEK_R1: e = render_deepseek_r1(&b, msgs, n, opts); break;
    case PIC_CHAT_FILE: e = render_file(&b, c, msgs, n); break;
    }
    if (e) {
        free(b.s);
        *err = e;
        return NULL;
    }
    if (!b.s) tk_str_add(&b, "", 0);
    return b.s;
}

char *pic_chat_prompt(const pic_chat *c, const char *problem) {
    pic_chat_msg m = {"user", problem};
    pic_chat_opts o = {true, -1, NULL};
    const char *err;
    char *s = pic_chat_render(c, &m, 1, &o, &err);
    if (!s) pic_die("chat format %s: %s", c->name, err); /* cannot happen for one user turn */
    return s;
}
