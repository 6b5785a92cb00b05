/* The tokenizer library: hash maps, BPE merge order, added
 * tokens, split behaviours, Metaspace, unknown tokens, post-processing,
 * decoding, linear time on pathological input, and concurrent encoding.
 * The real tokenizers' golden vectors run through pic-tok in
 * tests/tokenizer.bats; this file covers the rules they do not reach. */
#include <jansson.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "common/cli.h"
#include "common/progress.h"
#include "tokenizer/internal.h"
#include "tokenizer/strmap.h"
#include "tokenizer/tokenizer.h"

#define FIX "tests/fixtures/tokenizers/"
#define FFFD "\xEF\xBF\xBD" /* U+FFFD */

static char tmpdir[] = "/tmp/pic-test-tokenizer-XXXXXX";

/* A tokenizer from fixture `name` after edit(root) (may be NULL). */
static pic_tokenizer *variant(const char *name, void (*edit)(json_t *, const void *), const void *arg) {
    char *path = pic_asprintf(FIX "synthetic/%s", name);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root) pic_die("%s: %s", path, err.text);
    if (edit) edit(root, arg);
    char *out = pic_asprintf("%s/%s", tmpdir, name);
    if (json_dump_file(root, out, 0)) pic_die("cannot write %s", out);
    pic_tokenizer *t = pic_tokenizer_load(out);
    json_decref(root);
    free(path);
    free(out);
    return t;
}

static bool ids_are(const pic_tokenizer *t, const char *text, bool special, const int32_t *want, size_t nwant) {
    int32_t *ids;
    size_t n;
    if (pic_tokenizer_encode(t, text, strlen(text), special, &ids, &n)) return false;
    bool ok = n == nwant && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    if (!ok) {
        printf("#   '%s' ->", text);
        for (size_t i = 0; i < n; i++) printf(" %d", ids[i]);
        printf("\n");
    }
    free(ids);
    return ok;
}
#define IDS(t, text, special, ...)                                                         \
    do {                                                                                   \
        const int32_t w_[] = {__VA_ARGS__};                                                \
        CHECK(ids_are(t, text, special, w_, sizeof w_ / sizeof *w_), "encode '%s'", text); \
    } while (0)

static bool decodes_to(const pic_tokenizer *t, const int32_t *ids, size_t n, bool skip, const char *want) {
    char *s;
    size_t len;
    if (pic_tokenizer_decode(t, ids, n, skip, &s, &len)) return false;
    bool ok = len == strlen(want) && memcmp(s, want, len) == 0;
    if (!ok) printf("#   decoded '%s'\n", s);
    free(s);
    return ok;
}

static void test_maps(void) {
    pic_strmap m;
    pic_strmap_init(&m, 2);
    char key[32];
    for (int i = 0; i < 5000; i++) pic_strmap_put(&m, key, (size_t)snprintf(key, sizeof key, "k%d", i), i);
    int bad = 0;
    for (int i = 0; i < 5000; i++)
        if (pic_strmap_get(&m, key, (size_t)snprintf(key, sizeof key, "k%d", i)) != i) bad++;
    CHECK(bad == 0 && m.n == 5000, "strmap: 5000 keys survive growth");
    CHECK(pic_strmap_get(&m, "nope", 4) == -1, "strmap: absent key");
    CHECK(pic_strmap_put(&m, "k7", 2, 99) == 7 && pic_strmap_get(&m, "k7", 2) == 99, "strmap: overwrite returns old");
    CHECK(pic_strmap_put(&m, "a\0b", 3, 1) == -1 && pic_strmap_get(&m, "a\0c", 3) == -1, "strmap: keys with NUL");
    pic_strmap_free(&m);

    pic_pairmap p;
    pic_pairmap_init(&p, 1);
    for (int i = 0; i < 3000; i++) pic_pairmap_put(&p, i, i + 1, (uint32_t)i, -i);
    uint32_t rank;
    int32_t merged;
    CHECK(pic_pairmap_get(&p, 1234, 1235, &rank, &merged) && rank == 1234 && merged == -1234, "pairmap: lookup");
    CHECK(!pic_pairmap_get(&p, 1235, 1234, &rank, &merged), "pairmap: order matters");
    CHECK(pic_pairmap_put(&p, 5, 6, 9, 9) == 0 && pic_pairmap_get(&p, 5, 6, &rank, &merged) && rank == 9,
          "pairmap: a repeated pair takes the later rank");
    pic_pairmap_free(&p);
}

static void no_merges_shortcut(json_t *root, const void *arg) {
    (void)arg;
    json_object_set_new(json_object_get(root, "model"), "ignore_merges", json_true());
}

static void no_fuse(json_t *root, const void *arg) {
    (void)arg;
    json_object_set_new(json_object_get(root, "model"), "fuse_unk", json_false());
}

