/* pic-tok: tokenize and detokenize record streams with a model's
 * tokenizer.json, exactly as HF tokenizers does; for users, tests and
 * pipelines that need token ids or counts without loading a model. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/json.h"
#include "common/progress.h"
#include "common/stream.h"
#include "common/utf8.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"

static const char usage[] =
    "Usage: pic-tok --tokenizer PATH [OPTION]... COMMAND [FILE]...\n"
    "Tokenize or detokenize JSON Lines records (plain or zstd; the FILEs one after\n"
    "another, standard input when none or '-') with a HuggingFace tokenizer.json,\n"
    "giving the same ids and text as the `tokenizers` library.\n"
    "\n"
    "Commands:\n"
    "  encode   add 'ids' (the token ids of the 'text' field) to each record\n"
    "  decode   add 'text' (the decoded 'ids' field) to each record\n"
    "           (--field and --ids-field rename both, in either direction)\n"
    "  count    print each record's token count, one per line\n"
    "  info     print the tokenizer's path, vocabulary size, special ids and chat\n"
    "           format as one JSON object (reads no input; -o writes it there;\n"
    "           bytes of the path that are not UTF-8 show as U+FFFD)\n"
    "\n"
    "Options:\n"
    "  -t, --tokenizer PATH  tokenizer.json, or a model directory holding it (its\n"
    "                        tokenizer_config.json supplies bos/eos/pad and the chat\n"
    "                        template)\n"
    "      --raw             encode/count: each input line is a text, not JSON; encode\n"
    "                        writes {\"text\": LINE, \"ids\": [...]}\n"
    "      --special         encode/count: add the special tokens of the tokenizer's\n"
    "                        post-processor (HF add_special_tokens=True, e.g. Llama 3's\n"
    "                        <|begin_of_text|>; tokenizer.json's alone, as transformers\n"
    "                        5: tokenizer_config.json's add_bos_token is not read); off\n"
    "                        by default\n"
    "      --skip-special    decode: leave out special tokens\n"
    "      --chat FORMAT     encode/count: first format the text as one user turn\n"
    "                        with the generation prompt; encode also adds the\n"
    "                        rendered 'prompt'. FORMAT: chatml, qwen2.5,\n"
    "                        qwen2.5-math, qwen3, qwen3-thinking, qwen3-nothink,\n"
    "                        qwen3-instruct, llama3, llama3.1, deepseek-r1, auto\n"
    "                        (the model\n"
    "                        directory's chat template, an error when it is none\n"
    "                        of these; its special tokens when it has none), or a\n"
    "                        template file containing {problem}\n"
    "      --field NAME      encode/decode/count: the text field (default 'text';\n"
    "                        e.g. 'problem'; count --raw has none)\n"
    "      --ids-field NAME  encode/decode: the ids field (default 'ids')\n"
    "  -o, --output FILE     write there (atomically) instead of standard output\n"
    "      --plain           encode/decode: do not compress (the default when stdout is\n"
    "                        a terminal)\n"
    "      --level N         encode/decode: zstd level, 1..19 (default 3; count and\n"
    "                        info write plain text)\n"
    "      --skip-bad        encode/decode/count: skip malformed records (counted at\n"
    "                        the end) instead of failing\n"
    "  -q, --quiet           no progress, no summary line\n"
    "  -h, --help            this help\n"
    "      --version         the version\n"
    "\n"
    "Special-token strings in the text (\"<|im_end|>\") always become their tokens,\n"
    "as in HF. Decoding is HF's Tokenizer.decode (no clean-up of spaces).\n"
    "\n"
    "Exit status: 0 success, 1 bad input or I/O error (the message names the file,\n"
    "line and field), 2 usage error.\n";

enum { CMD_ENCODE, CMD_DECODE, CMD_COUNT, CMD_INFO };

typedef struct {
    int cmd;
    bool raw, special, skip_special;
    pic_output_opts out;
    const char *field, *ids_field;
    pic_tokenizer *tok;
    pic_chat *chat;
    pic_writer *w;
    size_t records, tokens, bytes;
} tok_run;

/* A bad record: fatal, or counted and skipped with --skip-bad (pic_reader_bad). */
#define BAD(run, r, field, ...)                  \
    do {                                         \
        pic_reader_bad(r, field, __VA_ARGS__);   \
        return;                                  \
    } while (0)

static void emit_count(tok_run *run, size_t n) {
    char line[32];
    /* a line, flushed: --raw count can answer a co-process, as encode --plain does */
    pic_writer_line(run->w, line, (size_t)snprintf(line, sizeof line, "%zu\n", n));
    run->tokens += n;
}

