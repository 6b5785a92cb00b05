/* Sequences in flight and the sample records they become (DESIGN.md): the
 * input record's fields in their order, then sample, prompt_ids, response,
 * response_ids, logprobs, entropy, finish and temperature. */
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/json.h"
#include "rollout/gen.h"

void gen_seq_start(gen_seq *s, gen_prompt *pr, int sample) {
    s->pr = pr;
    s->sample = sample;
    s->len = 0;
    s->finish = NULL;
    s->on_string = false;
}

void gen_seq_push(gen_seq *s, int32_t id, float logprob, float entropy) {
    if (s->len == s->cap) {
        s->cap = s->cap * 2 + 64;
        s->ids = pic_realloc(s->ids, (size_t)s->cap * sizeof *s->ids);
        s->lp = pic_realloc(s->lp, (size_t)s->cap * sizeof *s->lp);
        s->ent = pic_realloc(s->ent, (size_t)s->cap * sizeof *s->ent);
    }
    s->ids[s->len] = id;
    s->lp[s->len] = logprob;
    s->ent[s->len++] = entropy;
}

void gen_seq_finish(gen_seq *s, const char *finish, bool on_string) {
    s->finish = finish;
    s->on_string = on_string;
}

void gen_seq_complete(gen_seq *s) {
    s->pr->out[s->sample] = (gen_sample){s->ids, s->lp, s->ent, s->len, s->finish, s->on_string};
    s->ids = NULL, s->lp = s->ent = NULL;
    s->len = s->cap = 0;
    s->pr = NULL;
}

void gen_seq_free(gen_seq *s) {
    free(s->ids);
    free(s->lp);
    free(s->ent);
    memset(s, 0, sizeof *s);
}

void gen_sample_free(gen_sample *s) {
    free(s->ids);
    free(s->lp);
    free(s->ent);
    memset(s, 0, sizeof *s);
}

json_t *gen_sample_record(const rollout_run *run, const gen_prompt *pr, int i) {
    const gen_sample *s = &pr->out[i];
    json_t *o = json_copy(pr->obj);
    size_t len;
    /* the tokenizer generation loaded to decode its stop strings */
    char *text = stop_response_text(&run->stops, run->prompts.tok, s->ids, (size_t)s->len, s->on_string, &len);
    json_object_set_new(o, "sample", json_integer(i));
    json_object_set_new(o, "prompt_ids", pic_json_ints(pr->ids, (size_t)pr->P));
    json_object_set_new(o, "response", json_stringn(text, len));
    json_object_set_new(o, "response_ids", pic_json_ints(s->ids, (size_t)s->len));
    json_object_set_new(o, "logprobs", pic_json_floats(s->lp, (size_t)s->len));
    json_object_set_new(o, "entropy", pic_json_floats(s->ent, (size_t)s->len));
    json_object_set_new(o, "finish", json_string(s->finish));
    json_object_set_new(o, "temperature", json_real(run->sp.temperature));
    free(text);
    return o;
}