/* an empty added token, which tokenizers ignores: it gets no id */
static void empty_added(json_t *root, const void *arg) {
    (void)arg;
    json_array_insert_new(json_object_get(root, "added_tokens"), 0,
                          json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", 3, "content", "", "special", 1,
                                    "normalized", 0, "lstrip", 0, "rstrip", 0, "single_word", 0));
}

/* an added token appended to bpe.json's, not special, not normalized */
static void append_added(json_t *root, int id, const char *content, bool lstrip, bool rstrip) {
    json_array_append_new(json_object_get(root, "added_tokens"),
                          json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", id, "content", content, "special", 0,
                                    "normalized", 0, "lstrip", lstrip, "rstrip", rstrip, "single_word", 0));
}

/* " " (the vocabulary's id 7) as an added token too */
static void space_added(json_t *root, const void *arg) {
    (void)arg;
    append_added(root, 7, " ", false, false);
}

/* " " as an added token that strips the whitespace on both sides */
static void space_added_strips(json_t *root, const void *arg) {
    (void)arg;
    append_added(root, 7, " ", true, true);
}

/* "<x>b" as an added token too: "<x>" is a prefix of it */
static void prefix_added(json_t *root, const void *arg) {
    (void)arg;
    append_added(root, 15, "<x>b", false, false);
}

/* "L" (id 11, lstrip) again, now with rstrip and without lstrip */
static void l_again(json_t *root, const void *arg) {
    (void)arg;
    append_added(root, 11, "L", false, true);
}

/* RobertaProcessing with ids that are not those of its strings */
static void roberta(json_t *root, const void *arg) {
    (void)arg;
    json_object_set_new(root, "post_processor",
                        json_pack("{s:s, s:[s,i], s:[s,i], s:b, s:b}", "type", "RobertaProcessing", "cls", "a", 9,
                                  "sep", "b", 8, "trim_offsets", 1, "add_prefix_space", 0));
}

static void test_bpe(void) {
    pic_tokenizer *t = variant("bpe.json", NULL, NULL);
    IDS(t, "aaa", false, 2, 0);    /* equal ranks merge leftmost first */
    IDS(t, "aab", false, 4);       /* rank order beats position: a a first, then aa b */
    IDS(t, "abaa", false, 3, 2);
    IDS(t, "axxa", false, 0, 6, 0); /* unknown characters fuse into one <unk> */
    IDS(t, "a <x>b", false, 0, 7, 10, 1);
    IDS(t, "a  Lb", false, 0, 11, 1); /* lstrip takes the spaces before */
    IDS(t, "aR  b", false, 0, 12, 1); /* rstrip those after */
    IDS(t, "W aWb W", false, 13, 7, 0, 6, 1, 7, 13); /* single_word: not inside a word */
    /* the regex crate's \w decides: U+00B2 (No) is not a word character,
     * U+24D0 CIRCLED SMALL LETTER A (So, Other_Alphabetic) is */
    IDS(t, "W\xC2\xB2", false, 13, 6);
    IDS(t, "\xE2\x93\x90W", false, 6);
    /* connector punctuation and the joiners are word characters too */
    IDS(t, "W_", false, 6);
    IDS(t, "W\xE2\x80\x8D", false, 6); /* U+200D ZERO WIDTH JOINER */
    IDS(t, "aA\xCC\x8A" "b", false, 0, 14, 1);        /* a normalized added token matches after NFC */
    IDS(t, "\xE2\x84\xAB", false, 14);                 /* U+212B ANGSTROM SIGN is NFC U+00C5 */
    CHECK(ids_are(t, "", false, NULL, 0), "empty text, no ids");
    CHECK(pic_tokenizer_vocab_size(t) == 15, "vocab size counts added tokens");
    CHECK(pic_tokenizer_token_to_id(t, "<x>") == 10 && pic_tokenizer_token_to_id(t, "aab") == 4 &&
              pic_tokenizer_token_to_id(t, "zz") == -1,
          "token_to_id");
    CHECK(!strcmp(pic_tokenizer_id_to_token(t, 3), "ab") && pic_tokenizer_id_to_token(t, 99) == NULL, "id_to_token");
    CHECK(pic_tokenizer_is_special(t, 10) && !pic_tokenizer_is_special(t, 11), "special flags");
    const int32_t d[] = {0, 7, 10, 1};
    CHECK(decodes_to(t, d, 4, false, "a   <x> b"), "no decoder: tokens joined by spaces, as HF");
    CHECK(decodes_to(t, d, 4, true, "a   b"), "skip_special drops <x>");
    const int32_t bad[] = {0, 15};
    char *s;
    size_t len;
    CHECK(pic_tokenizer_decode(t, bad, 2, false, &s, &len) == -1 && !s && len == 1, "decode: unknown id reported");
    int32_t *ids;
    size_t n;
    CHECK(pic_tokenizer_encode(t, "ab\xFF", 3, false, &ids, &n) == -1 && !ids && n == 2,
          "encode: invalid UTF-8 reported with its offset");
    pic_tokenizer_free(t);

    t = variant("bpe.json", no_merges_shortcut, NULL);
    IDS(t, "aaa", false, 5); /* ignore_merges: a whole-word token wins */
    pic_tokenizer_free(t);
    t = variant("bpe.json", no_fuse, NULL);
    IDS(t, "axxa", false, 0, 6, 6, 0);
    pic_tokenizer_free(t);
    t = variant("bpe.json", space_added, NULL);
    /* HF's matcher resumes at R's own end, not after the spaces its rstrip
     * took (AddedVocabulary::find_matches): each space is still found */
    IDS(t, "aR  b", false, 0, 12, 7, 7, 1);
    pic_tokenizer_free(t);
    /* but a match there with lstrip starts where the last one ended
     * (start = max(lstripped start, start_offset) in find_matches): " "
     * found inside R's rstrip, or inside another " "'s, is then empty and
     * dropped (tokenizers 0.23.2: "aR  b" -> 0 12 1, "a  L  b" -> 0 7 11 7 1) */
    t = variant("bpe.json", space_added_strips, NULL);
    IDS(t, "aR  b", false, 0, 12, 1);
    IDS(t, "a  L  b", false, 0, 7, 11, 7, 1);
    pic_tokenizer_free(t);
    /* the longest added token at a position wins (AddedVocabulary's
     * MatchKind::LeftmostLongest), not the first one the trie completes */
    t = variant("bpe.json", prefix_added, NULL);
    IDS(t, "<x>b", false, 15);
    IDS(t, "<x>a", false, 10, 0);
    pic_tokenizer_free(t);
    /* one content twice under its id: the later entry's flags hold, as
     * add_tokens replaces the id's AddedToken (added_tokens_map_r) */
    t = variant("bpe.json", l_again, NULL);
    IDS(t, "a  L  b", false, 0, 7, 7, 11, 1);
    pic_tokenizer_free(t);
    t = variant("bpe.json", roberta, NULL);
    IDS(t, "ab", true, 9, 3, 8); /* tokenizers adds the ids of cls and sep, not those of their strings */
    pic_tokenizer_free(t);
    t = variant("bpe.json", empty_added, NULL);
    const int32_t ab[] = {3};
    CHECK(decodes_to(t, ab, 1, true, "ab") && !pic_tokenizer_is_special(t, 3),
          "an empty added token is ignored: id 3 stays the vocabulary's 'ab'");
    pic_tokenizer_free(t);
}

