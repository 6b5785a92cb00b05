/* pic-reward --task countdown (countdown_stream.h): each sample record
 * carries its prompt's numbers and target (pic-rollout keeps every prompt
 * field), so the verdict needs no gold answer. */
#include "reward/countdown_stream.h"

#include <string.h>

#include "common/json.h"
#include "common/progress.h"
#include "common/stream.h"

/* The record's numbers into out; false (reported) when malformed. */
static bool read_numbers(const pic_reader *rd, json_t *rec, long long *out, int *count) {
    json_t *a = json_object_get(rec, "numbers");
    if (!json_is_array(a)) {
        pic_reader_bad(rd, "numbers", a ? "expected an array of integers" : "missing");
        return false;
    }
    size_t n = json_array_size(a);
    if (n < 1 || n > CD_MAX_NUMBERS) {
        pic_reader_bad(rd, "numbers", "%zu numbers; 1 to %d are allowed", n, CD_MAX_NUMBERS);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > CD_MAX_VALUE) {
            pic_reader_bad(rd, "numbers", "element %zu is not an integer in 0..%lld", i, CD_MAX_VALUE);
            return false;
        }
        out[i] = (long long)json_integer_value(v);
    }
    *count = (int)n;
    return true;
}

int cd_stream(char **files, int nfiles, const pic_output_opts *out, const cd_stream_opts *so) {
    pic_writer *w = pic_writer_open(out->output, out->plain ? PIC_COMPRESS_NEVER : PIC_COMPRESS_AUTO, out->level);
    pic_progress pr;
    pic_progress_start(&pr, "records");
    long long n = 0, correct = 0, unparsed = 0;
    char *stdin_only[] = {"-"};
    if (nfiles == 0) files = stdin_only, nfiles = 1;
    for (int f = 0; f < nfiles; f++) {
        pic_reader *rd = pic_reader_open(files[f]);
        json_t *rec;
        while ((rec = pic_reader_json(rd))) {
            json_t *resp = json_object_get(rec, so->resp_field), *target = json_object_get(rec, "target");
            long long numbers[CD_MAX_NUMBERS];
            int count = 0;
            bool ok = true;
            if (!json_is_string(resp)) {
                pic_reader_bad(rd, so->resp_field, resp ? "expected a string" : "missing");
                ok = false;
            } else if (!json_is_integer(target)) {
                pic_reader_bad(rd, "target", target ? "expected an integer" : "missing");
                ok = false;
            } else {
                ok = read_numbers(rd, rec, numbers, &count);
            }
            if (!ok) {
                json_decref(rec);
                continue;
            }
            cd_result r;
            cd_check(json_string_value(resp), json_string_length(resp), numbers, count,
                     (long long)json_integer_value(target), &so->o, &r);
            bool found = r.verdict != CD_NO_ANSWER && r.verdict != CD_UNPARSABLE;
            double reward = r.verdict == CD_CORRECT ? so->r_correct : found ? so->r_wrong : so->r_unparsable;
            json_object_set_new(rec, "pred", found ? json_stringn(r.text, r.len) : json_null());
            json_object_set_new(rec, "correct", json_boolean(r.verdict == CD_CORRECT));
            /* an integral reward prints as an integer, as the math mode's */
            json_object_set_new(rec, "reward", reward == (double)(long long)reward && reward > -9e15 && reward < 9e15
                                                   ? json_integer((json_int_t)reward)
                                                   : json_real(reward));
            json_object_set_new(rec, "verdict", json_string(cd_verdict_names[r.verdict]));
            pic_writer_json(w, rec);
            json_decref(rec);
            n++;
            correct += r.verdict == CD_CORRECT;
            unparsed += !found;
            pic_progress_update(&pr, (double)n, 0, NULL);
        }
        pic_reader_close(rd);
    }
    pic_progress_end(&pr);
    pic_writer_close(w);
    pic_info("%lld record%s, %lld correct, %lld without an expression", n, pic_plural(n), correct, unparsed);
    pic_note_bad_records();
    return PIC_EXIT_OK;
}
