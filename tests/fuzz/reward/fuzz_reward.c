/* libFuzzer target: any bytes as a response and as a gold answer must give a
 * verdict without a crash, a leak or unbounded work.
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/reward/fuzz_reward.c src/reward/[a-z]*.c -lmpfr -lgmp
 * (see bench/reward.sh's neighbour tests/fuzz/reward/run.sh). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "reward/parse.h"
#include "reward/reward.h"

static rw_checker checker;
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ready) {
        rw_checker_init(&checker);
        ready = 1;
    }
    rw_opts o = rw_default_opts();
    rw_result r;
    /* the input as a response against a fixed gold, a set gold and a choice
     * letter gold (choice.c), then split in two */
    rw_check(&checker, "\\frac{1}{2}", 11, (const char *)data, size, &o, &r);
    rw_check(&checker, "x \\ge 3", 8, (const char *)data, size, &o, &r);
    rw_check(&checker, "(C) 12", 6, (const char *)data, size, &o, &r);
    const uint8_t *mid = memchr(data, '\n', size);
    size_t g = mid ? (size_t)(mid - data) : size / 2;
    rw_check(&checker, (const char *)data, g, (const char *)data + g, size - g, &o, &r);
    /* both directions of set against relation, as Math-Verify's compare_strings runs */
    o.eq.set_relation = true;
    o.pred.whole_first = o.gold.whole_first = false;
    rw_check(&checker, (const char *)data + g, size - g, (const char *)data, g, &o, &r);
    return 0;
}