static void set_behavior(json_t *root, const void *arg) {
    const char *const *a = arg;
    json_t *pre = json_object_get(root, "pre_tokenizer");
    json_object_set_new(pre, "behavior", json_string(a[0]));
    json_object_set_new(pre, "invert", json_boolean(a[1] != NULL));
}

static void test_split(void) {
    struct {
        const char *behavior, *invert;
        int32_t want[8];
        size_t n;
    } cases[] = {
        {"Isolated", NULL, {0, 3, 1, 3, 3, 2}, 6},
        {"Removed", NULL, {0, 1, 2}, 3},
        {"MergedWithPrevious", NULL, {4, 5, 3, 2}, 4},
        {"MergedWithNext", NULL, {0, 6, 3, 7}, 4},
        {"Contiguous", NULL, {0, 3, 1, 8, 2}, 5},
        {"Isolated", "invert", {0, 3, 1, 3, 3, 2}, 6},
        {"Removed", "invert", {3, 3, 3}, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *arg[2] = {cases[i].behavior, cases[i].invert};
        pic_tokenizer *t = variant("split.json", set_behavior, arg);
        CHECK(ids_are(t, "a-b--c", false, cases[i].want, cases[i].n), "Split %s%s", cases[i].behavior,
              cases[i].invert ? " inverted" : "");
        pic_tokenizer_free(t);
    }
}

/* a Split that removes '-' before the Metaspace */
static void split_then_metaspace(json_t *root, const void *arg) {
    (void)arg;
    json_t *meta = json_incref(json_object_get(root, "pre_tokenizer"));
    json_t *split = json_pack("{s:s, s:{s:s}, s:s, s:b}", "type", "Split", "pattern", "String", "-", "behavior",
                              "Removed", "invert", 0);
    json_object_set_new(root, "pre_tokenizer",
                        json_pack("{s:s, s:[o,o]}", "type", "Sequence", "pretokenizers", split, meta));
}

/* NFKC, then each digit alone before the Metaspace; "1", "2" and "\u25811"
 * in the vocabulary */
static void nfkc_digits_metaspace(json_t *root, const void *arg) {
    (void)arg;
    json_t *meta = json_incref(json_object_get(root, "pre_tokenizer"));
    json_t *digits = json_pack("{s:s, s:b}", "type", "Digits", "individual_digits", 1);
    json_object_set_new(root, "pre_tokenizer",
                        json_pack("{s:s, s:[o,o]}", "type", "Sequence", "pretokenizers", digits, meta));
    json_object_set_new(root, "normalizer", json_pack("{s:s}", "type", "NFKC"));
    json_t *model = json_object_get(root, "model"), *vocab = json_object_get(model, "vocab");
    json_object_set_new(vocab, "1", json_integer(6));
    json_object_set_new(vocab, "2", json_integer(7));
    json_object_set_new(vocab, "\u25811", json_integer(8));
    json_array_append_new(json_object_get(model, "merges"), json_string("\u2581 1"));
}

static void test_metaspace(void) {
    pic_tokenizer *t = variant("metaspace.json", NULL, NULL);
    IDS(t, "hi hi", false, 4, 4);
    IDS(t, "hi hi", true, 4, 4, 5); /* the template's suffix */
    IDS(t, "hi</s>hi", false, 4, 5, 1, 2); /* prepend_scheme first: only at the very start */
    const int32_t d[] = {4, 4, 5};
    CHECK(decodes_to(t, d, 2, false, "hi hi"), "Metaspace decoder: first token's marker dropped");
    CHECK(decodes_to(t, d, 3, true, "hi hi"), "Metaspace decoder, skip special");
    CHECK(pic_tokenizer_bos_id(t) == -1, "no bos when the template prepends nothing");
    pic_tokenizer_free(t);
    /* "first" is the piece at offset 0 of the text: after a removed '-' the
     * first piece starts at 1 and gets no marker */
    t = variant("metaspace.json", split_then_metaspace, NULL);
    IDS(t, "-hi", false, 1, 2);
    IDS(t, "hi-hi", false, 4, 1, 2);
    pic_tokenizer_free(t);
    /* ... in the original text: U+00BD is "1\u20442" after NFKC, and all
     * three of its pieces begin at its offset 0, so each gets the marker
     * ("\u2581\u2044" and "\u25812" have no token: 0 and 7 stay); after
     * "h" none does (tokenizers 0.23.2) */
    t = variant("metaspace.json", nfkc_digits_metaspace, NULL);
    IDS(t, "\xC2\xBD", false, 8, 0, 0, 7);
    IDS(t, "h\xC2\xBD", false, 3, 6, 7);
    IDS(t, "\xE2\x91\xB4", false, 0, 8, 0); /* U+2474 is "(1)" */
    pic_tokenizer_free(t);
}

/* The layout of Llama 2 / TinyLlama / Mistral tokenizer.json files
 * converted by transformers: the normalizer prepends the marker to every
 * stretch between added tokens (HF normalizes each stretch alone) and
 * turns spaces into markers, there is no pre-tokenizer, and characters
 * outside the vocabulary fall back to bytes, else to one fused <unk>. */
static void test_spm(void) {
    pic_tokenizer *t = variant("spm.json", NULL, NULL);
    IDS(t, "hi", false, 9);
    IDS(t, "hi hi", false, 9, 9);
    IDS(t, "hi hi", true, 1, 9, 9);
    IDS(t, "hi<s>hi", false, 9, 1, 9);     /* each stretch gets its own marker */
    IDS(t, " a", false, 5, 11);            /* "\u2581\u2581a": the pair (\u2581, \u2581) has no merge */
    IDS(t, "\xC3\xA9", false, 5, 3, 4);   /* U+00E9 as its two byte tokens */
    IDS(t, "xx", false, 5, 0);             /* no byte tokens for 'x': one <unk> for the run */
    CHECK(ids_are(t, "", false, NULL, 0), "Prepend leaves an empty text empty");
    IDS(t, "", true, 1);
    const int32_t d[] = {1, 9, 9}, e[] = {5, 3, 4};
    CHECK(decodes_to(t, d, 3, true, "hi hi"), "spm decode: markers to spaces, the first one stripped");
    CHECK(decodes_to(t, d, 3, false, "<s> hi hi"), "spm decode with <s>: Strip finds no space to take");
    CHECK(decodes_to(t, e, 3, false, "\xC3\xA9"), "spm decode: byte tokens join into U+00E9");
    pic_tokenizer_free(t);
}

/* Digits: a split on numeric characters, each alone or in runs */
static void digits(json_t *root, const void *arg) {
    json_t *pre = json_pack("{s:s, s:b}", "type", "Digits", "individual_digits", arg != NULL);
    json_object_set_new(root, "pre_tokenizer", pre);
    json_t *model = json_object_get(root, "model"), *vocab = json_object_get(model, "vocab");
    json_object_set_new(vocab, "1", json_integer(9));
    json_object_set_new(vocab, "2", json_integer(10));
    json_object_set_new(vocab, "12", json_integer(11));
    json_array_append_new(json_object_get(model, "merges"), json_string("1 2"));
}

/* a Split that matches the empty string: HF iterates as the onig crate
 * does (an empty match right after a match is skipped) */
static void empty_split(json_t *root, const void *arg) {
    (void)arg;
    json_t *pre = json_object_get(root, "pre_tokenizer");
    json_object_set_new(pre, "pattern", json_pack("{s:s}", "Regex", "-*"));
    json_object_set_new(pre, "behavior", json_string("MergedWithNext"));
}

/* a Replace normalizer whose regex matches the empty string: every match,
 * empty ones too, becomes the content (the added tokens left out: it would
 * change the normalized one) */
static void empty_replace(json_t *root, const void *arg) {
    (void)arg;
    json_object_set_new(root, "added_tokens", json_array());
    json_object_set_new(root, "normalizer",
                        json_pack("{s:s, s:{s:s}, s:s}", "type", "Replace", "pattern", "Regex", "b*", "content", "c"));
}

/* the "#version" line of merges.txt, kept in the "a b" form (the list all
 * in that form, as tokenizers wants it): HF drops it
 * before numbering the ranks */
static void version_line(json_t *root, const void *arg) {
    (void)arg;
    json_object_set_new(json_object_get(root, "model"), "merges",
                        json_pack("[s,s,s,s]", "#version: 0.2", "a a", "aa b", "a b"));
}

/* a Split on the Regex arg, its matches removed */
static void regex_removed(json_t *root, const void *arg) {
    json_t *pre = json_object_get(root, "pre_tokenizer");
    json_object_set_new(pre, "pattern", json_pack("{s:s}", "Regex", (const char *)arg));
    json_object_set_new(pre, "behavior", json_string("Removed"));
}

static void test_pretokenizers(void) {
    pic_tokenizer *t = variant("split.json", digits, "individual");
    IDS(t, "a12b", false, 0, 9, 10, 1);
    pic_tokenizer_free(t);
    t = variant("split.json", digits, NULL);
    IDS(t, "a12b12", false, 0, 11, 1, 11);
    pic_tokenizer_free(t);
    /* matches of "-*" in "a-b": (0,0), (1,2), (3,3); onig skips (2,2).
     * Merged with the next piece: "a", "-b" (with (2,2) it was "a", "-", "b") */
    t = variant("split.json", empty_split, NULL);
    IDS(t, "a-b", false, 0, 6);
    pic_tokenizer_free(t);
    /* "b*" in "ab": (0,0) inserts "c", (1,2) becomes "c", (2,2) is skipped: "cac" */
    t = variant("bpe.json", empty_replace, NULL);
    IDS(t, "ab", false, 8, 0, 8);
    pic_tokenizer_free(t);
    /* HF's engine is Oniguruma: its \s is White_Space, which U+180E (a
     * space before Unicode 6.3) is not, though PCRE2's \s matches it; "-",
     * U+180E (no token: dropped) and "-" stay one piece, which merges */
    t = variant("split.json", regex_removed, "\\s");
    IDS(t, "-\xE1\xA0\x8E-", false, 8);
    IDS(t, "- -", false, 3, 3);
    pic_tokenizer_free(t);
    t = variant("split.json", regex_removed, "[^\\S]");
    IDS(t, "-\xE1\xA0\x8E-", false, 8);
    pic_tokenizer_free(t);
    /* Oniguruma's \h is a hexadecimal digit (PCRE2's: horizontal space) */
    t = variant("split.json", regex_removed, "\\h");
    IDS(t, "a-", false, 3); /* "a" removed; with PCRE2's \h the merge "a -" */
    pic_tokenizer_free(t);
    /* and its \v the vertical tab alone (PCRE2's: \n, \f, \r... too): the
     * newline (no token: dropped) stays, "a" and "-" merge */
    t = variant("split.json", regex_removed, "\\v");
    const int32_t nl[] = {4}, vt[] = {0, 3};
    CHECK(ids_are(t, "a\n-", false, nl, 1), "\\v: a newline is no vertical tab");
    CHECK(ids_are(t, "a\v-", false, vt, 2), "\\v: the vertical tab is");
    pic_tokenizer_free(t);
    /* Oniguruma's ^ and $ are line anchors (the onig crate's Ruby syntax):
     * ^ after each newline, $ before each; the newline (no token) is
     * dropped, so an 'a' left beside a '-' merges into "a-" (4) */
    t = variant("split.json", regex_removed, "^a");
    IDS(t, "a-\na-", false, 3, 3);
    pic_tokenizer_free(t);
    t = variant("split.json", regex_removed, "a$");
    IDS(t, "-a\n-a", false, 3, 3);
    pic_tokenizer_free(t);
    t = variant("bpe.json", version_line, NULL);
    IDS(t, "aaa", false, 2, 0); /* the ranks as without the line */
    IDS(t, "aab", false, 4);
    pic_tokenizer_free(t);
}

/* The pieces pattern finds in text, each followed by '|' ("" when none;
 * "error" when it does not compile). */
static char *pieces(const char *pattern, const char *text) {
    tk_regex re;
    char err[256];
    if (tk_regex_compile(&re, pattern, strlen(pattern), false, err, sizeof err)) return pic_strdup("error");
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re.code, NULL);
    tk_regex_iter it = {0};
    size_t ms, me, len = 0;
    char *out = pic_calloc(1, 2 * strlen(text) + 2);
    while (tk_regex_iter_next(&re, md, text, strlen(text), &it, &ms, &me)) {
        memcpy(out + len, text + ms, me - ms);
        len += me - ms;
        out[len++] = '|';
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re.code);
    return out;
}
#define PIECES(pattern, text, want)                                                           \
    do {                                                                                      \
        char *got_ = pieces(pattern, text);                                                   \
        CHECK(strcmp(got_, want) == 0, "/%s/ on '%s' finds '%s' (want '%s')", pattern, text, \
              got_, want);                                                                    \
        free(got_);                                                                           \
    } while (0)

