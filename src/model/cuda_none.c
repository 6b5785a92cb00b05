/* The CUDA entry points in a build without CUDA (make CUDA=0, or no nvcc):
 * no GPU is ever visible, and asking for one says why. */
#include "model/cuda/entry.h"

static const char no_cuda[] = "this pic was built without CUDA (nvcc not found, or make CUDA=0): use --device cpu";

bool pic_cuda_visible(void) { return false; }

int pic_model_load_cuda(pic_model *m, size_t max_batch_tokens, bool training, pic_err *err) {
    (void)m, (void)max_batch_tokens, (void)training;
    return pic_err_set(err, "%s", no_cuda);
}

int pic_model_random_cuda(pic_model *m, size_t max_batch_tokens, bool training, uint64_t seed, float std,
                          pic_err *err) {
    (void)m, (void)max_batch_tokens, (void)training, (void)seed, (void)std;
    return pic_err_set(err, "%s", no_cuda);
}

int pic_model_alloc_cuda(pic_model *m, size_t max_batch_tokens, bool training, pic_err *err) {
    (void)m, (void)max_batch_tokens, (void)training;
    return pic_err_set(err, "%s", no_cuda);
}

int pic_model_upload_cuda(pic_model *m, size_t offset, const void *src, size_t n, pic_err *err) {
    (void)m, (void)offset, (void)src, (void)n;
    return pic_err_set(err, "%s", no_cuda);
}

int pic_model_download_cuda(pic_model *m, size_t offset, void *dst, size_t n, pic_err *err) {
    (void)m, (void)offset, (void)dst, (void)n;
    return pic_err_set(err, "%s", no_cuda);
}

void *pic_model_weights_cuda(pic_model *m, pic_err *err) {
    (void)m;
    pic_err_set(err, "%s", no_cuda);
    return NULL;
}

void pic_model_free_cuda(pic_model *m) { (void)m; }

int pic_forward_cuda(pic_model *m, pic_kvcache *kv, const pic_batch *b, size_t N, pic_logits which, float *logits,
                     pic_head_fn fn, void *ctx, pic_err *err) {
    (void)m, (void)kv, (void)b, (void)N, (void)which, (void)logits, (void)fn, (void)ctx;
    return pic_err_set(err, "%s", no_cuda);
}

int pic_forward_check_cuda(const pic_model *m, size_t N, pic_err *err) {
    (void)m, (void)N;
    return pic_err_set(err, "%s", no_cuda);
}

int pic_forward_stats_cuda(pic_model *m, const size_t *rows, size_t n, const int32_t *targets, float T,
                           float *logp, float *ent, pic_err *err) {
    (void)m, (void)rows, (void)n, (void)targets, (void)T, (void)logp, (void)ent;
    return pic_err_set(err, "%s", no_cuda);
}

int pic_kvcache_alloc_cuda(pic_kvcache *kv, const pic_model *m, pic_err *err) {
    (void)kv, (void)m;
    return pic_err_set(err, "%s", no_cuda);
}

void pic_kvcache_free_cuda(pic_kvcache *kv) { (void)kv; }

size_t pic_kvcache_extra_bytes_cuda(const pic_model *m, int n_slots, int max_len) {
    (void)m, (void)n_slots, (void)max_len;
    return 0;
}

int pic_kvcache_copy_page_cuda(pic_kvcache *kv, int dst, int src, pic_err *err) {
    (void)kv, (void)dst, (void)src;
    return pic_err_set(err, "%s", no_cuda);
}

int pic_train_init_cuda(pic_model *m, bool recompute, size_t lo, size_t hi, pic_err *err) {
    (void)m, (void)recompute, (void)lo, (void)hi;
    return pic_err_set(err, "%s", no_cuda);
}

int pic_grad_zero_cuda(pic_model *m, pic_err *err) {
    (void)m;
    return pic_err_set(err, "%s", no_cuda);
}

int pic_head_backward_cuda(pic_model *m, const size_t *rows, size_t n, const int32_t *targets, float T,
                           const float *dlogp, const float *dent, pic_err *err) {
    (void)m, (void)rows, (void)n, (void)targets, (void)T, (void)dlogp, (void)dent;
    return pic_err_set(err, "%s", no_cuda);
}

int pic_backward_cuda(pic_model *m, const pic_batch *b, pic_err *err) {
    (void)m, (void)b;
    return pic_err_set(err, "%s", no_cuda);
}

int pic_clip_grad_norm_cuda(pic_model *m, double max_norm, double *norm, pic_err *err) {
    (void)m, (void)max_norm, (void)norm;
    return pic_err_set(err, "%s", no_cuda);
}

int pic_grad_sumsq_cuda(pic_model *m, double *ss, pic_err *err) {
    (void)m, (void)ss;
    return pic_err_set(err, "%s", no_cuda);
}

int pic_scale_grad_cuda(pic_model *m, double norm, double max_norm, pic_err *err) {
    (void)m, (void)norm, (void)max_norm;
    return pic_err_set(err, "%s", no_cuda);
}

int pic_adamw_step_cuda(pic_model *m, double lr, double beta1, double beta2, double eps, double weight_decay, long t,
                        pic_err *err) {
    (void)m, (void)lr, (void)beta1, (void)beta2, (void)eps, (void)weight_decay, (void)t;
    return pic_err_set(err, "%s", no_cuda);
}

int pic_train_state_put_cuda(pic_model *m, pic_state_array a, size_t offset, const float *x, size_t n,
                             pic_err *err) {
    (void)m, (void)a, (void)offset, (void)x, (void)n;
    return pic_err_set(err, "%s", no_cuda);
}

int pic_train_state_get_cuda(pic_model *m, pic_state_array a, size_t offset, float *x, size_t n, pic_err *err) {
    (void)m, (void)a, (void)offset, (void)x, (void)n;
    return pic_err_set(err, "%s", no_cuda);
}

float *pic_train_array_cuda(pic_model *m, pic_state_array a, pic_err *err) {
    (void)m, (void)a;
    pic_err_set(err, "%s", no_cuda);
    return NULL;
}

size_t pic_cuda_peak_bytes(const pic_model *m) {
    (void)m;
    return 0;
}

size_t pic_cuda_free_bytes(void) { return 0; }

const char *pic_cuda_graphs_off(const pic_model *m) {
    (void)m;
    return NULL;
}
