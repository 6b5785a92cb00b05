/* The prompt of a record, as token ids: 'prompt_ids' as given, else the
 * 'prompt' text as is (already templated), else the 'problem' text through
 * the --template (raw: as is; a chat format of tokenizer/chat.h; auto: the
 * one the model's chat template is; or a file with {problem}). Text is
 * encoded with the model's tokenizer, with the post-processor's special
 * tokens (a BOS) only under --add-special, since a chat template writes its
 * own. */
#ifndef PIC_ROLLOUT_PROMPT_H
#define PIC_ROLLOUT_PROMPT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    const char *model_dir;
    pic_tokenizer *tok; /* loaded on first need */
    pic_chat *chat;     /* NULL: raw */
    bool add_special;
    bool checked;       /* the template's markers against the tokenizer */
    int vocab;          /* the model's: every id must lie below it */
} prompt_builder;

/* "raw", "auto" (the model directory's format: dies when it has none pic
 * can tell) or a pic_chat_new spec (dies on a bad template file). */
void prompt_builder_init(prompt_builder *b, const char *model_dir, const char *tmpl, bool add_special, int vocab);
void prompt_builder_free(prompt_builder *b);
pic_tokenizer *prompt_tokenizer(prompt_builder *b);

/* Fills *ids (malloc'd) and *n. On a bad record returns false with *field
 * naming the field and msg the reason (for pic_reader_die or --skip-bad). */
bool prompt_ids(prompt_builder *b, const json_t *obj, int32_t **ids, size_t *n, const char **field, char *msg,
                size_t msgsize);

/* ids from an integer array field, or by encoding a text field: shared by
 * the prompt and by --score's 'response'. Returns 1 when found, 0 when
 * neither field is there, -1 on a bad value (*field, msg set). */
int prompt_field_ids(prompt_builder *b, const json_t *obj, const char *ids_field, const char *text_field,
                     bool special, int32_t **ids, size_t *n, const char **field, char *msg, size_t msgsize);

#endif
