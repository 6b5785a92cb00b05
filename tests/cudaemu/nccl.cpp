// NCCL for the CUDA emulator: the emulated build's libnccl.so.2, which
// src/common/dist_nccl.cu opens as it opens NVIDIA's (dlopen, dlsym), so
// that the NCCL road of pic-update runs without GPUs. Its collectives are
// MPI's over the job's ranks (the program has started MPI; a job of one,
// which never does, has nothing to exchange), queued on the stream as a
// GPU's NCCL kernels are: each runs when its stream is waited for, in the
// order queued, with device memory open to it as to any device work, and
// grouped calls run in the order they were made, on every rank alike.
// What this one refuses, NVIDIA's refuses too: a communicator whose size
// or rank is not the job's (here MPI_COMM_WORLD's), an id not made by
// ncclGetUniqueId, a root out of range, a group ended that never began.
// Only sums are emulated (pic asks for nothing else).
//
// PIC_EMU_NCCL_TRACE=1: each rank prints, at ncclCommDestroy, how many of
// each collective it ran: a test's evidence of the road a program took.
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef PIC_EMU_MPI
#include <mpi.h>
#endif

struct ncclComm {
    int rank, size, device;
    long all_reduces, broadcasts, reduces;
};

namespace {

const char id_magic[] = "cudaemu-nccl";
int group_depth;

int job_size() {
#ifdef PIC_EMU_MPI
    int on = 0, off = 0;
    MPI_Initialized(&on);
    MPI_Finalized(&off);
    int n = 1;
    if (on && !off) MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
#else
    return 1;
#endif
}

int job_rank() {
#ifdef PIC_EMU_MPI
    int r = 0;
    if (job_size() > 1) MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
#else
    return 0;
#endif
}

size_t type_size(ncclDataType_t t) {
    switch (t) {
    case ncclInt8: case ncclUint8: return 1;
    case ncclFloat16: case ncclBfloat16: return 2;
    case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
    case ncclInt64: case ncclUint64: case ncclFloat64: return 8;
    }
    return 0;
}

// Inside device work a first touch opens a whole device buffer (the
// emulator's fault handler); MPI's own copies, which may run in the kernel
// (process_vm_readv), would see a closed one as a bad address.
void open_buffer(const void *p) {
    if (p) (void)*(const volatile char *)p;
}

#ifdef PIC_EMU_MPI
MPI_Datatype mpi_type(ncclDataType_t t) {
    switch (t) {
    case ncclInt8: return MPI_INT8_T;
    case ncclUint8: return MPI_UINT8_T;
    case ncclInt32: return MPI_INT32_T;
    case ncclUint32: return MPI_UINT32_T;
    case ncclInt64: return MPI_INT64_T;
    case ncclUint64: return MPI_UINT64_T;
    case ncclFloat32: return MPI_FLOAT;
    case ncclFloat64: return MPI_DOUBLE;
    default: return MPI_DATATYPE_NULL; // 16-bit floats: MPI has no sum for them
    }
}

void mpi_check(int rc, const char *what) {
    if (rc == MPI_SUCCESS) return;
    fprintf(stderr, "cudaemu nccl: %s failed (MPI error %d)\n", what, rc);
    abort();
}

enum { PIECE = 1 << 30 }; // MPI counts are ints
#endif

ncclResult_t check_call(ncclComm_t comm, size_t count, ncclDataType_t t, int root, bool sum, ncclRedOp_t op) {
    if (!comm || !type_size(t) || root < 0 || root >= comm->size) return ncclInvalidArgument;
    if (sum && op != ncclSum) return ncclInvalidUsage;
#ifdef PIC_EMU_MPI
    if (comm->size > 1 && sum && mpi_type(t) == MPI_DATATYPE_NULL) return ncclInvalidUsage;
#endif
    (void)count;
    return ncclSuccess;
}

}  // namespace

