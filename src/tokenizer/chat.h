/* Chat formatting without a Jinja engine: the few templates RL on math
 * models needs, written out in C and checked against HF's
 * apply_chat_template renderings (tests/unit/test_tokenizer_chat.c).
 *
 *   chatml   <|im_start|>ROLE\nCONTENT<|im_end|>\n per message, no default system
 *   qwen2.5  ChatML with Qwen2.5-Instruct's default system prompt and tools block
 *   qwen2.5-math  the same with Qwen2.5-Math's default system prompt ("Please
 *            reason step by step, and put your final answer within \boxed{}.")
 *   qwen3    ChatML with Qwen3's rules: no default system, <think> handling of
 *            assistant turns, enable_thinking=false adds an empty think block
 *   qwen3-thinking  Qwen3 whose generation prompt opens the think block,
 *            <think>\n, always (Qwen3's 2507 thinking models, QwQ)
 *   qwen3-nothink  Qwen3 with enable_thinking=False: the generation prompt
 *            closes an empty think block (Qwen3's non-thinking mode)
 *   qwen3-instruct  Qwen3 without think handling: an assistant turn written
 *            as it is, no enable_thinking switch (Qwen3's 2507 instruct models)
 *   llama3   <|begin_of_text|> then <|start_header_id|>ROLE<|end_header_id|>\n\n
 *            CONTENT(trimmed)<|eot_id|> per message (Llama 3 Instruct; 3.1's
 *            date lines in the system turn are not produced)
 *   llama3.1 Llama 3.1 to 3.3 Instruct: a system turn first, always, with the
 *            date lines ("Today Date: 26 Jul 2024", the date of 3.1's template
 *            and of 3.2's without a clock), then the system message trimmed
 *   deepseek-r1  DeepSeek-R1's distilled Qwen and Llama models: <｜begin▁of▁sentence｜>,
 *            the last system message, <｜User｜>CONTENT per user turn,
 *            <｜Assistant｜>CONTENT<｜end▁of▁sentence｜> per assistant turn (what
 *            follows its last </think>), and <｜Assistant｜><think>\n to generate
 *   FILE     a template file holding {problem}: a single user turn; every
 *            {problem} is replaced by the user's text, nothing else changes
 *
 * The rendered text carries its special tokens as text (bos included), so
 * encode it with add_special = false, as apply_chat_template does. */
#ifndef PIC_TOKENIZER_CHAT_H
#define PIC_TOKENIZER_CHAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "tokenizer/tokenizer.h"

typedef enum {
    PIC_CHAT_CHATML,
    PIC_CHAT_QWEN2_5,
    PIC_CHAT_QWEN2_5_MATH,
    PIC_CHAT_QWEN3,
    PIC_CHAT_QWEN3_THINKING,
    PIC_CHAT_QWEN3_NOTHINK,
    PIC_CHAT_QWEN3_INSTRUCT,
    PIC_CHAT_LLAMA3,
    PIC_CHAT_LLAMA3_1,
    PIC_CHAT_DEEPSEEK_R1,
    PIC_CHAT_FILE
} pic_chat_kind;

typedef struct pic_chat pic_chat;

/* One message; role is "system", "user", "assistant" or "tool" ("tool"
 * only for the Qwen formats and llama3.1, which writes it, or "ipython", as
 * an ipython turn; llama3 writes any role into its header; deepseek-r1
 * takes no tool messages). Tools (pic_chat_opts) are the Qwen formats'. */
typedef struct {
    const char *role;
    const char *content;
} pic_chat_msg;

typedef struct {
    bool add_generation_prompt; /* end with the assistant's header */
    int enable_thinking;        /* qwen3: -1 as the template's default (thinking on), 0 off, 1 on */
    const json_t *tools;        /* qwen formats: a JSON array of tool definitions, or NULL */
} pic_chat_opts;

/* spec: "chatml", "qwen2.5", "qwen2.5-math", "qwen3", "qwen3-thinking",
 * "qwen3-nothink", "qwen3-instruct", "llama3", "llama3.1", "deepseek-r1", or the path of a
 * template file containing {problem}. Dies (exit 1), naming the file, on an
 * unreadable file, one without {problem}, or one that is not UTF-8 text (a
 * NUL byte, an invalid sequence: its line and byte). */
pic_chat *pic_chat_new(const char *spec);
/* The formats pic_chat_new knows, for messages. */
#define PIC_CHAT_FORMATS                                                                                            \
    "chatml, qwen2.5, qwen2.5-math, qwen3, qwen3-thinking, qwen3-nothink, qwen3-instruct, llama3, llama3.1, deepseek-r1"
/* Whether spec is one of them or a path that is there (readable or not:
 * pic_chat_new reports that one). Anything else, a mistyped name most
 * likely, is the caller's usage error, found before a model loads. */
bool pic_chat_spec_known(const char *spec);
/* The format a model's chat template is (chat_template.jinja, else
 * tokenizer_config.json's chat_template; recognised by its markers and, for
 * ChatML, the system prompt it defaults to), else, when it has none, by its
 * special tokens (<|im_start|> -> chatml, <|start_header_id|> -> llama3,
 * <｜User｜> -> deepseek-r1); NULL when none tells. A chat_template that is
 * there but is no string, or none of the formats, is NULL too, with why[0..n) saying so and naming the file
 * (else why is ""): the model was given that template, and a format guessed
 * from its tokens would be another. */
pic_chat *pic_chat_for_tokenizer(const pic_tokenizer *t, char *why, size_t n);
void pic_chat_free(pic_chat *c);
pic_chat_kind pic_chat_kind_of(const pic_chat *c);
const char *pic_chat_name(const pic_chat *c); /* "qwen2.5", ..., or the file's path */
/* The token that ends an assistant turn in the format (<|im_end|>,
 * <|eot_id|>, <｜end▁of▁sentence｜>), or NULL for a template file. */
const char *pic_chat_turn_end(const pic_chat *c);
/* The first of the format's marker tokens (<|im_start|>, <|start_header_id|>,
 * ...) that t lacks, or NULL (a template file's text is its own business):
 * such a marker would be encoded as plain text, not as the token the model
 * was trained on. */
const char *pic_chat_missing_marker(const pic_chat *c, const pic_tokenizer *t);

/* Whether c's prompts begin with t's BOS, which t's post-processor
 * (add_special, HF's add_special_tokens=True) prepends once more: Llama 3's
 * formats write <|begin_of_text|> themselves. */
bool pic_chat_doubles_bos(const pic_chat *c, const pic_tokenizer *t);

/* The conversation as text (malloc'd, NUL-terminated). Returns NULL and
 * sets *err (a static message) when the messages do not fit the format:
 * an empty list, a role the format has no place for, or a template file
 * given anything but one user message. */
char *pic_chat_render(const pic_chat *c, const pic_chat_msg *msgs, size_t n, const pic_chat_opts *opts,
                      const char **err);

/* The prompt for one problem: a single user turn and the generation prompt
 * (what pic-rollout feeds the model). Never fails. */
char *pic_chat_prompt(const pic_chat *c, const char *problem);

#endif
