/* Chat formats against HF's apply_chat_template renderings
 * (tests/fixtures/tokenizers/qwen2.5/chat_templates.json: text and ids),
 * plus the template rules those cases do not reach. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/cli.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"

#define FIX "tests/fixtures/tokenizers/"

static char tmpdir[] = "/tmp/pic-test-chat-XXXXXX";

/* A model directory in tmpdir with the decompressed tokenizer.json. */
static pic_tokenizer *unpack(const char *name) {
    char *cmd = pic_asprintf("mkdir -p '%s/%s' && xz -dc " FIX "%s/tokenizer.json.xz > '%s/%s/tokenizer.json' && "
                             "cp " FIX "%s/tokenizer_config.json '%s/%s/'",
                             tmpdir, name, name, tmpdir, name, name, tmpdir, name);
    if (system(cmd) != 0) pic_die("failed: %s", cmd);
    free(cmd);
    char *dir = pic_asprintf("%s/%s", tmpdir, name);
    pic_tokenizer *t = pic_tokenizer_load(dir);
    free(dir);
    return t;
}

static bool text_is(const char *got, const char *want) {
    bool ok = got && !strcmp(got, want);
    if (!ok) printf("#   got  '%s'\n#   want '%s'\n", got ? got : "(null)", want);
    return ok;
}

/* A case's 'messages' (pointing into c). */
static pic_chat_msg *messages_of(const json_t *c, size_t *n) {
    const json_t *msgs = json_object_get(c, "messages");
    *n = json_array_size(msgs);
    pic_chat_msg *m = pic_calloc(*n ? *n : 1, sizeof *m);
    for (size_t i = 0; i < *n; i++) {
        m[i].role = json_string_value(json_object_get(json_array_get(msgs, i), "role"));
        m[i].content = json_string_value(json_object_get(json_array_get(msgs, i), "content"));
    }
    return m;
}

/* qwen3-nothink is Qwen3 with enable_thinking=False: HF's renderings of
 * that (qwen3/.../enable_thinking=False), with no option set. */
static void qwen3_nothink_cases(void) {
    json_error_t err;
    json_t *all = json_load_file(FIX "qwen2.5/chat_templates.json", 0, &err);
    if (!all) pic_die("chat_templates.json: %s", err.text);
    pic_chat *chat = pic_chat_new("qwen3-nothink");
    const char *name;
    json_t *c;
    int n_cases = 0;
    json_object_foreach(all, name, c) {
        if (strncmp(name, "qwen3/", 6) || !strstr(name, "enable_thinking=False")) continue;
        size_t n;
        pic_chat_msg *m = messages_of(c, &n);
        pic_chat_opts o = {json_is_true(json_object_get(c, "add_generation_prompt")), -1, NULL};
        const char *e = NULL;
        char *text = pic_chat_render(chat, m, n, &o, &e);
        CHECK(text_is(text, json_string_value(json_object_get(c, "text"))), "qwen3-nothink: %s", name);
        free(text);
        free(m);
        n_cases++;
    }
    CHECK(n_cases == 2, "qwen3-nothink: HF's two enable_thinking=False renderings");
    char *s = pic_chat_prompt(chat, "1+1?");
    CHECK(text_is(s, "<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"),
          "qwen3-nothink: the prompt closes an empty think block");
    free(s);
    pic_chat_free(chat);
    json_decref(all);
}

static void golden_cases(pic_tokenizer *q25, pic_tokenizer *q3) {
    json_error_t err;
    json_t *all = json_load_file(FIX "qwen2.5/chat_templates.json", 0, &err);
    if (!all) pic_die("chat_templates.json: %s", err.text);
    const char *name;
    json_t *c;
    json_object_foreach(all, name, c) {
        bool qwen3 = !strncmp(name, "qwen3/", 6);
        pic_chat *chat = pic_chat_new(qwen3 ? "qwen3" : "qwen2.5");
        size_t n;
        pic_chat_msg *m = messages_of(c, &n);
        json_t *think = json_object_get(c, "enable_thinking");
        pic_chat_opts o = {json_is_true(json_object_get(c, "add_generation_prompt")),
                           think ? json_is_true(think) : -1, json_object_get(c, "tools")};
        const char *e = NULL;
        char *text = pic_chat_render(chat, m, n, &o, &e);
        CHECK(text_is(text, json_string_value(json_object_get(c, "text"))), "%s: text", name);
        int32_t *ids;
        size_t k;
        pic_tokenizer_encode(qwen3 ? q3 : q25, text, strlen(text), false, &ids, &k);
        json_t *want = json_object_get(c, "ids");
        bool same = k == json_array_size(want);
        for (size_t i = 0; same && i < k; i++) same = ids[i] == json_integer_value(json_array_get(want, i));
        CHECK(same, "%s: ids", name);
        free(ids);
        free(text);
        free(m);
        pic_chat_free(chat);
    }
    json_decref(all);
}

static char *render(const char *spec, const pic_chat_msg *m, size_t n, bool agp) {
    pic_chat *c = pic_chat_new(spec);
    pic_chat_opts o = {agp, -1, NULL};
    const char *e;
    char *s = pic_chat_render(c, m, n, &o, &e);
    pic_chat_free(c);
    return s;
}

