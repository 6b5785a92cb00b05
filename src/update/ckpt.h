/* Checkpoints as pic-update writes them: a HuggingFace model directory
 * (config and tokenizer files copied from the input checkpoint, the weights
 * in one model.safetensors) plus optimizer.safetensors beside the weights
 * with AdamW's m and v under the parameters' names, the step count and the
 * AEC coefficient, and, when the weights are written rounded (bf16), the
 * fp32 master weights as master.<name>, which a resumed run starts from. The directory is written under a temporary name and
 * renamed into place when complete (common/atomic.h). */
#ifndef PIC_UPDATE_CKPT_H
#define PIC_UPDATE_CKPT_H

#include <stdbool.h>

#include "model/safetensors.h"
#include "update/train.h"

/* Loads dir/optimizer.safetensors into t (and its master weights, when
 * there, into the host model) when it exists (returns true);
 * a file that does not fit the model dies naming it and the tensor. */
bool pic_optstate_load(pic_trainer *t, const char *dir);
/* Writes the checkpoint of t's model (pic_trainer_params) for out, from the
 * input checkpoint in_dir, into a temporary directory beside out, which it
 * returns (NULL on ranks but 0); weights beyond max_shard bytes go in shards
 * (pic_st_write_model). Every rank calls it (the optimizer state is
 * gathered); rank 0 writes. A process that exits before pic_ckpt_commit
 * leaves no trace of it (common/atomic.h). */
char *pic_ckpt_write(const pic_trainer *t, const char *in_dir, const char *out, pic_dtype dtype, size_t max_shard);
/* Renames what pic_ckpt_write wrote into place as out (and frees tmp); NULL
 * does nothing. */
void pic_ckpt_commit(char *tmp, const char *out);
/* Gradients as safetensors under the parameters' names (--save-grads);
 * rank 0 alone calls it (every rank holds the whole step's gradient). */
void pic_grads_save(const pic_trainer *t, const char *path);

#endif
