/* The C entry points of the CUDA backend, which model.c and forward.c call
 * for a model whose device is CUDA (the programs never call them). Built
 * from src/model/cuda/ when the build has CUDA; cuda_none.c answers with a
 * clear error in a build without it (make CUDA=0). */
#ifndef PIC_MODEL_CUDA_ENTRY_H
#define PIC_MODEL_CUDA_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "model/model.h"

/* Whether a GPU is visible (false in a build without CUDA). */
bool pic_cuda_visible(void);
/* Uploads m's host parameters to a GPU in dtype m->dtype, allocates the
 * arena for max_batch_tokens tokens and sets m->cuda; the host copy stays
 * the caller's to free. Returns 0, or -1 with a message that names what did
 * not fit and the option that lowers it. */
int pic_model_load_cuda(pic_model *m, size_t max_batch_tokens, bool training, pic_err *err);
/* The same for a model whose host parameters were never filled (data
 * NULL, the layout only): the weights are drawn on the GPU, Normal(0, std)
 * from seed with norms 1 and biases 0 as pic_params_init_random does (other
 * numbers than the CPU's), so a benchmark of a 7B model needs no 30 GB of
 * host memory and no minutes of host arithmetic. */
int pic_model_random_cuda(pic_model *m, size_t max_batch_tokens, bool training, uint64_t seed, float std,
                          pic_err *err);
/* The same with the weights left for pic_model_upload_cuda to fill. */
int pic_model_alloc_cuda(pic_model *m, size_t max_batch_tokens, bool training, pic_err *err);
/* n values of the storage type from host memory into the device buffer at
 * offset (elements), finished when it returns. */
int pic_model_upload_cuda(pic_model *m, size_t offset, const void *src, size_t n, pic_err *err);
/* The other way: n values of the storage type at offset into host memory,
 * once the model's queued work is done. */
int pic_model_download_cuda(pic_model *m, size_t offset, void *dst, size_t n, pic_err *err);
/* The device address of the weights (the storage type), once the model's
 * queued work is done: for NCCL to gather the ranks' slices. */
void *pic_model_weights_cuda(pic_model *m, pic_err *err);
void pic_model_free_cuda(pic_model *m);
/* pic_forward and pic_forward_stats (model.h) on the GPU; the batch is
 * checked (N tokens), host arrays in and out. With fn set, the logits go to
 * fn block by block on the device instead (pic_forward_head). */
int pic_forward_cuda(pic_model *m, pic_kvcache *kv, const pic_batch *b, size_t N, pic_logits which, float *logits,
                     pic_head_fn fn, void *ctx, pic_err *err);
/* Whether the GPU takes a forward of N tokens (its arena; a model loaded
 * for training, its training state): asked before the KV cache grows for it. */
int pic_forward_check_cuda(const pic_model *m, size_t N, pic_err *err);
int pic_forward_stats_cuda(pic_model *m, const size_t *rows, size_t n, const int32_t *targets, float T,
                           float *logp, float *ent, pic_err *err);
/* A KV cache on m's GPU (kv's sizes and host table set by the caller): the
 * pool of pages in m's storage type and the page table on the device; fails
 * with a message naming what lowers it. */
int pic_kvcache_alloc_cuda(pic_kvcache *kv, const pic_model *m, pic_err *err);
void pic_kvcache_free_cuda(pic_kvcache *kv);
/* Bytes such a cache of n_slots x max_len needs beside its pages: the
 * decode attention's work list and partial sums. */
size_t pic_kvcache_extra_bytes_cuda(const pic_model *m, int n_slots, int max_len);
/* Copies page src into page dst in every layer, keys and values, in order
 * with the model's forwards (copy on write). */
int pic_kvcache_copy_page_cuda(pic_kvcache *kv, int dst, int src, pic_err *err);
/* Training (issue 11, backward.cu, adamw.cu, model.cu). pic_train_init_cuda
 * allocates the training state of a model on a GPU: fp32 gradient, AdamW
 * moments and (bf16) master weights, every layer's activations for
 * max_batch_tokens tokens (recompute: every layer's input only, the rest
 * recomputed in backward), the backward's scratch; then pic_forward keeps
 * what backward needs. The gradient and moments start at zero, the master
 * weights as the device's weights (in bf16 their rounding: put the exact
 * ones with pic_train_state_put_cuda). The model must have been loaded
 * with training set (its arena then holds no layer's activations).
 * [lo, hi) is the slice of the parameters whose AdamW moments and (bf16)
 * master weights this GPU keeps and steps (ZeRO-1 across ranks; [0,
 * numel) alone): the state arrays M and V, and MASTER in bf16, are read
 * within it only, and what is put into them outside it is dropped (the
 * master's bf16 rounding still goes into the weights, every element). */
int pic_train_init_cuda(pic_model *m, bool recompute, size_t lo, size_t hi, pic_err *err);
int pic_grad_zero_cuda(pic_model *m, pic_err *err);
/* pic_head_backward and pic_backward (backward.h) with the device's own
 * dlnf and gradient buffers; host arrays in. */
int pic_head_backward_cuda(pic_model *m, const size_t *rows, size_t n, const int32_t *targets, float T,
                           const float *dlogp, const float *dent, pic_err *err);
int pic_backward_cuda(pic_model *m, const pic_batch *b, pic_err *err);
/* The gradient of this GPU's slice (pic_train_init_cuda's; the whole with
 * one rank): its norm into *norm and the CPU's clipping to max_norm (<= 0:
 * none). With several ranks, each sums the squares of its slice, the
 * ranks add them up, and each scales its slice by the global norm. */
int pic_clip_grad_norm_cuda(pic_model *m, double max_norm, double *norm, pic_err *err);
int pic_grad_sumsq_cuda(pic_model *m, double *ss, pic_err *err);
int pic_scale_grad_cuda(pic_model *m, double norm, double max_norm, pic_err *err);
/* One AdamW step (t counts steps including this one) on the master weights
 * of the slice (and their bf16 rounding, in bf16); the weights outside it
 * are the other ranks' to step and to send (pic_model_upload_cuda). */
int pic_adamw_step_cuda(pic_model *m, double lr, double beta1, double beta2, double eps, double weight_decay, long t,
                        pic_err *err);
/* n host floats into array a (model.h) at offset (elements), finished when it
 * returns; the master weights in bf16 also put their rounding into the
 * weights. A tensor at a time, so that the host never holds a whole array
 * (a 7B model's moments are 61 GB). */
int pic_train_state_put_cuda(pic_model *m, pic_state_array a, size_t offset, const float *x, size_t n,
                             pic_err *err);
/* n floats of array a at offset into host memory, once the model's queued
 * work is done. */
int pic_train_state_get_cuda(pic_model *m, pic_state_array a, size_t offset, float *x, size_t n, pic_err *err);
/* The device address of array a, once the model's queued work is done:
 * for NCCL, which sums it across the ranks on a stream of its own. */
float *pic_train_array_cuda(pic_model *m, pic_state_array a, pic_err *err);
/* Peak device memory this process allocated (bytes). */
size_t pic_cuda_peak_bytes(const pic_model *m);
/* Device memory free now (bytes; 0 when it cannot be asked). */
size_t pic_cuda_free_bytes(void);
/* Why the decode steps' CUDA graphs were turned off (a capture failed, and
 * the steps ran directly), or NULL. */
const char *pic_cuda_graphs_off(const pic_model *m);

#ifdef __cplusplus
}
#endif

#endif
