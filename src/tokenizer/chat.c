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

/* also the default system prompt that tells Qwen2.5's template (chat_detect.c) */
const char tk_chat_qwen25_system[] = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
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
               {"qwen3-instruct", PIC_CHAT_QWEN3_INSTRUCT},
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
        add(b, first_sys ? m[0].content : default_system ? default_system : tk_chat_qwen25_system);
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
 * enable_thinking says (qwen3-thinking); plain: no think handling at all,
 * an assistant turn as it is and a bare generation prompt (qwen3-instruct,
 * Qwen3-Instruct-2507's template). */
static const char *render_qwen3(tk_str *b, const pic_chat_msg *m, size_t n, const pic_chat_opts *o, bool opens,
                                bool plain) {
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
        } else if (!strcmp(r, "assistant") && plain) {
            add3(b, "<|im_start|>assistant\n", m[i].content, "<|im_end|>\n");
        } else if (!strcmp(r, "assistant")) qwen3_assistant(b, m[i].content, i > last_query, i + 1 == n);
        else if (!strcmp(r, "tool")) add_tool_msg(b, m, n, i);
        else return "a role other than system, user, assistant or tool";
    }
    if (o->add_generation_prompt) {
        add(b, "<|im_start|>assistant\n");
        if (opens) add(b, "<think>\n");
        else if (o->enable_thinking == 0 && !plain) add(b, "<think>\n\n</think>\n\n");
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
    case PIC_CHAT_QWEN2_5: e = render_qwen25(&b, msgs, n, opts, tk_chat_qwen25_system); break;
    case PIC_CHAT_QWEN2_5_MATH: e = render_qwen25(&b, msgs, n, opts, qwen25_math_system); break;
    case PIC_CHAT_QWEN3: e = render_qwen3(&b, msgs, n, opts, false, false); break;
    case PIC_CHAT_QWEN3_THINKING: e = render_qwen3(&b, msgs, n, opts, true, false); break;
    case PIC_CHAT_QWEN3_INSTRUCT: e = render_qwen3(&b, msgs, n, opts, false, true); break;
    case PIC_CHAT_QWEN3_NOTHINK: {
        pic_chat_opts off = *opts; /* Qwen3 with enable_thinking=False */
        off.enable_thinking = 0;
        e = render_qwen3(&b, msgs, n, &off, false, false);
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