extern "C" {

ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    if (!id) return ncclInvalidArgument;
    memset(id, 0, sizeof *id);
    memcpy(id->internal, id_magic, sizeof id_magic);
    return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank) {
    if (!comm || nranks < 1 || rank < 0 || rank >= nranks) return ncclInvalidArgument;
    if (memcmp(id.internal, id_magic, sizeof id_magic)) return ncclInvalidArgument;
    if (nranks != job_size() || rank != job_rank()) return ncclInvalidUsage;
    ncclComm *c = new ncclComm{rank, nranks, 0, 0, 0, 0};
    cudaGetDevice(&c->device);
    *comm = c;
    return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
    if (!comm) return ncclInvalidArgument;
    const char *trace = getenv("PIC_EMU_NCCL_TRACE");
    if (trace && !strcmp(trace, "1"))
        fprintf(stderr, "cudaemu nccl: rank %d of %d: %ld all-reduce, %ld broadcast, %ld reduce\n", comm->rank,
                comm->size, comm->all_reduces, comm->broadcasts, comm->reduces);
    delete comm;
    return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, ncclDataType_t t, ncclRedOp_t op,
                           ncclComm_t comm, cudaStream_t s) {
    ncclResult_t r = check_call(comm, count, t, 0, true, op);
    if (r != ncclSuccess) return r;
    comm->all_reduces++;
    int size = comm->size;
    emu_enqueue(s, [=]() {
        open_buffer(send), open_buffer(recv);
        size_t es = type_size(t);
        if (send != recv) memmove(recv, send, count * es);
#ifdef PIC_EMU_MPI
        for (size_t o = 0; size > 1 && o < count; o += PIECE) {
            int k = (int)(count - o < (size_t)PIECE ? count - o : (size_t)PIECE);
            mpi_check(MPI_Allreduce(MPI_IN_PLACE, (char *)recv + o * es, k, mpi_type(t), MPI_SUM, MPI_COMM_WORLD),
                      "MPI_Allreduce");
        }
#else
        (void)size;
#endif
    });
    return ncclSuccess;
}

ncclResult_t ncclBroadcast(const void *send, void *recv, size_t count, ncclDataType_t t, int root, ncclComm_t comm,
                           cudaStream_t s) {
    ncclResult_t r = check_call(comm, count, t, root, false, ncclSum);
    if (r != ncclSuccess) return r;
    comm->broadcasts++;
    int size = comm->size, me = comm->rank;
    emu_enqueue(s, [=]() {
        open_buffer(send), open_buffer(recv);
        size_t es = type_size(t);
        if (me == root && send != recv) memmove(recv, send, count * es);
#ifdef PIC_EMU_MPI
        for (size_t o = 0; size > 1 && o < count * es; o += PIECE) {
            int k = (int)(count * es - o < (size_t)PIECE ? count * es - o : (size_t)PIECE);
            mpi_check(MPI_Bcast((char *)recv + o, k, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
        }
#else
        (void)size;
#endif
    });
    return ncclSuccess;
}

ncclResult_t ncclReduce(const void *send, void *recv, size_t count, ncclDataType_t t, ncclRedOp_t op, int root,
                        ncclComm_t comm, cudaStream_t s) {
    ncclResult_t r = check_call(comm, count, t, root, true, op);
    if (r != ncclSuccess) return r;
    comm->reduces++;
    int size = comm->size, me = comm->rank;
    emu_enqueue(s, [=]() {
        size_t es = type_size(t);
        open_buffer(send);
        if (me == root) { // recvbuff is the root's only
            open_buffer(recv);
            if (send != recv) memmove(recv, send, count * es);
        }
#ifdef PIC_EMU_MPI
        for (size_t o = 0; size > 1 && o < count; o += PIECE) {
            int k = (int)(count - o < (size_t)PIECE ? count - o : (size_t)PIECE);
            if (me == root)
                mpi_check(MPI_Reduce(MPI_IN_PLACE, (char *)recv + o * es, k, mpi_type(t), MPI_SUM, root,
                                     MPI_COMM_WORLD), "MPI_Reduce");
            else
                mpi_check(MPI_Reduce((const char *)send + o * es, NULL, k, mpi_type(t), MPI_SUM, root,
                                     MPI_COMM_WORLD), "MPI_Reduce");
        }
#else
        (void)size;
#endif
    });
    return ncclSuccess;
}

ncclResult_t ncclGroupStart(void) {
    group_depth++;
    return ncclSuccess;
}

ncclResult_t ncclGroupEnd(void) {
    if (group_depth == 0) return ncclInvalidUsage;
    group_depth--;
    return ncclSuccess;
}

const char *ncclGetErrorString(ncclResult_t r) {
    switch (r) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error";
    case ncclSystemError: return "unhandled system error";
    case ncclInternalError: return "internal error";
    case ncclInvalidArgument: return "invalid argument";
    case ncclInvalidUsage: return "invalid usage";
    case ncclRemoteError: return "remote process exited or there was a network error";
    case ncclInProgress: return "NCCL operation in progress";
    default: return "unknown result code";
    }
}

}  // extern "C"