#define ACUTE "\xCC\x81"         /* U+0301 COMBINING ACUTE ACCENT (Mn) */
#define UNDERTIE "\xE2\x80\xBF"  /* U+203F UNDERTIE (Pc) */
#define SUP2 "\xC2\xB2"          /* U+00B2 SUPERSCRIPT TWO (No) */
#define THIRD "\xE2\x85\x93"     /* U+2153 VULGAR FRACTION ONE THIRD (No) */
#define CIRCLED_A "\xE2\x92\xB6" /* U+24B6 CIRCLED LATIN CAPITAL LETTER A (So, Alphabetic) */

/* Oniguruma's \w is Alphabetic | Mark | Nd | Pc (make_unicode_property_data.py),
 * and outside a class its Latin-1 table (unicode.c) adds the superscripts
 * and fractions; PCRE2's is L | N | '_'. \b and \B follow the outside
 * reading, the text's edges counting as non-word (regexec.c). */
static void test_onig_word(void) {
    PIECES("\\w+", "ka" ACUTE " a" UNDERTIE "b", "ka" ACUTE "|a" UNDERTIE "b|");
    PIECES("\\w+", "x" SUP2 " " THIRD " " CIRCLED_A, "x" SUP2 "|" CIRCLED_A "|");
    /* the whole Latin-1 table's list: U+00B3, U+00B9, U+00BC-00BE too */
    PIECES("\\w+", "x\xC2\xB9 \xC2\xBC\xC2\xBD\xC2\xBE\xC2\xB3-", "x\xC2\xB9|\xC2\xBC\xC2\xBD\xC2\xBE\xC2\xB3|");
    PIECES("\\W+", "a" ACUTE SUP2 "-" THIRD, "-" THIRD "|");
    /* in a class the range table alone: U+00B2 is no word character there */
    PIECES("[\\w]+", "x" SUP2 "y" ACUTE, "x|y" ACUTE "|");
    PIECES("[\\w-]+", "a" ACUTE "-b c", "a" ACUTE "-b|c|");
    PIECES("[^\\w\\s]+", "x" SUP2 " a" ACUTE, SUP2 "|");
    /* \W in a class, which PCRE2's classes cannot hold */
    PIECES("[\\W]+", "a" SUP2 "-" ACUTE, SUP2 "-|");
    PIECES("[\\W\\d]+", "ab12-c", "12-|");
    PIECES("[^\\W]+", "a" SUP2 "-" ACUTE, "a|" ACUTE "|");
    PIECES("[^\\W\\d]+", "ab12c", "ab|c|");
    PIECES("[^^\\W]+", "a^b", "a|b|");
    PIECES("[^_\\W]+", "a_b", "a|b|");
    /* \b and \B: a mark inside a word, a superscript one too */
    PIECES("\\b.", "a" ACUTE " b", "a| |b|");
    PIECES("\\B.", "a" ACUTE " b", ACUTE "|");
    PIECES(".\\b", "x" SUP2 "-", SUP2 "|");
    PIECES(".\\b", "x" THIRD, "x|");
    PIECES("\\b", UNDERTIE, "||");
    PIECES("\\B", "-", "||");
    PIECES("[\\b]", "a\bb", "\b|"); /* a backspace in a class */
}

