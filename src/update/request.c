/* Requests of pic-update --serve (request.h). */
#include "update/request.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/dist.h"
#include "common/json.h"
#include "common/stop.h"

/* Standard input's next non-blank line, without its end; NULL at the end
 * of input or when a stop signal comes while waiting (stop.h). read(2),
 * not stdio: a driver writes a request and waits for its answer, and the
 * wait must end at a signal, which a restarted read would sleep through. */
static char *read_line(size_t *len, size_t *lineno) {
    static char *buf;
    static size_t cap = 4096, have, used; /* buf[used, have): read, not yet returned */
    static bool at_end;
    if (!buf) buf = pic_malloc(cap);
    for (;;) {
        char *nl = memchr(buf + used, '\n', have - used);
        if (!nl && !at_end) {
            /* the rest to the front, and room for a read and a NUL */
            memmove(buf, buf + used, have - used);
            have -= used, used = 0;
            if (have + 1 >= cap) buf = pic_realloc(buf, cap *= 2);
            if (!pic_stop_wait_input(STDIN_FILENO)) return NULL;
            ssize_t n = read(STDIN_FILENO, buf + have, cap - 1 - have);
            if (n < 0 && errno != EINTR) pic_die("standard input: %s", strerror(errno));
            if (n > 0) have += (size_t)n;
            at_end = n == 0;
            continue;
        }
        if (!nl && used == have) return NULL;
        char *line = buf + used;
        size_t n = (nl ? (size_t)(nl - buf) : have) - used; /* the last line may lack its newline */
        used += n + (nl != NULL);
        ++*lineno;
        while (n > 0 && line[n - 1] == '\r') n--;
        line[n] = 0;
        size_t i = 0;
        while (i < n && (line[i] == ' ' || line[i] == '\t')) i++;
        if (i < n) {
            *len = n;
            return line;
        }
    }
}

_Noreturn static void bad(size_t line, const char *field, const char *msg) {
    if (field) pic_die("standard input, request on line %zu: field '%s': %s", line, field, msg);
    pic_die("standard input, request on line %zu: %s", line, msg);
}

static char *string_of(size_t line, const char *key, json_t *v) {
    if (!json_is_string(v)) bad(line, key, "expected a string");
    const char *s = json_string_value(v);
    if (!*s || strlen(s) != json_string_length(v)) bad(line, key, "expected a non-empty string without NUL bytes");
    return pic_strdup(s);
}

static void parse(pic_request *r, const char *text, size_t len) {
    json_error_t je;
    json_t *o = pic_json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        char msg[300];
        snprintf(msg, sizeof msg, "malformed JSON at column %d: %s", je.column, je.text);
        bad(r->line, NULL, msg);
    }
    if (!json_is_object(o)) bad(r->line, NULL, "expected a JSON object");
    r->state = true;
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        if (!strcmp(key, "samples")) {
            if (json_is_string(v)) {
                r->samples = pic_malloc(sizeof *r->samples);
                r->samples[r->n_samples++] = string_of(r->line, key, v);
            } else if (json_is_array(v) && json_array_size(v) > 0 && json_array_size(v) < INT32_MAX) {
                r->samples = pic_malloc(json_array_size(v) * sizeof *r->samples);
                size_t i;
                json_t *e;
                json_array_foreach(v, i, e) r->samples[r->n_samples++] = string_of(r->line, key, e);
            } else {
                bad(r->line, key, "expected a file name or a non-empty array of them");
            }
        } else if (!strcmp(key, "output")) {
            r->output = string_of(r->line, key, v);
        } else if (!strcmp(key, "alpha")) {
            if (!json_is_number(v) || !isfinite(json_number_value(v)) || fabs(json_number_value(v)) > 1e3)
                bad(r->line, key, "expected a number in [-1000, 1000]");
            r->alpha = json_number_value(v), r->alpha_set = true;
        } else if (!strcmp(key, "alpha_cmd")) {
            r->alpha_cmd = string_of(r->line, key, v);
        } else if (!strcmp(key, "state")) {
            if (!json_is_boolean(v)) bad(r->line, key, "expected true or false");
            r->state = json_is_true(v);
        } else if (!strcmp(key, "save_grads")) {
            r->save_grads = string_of(r->line, key, v);
        } else {
            bad(r->line, key, "not a request field (samples, output, alpha, alpha_cmd, state, save_grads)");
        }
    }
    json_decref(o);
    if (!r->n_samples) bad(r->line, "samples", "missing");
    if (!r->output) bad(r->line, "output", "missing");
    if (r->alpha_set && r->alpha_cmd) bad(r->line, "alpha_cmd", "alpha and alpha_cmd exclude each other");
}

bool pic_request_next(pic_request *r) {
    static size_t lineno;
    memset(r, 0, sizeof *r);
    size_t len = 0;
    char *text = NULL;
    /* a stop signal (stop.h) ends the requests as their end does */
    if (pic_dist_rank() == 0 && !pic_stop_signal()) text = read_line(&len, &lineno);
    /* the line's length (SIZE_MAX at the end) and its number, then the text */
    uint64_t head[2] = {text ? len : UINT64_MAX, lineno};
    pic_dist_broadcast(head, sizeof head, 0);
    if (head[0] == UINT64_MAX) return false;
    char *copy = pic_malloc(head[0] + 1);
    if (text) memcpy(copy, text, head[0]);
    pic_dist_broadcast(copy, head[0], 0);
    copy[head[0]] = 0;
    r->line = head[1];
    parse(r, copy, head[0]);
    free(copy);
    return true;
}

void pic_request_free(pic_request *r) {
    for (int i = 0; i < r->n_samples; i++) free(r->samples[i]);
    free(r->samples);
    free(r->output);
    free(r->alpha_cmd);
    free(r->save_grads);
    memset(r, 0, sizeof *r);
}
