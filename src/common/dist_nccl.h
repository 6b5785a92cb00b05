/* The GPU side of dist.h: one NCCL communicator for the job's ranks, for
 * sums and gathers of buffers in GPU memory (NCCL, not MPI, moves them:
 * NVLink and GPUDirect RDMA). Rank and size are dist.h's; the NCCL unique id
 * is made on rank 0 and broadcast with pic_dist_broadcast, so the same code
 * runs as one process without MPI. Each rank takes the GPU of its rank on
 * its machine (pic_dist_local_rank) modulo the GPUs it sees, as the model
 * does (model.h, pic_model_opts.gpu). NCCL itself (libnccl.so.2) is opened
 * at the first pic_nccl_init, not linked. A build without CUDA has
 * dist_nccl_none.c, where there is never a communicator (docs/distributed.md);
 * calls are synchronous on the communicator's stream. */
#ifndef PIC_DIST_NCCL_H
#define PIC_DIST_NCCL_H

#include <stddef.h>

typedef struct pic_nccl pic_nccl;

/* A collective: every rank calls it after pic_dist_init. NULL when some
 * rank cannot open NCCL (or PIC_NCCL=0 is set, or the build has no CUDA):
 * pic_nccl_why says why, and the caller takes another road. Dies (and so
 * ends the job) when there is no GPU or NCCL fails, naming the rank. */
pic_nccl *pic_nccl_init(void);
const char *pic_nccl_why(void);
void pic_nccl_free(pic_nccl *c);
int pic_nccl_device(const pic_nccl *c);

/* In place, device memory: the sum over the ranks of x[0..n). */
void pic_nccl_sum_float(pic_nccl *c, float *x, size_t n);
/* x[counts[0] + ... + counts[R-1]] in device memory: each rank's block
 * summed over the ranks, on that rank (as pic_dist_reduce_scatter_float);
 * the other blocks are left undefined. */
void pic_nccl_reduce_scatter_float(pic_nccl *c, float *x, const size_t *counts);
/* x[counts[0] + ... + counts[R-1]] in device memory: each rank's block to
 * every rank (as pic_dist_allgather_float). */
void pic_nccl_allgather_float(pic_nccl *c, float *x, const size_t *counts);
/* The same in bytes: x holds bytes[0] + ... + bytes[R-1] (weights of any
 * storage type, each rank's slice). */
void pic_nccl_allgather_bytes(pic_nccl *c, void *x, const size_t *bytes);

#endif