#define YPOGEGRAMMENI "\xCD\x85"   /* U+0345 COMBINING GREEK YPOGEGRAMMENI (Mn, Alphabetic) */
#define ROMAN_ONE "\xE2\x85\xA0"  /* U+2160 ROMAN NUMERAL ONE (Nl, Alphabetic, Uppercase) */
#define FEM_ORDINAL "\xC2\xAA"     /* U+00AA FEMININE ORDINAL INDICATOR (Lo, Lowercase) */
#define MONGOLIAN_VS "\xE1\xA0\x8E" /* U+180E MONGOLIAN VOWEL SEPARATOR (Cf) */
#define IDEO_SPACE "\xE3\x80\x80"   /* U+3000 IDEOGRAPHIC SPACE (Zs) */
#define ARABIC_MARK "\xD8\x9C"       /* U+061C ARABIC LETTER MARK (Cf) */
#define LRI "\xE2\x81\xA6"          /* U+2066 LEFT-TO-RIGHT ISOLATE (Cf) */
#define EURO "\xE2\x82\xAC"         /* U+20AC EURO SIGN (Sc) */
#define NEL "\xC2\x85"               /* U+0085 NEXT LINE (Cc, White_Space) */
#define PRIVATE "\xEE\x80\x80"      /* U+E000, private use (Co) */