/* Encodes text (possibly through the chat format) into obj, or counts it. */
static void encode_into(tok_run *run, pic_reader *r, json_t *obj, const char *text, size_t len) {
    char *prompt = NULL;
    if (run->chat) {
        if (strlen(text) != len) BAD(run, r, run->raw ? NULL : run->field, "a NUL character cannot go into a chat prompt");
        /* checked here, not by the encoder: its offset would be into the
         * rendered prompt, past the template's text before the line's */
        size_t ok = pic_utf8_valid_prefix(text, len);
        if (ok < len) BAD(run, r, run->raw ? NULL : run->field, "invalid UTF-8 at byte %zu", ok);
        prompt = pic_chat_prompt(run->chat, text);
        text = prompt;
        len = strlen(prompt);
    }
    int32_t *ids;
    size_t n;
    if (pic_tokenizer_encode(run->tok, text, len, run->special, &ids, &n) != 0) {
        free(prompt);
        BAD(run, r, run->raw ? NULL : run->field, "invalid UTF-8 at byte %zu", n);
    }
    run->bytes += len;
    if (run->cmd == CMD_COUNT) emit_count(run, n);
    else {
        run->tokens += n;
        if (prompt) json_object_set_new(obj, "prompt", json_string(prompt));
        json_object_set_new(obj, run->ids_field, pic_json_ints(ids, n));
        pic_writer_json(run->w, obj);
    }
    run->records++;
    free(ids);
    free(prompt);
}

static void raw_line(tok_run *run, pic_reader *r, const char *line, size_t len) {
    /* the reader has dropped a CRLF line's CR: one left is the text's */
    json_t *obj = NULL;
    if (run->cmd == CMD_ENCODE) {
        obj = json_object();
        json_t *s = json_stringn_nocheck(line, len);
        json_object_set_new(obj, run->field, s);
    }
    encode_into(run, r, obj, line, len);
    json_decref(obj);
}

