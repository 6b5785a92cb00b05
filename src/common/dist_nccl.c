/* The NCCL communicator (dist_nccl.h). */
#include "common/dist_nccl.h"

#include <cuda_runtime.h>
#include <nccl.h>
#include <stdlib.h>

#include "common/cli.h"
#include "common/dist.h"

struct pic_nccl {
    ncclComm_t comm;
    cudaStream_t stream;
    int device, rank, size;
};

static void cuda_check(cudaError_t e, const char *what) {
    if (e != cudaSuccess) pic_die("%s: %s", what, cudaGetErrorString(e));
}

static void nccl_check(ncclResult_t r, const char *what) {
    if (r != ncclSuccess) pic_die("%s: %s", what, ncclGetErrorString(r));
}

pic_nccl *pic_nccl_init(void) {
    pic_nccl *c = pic_calloc(1, sizeof *c);
    c->rank = pic_dist_rank(), c->size = pic_dist_size();
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) pic_die("NCCL: no CUDA device is visible");
    c->device = pic_dist_local_rank() % devices;
    cuda_check(cudaSetDevice(c->device), "cudaSetDevice");
    ncclUniqueId id;
    if (c->rank == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    pic_dist_broadcast(&id, sizeof id, 0);
    nccl_check(ncclCommInitRank(&c->comm, c->size, id, c->rank), "ncclCommInitRank");
    cuda_check(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    return c;
}

void pic_nccl_free(pic_nccl *c) {
    if (!c) return;
    ncclCommDestroy(c->comm);
    cudaStreamDestroy(c->stream);
    free(c);
}

int pic_nccl_device(const pic_nccl *c) { return c->device; }

/* One rank goes through NCCL too: a job of one checks the whole path. */
void pic_nccl_sum_float(pic_nccl *c, float *x, size_t n) {
    if (n == 0) return;
    nccl_check(ncclAllReduce(x, x, n, ncclFloat32, ncclSum, c->comm, c->stream), "ncclAllReduce");
    cuda_check(cudaStreamSynchronize(c->stream), "ncclAllReduce");
}

/* Blocks of unequal sizes: one broadcast from each owner, grouped so that
 * NCCL runs them as one operation. */
void pic_nccl_allgather_float(pic_nccl *c, float *x, const size_t *counts) {
    size_t off = 0;
    nccl_check(ncclGroupStart(), "ncclGroupStart");
    for (int r = 0; r < c->size; r++) {
        nccl_check(ncclBroadcast(x + off, x + off, counts[r], ncclFloat32, r, c->comm, c->stream), "ncclBroadcast");
        off += counts[r];
    }
    nccl_check(ncclGroupEnd(), "ncclGroupEnd");
    cuda_check(cudaStreamSynchronize(c->stream), "ncclBroadcast");
}
