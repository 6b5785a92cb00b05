/* pic-update's options (options.c): what its command line sets. */
#ifndef PIC_UPDATE_OPTIONS_H
#define PIC_UPDATE_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "model/model.h"
#include "update/advantage.h"
#include "update/train.h"

typedef struct {
    const char *model, *output, *alpha_cmd, *ref, *grads;
    bool reset, sft, alpha_set, kl_set, fast, recompute, serve;
    pic_device device;
    pic_model_dtype dtype;
    int mini_batches, threads;
    size_t max_shard;
    double temperature;
    pic_train_cfg tc;
    pic_adv_cfg adv;
} options;

/* Reads argv into o, whose defaults the caller has set: a usage error for
 * an option out of its range, one that does nothing without its
 * controlling option, or two that exclude each other. */
void update_parse_options(options *o, int argc, char **argv);

#endif