static void rules(void) {
    pic_chat_msg hist[] = {{"user", "q1"}, {"assistant", "<think>\nr1\n</think>\n\na1"}, {"user", "q2"},
                           {"assistant", "<think>r2</think>a2"}};
    char *s = render("qwen3", hist, 4, false);
    CHECK(text_is(s, "<|im_start|>user\nq1<|im_end|>\n<|im_start|>assistant\na1<|im_end|>\n"
                     "<|im_start|>user\nq2<|im_end|>\n<|im_start|>assistant\n<think>\nr2\n</think>\n\na2<|im_end|>\n"),
          "qwen3: reasoning dropped before the last query, kept after it");
    free(s);

    /* a user message that starts with <tool_response> and ends with
     * </tool_response> is no query to Qwen3's template, however short:
     * 31 bytes hold both; the shortest taken for one was 33 (jinja2's
     * rendering of Qwen3's template below) */
    pic_chat_msg resp[] = {{"user", "q"}, {"assistant", "<think>r</think>a"}, {"user", "<tool_response>1</tool_response>"},
                           {"assistant", "b"}};
    s = render("qwen3", resp, 4, false);
    CHECK(text_is(s, "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\nr\n</think>\n\na<|im_end|>\n"
                     "<|im_start|>user\n<tool_response>1</tool_response><|im_end|>\n"
                     "<|im_start|>assistant\n<think>\n\n</think>\n\nb<|im_end|>\n"),
          "qwen3: a 32-byte <tool_response> user message is no query");
    free(s);
    resp[2].content = "<tool_response></tool_response>";
    s = render("qwen3", resp, 4, false);
    CHECK(s && strstr(s, "<think>\nr\n</think>"), "qwen3: nor is an empty <tool_response></tool_response>");
    free(s);
    /* with no query at all, last_query_index stays the last message's
     * index, and an assistant turn there keeps no reasoning */
    pic_chat_msg noq[] = {{"user", "<tool_response>1</tool_response>"}, {"assistant", "<think>r</think>a"}};
    s = render("qwen3", noq, 2, false);
    CHECK(text_is(s, "<|im_start|>user\n<tool_response>1</tool_response><|im_end|>\n<|im_start|>assistant\na<|im_end|>\n"),
          "qwen3: no query, no reasoning kept");
    free(s);
    /* the reasoning is what follows the last <think> before the first
     * </think> (split('<think>')[-1]); enable_thinking undefined closes no
     * empty think block in the generation prompt */
    pic_chat_msg two[] = {{"user", "q"}, {"assistant", "<think>x<think>r</think>a"}};
    s = render("qwen3", two, 2, true);
    CHECK(text_is(s, "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\nr\n</think>\n\na<|im_end|>\n"
                     "<|im_start|>assistant\n"),
          "qwen3: reasoning after the last <think>; a bare generation prompt by default");
    free(s);

    pic_chat_msg tools[] = {{"user", "q"}, {"tool", "r1"}, {"tool", "r2"}};
    s = render("chatml", tools, 3, false);
    CHECK(text_is(s, "<|im_start|>user\nq<|im_end|>\n<|im_start|>user\n<tool_response>\nr1\n</tool_response>\n"
                     "<tool_response>\nr2\n</tool_response><|im_end|>\n"),
          "chatml: consecutive tool messages share one user turn, no default system");
    free(s);

    pic_chat_msg l3[] = {{"system", "You are a math tutor."}, {"user", " What is 2+2?\n"}};
    s = render("llama3", l3, 2, true);
    CHECK(text_is(s, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a math tutor.<|eot_id|>"
                     "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
                     "<|start_header_id|>assistant<|end_header_id|>\n\n"),
          "llama3: bos, headers, trimmed content, generation prompt");
    free(s);
    /* Jinja's trim is Python's str.strip, to which the separators
     * U+001C..U+001F are whitespace too */
    pic_chat_msg sep[] = {{"user", "\x1c" "2+2?\x1f"}};
    s = render("llama3", sep, 1, false);
    CHECK(text_is(s, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"),
          "llama3: trim takes U+001C..U+001F off, as str.strip does");
    free(s);

    char *path = pic_asprintf("%s/math.txt", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("Problem: {problem}\nPut the answer in \\boxed{}. ({problem})", f);
    fclose(f);
    pic_chat *c = pic_chat_new(path);
    s = pic_chat_prompt(c, "1+1?");
    CHECK(text_is(s, "Problem: 1+1?\nPut the answer in \\boxed{}. (1+1?)"), "template file: every {problem} replaced");
    free(s);
    const char *e = NULL;
    s = pic_chat_render(c, hist, 2, NULL, &e);
    CHECK(!s && e && strstr(e, "one user message"), "template file refuses a conversation");
    CHECK(pic_chat_kind_of(c) == PIC_CHAT_FILE && !strcmp(pic_chat_name(c), path), "template file kind and name");
    pic_chat_free(c);
    free(path);

    pic_chat_msg odd = {"narrator", "x"};
    c = pic_chat_new("qwen2.5");
    CHECK(!pic_chat_render(c, &odd, 1, NULL, &e) && strstr(e, "role"), "qwen2.5 refuses an unknown role");
    CHECK(!pic_chat_render(c, &odd, 0, NULL, &e), "an empty conversation is refused");
    pic_chat_free(c);
}

/* s with its first `from` replaced by `to` (malloc'd). */
static char *replaced(const char *s, const char *from, const char *to) {
    const char *at = strstr(s, from);
    if (!at) pic_die("'%s' is not in the template", from);
    return pic_asprintf("%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
}

static char *read_text(const char *path) {
    size_t len;
    return pic_read_file(path, &len);
}

/* --chat auto on a model directory in tmpdir: the tokenizer.json at
 * `tokenizer`, and a tokenizer_config.json with bos and eos (NULL: none) and
 * the template tmpl with its first `from` replaced by `to` (none when from
 * is NULL). The format found, or NULL; *tok is the loaded tokenizer. */
static char auto_why[4096]; /* auto_format's reason for a refusal */

static pic_chat *auto_format(const char *tokenizer, const char *bos, const char *eos, const char *tmpl,
                             const char *from, const char *to, pic_tokenizer **tok) {
    char *t = from ? replaced(tmpl, from, to) : pic_strdup(tmpl);
    json_t *cfg = json_pack("{s:s}", "chat_template", t);
    if (bos) json_object_set_new(cfg, "bos_token", json_string(bos));
    if (eos) json_object_set_new(cfg, "eos_token", json_string(eos));
    char *cmd = pic_asprintf("rm -rf '%s/auto' && mkdir '%s/auto' && cp '%s' '%s/auto/'", tmpdir, tmpdir, tokenizer, tmpdir);
    if (system(cmd) != 0) pic_die("failed: %s", cmd);
    char *dir = pic_asprintf("%s/auto", tmpdir), *path = pic_asprintf("%s/tokenizer_config.json", dir);
    if (json_dump_file(cfg, path, 0)) pic_die("cannot write %s", path);
    *tok = pic_tokenizer_load(dir);
    pic_chat *c = pic_chat_for_tokenizer(*tok, auto_why, sizeof auto_why);
    json_decref(cfg);
    free(t), free(cmd), free(dir), free(path);
    return c;
}

/* auto_format's template (edited) must be the format kind. */
static void check_found(const char *tokenizer, const char *bos, const char *eos, const char *tmpl, pic_chat_kind kind,
                        const char *what) {
    pic_tokenizer *t;
    pic_chat *chat = auto_format(tokenizer, bos, eos, tmpl, NULL, NULL, &t);
    /* and with no reason left in why: pic-rollout --template auto dies on one */
    CHECK(chat && pic_chat_kind_of(chat) == kind && !auto_why[0], "%s", what);
    pic_chat_free(chat);
    pic_tokenizer_free(t);
}

/* auto_format's template edit must be refused (no format), and, when
 * `because` is not NULL, with a reason that holds it. */
static void check_refused_as(const char *tokenizer, const char *bos, const char *eos, const char *tmpl,
                             const char *from, const char *to, const char *because, const char *what) {
    pic_tokenizer *t;
    pic_chat *chat = auto_format(tokenizer, bos, eos, tmpl, from, to, &t);
    bool said = !because || strstr(auto_why, because);
    CHECK(!chat && said, "%s", what);
    if (!said) printf("#   why '%s'\n#   not '%s'\n", auto_why, because);
    pic_chat_free(chat);
    pic_tokenizer_free(t);
}

/* auto_format's template edit must be refused (no format). */
static void check_refused(const char *tokenizer, const char *bos, const char *eos, const char *tmpl, const char *from,
                          const char *to, const char *what) {
    pic_tokenizer *t;
    pic_chat *chat = auto_format(tokenizer, bos, eos, tmpl, from, to, &t);
    CHECK(!chat, "%s", what);
    pic_chat_free(chat);
    pic_tokenizer_free(t);
}

/* A format against jinja2's renderings of its template
 * (tests/fixtures/tokenizers/render_chat.py: FIX DIR/chat_templates.json). */
static void rendered_cases(const char *dir, const char *spec) {
    char *file = pic_asprintf(FIX "%s/chat_templates.json", dir);
    json_error_t err;
    json_t *all = json_load_file(file, 0, &err);
    if (!all) pic_die("%s: %s", file, err.text);
    pic_chat *chat = pic_chat_new(spec);
    const char *name;
    json_t *c;
    json_object_foreach(all, name, c) {
        size_t n;
        pic_chat_msg *m = messages_of(c, &n);
        pic_chat_opts o = {json_is_true(json_object_get(c, "add_generation_prompt")), -1, json_object_get(c, "tools")};
        const char *e = NULL;
        char *text = pic_chat_render(chat, m, n, &o, &e);
        CHECK(text_is(text, json_string_value(json_object_get(c, "text"))), "%s: %s", spec, name);
        free(text);
        free(m);
    }
    json_decref(all);
    pic_chat_free(chat);
    free(file);
}

/* DeepSeek-R1's distilled models: the renderings, and which variants of
 * their template --chat auto takes for the format. */
static void deepseek_cases(const pic_tokenizer *q25) {
    rendered_cases("deepseek-r1", "deepseek-r1");
    pic_chat *chat = pic_chat_new("deepseek-r1");
    char *s = pic_chat_prompt(chat, "1+1?");
    CHECK(text_is(s, "<｜begin▁of▁sentence｜><｜User｜>1+1?<｜Assistant｜><think>\n"), "deepseek-r1: the prompt");
    free(s);
    pic_chat_msg tool[] = {{"user", "q"}, {"tool", "r"}};
    const char *e = NULL;
    CHECK(!pic_chat_render(chat, tool, 2, NULL, &e) && e && strstr(e, "role"), "deepseek-r1 takes no tool message");
    pic_chat_free(chat);

    const char *tokenizer = FIX "deepseek-r1/tokenizer.json", *bos = "<｜begin▁of▁sentence｜>",
               *eos = "<｜end▁of▁sentence｜>";
    char *tmpl = read_text(FIX "deepseek-r1/chat_template.jinja");
    pic_tokenizer *t;
    chat = auto_format(tokenizer, bos, eos, tmpl, NULL, NULL, &t);
    CHECK(chat && pic_chat_kind_of(chat) == PIC_CHAT_DEEPSEEK_R1, "deepseek-r1 recognised from its chat template");
    CHECK(chat && !pic_chat_missing_marker(chat, t), "deepseek-r1's markers are in its vocabulary");
    const char *miss = chat ? pic_chat_missing_marker(chat, q25) : NULL;
    CHECK(miss && !strcmp(miss, "<｜begin▁of▁sentence｜>"), "deepseek-r1's markers are missing from Qwen2.5's");
    pic_chat_free(chat);
    pic_tokenizer_free(t);
    /* the first distilled models' template, before a think block opened
     * their generation prompt: another prompt, so another format */
    /* (DeepSeek-V3's among them: refused for its prompt, not for markers
     * it was said to lack, <｜User｜> and all) */
    check_refused_as(tokenizer, bos, eos, tmpl, "{{'<｜Assistant｜><think>\\n'}}", "{{'<｜Assistant｜>'}}",
                     "a DeepSeek template whose generation prompt does not open",
                     "a DeepSeek template whose generation prompt opens no think block is not deepseek-r1");
    check_refused(tokenizer, bos, eos, tmpl, "{{'<｜Assistant｜><think>\\n'}}",
                  "{{'<｜Assistant｜><think>\\n'}}{% if not enable_thinking %}{{'</think>'}}{% endif %}",
                  "a DeepSeek template that closes the think block unless asked is not deepseek-r1");
    check_refused(tokenizer, bos, eos, tmpl, "{{'<｜User｜>' + message['content']}}",
                  "{%- set ns.is_last_user = true -%}{{'<｜User｜>' + message['content'] + '<｜Assistant｜>'}}",
                  "R1-0528's template (the user turn ends with <｜Assistant｜>) is not deepseek-r1");
    free(tmpl);
}

/* Qwen2.5-Math: Qwen2.5's template with another default system prompt;
 * ChatML templates are told apart by theirs. */
static void qwen25_math_cases(void) {
    rendered_cases("qwen2.5-math", "qwen2.5-math");
    char *tokenizer = pic_asprintf("%s/qwen2.5/tokenizer.json", tmpdir);
    char *tmpl = read_text(FIX "qwen2.5-math/chat_template.jinja");
    check_found(tokenizer, NULL, "<|endoftext|>", tmpl, PIC_CHAT_QWEN2_5_MATH, "qwen2.5-math recognised from its chat template");
    /* Qwen2's default ("You are a helpful assistant."): no format writes it,
     * and ChatML would drop it */
    const char *math = "Please reason step by step, and put your final answer within \\\\boxed{}.<|im_end|>";
    check_refused(tokenizer, NULL, NULL, tmpl, math, "You are a helpful assistant.<|im_end|>",
                  "a ChatML template with a default system prompt no format writes is refused");
    /* a think block opened after Qwen2.5-Math's prompt (forks that force
     * reasoning): neither qwen2.5-math nor qwen3 */
    check_refused(tokenizer, NULL, NULL, tmpl, "{{- '<|im_start|>assistant\\n' }}",
                  "{{- '<|im_start|>assistant\\n<think>\\n' }}",
                  "Qwen2.5-Math's template with a think block is refused");
    /* a system header whose content is an expression is no default
     * prompt; but it is a system turn, written when the caller sets
     * `extra` (apply_chat_template passes its keyword arguments on), which
     * chatml never writes: refused, naming that turn. */
    check_refused_as(tokenizer, NULL, NULL,
                     "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n"
                     "{% endfor %}{% if extra %}<|im_start|>system\n{{ extra }}<|im_end|>\n{% endif %}"
                     "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
                     NULL, NULL, "'<|im_start|>system\\n'+extra+'<|im_end|>\\n'",
                     "a system turn of an expression is refused, not taken for a default");
    /* ChatML written as the template's text around expressions, not in
     * literals, is the same turn */
    check_found(tokenizer, NULL, NULL,
                "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n"
                "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
                PIC_CHAT_CHATML, "ChatML's turn as template text is chatml");
    free(tmpl);
    free(tokenizer);
}

/* Llama 3.1 to 3.3: a system turn of date lines first, always. */
static void llama31_cases(void) {
    rendered_cases("llama3.1", "llama3.1");
    char *tokenizer = pic_asprintf("%s/llama3/tokenizer.json", tmpdir);
    char *tmpl = read_text(FIX "llama3.1/chat_template.jinja");
    pic_tokenizer *t;
    pic_chat *chat = auto_format(tokenizer, "<|begin_of_text|>", "<|eot_id|>", tmpl, NULL, NULL, &t);
    CHECK(chat && pic_chat_kind_of(chat) == PIC_CHAT_LLAMA3_1, "llama3.1 recognised from Llama 3.2's chat template");
    CHECK(chat && !pic_chat_missing_marker(chat, t), "llama3.1's markers are Llama 3's tokens");
    pic_chat_free(chat);
    pic_tokenizer_free(t);
    json_error_t err;
    json_t *cfg = json_load_file(FIX "llama3/tokenizer_config.json", JSON_DECODE_INT_AS_REAL, &err);
    if (!cfg) pic_die("llama3/tokenizer_config.json: %s", err.text);
    chat = auto_format(tokenizer, "<|begin_of_text|>", "<|eot_id|>",
                       json_string_value(json_object_get(cfg, "chat_template")), NULL, NULL, &t);
    CHECK(chat && pic_chat_kind_of(chat) == PIC_CHAT_LLAMA3, "Llama 3's template (no date lines) stays llama3");
    pic_chat_free(chat);
    pic_tokenizer_free(t);
    json_decref(cfg);
    /* Llama 3.3 Nemotron Super's: a system turn, "detailed thinking on",
     * before every conversation and no date lines; llama3 writes none */
    char *nemo = read_text(FIX "nemotron-super/chat_template.jinja");
    check_refused(tokenizer, "<|begin_of_text|>", "<|eot_id|>", nemo, NULL, NULL,
                  "Nemotron's template (a system turn always, no dates) is refused");
    free(nemo);
    /* Llama 3.2 Vision Instruct's: 3.2's system turn, but each message's
     * content written as it is, untrimmed; llama3.1 trims it, so a problem
     * ending in a newline got another prompt: refused */
    char *vision = read_text(FIX "llama3.2-vision/chat_template.jinja");
    check_refused_as(tokenizer, "<|begin_of_text|>", "<|eot_id|>", vision, NULL, NULL, "does not write each message",
                     "Llama 3.2 Vision's template (content untrimmed) is refused");
    free(vision);
    chat = pic_chat_new("llama3.1");
    pic_chat_msg m = {"user", "q"};
    json_t *tools = json_pack("[{s:s}]", "type", "function");
    pic_chat_opts o = {true, -1, tools};
    const char *e = NULL;
    CHECK(!pic_chat_render(chat, &m, 1, &o, &e) && e && strstr(e, "tools"), "llama3.1 refuses tools, not drops them");
    json_decref(tools);
    pic_chat_free(chat);
    free(tmpl);
    free(tokenizer);
}

/* Qwen3's thinking models from 2507 on (and QwQ): the generation prompt
 * opens the think block itself. */
static void qwen3_thinking_cases(void) {
    rendered_cases("qwen3-thinking", "qwen3-thinking");
    char *tokenizer = pic_asprintf("%s/qwen3/tokenizer.json", tmpdir);
    char *tmpl = read_text(FIX "qwen3-thinking/chat_template.jinja");
    check_found(tokenizer, NULL, "<|im_end|>", tmpl, PIC_CHAT_QWEN3_THINKING, "qwen3-thinking recognised from its template");
    /* opened only when a switch says so (Nemotron's): neither format */
    check_refused(tokenizer, NULL, NULL, tmpl, "{{- '<|im_start|>assistant\\n<think>\\n' }}",
                  "{%- if enable_thinking %}{{- '<|im_start|>assistant\\n<think>\\n' }}{%- endif %}",
                  "a think block opened as enable_thinking says is refused");
    /* Qwen3.5's and 3.6's: <think>\n in a literal of its own, unless
     * enable_thinking is false (it was taken for qwen3, no think block) */
    char *q36 = read_text(FIX "qwen3.6/chat_template.jinja");
    check_refused(tokenizer, NULL, NULL, q36, NULL, NULL, "Qwen3.6's generation prompt, opened unless switched off");
    check_refused(tokenizer, NULL, NULL, q36, "enable_thinking is defined and enable_thinking is false",
                  "force_thinking is not defined or force_thinking is false",
                  "a think block opened or closed as another switch says is refused");
    check_refused(tokenizer, NULL, NULL, tmpl, "{{- '<|im_start|>assistant\\n<think>\\n' }}",
                  "{{- '<|im_start|>assistant\\n' }}{%- if force_thinking %}{{- \"<think>\\n\" }}{%- endif %}",
                  "a think block opened in a literal of its own as a switch says is refused");
    free(q36);
    free(tmpl);
    free(tokenizer);
}

/* Qwen3's 2507 models: their templates write `content`, set from
 * message.content when that is a string (always, for pic's messages),
 * where Qwen3's first ones wrote message.content. Thinking-2507's is
 * qwen3-thinking; Instruct-2507's writes no think block anywhere, an
 * assistant turn as it is, and no enable_thinking switch: qwen3-instruct. */
static void qwen3_2507_template(const char *dir, const char *spec, pic_chat_kind kind) {
    rendered_cases(dir, spec);
    char *tokenizer = pic_asprintf("%s/qwen3/tokenizer.json", tmpdir);
    char *path = pic_asprintf(FIX "%s/chat_template.jinja", dir), *tmpl = read_text(path);
    char *what = pic_asprintf("Qwen3's 2507 template in %s is %s", dir, spec);
    check_found(tokenizer, NULL, "<|im_end|>", tmpl, kind, what);
    free(what);
    /* `content` is the message's only after the template sets it so */
    check_refused(tokenizer, NULL, "<|im_end|>", tmpl, "{%- set content = message.content %}",
                  "{%- set content = message.content | trim %}", "content set otherwise is refused");
    check_refused(tokenizer, NULL, "<|im_end|>", tmpl, "{%- set content = '' %}", "{%- set content = 'x' %}",
                  "content set otherwise for other messages is refused");
    free(tmpl), free(path), free(tokenizer);
}

static void qwen3_2507_cases(void) {
    qwen3_2507_template("qwen3-thinking-2507", "qwen3-thinking", PIC_CHAT_QWEN3_THINKING);
    qwen3_2507_template("qwen3-instruct-2507", "qwen3-instruct", PIC_CHAT_QWEN3_INSTRUCT);
}

/* Qwen3's Instruct-2507 models: no think block anywhere (an assistant
 * turn written as it is, reasoning and all), no enable_thinking switch, a
 * plain generation prompt; Qwen3's tools block (no default system prompt)
 * and tool responses: qwen3-instruct. */
static void qwen3_instruct_cases(void) {
    char *tokenizer = pic_asprintf("%s/qwen3/tokenizer.json", tmpdir);
    char *inst = read_text(FIX "qwen3-instruct-2507/chat_template.jinja");
    /* an empty think block before each answer (unsloth's Instruct
     * variants keep Qwen3's think handling) is no qwen3-instruct */
    check_refused(tokenizer, NULL, "<|im_end|>", inst, "{{- '<|im_start|>' + message.role + '\\n' + content }}",
                  "{{- '<|im_start|>' + message.role + '\\n<think>\\n\\n</think>\\n\\n' + content }}",
                  "an assistant turn with an empty think block is refused");
    check_refused(tokenizer, NULL, "<|im_end|>", inst, "{{- '<|im_start|>assistant\\n' }}",
                  "{{- '<|im_start|>assistant\\n' }}{%- if enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}"
                  "{%- endif %}",
                  "a generation prompt with an enable_thinking switch is refused");
    /* Qwen2.5's default system prompt in the tools block: not Qwen3's */
    check_refused(tokenizer, NULL, "<|im_end|>", inst, "{{- messages[0].content + '\\n\\n' }}\n    {%- endif %}",
                  "{{- messages[0].content + '\\n\\n' }}\n    {%- else %}{{- 'You are Qwen.\\n\\n' }}{%- endif %}",
                  "qwen3-instruct: a default system prompt with tools is refused");
    /* enable_thinking changes nothing in its prompt */
    pic_chat *c = pic_chat_new("qwen3-instruct");
    pic_chat_msg m = {"user", "q"};
    pic_chat_opts o = {true, 0, NULL};
    const char *e = NULL;
    char *s = pic_chat_render(c, &m, 1, &o, &e);
    CHECK(text_is(s, "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n"), "qwen3-instruct: no think block, ever");
    free(s);
    pic_chat_free(c);
    free(inst), free(tokenizer);
}

/* Hermes-2-Pro-Llama-3's ChatML template writes bos_token first: the
 * tokenizer's <|begin_of_text|>, which chatml leaves out (it was taken for
 * chatml), so refused; with a tokenizer without a BOS (Qwen's) it renders
 * nothing there, and chatml is the template. */
static void chatml_bos_cases(void) {
    char *tmpl = read_text(FIX "hermes-llama3/chat_template.jinja");
    char *l3 = pic_asprintf("%s/llama3/tokenizer.json", tmpdir);
    char *q25 = pic_asprintf("%s/qwen2.5/tokenizer.json", tmpdir);
    check_refused(l3, "<|begin_of_text|>", NULL, tmpl, NULL, NULL,
                  "a ChatML template writing the tokenizer's BOS is refused");
    check_found(q25, NULL, "<|im_end|>", tmpl, PIC_CHAT_CHATML, "a ChatML template's bos_token, none, is nothing");
    free(l3), free(q25), free(tmpl);
}

/* ChatML's markers in another format: Phi-4's turns are
 * <|im_start|>ROLE<|im_sep|>, no newline (jinja2 renders
 * <|im_start|>user<|im_sep|>Q<|im_end|><|im_start|>assistant<|im_sep|>),
 * which pic took for chatml. */
static void chatml_dialect_cases(void) {
    char *q25 = pic_asprintf("%s/qwen2.5/tokenizer.json", tmpdir);
    char *phi4 = read_text(FIX "phi4/chat_template.jinja");
    check_refused(q25, NULL, "<|im_end|>", phi4, NULL, NULL, "Phi-4's template (<|im_sep|> after the role) is refused");
    /* SmolLM3's writes a system turn of metadata into every conversation,
     * outside any {% if %}: it was taken for qwen3 (a think block, no
     * default system prompt), which writes none */
    char *smol = read_text(FIX "smollm3/chat_template.jinja");
    check_refused_as(q25, NULL, "<|im_end|>", smol, NULL, NULL, "into every conversation",
                     "SmolLM3's template (a system turn always) is refused");
    /* with that system turn inside an {% if %} it is no turn always there;
     * the template was then taken for qwen3, but it still writes its
     * metadata and its own turns (the content untrimmed, no think block
     * after the last query), which qwen3 does not: refused, for what it
     * writes, not for a system turn always there */
    check_refused_as(q25, NULL, "<|im_end|>", smol, "{{- \"<|im_start|>system\\n\" -}}",
                     "{%- if false -%}{{- \"<|im_start|>system\\n\" -}}{%- endif -%}", "a turn which qwen3 does not",
                     "a system turn inside an {% if %} is no turn always there");
    /* a block {% set %} before it opens no block, so its end closes none */
    check_refused_as(q25, NULL, "<|im_end|>", smol, "{{- \"<|im_start|>system\\n\" -}}",
                     "{%- set x -%}a{%- endset -%}{%- if false -%}{{- \"<|im_start|>system\\n\" -}}{%- endif -%}",
                     "a turn which qwen3 does not", "{% endset %} closes no {% if %}");
    free(smol), free(phi4), free(q25);
}

/* A template that makes its own conversation from the messages it is given
 * ({% set messages = [system_message] + messages %}: MiroThinker's, a Qwen3
 * fine-tune, puts a system turn of its own first) renders what none of the
 * formats does: with Qwen3's markers and think blocks it was taken for
 * qwen3, and its system turn dropped. A slice of the messages is the
 * caller's conversation still (Llama 3.1's messages[1:]). */
static void rebound_messages_cases(void) {
    char *q3 = pic_asprintf("%s/qwen3/tokenizer.json", tmpdir), *l3 = pic_asprintf("%s/llama3/tokenizer.json", tmpdir);
    char *tmpl = read_text(FIX "qwen3-thinking/chat_template.jinja");
    const char *miro = "{%- set system_message = namespace(role='system', content='Use the tools.') %}\n"
                       "{%- if messages[0].role == 'system' %}\n"
                       "    {%- set system_message = messages[0] %}\n"
                       "    {%- set messages = messages[1:] %}\n"
                       "{%- endif %}\n"
                       "{%- set messages = [system_message] + messages %}\n"
                       "{%- if tools %}";
    check_refused(q3, NULL, "<|im_end|>", tmpl, "{%- if tools %}", miro,
                  "a ChatML template that puts a system message before the conversation is refused");
    check_refused(q3, NULL, "<|im_end|>", tmpl, "{%- if tools %}",
                  "{% set messages = messages + [] %}{%- if tools %}", "messages with more added is refused");
    check_refused(q3, NULL, "<|im_end|>", tmpl, "{%- if tools %}",
                  "{% set messages %}[]{% endset %}{%- if tools %}", "messages set to a block's text is refused");
    pic_tokenizer *t;
    pic_chat *c = auto_format(q3, NULL, "<|im_end|>", tmpl, "{%- if tools %}",
                              "{%- set messages = messages -%}{% set messages = messages[0:] %}{%- if tools %}", &t);
    CHECK(c && pic_chat_kind_of(c) == PIC_CHAT_QWEN3_THINKING, "messages set to themselves or a slice stay the format");
    pic_chat_free(c);
    pic_tokenizer_free(t);
    json_error_t err;
    json_t *cfg = json_load_file(FIX "llama3/tokenizer_config.json", JSON_DECODE_INT_AS_REAL, &err);
    if (!cfg) pic_die("llama3/tokenizer_config.json: %s", err.text);
    check_refused(l3, "<|begin_of_text|>", "<|eot_id|>", json_string_value(json_object_get(cfg, "chat_template")),
                  "{% set loop_messages = messages %}",
                  "{% set loop_messages = [{'role': 'system', 'content': 'Be brief.'}] + messages %}",
                  "a Llama 3 template that puts a system message before the conversation is refused");
    json_decref(cfg);
    free(tmpl), free(q3), free(l3);
}

/* llama3 writes each message as Llama 3's template does, a header and the
 * content trimmed; a template of its markers that writes them otherwise is
 * refused. Nemotron Super v1.5's (ggml-org/llama.cpp
 * models/templates/nvidia-Llama-3_3-Nemotron-Super-49B-v1_5.jinja) builds
 * its headers from variables, writes an empty system turn first and the
 * content as it is (jinja2: <|begin_of_text|><|start_header_id|>system
 * <|end_header_id|>\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>
 * \n\n2+2?\n<|eot_id|>...): it was taken for llama3. */
static void llama3_turn_cases(void) {
    char *l3 = pic_asprintf("%s/llama3/tokenizer.json", tmpdir);
    const char *bos = "<|begin_of_text|>", *eot = "<|eot_id|>";
    const char *nemo =
        "{% set start_header = \"<|start_header_id|>\" %}{% set end_header = \"<|end_header_id|>\n\n\" %}"
        "{% set eot = \"<|eot_id|>\" %}{{- \"<|begin_of_text|>\" ~ start_header ~ \"system\" ~ end_header -}}"
        "{%- if messages[0].role == 'system' -%}{{- messages[0].content + '\\n\\n' -}}{%- endif -%}{{- eot -}}"
        "{%- for message in messages -%}{%- if message.role == \"user\" -%}{{- start_header ~ \"user\" ~ end_header -}}"
        "{{ message.content -}}{{ eot -}}{%- endif -%}{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- start_header ~ \"assistant\" ~ end_header -}}{%- endif -%}";
    check_refused(l3, bos, eot, nemo, NULL, NULL, "headers built from variables (Nemotron Super v1.5's) are not llama3");
    json_error_t err;
    json_t *cfg = json_load_file(FIX "llama3/tokenizer_config.json", JSON_DECODE_INT_AS_REAL, &err);
    if (!cfg) pic_die("llama3/tokenizer_config.json: %s", err.text);
    const char *tmpl = json_string_value(json_object_get(cfg, "chat_template"));
    check_refused(l3, bos, eot, tmpl, "message['content'] | trim", "message['content']",
                  "a Llama 3 template that writes the content untrimmed is not llama3");
    /* the same turn in other spelling: Llama 3.1's \n escapes, double
     * quotes, message.role */
    check_found(l3, bos, eot,
                "{{ bos_token }}{% for message in messages %}{{ \"<|start_header_id|>\"+message.role+\"<|end_header_id|>"
                "\\n\\n\" + message.content|trim + \"<|eot_id|>\" }}{% endfor %}{% if add_generation_prompt %}"
                "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
                PIC_CHAT_LLAMA3, "Llama 3's turn spelled otherwise is llama3");
    json_decref(cfg);
    free(l3);
}

/* A ChatML template is its format only when it writes each message, the
 * first system message or the default system turn, the assistant turns
 * (Qwen3's) and the generation prompt as that format does, however spelled;
 * told by its markers and default system prompt alone, these were taken
 * for qwen2.5 or qwen3 and rendered otherwise than jinja2 renders them
 * (render_chat.py). */
static void chatml_writes_cases(void) {
    char *q25 = pic_asprintf("%s/qwen2.5/tokenizer.json", tmpdir), *q3 = pic_asprintf("%s/qwen3/tokenizer.json", tmpdir);
    json_error_t err;
    json_t *c25 = json_load_file(FIX "qwen2.5/tokenizer_config.json", JSON_DECODE_INT_AS_REAL, &err),
           *c3 = json_load_file(FIX "qwen3/tokenizer_config.json", JSON_DECODE_INT_AS_REAL, &err);
    if (!c25 || !c3) pic_die("tokenizer_config.json: %s", err.text);
    const char *t25 = json_string_value(json_object_get(c25, "chat_template")),
               *t3 = json_string_value(json_object_get(c3, "chat_template"));
    const char *turn = "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}";
    /* a default system prompt in a variable: jinja2 writes
     * <|im_start|>system\nYou are a tutor.<|im_end|>\n first, qwen3 nothing */
    check_refused_as(q3, NULL, "<|im_end|>", t3, "{%- else %}\n    {%- if messages[0].role == 'system' %}",
                     "{%- else %}\n    {%- set sys = 'You are a tutor.' %}\n    {%- if messages[0].role != 'system' %}"
                     "{{- '<|im_start|>system\\n' + sys + '<|im_end|>\\n' }}{%- endif %}\n"
                     "    {%- if messages[0].role == 'system' %}",
                     "writes {{'<|im_start|>system\\n'+sys+'<|im_end|>\\n'}}",
                     "a default system prompt in a variable is refused, not dropped");
    check_refused_as(q25, NULL, "<|im_end|>", t25, turn,
                     "{{- '<|im_start|>' + message.role + '\\n' + message.content | trim + '<|im_end|>' + '\\n' }}",
                     "+message['content']|trim+", "a ChatML template that trims the content is refused");
    check_refused_as(q25, NULL, "<|im_end|>", t25, turn,
                     "{{- '<|im_start|>' + (message.role if message.role != 'assistant' else 'gpt') + '\\n' + "
                     "message.content + '<|im_end|>' + '\\n' }}",
                     "else'gpt'", "a ChatML template that writes another role is refused");
    check_refused_as(q3, NULL, "<|im_end|>", t3, turn,
                     "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' }}",
                     "a turn which qwen3 does not write", "a ChatML template without a newline after a turn is refused");
    /* the first system message written again in the loop */
    check_refused_as(q25, NULL, "<|im_end|>", t25, "(message.role == \"system\" and not loop.first)",
                     "(message.role == \"system\")", "which qwen2.5 does not",
                     "a ChatML template that writes the system message twice is refused");
    /* reasoning kept in every assistant turn, not only after the last query */
    check_refused_as(q3, NULL, "<|im_end|>", t3, "{%- if loop.index0 > ns.last_query_index %}", "{%- if true %}",
                     "which qwen3 does not", "a Qwen3 template that keeps all reasoning is refused");
    /* no empty think block when enable_thinking is false, which qwen3 writes */
    check_refused_as(q3, NULL, "<|im_end|>", t3, "{%- if enable_thinking is defined and enable_thinking is false %}",
                     "{%- if false %}", "which qwen3 does not",
                     "a Qwen3 template whose generation prompt ignores enable_thinking is refused");
    /* jinja2 drops one newline at a template's end, and trim_blocks the
     * one after its last tag: a third is written after every prompt */
    char *nl2 = pic_asprintf("%s\n", t25), *nl3 = pic_asprintf("%s\n\n", t25);
    check_found(q25, NULL, "<|im_end|>", nl2, PIC_CHAT_QWEN2_5, "a template's last newline is no text");
    check_refused_as(q25, NULL, "<|im_end|>", nl3, NULL, NULL, "does not end with qwen2.5's generation prompt",
                     "a newline written after the generation prompt is refused");
    free(nl2), free(nl3);
    /* the same turn in other spelling: double quotes, ~, subscripts, one
     * {{ }} a piece, which jinja2 renders as Qwen3's */
    pic_tokenizer *t;
    pic_chat *c = auto_format(q3, NULL, "<|im_end|>", t3, turn,
                              "{{- \"<|im_start|>\" ~ message['role'] ~ \"\\n\" }}{{ message['content'] }}"
                              "{{ '<|im_end|>\\n' -}}", &t);
    CHECK(c && pic_chat_kind_of(c) == PIC_CHAT_QWEN3, "Qwen3's turn spelled otherwise is qwen3");
    pic_chat_free(c);
    pic_tokenizer_free(t);
    json_decref(c25), json_decref(c3);
    free(q25), free(q3);
}

int main(void) {
    pic_init("test_tokenizer_chat");
    if (!mkdtemp(tmpdir)) pic_die("mkdtemp failed");
    pic_tokenizer *q25 = unpack("qwen2.5"), *q3 = unpack("qwen3"), *l3 = unpack("llama3");
    golden_cases(q25, q3);
    char why[512];
    pic_chat *c25 = pic_chat_for_tokenizer(q25, why, sizeof why), *c3 = pic_chat_for_tokenizer(q3, why, sizeof why);
    CHECK(c25 && pic_chat_kind_of(c25) == PIC_CHAT_QWEN2_5, "qwen2.5 recognised from its chat template");
    CHECK(c3 && pic_chat_kind_of(c3) == PIC_CHAT_QWEN3, "qwen3 recognised from its chat template");
    pic_chat_free(c25);
    pic_chat_free(c3);
    rules();
    deepseek_cases(q25);
    qwen25_math_cases();
    llama31_cases();
    qwen3_thinking_cases();
    qwen3_2507_cases();
    qwen3_instruct_cases();
    qwen3_nothink_cases();
    chatml_bos_cases();
    chatml_dialect_cases();
    rebound_messages_cases();
    llama3_turn_cases();
    chatml_writes_cases();
    pic_tokenizer_free(q25);
    pic_tokenizer_free(q3);
    pic_tokenizer_free(l3);
    char *rm = pic_asprintf("rm -rf '%s'", tmpdir);
    if (system(rm) != 0) printf("# could not remove %s\n", tmpdir);
    free(rm);
    return check_done();
}
