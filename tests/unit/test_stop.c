/* --stop strings (stop.c): a match that ends in the new token is found
 * however the tokens before it decode, including ids that decode to no
 * text at all (special tokens, and a model's embedding rows beyond the
 * tokenizer, which a model can sample: docs/rollout.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/atomic.h"
#include "common/cli.h"
#include "rollout/stop.h"

#define TINY "tests/fixtures/models/qwen2-tiny/"

/* Whether the whole text of ids contains the stop string, and whether the
 * windowed check, run at every token as generation does, first finds it at
 * the last one. */
static void both(const stop_rules *r, const pic_tokenizer *t, const int32_t *ids, size_t n, const char *what) {
    size_t len;
    char *text = stop_response_text(r, t, ids, n, false, &len);
    bool whole = memmem(text, len, r->strings[0], strlen(r->strings[0])) != NULL;
    free(text);
    bool first_at_end = stop_string_hit(r, t, ids, n);
    for (size_t k = 1; k < n; k++) first_at_end &= !stop_string_hit(r, t, ids, k);
    CHECK(whole && first_at_end, "%s: in the text, and found at the token that completes it", what);
}

/* ids[0..n) = the byte-fallback tokens (<0xE6>) of text's n bytes. */
static void byte_tokens(const pic_tokenizer *t, const char *text, int n, int32_t *ids) {
    for (int i = 0; i < n; i++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", (unsigned char)text[i]);
        ids[i] = pic_tokenizer_token_to_id(t, name);
    }
}

int main(void) {
    pic_init("test_stop");
    /* qwen2-tiny's 512-token tokenizer under a 600-row model */
    char dir[] = "/tmp/test_stop.XXXXXX";
    if (!mkdtemp(dir)) pic_die("mkdtemp: cannot make a scratch directory");
    size_t n;
    char *json = pic_read_file(TINY "tokenizer.json", &n);
    char *tok = pic_asprintf("%s/tokenizer.json", dir), *cfg = pic_asprintf("%s/config.json", dir);
    pic_write_file_atomic(tok, json, n);
    pic_write_file_atomic(cfg, "{\"vocab_size\": 600}\n", 19);
    free(json);
    pic_tokenizer *t = pic_tokenizer_load(dir);

    const char *jj[] = {"jj"}; /* token 73 is "j" */
    stop_rules r = {.strings = jj, .n_strings = 1, .longest = 2};
    int32_t plain[] = {73, 73};
    both(&r, t, plain, 2, "j j");
    /* special tokens between the two decode to nothing */
    int32_t special[] = {73, 509, 510, 511, 509, 510, 511, 509, 73};
    both(&r, t, special, 9, "j, seven special tokens, j");
    /* so do rows without a token: six of them pushed the first j out of
     * the window of longest + 4 tokens, and the stop was never seen */
    int32_t rows[] = {73, 512, 530, 555, 580, 599, 513, 73};
    both(&r, t, rows, 8, "j, six ids beyond the tokenizer, j");
    int32_t mixed[] = {73, 512, 509, 599, 510, 520, 521, 522, 523, 524, 525, 73};
    both(&r, t, mixed, 12, "j, special tokens and ids beyond the tokenizer, j");

    /* a window that begins inside a character: its first byte, alone,
     * decoded to U+FFFD, a stop string the text never held (token 127 is
     * the byte C3, 102 is A9: "é") */
    const char *fffd[] = {"\xEF\xBF\xBD"};
    stop_rules rf = {.strings = fffd, .n_strings = 1, .longest = 3};
    int32_t split[] = {127, 102, 73, 73, 73, 73, 73, 73, 73, 73};
    for (size_t k = 2; k <= 10; k++) CHECK(!stop_string_hit(&rf, t, split, k), "\"éjj...\" holds no U+FFFD (%zu)", k);
    pic_tokenizer_free(t);

    /* byte-fallback tokens (SentencePiece's <0xE6>): a run that is not
     * valid UTF-8 decodes to one U+FFFD a byte, so a window that began
     * inside a character lost every character of the run, "語" among them */
    t = pic_tokenizer_load("tests/fixtures/tokenizers/stories260K/tokenizer.json");
    const char *go[] = {"\xE8\xAA\x9E"}, *text = "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"; /* 日本語 */
    stop_rules rg = {.strings = go, .n_strings = 1, .longest = 3};
    int32_t run[9];
    byte_tokens(t, text, 9, run);
    both(&rg, t, run, 9, "a run of nine byte tokens ending in the stop string's three");
    /* the same characters after a stray byte (0x80) in the same run: the
     * run is not valid UTF-8, so the response text is one U+FFFD a byte
     * (HF's ByteFallback) and holds no "語"; the window, which began at a
     * character inside the run, saw the characters and stopped the
     * response on a string its text never held (--stop-cut cut nothing) */
    int32_t stray[1 + 5 * 9];
    stray[0] = pic_tokenizer_token_to_id(t, "<0x80>");
    for (int i = 0; i < 5 * 9; i++) stray[1 + i] = run[i % 9];
    bool any = false;
    for (size_t k = 1; k <= sizeof stray / sizeof *stray; k++) any |= stop_string_hit(&rg, t, stray, k);
    size_t slen;
    char *stext = stop_response_text(&rg, t, stray, sizeof stray / sizeof *stray, false, &slen);
    CHECK(!memmem(stext, slen, go[0], 3) && !any,
          "a stray byte, then 日本語 five times, all byte tokens: no 語 in the text, and no stop");
    free(stext);
    /* --stop-cut cuts at the stop string that starts earliest, whichever
     * is listed first: "本語" before "語" in 日本語, leaving 日 */
    const char *two[] = {"\xE8\xAA\x9E", "\xE6\x9C\xAC\xE8\xAA\x9E"};
    stop_rules rc = {.strings = two, .n_strings = 2, .longest = 6, .cut = true};
    char *ctext = stop_response_text(&rc, t, run, 9, true, &slen);
    CHECK(slen == 3 && !memcmp(ctext, text, 3), "--stop-cut over 日本語 with stops 語 and 本語 leaves 日 (%zu bytes)",
          slen);
    free(ctext);
    /* four-byte characters in byte tokens: a window of longest + 4 tokens
     * that begins at the last byte of one (𝄞 here) needs three steps back
     * to its lead byte, or the run it sees is not valid UTF-8 and "🙂" is lost */
    const char *smile[] = {"\xF0\x9F\x99\x82"},
               *four = "\xF0\x9D\x84\x9E\xF0\x9F\x98\x80\xF0\x9F\x99\x82"; /* 𝄞😀🙂 */
    stop_rules rs = {.strings = smile, .n_strings = 1, .longest = 4};
    int32_t run4[12];
    byte_tokens(t, four, 12, run4);
    both(&rs, t, run4, 12, "a run of twelve byte tokens, three four-byte characters, ending in the stop string's");
    pic_tokenizer_free(t);
    unlink(tok), unlink(cfg), rmdir(dir);
    free(tok), free(cfg);
    return check_done();
}
