/* Reading prompt records for generation. The whole input is read first:
 * prompts are small, and knowing their count lets --shard I/N take a
 * contiguous block, so `cat` of the shards' outputs is the unsharded output
 * byte for byte. A record's index in the whole input keys its samples'
 * random streams, so a shard draws what the whole run would, and so does a
 * run resumed with --skip N after the records before N. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/dist.h"
#include "rollout/gen.h"

typedef struct {
    json_t *obj;
    const char *file;
    size_t line;
} raw;

gen_prompt *gen_read_prompts(rollout_run *run, pic_reader **readers, int n_readers, size_t *np, int *pmax) {
    raw *all = NULL;
    size_t n = 0, cap = 0, bad = pic_bad_records;
    for (int i = 0; i < n_readers; i++) {
        json_t *obj;
        while ((obj = pic_reader_json(readers[i]))) {
            if (n == cap) all = pic_realloc(all, (cap = cap * 2 + 64) * sizeof *all);
            all[n++] = (raw){obj, pic_reader_name(readers[i]), pic_reader_lineno(readers[i])};
        }
    }
    /* every rank reads every line: rank 0 alone counts the malformed ones
     * (the ranks' counts are summed) */
    if (pic_dist_rank() > 0) pic_bad_records = bad;
    /* the shards split what --skip leaves */
    size_t first = run->skip < n ? run->skip : n, left = n - first;
    size_t lo = first + left * (size_t)run->shard / (size_t)run->shards,
           hi = first + left * (size_t)(run->shard + 1) / (size_t)run->shards;
    gen_prompt *pr = pic_calloc(hi - lo + 1, sizeof *pr);
    int ctx = run->model.cfg.max_position;
    *np = 0;
    *pmax = 0;
    for (size_t i = 0; i < n; i++) {
        if (i < lo || i >= hi) {
            json_decref(all[i].obj);
            continue;
        }
        gen_prompt *p = &pr[*np];
        const char *field = NULL;
        char msg[512];
        size_t len = 0;
        bool ok = prompt_ids(&run->prompts, all[i].obj, &p->ids, &len, &field, msg, sizeof msg);
        if (!ok) pic_bad_record(all[i].file, all[i].line, field, "%s", msg);
        else if (len >= (size_t)ctx) {
            ok = false;
            pic_bad_record(all[i].file, all[i].line, field,
                             "the prompt's %zu tokens leave no room to generate in the model's context of %d", len,
                             ctx);
            free(p->ids);
        }
        if (!ok) {
            json_decref(all[i].obj);
            continue;
        }
        p->obj = all[i].obj;
        p->index = i;
        p->P = (int)len;
        p->home = -1;
        p->out = pic_calloc((size_t)run->n, sizeof *p->out);
        if (p->P > *pmax) *pmax = p->P;
        (*np)++;
    }
    free(all);
    return pr;
}

void gen_prompt_free(gen_prompt *pr) {
    json_decref(pr->obj);
    free(pr->ids);
    free(pr->first);
    free(pr->out);
    pr->obj = NULL;
    pr->ids = NULL;
    pr->first = NULL;
    pr->out = NULL;
}
