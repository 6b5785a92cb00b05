/* Reading tokenizer.json: what load.c and load_pipeline.c share. Every
 * error names the file and the JSON field ("model.merges[12]"). */
#ifndef PIC_TOK_LOAD_H
#define PIC_TOK_LOAD_H

#include <jansson.h>
#include <stdbool.h>

#include "tokenizer/internal.h"

typedef struct {
    const char *file;
    pic_tokenizer *t;
} tk_load;

_Noreturn void tk_bad(const tk_load *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Typed members of obj (named field.key in messages); absent or null gives
 * the default, a wrong type dies. */
bool tk_get_bool(const tk_load *c, const json_t *obj, const char *field, const char *key, bool dflt);
long long tk_get_int(const tk_load *c, const json_t *obj, const char *field, const char *key, long long dflt);
const char *tk_get_str(const tk_load *c, const json_t *obj, const char *field, const char *key, size_t *len);
/* The "type" of a component object (dies when obj is not an object or has
 * no string "type"). */
const char *tk_get_type(const tk_load *c, const json_t *obj, const char *field);

/* Adds a regex to the tokenizer from {"String": s} or {"Regex": r}. */
int tk_add_pattern(const tk_load *c, const json_t *pattern, const char *field);
int tk_add_regex(const tk_load *c, const char *pattern, size_t len, bool literal, const char *field);

void tk_load_normalizer(const tk_load *c, const json_t *v);
void tk_load_pre_tokenizer(const tk_load *c, const json_t *v);
void tk_load_post_processor(const tk_load *c, const json_t *v);
void tk_load_decoder(const tk_load *c, const json_t *v);

#endif
