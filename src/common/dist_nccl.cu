/* The NCCL communicator (dist_nccl.h). NCCL is opened on first use, as
 * cuBLASLt is (model/cuda/cublaslt.cu): a CUDA build's programs start
 * without it, a job of one GPU never loads it, and a machine without it
 * still trains, through host memory. Host code only; a .cu file so that
 * the emulated build (tests/cudaemu) compiles it over its runtime, where
 * tests/cudaemu/nccl.cpp is the libnccl.so.2 it opens. */
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "common/cli.h"
#include "common/dist.h"
#include "common/dist_nccl.h"
}

#define PIC_NCCL_STR2(x) #x
#define PIC_NCCL_STR(x) PIC_NCCL_STR2(x)
static const char soname[] = "libnccl.so." PIC_NCCL_STR(NCCL_MAJOR);

/* The functions the communicator calls, found once in the library. */
static struct {
    ncclResult_t (*get_unique_id)(ncclUniqueId *);
    ncclResult_t (*comm_init_rank)(ncclComm_t *, int, ncclUniqueId, int);
    ncclResult_t (*comm_destroy)(ncclComm_t);
    ncclResult_t (*all_reduce)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t);
    ncclResult_t (*broadcast)(const void *, void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
    ncclResult_t (*reduce)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, int, ncclComm_t, cudaStream_t);
    ncclResult_t (*group_start)(void);
    ncclResult_t (*group_end)(void);
    const char *(*error_string)(ncclResult_t);
} nccl;
static char why[512];

/* Whether this process has NCCL's functions; why says what is missing. */
static bool open_nccl(void) {
    static int state; /* 0 not tried, 1 open, -1 failed */
    if (state) return state > 0;
    state = -1;
    const char *env = getenv("PIC_NCCL");
    if (env && !strcmp(env, "0")) {
        snprintf(why, sizeof why, "PIC_NCCL=0");
        return false;
    }
    /* the executable's rpath, then LD_LIBRARY_PATH, as for a linked library */
    void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(why, sizeof why, "%s", dlerror());
        return false;
    }
    static const char *names[] = {"ncclGetUniqueId", "ncclCommInitRank", "ncclCommDestroy",
                                  "ncclAllReduce",   "ncclBroadcast",    "ncclReduce",
                                  "ncclGroupStart",  "ncclGroupEnd",     "ncclGetErrorString"};
    void **slots[] = {(void **)&nccl.get_unique_id, (void **)&nccl.comm_init_rank, (void **)&nccl.comm_destroy,
                      (void **)&nccl.all_reduce,    (void **)&nccl.broadcast,      (void **)&nccl.reduce,
                      (void **)&nccl.group_start,   (void **)&nccl.group_end,      (void **)&nccl.error_string};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!(*slots[i] = dlsym(lib, names[i]))) {
            snprintf(why, sizeof why, "%s has no %s", soname, names[i]);
            return false;
        }
    state = 1;
    return true;
}

struct pic_nccl {
    ncclComm_t comm;
    cudaStream_t stream;
    int device, rank, size;
};

static void cuda_check(cudaError_t e, const char *what) {
    if (e != cudaSuccess) pic_die("%s: %s", what, cudaGetErrorString(e));
}

static void nccl_check(ncclResult_t r, const char *what) {
    if (r != ncclSuccess) pic_die("%s: %s", what, nccl.error_string(r));
}

pic_nccl *pic_nccl_init(void) {
    /* every rank must take the same road: NCCL if all of them have it */
    double missing = !open_nccl();
    pic_dist_sum_double(&missing, 1);
    if (missing > 0) {
        if (!why[0]) snprintf(why, sizeof why, "%g of the job's ranks could not open %s", missing, soname);
        return NULL;
    }
    pic_nccl *c = (pic_nccl *)pic_calloc(1, sizeof *c);
    c->rank = pic_dist_rank(), c->size = pic_dist_size();
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) pic_die("NCCL: no CUDA device is visible");
    c->device = pic_dist_local_rank() % devices;
    cuda_check(cudaSetDevice(c->device), "cudaSetDevice");
    ncclUniqueId id;
    if (c->rank == 0) nccl_check(nccl.get_unique_id(&id), "ncclGetUniqueId");
    pic_dist_broadcast(&id, sizeof id, 0);
    nccl_check(nccl.comm_init_rank(&c->comm, c->size, id, c->rank), "ncclCommInitRank");
    cuda_check(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    return c;
}

const char *pic_nccl_why(void) { return why; }

void pic_nccl_free(pic_nccl *c) {
    if (!c) return;
    nccl.comm_destroy(c->comm);
    cudaStreamDestroy(c->stream);
    free(c);
}

int pic_nccl_device(const pic_nccl *c) { return c->device; }

/* One rank goes through NCCL too: a job of one checks the whole path. */
void pic_nccl_sum_float(pic_nccl *c, float *x, size_t n) {
    if (n == 0) return;
    nccl_check(nccl.all_reduce(x, x, n, ncclFloat32, ncclSum, c->comm, c->stream), "ncclAllReduce");
    cuda_check(cudaStreamSynchronize(c->stream), "ncclAllReduce");
}

/* Blocks of unequal sizes (ncclReduceScatter's are equal): one reduce to
 * each owner, grouped so that NCCL runs them as one operation; in place on
 * the owner, the others' blocks as they were. */
void pic_nccl_reduce_scatter_float(pic_nccl *c, float *x, const size_t *counts) {
    size_t off = 0;
    nccl_check(nccl.group_start(), "ncclGroupStart");
    for (int r = 0; r < c->size; r++) {
        nccl_check(nccl.reduce(x + off, x + off, counts[r], ncclFloat32, ncclSum, r, c->comm, c->stream), "ncclReduce");
        off += counts[r];
    }
    nccl_check(nccl.group_end(), "ncclGroupEnd");
    cuda_check(cudaStreamSynchronize(c->stream), "ncclReduce");
}

/* Blocks of unequal sizes: one broadcast from each owner, grouped so that
 * NCCL runs them as one operation. */
static void allgather(pic_nccl *c, char *x, const size_t *counts, ncclDataType_t type, size_t size) {
    size_t off = 0;
    nccl_check(nccl.group_start(), "ncclGroupStart");
    for (int r = 0; r < c->size; r++) {
        nccl_check(nccl.broadcast(x + off * size, x + off * size, counts[r], type, r, c->comm, c->stream),
                   "ncclBroadcast");
        off += counts[r];
    }
    nccl_check(nccl.group_end(), "ncclGroupEnd");
    cuda_check(cudaStreamSynchronize(c->stream), "ncclBroadcast");
}

void pic_nccl_allgather_float(pic_nccl *c, float *x, const size_t *counts) {
    allgather(c, (char *)x, counts, ncclFloat32, sizeof *x);
}

void pic_nccl_allgather_bytes(pic_nccl *c, void *x, const size_t *bytes) { allgather(c, (char *)x, bytes, ncclUint8, 1); }
