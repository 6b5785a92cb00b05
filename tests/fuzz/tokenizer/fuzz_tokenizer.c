/* libFuzzer target: any bytes as a tokenizer.json must load or end in the
 * loader's message (exit 1), and a tokenizer that loads must encode and
 * decode any text without a crash, a read past a buffer or an exit.
 * Linked with -Wl,--wrap=exit: an exit while loading returns here; one while
 * encoding or decoding is a finding (abort). LeakSanitizer is off
 * (-detect_leaks=0): a load that dies leaves what it built.
 * (tests/fuzz/tokenizer/run.sh builds and runs it.) */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokenizer/tokenizer.h"

void __real_exit(int code);

static jmp_buf loading;
static volatile int in_load;

void __wrap_exit(int code) {
    if (in_load) {
        in_load = 0;
        longjmp(loading, 1);
    }
    if (code == 1) abort(); /* a message outside the load: a finding */
    __real_exit(code);
}

static char path[64];

static void roundtrip(const pic_tokenizer *t, const char *text, size_t n) {
    int32_t *ids = NULL;
    size_t n_ids = 0;
    for (int special = 0; special < 2; special++) {
        if (pic_tokenizer_encode(t, text, n, special, &ids, &n_ids) != 0) continue;
        char *out = NULL;
        size_t len = 0;
        for (int skip = 0; skip < 2; skip++)
            if (pic_tokenizer_decode(t, ids, n_ids, skip, &out, &len) == 0) free(out);
        free(ids);
        ids = NULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_tokenizer.%d.json", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) abort();
    pic_tokenizer *volatile t = NULL;
    if (setjmp(loading) == 0) {
        in_load = 1;
        t = pic_tokenizer_load(path);
        in_load = 0;
    }
    if (!t) return 0;
    static const char text[] = "Hello, world! 123 4567 \xc3\xbc" "n\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 "
                               "\xe4\xbd\xa0\xe5\xa5\xbd <|im_end|> <s></s>\n\n  x\ty\xe2\x96\x81" "z "
                               "\xf0\x9f\x98\x80 \xff\xfe";
    roundtrip(t, text, sizeof text - 1);
    roundtrip(t, (const char *)data, size < 512 ? size : 512);
    /* every id and a few past the end */
    int32_t n = pic_tokenizer_vocab_size(t);
    int32_t some[64];
    size_t k = 0;
    for (int32_t id = 0; id < n && k < 60; id += 1 + n / 60) some[k++] = id;
    char *out = NULL;
    size_t len = 0;
    if (pic_tokenizer_decode(t, some, k, false, &out, &len) == 0) free(out);
    for (int32_t id = -1; id < n + 2 && id < 64; id++) (void)pic_tokenizer_id_to_token(t, id);
    pic_tokenizer_free(t);
    return 0;
}