/* Oniguruma's POSIX brackets are Unicode properties of its own choosing
 * (make_unicode_property_data.py, add_posix_props), taken in a class by
 * the range table alone; PCRE2's (posix_substitutes) are others. Each
 * line below splits otherwise under PCRE2's reading; libonig 6.9.8 gives
 * these pieces ([:punct:] is P | S from 6.9.9 on, P alone in 6.9.8). */
static void test_onig_posix(void) {
    PIECES("[[:alpha:]]+", "a" YPOGEGRAMMENI " " ROMAN_ONE CIRCLED_A, "a" YPOGEGRAMMENI "|" ROMAN_ONE CIRCLED_A "|");
    PIECES("[[:alnum:]]+", "x" SUP2 "y" ROMAN_ONE "2", "x|y" ROMAN_ONE "2|");
    PIECES("[[:word:]]+", "a" ACUTE UNDERTIE "b" SUP2, "a" ACUTE UNDERTIE "b|");
    PIECES("[[:lower:]]+", "a" FEM_ORDINAL "B", "a" FEM_ORDINAL "|");
    PIECES("[[:upper:]]+", "A" ROMAN_ONE CIRCLED_A "a", "A" ROMAN_ONE CIRCLED_A "|");
    PIECES("[[:space:]]+", " " MONGOLIAN_VS IDEO_SPACE NEL, " |" IDEO_SPACE NEL "|");
    PIECES("[[:blank:]]+", "\t" MONGOLIAN_VS IDEO_SPACE "\n", "\t|" IDEO_SPACE "|");
    PIECES("[[:graph:]]+", "a" ARABIC_MARK "b " LRI, "a" ARABIC_MARK "b|" LRI "|");
    PIECES("[[:print:]]+", "a" LRI " b" NEL PRIVATE, "a" LRI " b|" PRIVATE "|");
    PIECES("[[:punct:]]+", "a$" EURO "-b+c", "$" EURO "-|+|");
    PIECES("[[:cntrl:][:digit:][:xdigit:][:ascii:]]+", NEL "9fG" EURO, NEL "9fG|"); /* alike in both */
    /* [:^name:], a complement, in a class with other items or none */
    PIECES("[[:^alpha:]]+", "a" ROMAN_ONE "-", "-|");
    PIECES("[[:^alnum:]]+", "x" SUP2 "-y", SUP2 "-|");
    PIECES("[[:^lower:]]+", "a" FEM_ORDINAL "B", "B|");
    PIECES("[[:^punct:]]+", "a$" EURO "-b", "a|b|");
    PIECES("[[:^graph:]]+", "a" ARABIC_MARK " b", " |");
    PIECES("[[:^print:]]+", "a" LRI NEL PRIVATE " b", NEL "|");
    PIECES("[^[:^word:]]+", "a" ACUTE "-b" SUP2, "a" ACUTE "|b|");
    PIECES("[x[:^word:]]+", "xa-x", "x|-x|");
    PIECES("[^x[:^blank:]]+", "x " IDEO_SPACE "y\t", " " IDEO_SPACE "|\t|");
    PIECES("[^[:^alnum:][:^word:]]+", "a" ACUTE "1_", "a|1|");
    PIECES("[[:^alnum:][:^word:]]+", "a" ACUTE "_1-", ACUTE "_|-|");
    PIECES("[^\\W[:^alnum:]]+", "a" ACUTE "_b", "a|b|");
    /* a name Oniguruma does not know is an error to it too */
    PIECES("[[:Alpha:]]", "a", "error");
    tk_regex re;
    char err[256];
    int rc = tk_regex_compile(&re, "a[x[:foo:]]", 11, false, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "unknown POSIX bracket '[:foo:]' at offset 3"), "[[:foo:]] refused: %s", err);
}

