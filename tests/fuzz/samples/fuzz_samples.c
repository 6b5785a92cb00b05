/* libFuzzer target: any bytes as a scored sample stream (plain JSON Lines,
 * or zstd when they start with its magic) read by pic-update, with and
 * without --skip-bad, then the advantages of what was read. A bad record
 * must end in the reader's message (exit 1, which returns here through
 * -Wl,--wrap=exit), never in a crash or a read past a buffer. The first
 * byte picks the options; the rest is the stream.
 * (tests/fuzz/samples/run.sh builds and runs it.) */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/stream.h"
#include "update/batch.h"

void __real_exit(int code);

static jmp_buf dying;
static volatile int armed;

void __wrap_exit(int code) {
    if (armed && code == 1) {
        armed = 0;
        longjmp(dying, 1);
    }
    __real_exit(code);
}

static char path[64];
static int first_fd; /* the lowest descriptor free before any input */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz_samples.%d.jsonl", (int)getpid());
        first_fd = dup(0);
        close(first_fd);
    }
    if (size < 1) return 0;
    FILE *f = fopen(path, "wb");
    if (!f || (size > 1 && fwrite(data + 1, 1, size - 1, f) != size - 1) || fclose(f)) abort();
    pic_read_opts o = {
        .need_logprobs = data[0] & 1,
        .need_labels = data[0] & 2,
        .vocab = 1000,
        .context = 64,
        .agree_temperature = data[0] & 4,
    };
    pic_skip_bad = data[0] & 8;
    pic_adv_cfg c = {.mode = (data[0] >> 4) % 4, .std_norm = data[0] & 0x80, .lambda = 0.1};
    pic_samples *volatile b = calloc(1, sizeof *b);
    if (setjmp(dying) == 0) {
        armed = 1;
        pic_samples_read(b, path, &o);
        if (o.agree_temperature) pic_samples_agree_temperature(b);
        if (o.need_labels) {
            (void)pic_samples_drop_lone(b, &c, false);
            pic_samples_advantages(b, &c);
        }
        armed = 0;
        pic_samples_free(b);
    } else { /* the reader a death left open */
        for (int fd = first_fd; fd < first_fd + 16; fd++) close(fd);
    }
    armed = 0;
    free(b);
    return 0;
}
