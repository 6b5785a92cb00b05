/* Stop handling (stop.h). Text is decoded as the response's "response"
 * field is, skipping special tokens, so a stop string matches what a reader
 * of the response sees. */
#include "rollout/stop.h"

#include <stdlib.h>
#include <string.h>

#include "common/cli.h"

bool stop_is_eos(const stop_rules *r, int32_t id) {
    if (r->ignore_eos) return false;
    for (int i = 0; i < r->n_eos; i++)
        if (r->eos[i] == id) return true;
    return pic_config_is_eos(r->cfg, id);
}

static char *decode(const pic_tokenizer *t, const int32_t *ids, size_t n, size_t *len) {
    char *text;
    if (pic_tokenizer_decode(t, ids, n, true, &text, len))
        pic_die("response token %d is not in the tokenizer's vocabulary", (int)ids[*len]);
    return text;
}

/* Whether id decodes to text: neither a special token nor a model's row
 * beyond the tokenizer. */
static bool has_text(const pic_tokenizer *t, int32_t id) {
    return pic_tokenizer_id_to_token(t, id) && !pic_tokenizer_is_special(t, id);
}

bool stop_string_hit(const stop_rules *r, const pic_tokenizer *t, const int32_t *ids, size_t n) {
    if (!r->n_strings || !n) return false;
    /* A match ending in the new token starts at most longest - 1 bytes
     * before it. Every token but a special one decodes to at least one
     * byte; four more cover a character split at the window's start
     * (taken whole below). An id
     * without a token (a model's row beyond the tokenizer) decodes to
     * nothing, as a special one: neither counts. */
    size_t need = r->longest + 4, have = 0, start = n - 1;
    while (start > 0 && have < need) {
        start--;
        if (has_text(t, ids[start])) have++;
    }
    size_t len;
    char *text = decode(t, ids + start, n - start, &len);
    /* A window that begins inside a character is not the whole text's
     * tail: its first bytes decode to U+FFFD, which a stop string may
     * hold, and in a run of byte-fallback tokens (<0xE6><0x97>...) the
     * whole run does, since one that is not valid UTF-8 is one U+FFFD a
     * byte (HF's ByteFallback), the characters a match ends in included.
     * A character's lead byte is at most three tokens of text back. */
    for (int back = 0; back < 3 && start > 0 && len >= 3 && !memcmp(text, "\xEF\xBF\xBD", 3); back++) {
        free(text);
        do start--;
        while (start > 0 && !has_text(t, ids[start]));
        text = decode(t, ids + start, n - start, &len);
    }
    bool hit = false;
    for (int i = 0; i < r->n_strings && !hit; i++) hit = memmem(text, len, r->strings[i], strlen(r->strings[i]));
    free(text);
    if (!hit || !start) return hit;
    /* A hit in a window is the whole text's only when the bytes before the
     * window leave the window's own text as it is, and a run of
     * byte-fallback tokens that is not valid UTF-8 as a whole decodes to
     * one U+FFFD a byte (tokenizers' ByteFallback decoder): a stray byte
     * far back in the run turns the characters the window saw into U+FFFD.
     * A hit is rare (it ends the response), so it is checked on the whole
     * text, which the record's "response" is. */
    text = decode(t, ids, n, &len);
    hit = false;
    for (int i = 0; i < r->n_strings && !hit; i++) hit = memmem(text, len, r->strings[i], strlen(r->strings[i]));
    free(text);
    return hit;
}

char *stop_response_text(const stop_rules *r, const pic_tokenizer *t, const int32_t *ids, size_t n, bool on_string,
                         size_t *lenp) {
    size_t len;
    char *text = decode(t, ids, n, &len);
    *lenp = len;
    if (on_string && r->cut) {
        const char *first = NULL;
        for (int i = 0; i < r->n_strings; i++) {
            const char *at = memmem(text, len, r->strings[i], strlen(r->strings[i]));
            if (at && (!first || at < first)) first = at;
        }
        if (first) {
            *lenp = (size_t)(first - text);
            text[*lenp] = '\0';
        }
    }
    return text;
}
