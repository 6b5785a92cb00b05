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

/* The files a checkpoint takes from its input beside the weights (config,
 * tokenizer, templates), read once: a long-lived trainer writes many
 * checkpoints, and its input directory may be pruned meanwhile. */
typedef struct pic_ckpt_src pic_ckpt_src;
pic_ckpt_src *pic_ckpt_src_read(const char *dir);
void pic_ckpt_src_free(pic_ckpt_src *s);

/* Loads dir/optimizer.safetensors into t (its moments, step and AEC
 * state, and its master weights when there), a tensor at a time, when it
 * exists (returns true); a file that does not fit the model dies naming it
 * and the tensor before a value is taken, and so does a checkpoint written
 * without its state (with_state false below). A GPU trainer loads it once
 * on the GPU (pic_trainer_to_device). */
bool pic_optstate_load(pic_trainer *t, const char *dir);
/* The checks of pic_optstate_load alone, against the layout p: a GPU
 * trainer refuses a bad file at start, before it reads the samples. */
bool pic_optstate_check(const pic_params *p, const char *dir);
/* Writes the checkpoint of t's model (its master weights) for out, with
 * src's files, into a temporary directory beside out, which it returns
 * (NULL on ranks but 0); weights beyond max_shard bytes go in shards
 * (pic_st_write_model). Without with_state, no optimizer.safetensors:
 * the weights for the next rollout only, and a file that makes
 * pic_optstate_load refuse the directory. Every rank calls it: rank 0 writes,
 * the state a chunk at a time from where it lives (a GPU, or another
 * rank's slice: never whole in any host's memory). A process that exits before pic_ckpt_commit
 * leaves no trace of it (common/atomic.h). */
char *pic_ckpt_write(const pic_trainer *t, const pic_ckpt_src *src, const char *out, pic_dtype dtype,
                     size_t max_shard, bool with_state);
/* Renames what pic_ckpt_write wrote into place as out (and frees tmp); NULL
 * does nothing. */
void pic_ckpt_commit(char *tmp, const char *out);
/* Gradients as safetensors under the parameters' names (--save-grads);
 * every rank calls it (each holds its slice of the step's sum), rank 0
 * writes. */
void pic_grads_save(const pic_trainer *t, const char *path);

#endif