static void test_stories(void) {
    pic_tokenizer *t = pic_tokenizer_load(FIX "stories260K");
    IDS(t, "Once upon a time", true, 1, 403, 407, 261, 378); /* as run.c and HF encode it */
    CHECK(pic_tokenizer_bos_id(t) == 1 && pic_tokenizer_eos_id(t) == 2, "stories260K: bos/eos from tokenizer_config");
    /* characters outside the 512-token vocabulary fall back to bytes */
    const char *text = "caf\xC3\xA9 \xF0\x9F\x98\x80!";
    int32_t *ids;
    size_t n;
    pic_tokenizer_encode(t, text, strlen(text), false, &ids, &n);
    int bytes = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= 3 && ids[i] < 259) bytes++;
    CHECK(bytes >= 4, "byte fallback tokens for the emoji");
    CHECK(decodes_to(t, ids, n, false, text), "byte fallback decodes back to the text");
    free(ids);
    const int32_t broken[] = {403, 3 + 0xF0, 3 + 0x9F, 407};
    CHECK(decodes_to(t, broken, 4, false, "Once" FFFD FFFD " upon"), "a broken byte run is one U+FFFD per byte");
    pic_tokenizer_free(t);
}

static void test_tiny_model_dir(void) {
    pic_tokenizer *t = pic_tokenizer_load(FIX "tiny");
    CHECK(pic_tokenizer_eos_id(t) == 509, "eos from config.json when there is no tokenizer_config");
    CHECK(pic_tokenizer_bos_id(t) == -1 && pic_tokenizer_pad_id(t) == -1, "no bos, no pad");
    pic_tokenizer_free(t);
}

