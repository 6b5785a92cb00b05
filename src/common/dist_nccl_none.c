/* dist_nccl.h in a build without CUDA: never a communicator, so the
 * callers' other road (host memory and dist.h) is the only one. */
#include "common/dist_nccl.h"

#include <stdlib.h>

pic_nccl *pic_nccl_init(void) { return NULL; }
const char *pic_nccl_why(void) { return "this build has no CUDA"; }
void pic_nccl_free(pic_nccl *c) { (void)c; }
/* unreachable without a communicator */
int pic_nccl_device(const pic_nccl *c) { (void)c, abort(); }
void pic_nccl_sum_float(pic_nccl *c, float *x, size_t n) { (void)c, (void)x, (void)n, abort(); }
void pic_nccl_reduce_scatter_float(pic_nccl *c, float *x, const size_t *counts) {
    (void)c, (void)x, (void)counts, abort();
}
void pic_nccl_allgather_float(pic_nccl *c, float *x, const size_t *counts) { (void)c, (void)x, (void)counts, abort(); }
void pic_nccl_allgather_bytes(pic_nccl *c, void *x, const size_t *bytes) { (void)c, (void)x, (void)bytes, abort(); }
