/* Reading a JSONL fixture of answer-verification cases, for the reward
 * agreement tests. */
#ifndef PIC_TESTS_REWARD_JSONL_H
#define PIC_TESTS_REWARD_JSONL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"

/* Calls fn(record, line, arg) for each line of path; a line that is not JSON
 * fails a check. False when the file cannot be opened. */
static bool each_case(const char *path, void (*fn)(json_t *r, int line, void *arg), void *arg) {
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "open %s", path);
    if (!f) return false;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    int line = 0;
    while ((len = getline(&buf, &cap, f)) > 0) {
        line++;
        json_error_t err;
        json_t *r = json_loadb(buf, (size_t)len, 0, &err);
        if (!r) {
            CHECK(false, "%s:%d: %s", path, line, err.text);
            continue;
        }
        fn(r, line, arg);
        json_decref(r);
    }
    free(buf);
    fclose(f);
    return true;
}

#endif
