#include "model/model.h"

#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "model/acts.h"
#include "model/layers.h"
#include "model/safetensors.h"

void pic_model_init(pic_model *m, const pic_config *c) {
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    pic_params_alloc(&m->params, c);
    m->inv_freq = pic_malloc((size_t)c->head_dim / 2 * sizeof(float));
    rope_inv_freq(m->inv_freq, &c->rope, c->head_dim);
}

int pic_model_load(pic_model *m, const char *dir, pic_err *err) {
    pic_config c;
    if (pic_config_load(&c, dir, err)) return -1;
    pic_safetensors st;
    if (pic_st_open(&st, dir, err)) return -1;
    pic_model_init(m, &c);
    int rc = pic_params_load(&m->params, &c, &st, err);
    pic_st_close(&st);
    if (rc) pic_model_free(m);
    return rc;
}

void pic_model_free(pic_model *m) {
    pic_params_free(&m->params);
    free(m->inv_freq);
    pic_acts_free(&m->acts);
    memset(m, 0, sizeof *m);
}

void pic_model_retain(pic_model *m, bool retain) {
    if (m->acts.retain == retain) return;
    pic_acts_free(&m->acts);
    m->acts.retain = retain;
}
