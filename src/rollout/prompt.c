/* Prompt building (prompt.h). */
#include "rollout/prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"

void prompt_builder_init(prompt_builder *b, const char *model_dir, const char *tmpl, bool add_special, int vocab) {
    memset(b, 0, sizeof *b);
    b->model_dir = model_dir;
    b->add_special = add_special;
    b->vocab = vocab;
    if (tmpl && !strcmp(tmpl, "auto")) {
        /* as pic-tok --chat auto: a template pic cannot tell is the model's
         * all the same, so it is refused rather than replaced by a guess */
        char why[4096];
        b->chat = pic_chat_for_tokenizer(prompt_tokenizer(b), why, sizeof why);
        if (*why) pic_die("--template auto: %s (give --template FORMAT or a template file)", why);
        if (!b->chat)
            pic_die("%s: --template auto: no chat template or chat tokens to tell the format (give --template raw, "
                    "a format or a template file)", model_dir);
        b->checked = true; /* the format was read off this tokenizer */
        pic_info("--template auto: %s, the model's chat format", pic_chat_name(b->chat));
    } else if (tmpl && strcmp(tmpl, "raw")) {
        b->chat = pic_chat_new(tmpl);
    }
}

void prompt_builder_free(prompt_builder *b) {
    if (b->tok) pic_tokenizer_free(b->tok);
    if (b->chat) pic_chat_free(b->chat);
    b->tok = NULL;
    b->chat = NULL;
}

pic_tokenizer *prompt_tokenizer(prompt_builder *b) {
    if (!b->tok) b->tok = pic_tokenizer_load(b->model_dir);
    return b->tok;
}

static int encode(prompt_builder *b, const char *text, size_t len, bool special, const char *fname, int32_t **ids,
                  size_t *n, const char **field, char *msg, size_t msgsize) {
    if (pic_tokenizer_encode(prompt_tokenizer(b), text, len, special, ids, n)) {
        *field = fname;
        snprintf(msg, msgsize, "invalid UTF-8 at byte %zu", *n);
        return -1;
    }
    for (size_t i = 0; i < *n; i++)
        if ((*ids)[i] >= b->vocab) {
            *field = fname;
            snprintf(msg, msgsize, "token %zu has id %d, outside the model's vocabulary (%d)", i, (int)(*ids)[i],
                     b->vocab);
            free(*ids);
            *ids = NULL;
            return -1;
        }
    return 0;
}

int prompt_field_ids(prompt_builder *b, const json_t *obj, const char *ids_field, const char *text_field,
                     bool special, int32_t **ids, size_t *n, const char **field, char *msg, size_t msgsize) {
    json_t *a = json_object_get(obj, ids_field);
    if (a && !json_is_null(a)) {
        *field = ids_field;
        if (!json_is_array(a)) {
            snprintf(msg, msgsize, "expected an array of token ids");
            return -1;
        }
        *n = json_array_size(a);
        *ids = pic_malloc((*n + 1) * sizeof **ids);
        for (size_t i = 0; i < *n; i++) {
            json_t *e = json_array_get(a, i);
            if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) >= b->vocab) {
                free(*ids);
                *ids = NULL;
                snprintf(msg, msgsize, "element %zu: expected a token id in [0, %d)", i, b->vocab);
                return -1;
            }
            (*ids)[i] = (int32_t)json_integer_value(e);
        }
        return 1;
    }
    json_t *t = json_object_get(obj, text_field);
    if (!t || json_is_null(t)) return 0;
    *field = text_field;
    if (!json_is_string(t)) {
        snprintf(msg, msgsize, "expected a string");
        return -1;
    }
    return encode(b, json_string_value(t), json_string_length(t), special, text_field, ids, n, field, msg, msgsize)
               ? -1
               : 1;
}

bool prompt_ids(prompt_builder *b, const json_t *obj, int32_t **ids, size_t *n, const char **field, char *msg,
                size_t msgsize) {
    int r = prompt_field_ids(b, obj, "prompt_ids", "prompt", b->add_special, ids, n, field, msg, msgsize);
    if (r < 0) return false;
    if (r == 0) {
        json_t *p = json_object_get(obj, "problem");
        *field = "problem";
        if (!p || json_is_null(p)) {
            snprintf(msg, msgsize, "missing (give 'problem', or 'prompt' text or 'prompt_ids' used as they are)");
            return false;
        }
        if (!json_is_string(p)) {
            snprintf(msg, msgsize, "expected a string");
            return false;
        }
        if (b->chat) {
            if (!b->checked) { /* once: --template chatml on a Llama 3 vocabulary, say */
                b->checked = true;
                const char *m = pic_chat_missing_marker(b->chat, prompt_tokenizer(b));
                if (m)
                    pic_warn("--template %s: the tokenizer has no token %s, so prompts carry it as plain text "
                             "(does the model use another format?)", pic_chat_name(b->chat), m);
            }
            /* the chat format takes a C string: a NUL would cut the problem
             * short, silently (pic-tok refuses it the same way) */
            if (strlen(json_string_value(p)) != json_string_length(p)) {
                snprintf(msg, msgsize, "a NUL character cannot go into a chat prompt");
                return false;
            }
            char *text = pic_chat_prompt(b->chat, json_string_value(p));
            int e = encode(b, text, strlen(text), b->add_special, "problem", ids, n, field, msg, msgsize);
            free(text);
            if (e) return false;
        } else if (encode(b, json_string_value(p), json_string_length(p), b->add_special, "problem", ids, n, field,
                          msg, msgsize))
            return false;
    }
    if (!*n) {
        free(*ids);
        *ids = NULL;
        snprintf(msg, msgsize, "empty prompt: the first token needs one to follow (--add-special adds a BOS)");
        return false;
    }
    return true;
}
