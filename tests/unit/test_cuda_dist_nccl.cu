/* The NCCL communicator (src/common/dist_nccl.h) on the job it is started
 * in: as one process, or as R ranks under mpirun on R GPUs
 * (mpirun -np 2 build/tests/test_cuda_dist_nccl). Every rank puts the same
 * values in, so a sum is exactly R times them (small integers: exact in
 * fp32); each rank's block of a gather is its rank + 1, and of a
 * reduce-scatter R times its rank + 1 on its owner. Skips (TAP) where
 * there is no GPU; fails where NCCL cannot be opened (pic-update would
 * then sum through host memory). Over the emulator (make cuda-emu) it runs
 * against tests/cudaemu/nccl.cpp, MPI's collectives queued on the streams. */
#include <cuda_runtime.h>
#include <stdlib.h>

#include "check.h"
extern "C" {
#include "common/dist.h"
#include "common/dist_nccl.h"
}

int main(void) {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        printf("1..0 # SKIP no CUDA device\n");
        return 0;
    }
    pic_dist_init(NULL, NULL);
    int R = pic_dist_size(), me = pic_dist_rank();
    pic_nccl *c = pic_nccl_init();
    CHECK(c != NULL, "NCCL opened (libnccl.so.2; %s)", c ? "found" : pic_nccl_why());
    if (!c) {
        pic_dist_finish();
        return check_done();
    }
    CHECK(pic_nccl_device(c) == pic_dist_local_rank() % devices, "rank %d of %d on GPU %d", me, R, pic_nccl_device(c));

    size_t n = (size_t)3 << 20; /* 12 MiB: more than one of NCCL's chunks */
    float *h = (float *)malloc(n * sizeof *h), *d;
    for (size_t i = 0; i < n; i++) h[i] = (float)(i % 1000);
    cudaMalloc((void **)&d, n * sizeof *d);
    cudaMemcpy(d, h, n * sizeof *d, cudaMemcpyHostToDevice);
    pic_nccl_sum_float(c, d, n);
    cudaMemcpy(h, d, n * sizeof *d, cudaMemcpyDeviceToHost);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += h[i] != (float)(R * (int)(i % 1000));
    CHECK(bad == 0, "sum over %d ranks of %zu floats: %zu wrong", R, n, bad);

    size_t *counts = (size_t *)malloc((size_t)R * sizeof *counts), total = 0, off = 0;
    for (int r = 0; r < R; r++) total += counts[r] = 1000 + (size_t)r * 7; /* unequal blocks */
    float *g = (float *)calloc(total, sizeof *g), *dg;
    for (int r = 0; r < me; r++) off += counts[r];
    for (size_t i = 0; i < counts[me]; i++) g[off + i] = (float)(me + 1);
    cudaMalloc((void **)&dg, total * sizeof *dg);
    cudaMemcpy(dg, g, total * sizeof *dg, cudaMemcpyHostToDevice);
    pic_nccl_allgather_float(c, dg, counts);
    cudaMemcpy(g, dg, total * sizeof *dg, cudaMemcpyDeviceToHost);
    bad = 0, off = 0;
    for (int r = 0; r < R; r++)
        for (size_t i = 0; i < counts[r]; i++) bad += g[off++] != (float)(r + 1);
    CHECK(bad == 0, "gather of %d unequal blocks: %zu wrong", R, bad);

    /* reduce-scatter of the same unequal blocks: each rank's block the sum,
     * R (r + 1) at every element of block r on rank r (the others' blocks
     * are not the caller's to read) */
    off = 0;
    for (int r = 0; r < R; r++)
        for (size_t i = 0; i < counts[r]; i++) g[off++] = (float)(r + 1);
    cudaMemcpy(dg, g, total * sizeof *dg, cudaMemcpyHostToDevice);
    pic_nccl_reduce_scatter_float(c, dg, counts);
    cudaMemcpy(g, dg, total * sizeof *dg, cudaMemcpyDeviceToHost);
    bad = 0, off = 0;
    for (int r = 0; r < R; r++)
        for (size_t i = 0; i < counts[r]; i++, off++) bad += r == me && g[off] != (float)(R * (r + 1));
    CHECK(bad == 0, "reduce-scatter of %d unequal blocks: %zu wrong", R, bad);

    cudaFree(d), cudaFree(dg);
    free(h), free(g), free(counts);
    pic_nccl_free(c);
    pic_dist_finish();
    return check_done();
}