static void decode_rec(tok_run *run, pic_reader *r, json_t *obj) {
    json_t *a = json_object_get(obj, run->ids_field);
    if (!a) BAD(run, r, run->ids_field, "missing");
    if (!json_is_array(a)) BAD(run, r, run->ids_field, "expected an array of token ids");
    size_t n = json_array_size(a);
    int32_t *ids = pic_malloc((n ? n : 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(a, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > INT32_MAX) {
            free(ids);
            BAD(run, r, run->ids_field, "element %zu is not a token id", i);
        }
        ids[i] = (int32_t)json_integer_value(x);
    }
    char *text;
    size_t len;
    if (pic_tokenizer_decode(run->tok, ids, n, run->skip_special, &text, &len) != 0) {
        int32_t id = ids[len];
        free(ids);
        int V = (int)pic_tokenizer_vocab_size(run->tok);
        /* a vocabulary may have holes: "not in (size 5)" read wrong for id 1 */
        if (id >= 0 && id < V)
            BAD(run, r, run->ids_field, "element %zu: id %d names no token (a hole in the vocabulary of size %d)",
                len, (int)id, V);
        BAD(run, r, run->ids_field, "element %zu: id %d is not in the vocabulary (size %d)", len, (int)id, V);
    }
    json_object_set_new(obj, run->field, json_stringn_nocheck(text, len));
    pic_writer_json(run->w, obj);
    run->records++;
    run->tokens += n;
    run->bytes += len;
    free(text);
    free(ids);
}

static void json_rec(tok_run *run, pic_reader *r, json_t *obj) {
    if (run->cmd == CMD_DECODE) decode_rec(run, r, obj);
    else {
        json_t *t = json_object_get(obj, run->field);
        if (!t) {
            json_decref(obj);
            BAD(run, r, run->field, "missing");
        }
        if (!json_is_string(t)) {
            json_decref(obj);
            BAD(run, r, run->field, "expected a string");
        }
        /* the text stays alive in obj while ids are added beside it */
        encode_into(run, r, obj, json_string_value(t), json_string_length(t));
    }
    json_decref(obj);
}

/* s as a JSON string: jansson refuses one that is not UTF-8 (a path may be
 * any bytes), and the field was left out of the line. */
static json_t *lossy_string(const char *s) {
    size_t len;
    char *text = pic_utf8_lossy(s, strlen(s), &len);
    json_t *v = json_stringn(text, len);
    free(text);
    return v;
}

static void print_info(tok_run *run) {
    json_t *o = json_object();
    json_object_set_new(o, "tokenizer", lossy_string(pic_tokenizer_path(run->tok)));
    json_object_set_new(o, "vocab_size", json_integer(pic_tokenizer_vocab_size(run->tok)));
    int32_t ids[3] = {pic_tokenizer_bos_id(run->tok), pic_tokenizer_eos_id(run->tok), pic_tokenizer_pad_id(run->tok)};
    const char *names[3] = {"bos", "eos", "pad"};
    for (int k = 0; k < 3; k++) {
        char key[16];
        json_object_set_new(o, names[k], ids[k] < 0 ? json_null() : json_string(pic_tokenizer_id_to_token(run->tok, ids[k])));
        snprintf(key, sizeof key, "%s_id", names[k]);
        json_object_set_new(o, key, ids[k] < 0 ? json_null() : json_integer(ids[k]));
    }
    char why[4096];
    pic_chat *c = pic_chat_for_tokenizer(run->tok, why, sizeof why);
    if (*why) pic_warn("%s (so 'chat' is null: --chat auto refuses it)", why);
    json_object_set_new(o, "chat", c ? json_string(pic_chat_name(c)) : json_null());
    pic_chat_free(c);
    pic_writer_json(run->w, o);
    json_decref(o);
}

/* A field name must be a JSON string: jansson refuses one that is not
 * UTF-8, and the field it names was left out of every record, exit 0. */
static bool is_json_text(const char *s) {
    json_t *v = json_string(s);
    json_decref(v);
    return v != NULL;
}

static int parse_command(const char *s) {
    if (!strcmp(s, "encode")) return CMD_ENCODE;
    if (!strcmp(s, "decode")) return CMD_DECODE;
    if (!strcmp(s, "count")) return CMD_COUNT;
    if (!strcmp(s, "info")) return CMD_INFO;
    pic_usage_error("unknown command '%s' (encode, decode, count or info)", s);
}

int main(int argc, char **argv) {
    pic_init("pic-tok");
    enum { OPT_RAW = 256, OPT_SPECIAL, OPT_SKIP_SPECIAL, OPT_CHAT, OPT_FIELD, OPT_IDS_FIELD, OPT_SKIP_BAD };
    static const struct option opts[] = {
        {"tokenizer", required_argument, 0, 't'}, {"raw", no_argument, 0, OPT_RAW},
        {"special", no_argument, 0, OPT_SPECIAL}, {"skip-special", no_argument, 0, OPT_SKIP_SPECIAL},
        {"chat", required_argument, 0, OPT_CHAT}, {"field", required_argument, 0, OPT_FIELD},
        {"ids-field", required_argument, 0, OPT_IDS_FIELD}, {"skip-bad", no_argument, 0, OPT_SKIP_BAD},
        PIC_OUTPUT_OPTIONS, {0, 0, 0, 0}};
    tok_run run = {.out = {.level = 3}, .field = "text", .ids_field = "ids"};
    const char *tokenizer = NULL, *chat = NULL;
    bool field = false, ids_field = false, level = false;
    int c;
    while ((c = pic_getopt(argc, argv, "t:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 't': tokenizer = optarg; break;
        case OPT_RAW: run.raw = true; break;
        case OPT_SPECIAL: run.special = true; break;
        case OPT_SKIP_SPECIAL: run.skip_special = true; break;
        case OPT_CHAT: chat = optarg; break;
        case OPT_FIELD: run.field = optarg, field = true; break;
        case OPT_IDS_FIELD: run.ids_field = optarg, ids_field = true; break;
        case OPT_SKIP_BAD: pic_skip_bad = true; break;
        default:
            level |= c == PIC_OPT_LEVEL;
            if (!pic_output_option(c, optarg, &run.out, usage)) pic_usage_error("unknown option");
        }
    }
    if (optind >= argc) pic_usage_error("missing command (encode, decode, count or info)");
    run.cmd = parse_command(argv[optind++]);
    if (!tokenizer) pic_usage_error("--tokenizer is required");
    if (!*run.field) pic_usage_error("--field: empty name");
    if (!*run.ids_field) pic_usage_error("--ids-field: empty name");
    if (!is_json_text(run.field)) pic_usage_error("--field: the name is not UTF-8");
    if (!is_json_text(run.ids_field)) pic_usage_error("--ids-field: the name is not UTF-8");
    if (run.raw && (run.cmd == CMD_DECODE || run.cmd == CMD_INFO)) pic_usage_error("--raw is for encode and count");
    if (chat && (run.cmd == CMD_DECODE || run.cmd == CMD_INFO)) pic_usage_error("--chat is for encode and count");
    if (run.special && (run.cmd == CMD_DECODE || run.cmd == CMD_INFO))
        pic_usage_error("--special is for encode and count (decode has --skip-special)");
    if (run.skip_special && run.cmd != CMD_DECODE) pic_usage_error("--skip-special is for decode");
    /* options that would do nothing: info reads no records, count --raw
     * takes lines and count writes numbers, neither compressed */
    if (field && (run.cmd == CMD_INFO || (run.cmd == CMD_COUNT && run.raw)))
        pic_usage_error("--field is for encode, decode and count of JSON records");
    if (ids_field && (run.cmd == CMD_INFO || run.cmd == CMD_COUNT)) pic_usage_error("--ids-field is for encode and decode");
    if (level && (run.cmd == CMD_INFO || run.cmd == CMD_COUNT))
        pic_usage_error("--level is for encode and decode (count and info write plain text)");
    /* as pic-cat's -n --plain: count and info write plain text anyway */
    if (run.out.plain && (run.cmd == CMD_INFO || run.cmd == CMD_COUNT))
        pic_usage_error("--plain is for encode and decode (count and info write plain text)");
    if (pic_skip_bad && run.cmd == CMD_INFO) pic_usage_error("--skip-bad is for encode, decode and count (info reads no records)");
    if (run.cmd == CMD_INFO && optind < argc) pic_usage_error("info reads no input");
    /* one key for two things: the record would lose the text, its ids or the
     * prompt, which every record keeps beside what is added */
    if ((run.cmd == CMD_ENCODE || run.cmd == CMD_DECODE) && !strcmp(run.field, run.ids_field))
        pic_usage_error("--field and --ids-field both name '%s'", run.field);
    if (chat && run.cmd == CMD_ENCODE && (!strcmp(run.field, "prompt") || !strcmp(run.ids_field, "prompt")))
        pic_usage_error("%s: --chat encode writes the rendered prompt to 'prompt'",
                        strcmp(run.field, "prompt") ? "--ids-field" : "--field");
    if (chat && strcmp(chat, "auto") && !pic_chat_spec_known(chat))
        pic_usage_error("--chat: '%s' is neither a format (" PIC_CHAT_FORMATS ", auto) nor a file", chat);

    run.tok = pic_tokenizer_load(tokenizer);
    if (chat && !strcmp(chat, "auto")) {
        char why[4096];
        run.chat = pic_chat_for_tokenizer(run.tok, why, sizeof why);
        if (*why) pic_die("--chat auto: %s (give --chat FORMAT or a template file)", why);
        if (!run.chat) pic_die("%s: --chat auto: no chat template or chat tokens to tell the format", tokenizer);
    } else if (chat) {
        run.chat = pic_chat_new(chat);
        const char *m = pic_chat_missing_marker(run.chat, run.tok);
        if (m) pic_warn("--chat %s: the tokenizer has no token %s, so prompts carry it as plain text", chat, m);
    }
    if (run.chat && run.special && pic_chat_doubles_bos(run.chat, run.tok))
        pic_usage_error("--special: the %s format writes its own BOS, which the post-processor would add again",
                        pic_chat_name(run.chat));
    /* counts and info are for people and the shell: plain text, never compressed */
    bool text = run.cmd == CMD_COUNT || run.cmd == CMD_INFO;
    run.w = pic_writer_open(run.out.output, run.out.plain || text ? PIC_COMPRESS_NEVER : PIC_COMPRESS_AUTO,
                            run.out.level);
    if (run.cmd == CMD_INFO) {
        print_info(&run);
        pic_writer_close(run.w);
        pic_tokenizer_free(run.tok);
        return 0;
    }

    pic_progress prog;
    pic_progress_start(&prog, "records");
    double t0 = pic_now();
    int nfiles = argc - optind;
    for (int f = 0; f < (nfiles ? nfiles : 1); f++) {
        pic_reader *r = pic_reader_open(nfiles ? argv[optind + f] : NULL);
        for (;;) {
            if (run.raw) {
                size_t len;
                char *line = pic_reader_line(r, &len);
                if (!line) break;
                raw_line(&run, r, line, len);
            } else {
                json_t *obj = pic_reader_json(r);
                if (!obj) break;
                json_rec(&run, r, obj);
            }
            if ((run.records & 1023) == 0) pic_progress_update(&prog, (double)run.records, 0, NULL);
        }
        pic_reader_close(r);
    }
    pic_progress_end(&prog);
    pic_writer_close(run.w);
    double dt = pic_now() - t0;
    char skipped[64] = "";
    if (pic_bad_records)
        snprintf(skipped, sizeof skipped, ", %zu bad record%s skipped", pic_bad_records,
                 pic_plural((long long)pic_bad_records));
    pic_info("%zu record%s, %zu token%s, %.2f MB of text in %.3f s%s", run.records, pic_plural((long long)run.records),
             run.tokens, pic_plural((long long)run.tokens), run.bytes / 1e6, dt, skipped);
    pic_chat_free(run.chat);
    pic_tokenizer_free(run.tok);
    return 0;
}
