/* libFuzzer target for pic-reward --task countdown: any bytes as a
 * response, against fixed numbers and against numbers taken from the input
 * itself, must give a verdict without a crash, a leak or unbounded work.
 * tests/fuzz/countdown/run.sh builds and runs it. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "reward/countdown.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const long long fixed[] = {3, 5, 2, 25};
    cd_opts o = {true, true};
    cd_result r;
    cd_check((const char *)data, size, fixed, 4, 51, &o, &r);
    /* the first bytes choose the numbers and the target, the rest is the response */
    if (size > 4) {
        long long nums[CD_MAX_NUMBERS];
        int count = 1 + data[0] % CD_MAX_NUMBERS;
        for (int i = 0; i < count; i++) nums[i] = data[1 + i % 3] * (i + 1);
        long long target = (long long)data[1] - data[2];
        o.boxed = data[3] & 1;
        o.after_think = data[3] & 2;
        cd_check((const char *)data + 4, size - 4, nums, count, target, &o, &r);
        cd_judge((const char *)data + 4, size - 4, nums, count, target);
    }
    return 0;
}