/* CPU seconds of this thread for one count: immune to other processes
 * sharing the machine, which wall time is not. Best of three. */
static double time_encode(const pic_tokenizer *t, const char *s, size_t n, size_t *ntok) {
    double best = INFINITY;
    for (int r = 0; r < 3; r++) {
        struct timespec a, b;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        pic_tokenizer_count(t, s, n, false, ntok);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        double dt = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
        if (dt < best) best = dt;
    }
    return best;
}

/* A megabyte of one character class must not go quadratic anywhere: not in
 * the regex (\s+(?!\S) and friends), not in BPE over one long word. The
 * check is a ratio, so it holds on any CPU and under any load: 8x the input
 * costs 8x the time when linear and 64x when quadratic; 24x lies between
 * with room for cache effects. (A floor of 5 ms on the small run keeps a
 * timer's granularity out of the ratio.) The ids' buffer stays in the heap
 * between runs: freed to the system and faulted in again, a page cost 12 us
 * on a VM, counted in this thread's time, and the megabyte's ratio read
 * 24.8x (CI, 2026-12-02) with the tokenizer itself linear. */
static void test_linear(void) {
#ifdef M_MMAP_THRESHOLD
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
    pic_tokenizer *t = pic_tokenizer_load(FIX "tiny/tokenizer.json");
    size_t n = 1 << 20, ntok, ntok_small;
    char *s = pic_malloc(n + 1);
    const char *kinds[] = {"spaces", "digits", "one long word", "newlines and spaces"};
    for (int k = 0; k < 4; k++) {
        uint32_t x = 12345;
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            s[i] = k == 0 ? ' ' : k == 1 ? (char)('0' + (x >> 16) % 10) : k == 2 ? (char)('a' + (x >> 16) % 26)
                                                                                 : ((x >> 16) % 7 ? ' ' : '\n');
        }
        char last = s[n / 8 - 1];
        if (k == 0) s[n / 8 - 1] = s[n - 1] = 'x'; /* spaces then a word: the lookahead backtracks once */
        double small = time_encode(t, s, n / 8, &ntok_small);
        if (k == 0) s[n / 8 - 1] = last;
        double dt = time_encode(t, s, n, &ntok);
        double ratio = dt / fmax(small, 5e-3);
        CHECK(ratio < 24 && ntok > ntok_small && ntok_small > 0, "1 MiB of %s: %.3f s, %.1fx the time of 128 KiB, %zu tokens",
              kinds[k], dt, ratio, ntok);
    }
    free(s);
    pic_tokenizer_free(t);
}

typedef struct {
    const pic_tokenizer *t;
    const char *text;
    int32_t *ids;
    size_t n;
} job;

static void *encode_job(void *arg) {
    job *j = arg;
    for (int r = 0; r < 20; r++) {
        free(j->ids);
        pic_tokenizer_encode(j->t, j->text, strlen(j->text), false, &j->ids, &j->n);
    }
    return NULL;
}

static void test_threads(void) {
    pic_tokenizer *t = pic_tokenizer_load(FIX "tiny/tokenizer.json");
    const char *text = "What is 123 + 4567? The answer is \\boxed{4690}. <|im_end|> I'm sure they'll agree.";
    job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){t, text, NULL, 0};
        pthread_create(&th[i], NULL, encode_job, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    int same = 1;
    for (int i = 1; i < 4; i++)
        same &= jobs[i].n == jobs[0].n && memcmp(jobs[i].ids, jobs[0].ids, jobs[0].n * sizeof(int32_t)) == 0;
    CHECK(same && jobs[0].n > 10, "four threads on one tokenizer agree");
    for (int i = 0; i < 4; i++) free(jobs[i].ids);
    pic_tokenizer_free(t);
}

int main(void) {
    pic_init("test_tokenizer");
    if (!mkdtemp(tmpdir)) pic_die("mkdtemp: cannot create %s", tmpdir);
    test_maps();
    test_bpe();
    test_split();
    test_metaspace();
    test_spm();
    test_pretokenizers();
    test_onig_word();
    test_onig_posix();
    test_stories();
    test_tiny_model_dir();
    test_linear();
    test_threads();
    char *rm = pic_asprintf("rm -rf '%s'", tmpdir);
    if (system(rm) != 0) printf("# could not remove %s\n", tmpdir);
    free(rm);
    return check_done();
}
