// The emulator's own tests (built with CUDA=emu only, tests/cudaemu): the
// CUDA semantics the backend's twin tests lean on, each against a plain
// host loop, and the faults it turns into a stop (a hang, a buffer overrun).
#include <cub/cub.cuh>
#include <cuda_bf16.h>
#include <cuda_pipeline_primitives.h>
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <mma.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

namespace wmma = nvcuda::wmma;

// A block's sum through warp shuffles and shared memory: every barrier kind.
__global__ void block_sum(const float *x, float *out, int n) {
    __shared__ float part[32];
    float v = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) v += x[(size_t)blockIdx.x * n + i];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        v = threadIdx.x < blockDim.x / 32 ? part[threadIdx.x] : 0;
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (threadIdx.x == 0) out[blockIdx.x] = v;
    }
}

// One warp's 16 x 16 product over K, through dynamic shared memory.
__global__ void tile_product(const __nv_bfloat16 *a, const __nv_bfloat16 *b, float *c, int K) {
    extern __shared__ __align__(128) unsigned char smem[];
    float *cs = reinterpret_cast<float *>(smem);
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 0.0f);
    for (int k = 0; k < K; k += 16) {
        wmma::load_matrix_sync(fa, a + k, K);
        wmma::load_matrix_sync(fb, b + k, K);
        wmma::mma_sync(acc, fa, fb, acc);
    }
    wmma::store_matrix_sync(cs, acc, 16, wmma::mem_row_major);
    __syncwarp();
    for (int e = threadIdx.x; e < 256; e += 32) c[e] = cs[e];
}

__global__ void fill(float *x, float v, int n) {
    if ((int)threadIdx.x < n) x[threadIdx.x] = v;
}

__global__ void scale(float *x, float s, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] *= s;
}

// Half a warp shuffles with the full mask while the other half waits at
// __syncthreads: neither can complete, and the GPU hangs.
__global__ void divergent_barrier(float *x) {
    float v = (float)threadIdx.x;
    if (threadIdx.x < 16)
        v = __shfl_xor_sync(0xffffffffu, v, 1);
    else
        __syncthreads();
    x[threadIdx.x] = v;
}

__global__ void write_past(float *x, int n) { x[n + threadIdx.x] = 1; }

// Every block writes one cell (a race between blocks: the last wins) and
// marks its own.
__global__ void last_writer(int *cell, int *seen) {
    int g = (int)(blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z));
    if (threadIdx.x == 0) *cell = g, seen[g]++;
}

__global__ void __launch_bounds__(64) bounded(float *x) { x[threadIdx.x] = 1; }

// Kernels for launch_pdl: a thread may touch device memory only after its
// dependency wait (common.cuh's pdl_begin), the kernel before it done.
__global__ void copy_after_wait(const float *x, float *out) {
    cudaGridDependencySynchronize();
    out[threadIdx.x] = x[threadIdx.x];
}
__global__ void read_before_wait(const float *x, float *out, int reader) {
    float v = (int)threadIdx.x == reader ? x[0] : 0; // one thread reads its input early
    cudaGridDependencySynchronize();
    out[threadIdx.x] = v;
}
__global__ void no_wait(float *out) { out[threadIdx.x] = 1; }

// Lanes 16 and up end at once; the rest take lane (their own ^ o)'s value,
// an ended lane's when o >= 16, which a GPU leaves undefined.
__global__ void half_warp_shuffle(float *out, int o) {
    if (threadIdx.x >= 16) return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (float)threadIdx.x, o);
}

// Every thread counts itself in, the odd lanes end, the even ones shuffle
// among themselves: a lane that ended stays ended while its warp goes on.
__global__ void odd_lanes_end(int *count, float *out) {
    atomicAdd(count, 1);
    if (threadIdx.x % 2) return;
    out[threadIdx.x / 2] = __shfl_xor_sync(0xffffffffu, (float)threadIdx.x, 2);
}

// A wmma store that lane 31 of the warp does not execute.
__global__ void wmma_short(float *c) {
    if (threadIdx.x == 31) return;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 0.0f);
    wmma::store_matrix_sync(c, acc, 16, wmma::mem_row_major);
}

// Writes floats from (dynamic shared memory's) index `from`, a thread each.
__global__ void smem_from(int from) {
    extern __shared__ float buf[];
    buf[from + threadIdx.x] = 1;
}

// Fills n floats of dynamic shared memory, then sums them in thread 0.
template <int STRIDE> __global__ void smem_sum(float *out, int n) {
    extern __shared__ float buf[];
    for (int i = threadIdx.x; i < n; i += STRIDE) buf[i] = 1;
    __syncthreads();
    if (threadIdx.x) return;
    float s = 0;
    for (int i = 0; i < n; i++) s += buf[i];
    *out = s;
}

// Two batches of cp.async, each thread 16 bytes of each, read before and
// after waiting for them: out[4 t + i], i = the first batch's value before
// any wait, after waiting for all but the newest batch, and the second
// batch's then, and after waiting for every batch.
__global__ void async_batches(const float *a, const float *b, float *out) {
    __shared__ __align__(16) float sa[32 * 4], sb[32 * 4];
    int t = threadIdx.x;
    for (int i = 0; i < 4; i++) sa[4 * t + i] = sb[4 * t + i] = -1;
    __pipeline_memcpy_async(sa + 4 * t, a + 4 * t, 16);
    __pipeline_commit();
    __pipeline_memcpy_async(sb + 4 * t, b + 4 * t, 16);
    __pipeline_commit();
    out[4 * t] = sa[4 * t];
    __pipeline_wait_prior(1);
    out[4 * t + 1] = sa[4 * t], out[4 * t + 2] = sb[4 * t];
    __pipeline_wait_prior(0);
    out[4 * t + 3] = sb[4 * t];
}

// Two warps, and writes with no barrier after another warp's reads: warp
// 0 asks for a cp.async into c and then stores into p, each after a warp
// operation; warp 1 reads both. out[2 b], out[2 b + 1]: what block b's
// warp 1 read. It races on purpose: ThreadSanitizer is told not to look.
#if defined(__SANITIZE_THREAD__)
__attribute__((no_sanitize_thread))
#endif
__global__ void run_ahead(const float *src, float *out) {
    __shared__ __align__(16) float c[4], p[4];
    if (threadIdx.x < 4) c[threadIdx.x] = -1, p[threadIdx.x] = -1;
    __syncthreads();
    if (threadIdx.x < 32) {
        if (threadIdx.x < 4) __pipeline_memcpy_async(c + threadIdx.x, src + threadIdx.x, 4);
        __pipeline_commit();
        __syncwarp();
        if (threadIdx.x < 4) p[threadIdx.x] = 7;
        __pipeline_wait_prior(0);
    } else if (threadIdx.x == 32) {
        out[2 * blockIdx.x] = c[0], out[2 * blockIdx.x + 1] = p[0];
    }
}

__global__ void block_scan(const int *x, int *before, int *total) {
    typedef cub::BlockScan<int, 64> scan;
    __shared__ scan::TempStorage tmp;
    int b, t;
    scan(tmp).ExclusiveSum(x[threadIdx.x], b, t);
    before[threadIdx.x] = b;
    if (threadIdx.x == 0) *total = t;
}

#if defined(__SANITIZE_THREAD__)
// Thread 0 writes shared memory that thread `reader` reads, with what
// stands between them (make tsan-emu: only a barrier that orders memory
// on a GPU orders it for ThreadSanitizer).
enum handoff_by { NOTHING, SYNCTHREADS, SYNCWARP, SHUFFLE, NEXT_PHASE };
template <handoff_by BY> __global__ void handoff(float *out, int reader) {
    __shared__ float v[1];
    if (BY == NEXT_PHASE) __syncthreads(); // both in the phase after it, with no barrier between them
    if (threadIdx.x == 0) v[0] = 1;
    if (BY == SYNCTHREADS) __syncthreads();
    if (BY == SYNCWARP && threadIdx.x / 32 == 0) __syncwarp();
    if (BY == SHUFFLE && threadIdx.x / 32 == 0) (void)__shfl_sync(0xffffffffu, 0.0f, 0);
    if ((int)threadIdx.x == reader) out[0] = v[0];
    if (BY == NEXT_PHASE) __syncthreads();
}
#endif

static void test_sums(void) {
    enum { B = 3, N = 1000 };
    float h[B * N], *x, *out, got[B];
    for (int i = 0; i < B * N; i++) h[i] = (float)(i % 17) - 8;
    cudaMalloc(&x, sizeof h), cudaMalloc(&out, sizeof got);
    cudaMemcpy(x, h, sizeof h, cudaMemcpyHostToDevice);
    block_sum<<<B, 256>>>(x, out, N);
    cudaMemcpy(got, out, sizeof got, cudaMemcpyDeviceToHost);
    bool ok = cudaGetLastError() == cudaSuccess;
    for (int b = 0; b < B; b++) {
        double want = 0;
        for (int i = 0; i < N; i++) want += h[b * N + i];
        ok = ok && got[b] == (float)want;
    }
    CHECK(ok, "shuffles, shared memory and __syncthreads: three blocks' sums (%g %g %g)", got[0], got[1], got[2]);
    block_sum<<<1, 2048>>>(x, out, N);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration && cudaGetLastError() == cudaSuccess,
          "a block of 2048 threads is the launch's error, read once");
    cudaFree(x), cudaFree(out);
}

// Shared memory past the device's opt-in: refused, to the launch and to
// the attribute that would raise a kernel to it.
static void test_smem_limit(void) {
    float *x;
    cudaMalloc(&x, 64 * sizeof(float));
    scale<<<1, 64, 300 << 10>>>(x, 2, 64);
    CHECK(cudaGetLastError() == cudaErrorInvalidValue, "a launch with 300 KB of dynamic shared memory is refused");
    CHECK(cudaFuncSetAttribute(scale, cudaFuncAttributeMaxDynamicSharedMemorySize, 300 << 10) == cudaErrorInvalidValue &&
              cudaGetLastError() == cudaErrorInvalidValue,
          "and so is raising a kernel to it");
    cudaFree(x);
}

static void test_wmma(void) {
    enum { K = 48 };
    __nv_bfloat16 ha[16 * K], hb[16 * K], *a, *b;
    float *c, got[256];
    for (int i = 0; i < 16 * K; i++) ha[i] = (float)((i * 7) % 5 - 2), hb[i] = (float)((i * 3) % 7 - 3);
    cudaMalloc(&a, sizeof ha), cudaMalloc(&b, sizeof hb), cudaMalloc(&c, sizeof got);
    cudaMemcpy(a, ha, sizeof ha, cudaMemcpyHostToDevice);
    cudaMemcpy(b, hb, sizeof hb, cudaMemcpyHostToDevice);
    tile_product<<<1, 32, 1024>>>(a, b, c, K);
    cudaMemcpy(got, c, sizeof got, cudaMemcpyDeviceToHost);
    int bad = 0;
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            float want = 0;
            for (int k = 0; k < K; k++) want += (float)ha[i * K + k] * (float)hb[j * K + k];
            bad += got[i * 16 + j] != want;
        }
    CHECK(bad == 0, "wmma: a 16 x 16 x %d product of row-major A and column-major B (%d elements differ)", K, bad);
    cudaFree(a), cudaFree(b), cudaFree(c);
}

static void test_graph(void) {
    float h[100], *x;
    for (int i = 0; i < 100; i++) h[i] = 1;
    cudaMalloc(&x, sizeof h);
    cudaMemcpy(x, h, sizeof h, cudaMemcpyHostToDevice);
    cudaStream_t s;
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    cudaGraph_t g;
    cudaGraphExec_t e;
    float factor = 2;
    cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
    scale<<<1, 128, 0, s>>>(x, factor, 100);
    factor = 10; // the graph keeps the argument it was captured with
    CHECK(cudaStreamSynchronize(s) == cudaErrorStreamCaptureUnsupported,
          "waiting for a stream being captured is refused");
    CHECK(cudaStreamEndCapture(s, &g) == cudaErrorStreamCaptureInvalidated && !g, "and spoils the capture");
    cudaGetLastError();
    cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
    scale<<<1, 128, 0, s>>>(x, factor, 100);
    factor = 3;
    bool ended = cudaStreamEndCapture(s, &g) == cudaSuccess && cudaGraphInstantiate(&e, g, 0) == cudaSuccess;
    cudaMemcpy(h, x, sizeof h, cudaMemcpyDeviceToHost);
    CHECK(ended && h[0] == 1 && h[99] == 1, "a captured launch does not run at capture");
    cudaGraphLaunch(e, s);
    cudaGraphLaunch(e, s);
    cudaStreamSynchronize(s);
    cudaMemcpy(h, x, sizeof h, cudaMemcpyDeviceToHost);
    CHECK(h[0] == 100 && h[99] == 100, "each graph launch runs it with its captured arguments (%g)", h[0]);
    cudaGraphExecDestroy(e), cudaGraphDestroy(g), cudaStreamDestroy(s), cudaFree(x);
}

static void test_cub(void) {
    int hx[64], *x, *before, *total, hb[64], ht = 0;
    for (int i = 0; i < 64; i++) hx[i] = i % 5;
    cudaMalloc(&x, sizeof hx), cudaMalloc(&before, sizeof hb), cudaMalloc(&total, sizeof ht);
    cudaMemcpy(x, hx, sizeof hx, cudaMemcpyHostToDevice);
    block_scan<<<1, 64>>>(x, before, total);
    cudaMemcpy(hb, before, sizeof hb, cudaMemcpyDeviceToHost);
    cudaMemcpy(&ht, total, sizeof ht, cudaMemcpyDeviceToHost);
    bool ok = true;
    int run = 0;
    for (int i = 0; i < 64; run += hx[i], i++) ok = ok && hb[i] == run;
    CHECK(ok && ht == run, "BlockScan: exclusive sums and the total (%d of %d)", ht, run);
    // radix sort: keys by bits [0, 8), equal keys keep their order
    int keys[6] = {0x105, 3, 0x203, 5, 1, 3}, vals[6] = {0, 1, 2, 3, 4, 5}, vo[6], *d;
    cudaMalloc(&d, 4 * sizeof keys);
    cudaMemcpy(d, keys, sizeof keys, cudaMemcpyHostToDevice);
    cudaMemcpy(d + 6, vals, sizeof vals, cudaMemcpyHostToDevice);
    size_t bytes = 0;
    cub::DeviceRadixSort::SortPairs(NULL, bytes, d, d + 12, d + 6, d + 18, 6, 0, 8);
    void *tmp;
    cudaMalloc(&tmp, bytes);
    cub::DeviceRadixSort::SortPairs(tmp, bytes, d, d + 12, d + 6, d + 18, 6, 0, 8);
    cudaMemcpy(vo, d + 18, sizeof vo, cudaMemcpyDeviceToHost);
    int want[6] = {4, 1, 2, 5, 0, 3};
    CHECK(!memcmp(vo, want, sizeof want), "radix sort on the low 8 bits is stable: %d %d %d %d %d %d", vo[0], vo[1],
          vo[2], vo[3], vo[4], vo[5]);
    cudaFree(tmp), cudaFree(d), cudaFree(x), cudaFree(before), cudaFree(total);
}

// Work on a stream runs when the host waits for it, as late as a GPU may:
// results read without the wait are not there yet.
static void test_async(void) {
    float *x, *pinned, h = -1;
    cudaStream_t s;
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    cudaMalloc(&x, 64 * sizeof(float));
    cudaMallocHost(&pinned, sizeof(float));
    cudaMemset(x, 0, 64 * sizeof(float));
    *pinned = -1;
    scale<<<1, 64, 0, s>>>(x, 2, 64); // 0 * 2
    cudaMemcpyAsync(pinned, x, sizeof(float), cudaMemcpyDeviceToHost, s);
    CHECK(*pinned == -1, "a copy into pinned memory has not landed before the host waits for its stream (%g)", *pinned);
    cudaStreamSynchronize(s);
    CHECK(*pinned == 0, "and has after cudaStreamSynchronize (%g)", *pinned);
    fill<<<1, 64, 0, s>>>(x, 7, 64);
    cudaMemcpy(&h, x, sizeof h, cudaMemcpyDeviceToHost);
    CHECK(h == 0, "a blocking copy does not wait for a cudaStreamNonBlocking stream's kernel (%g)", h);
    cudaStreamSynchronize(s);
    cudaMemcpy(&h, x, sizeof h, cudaMemcpyDeviceToHost);
    CHECK(h == 7, "it sees the kernel's result once the stream is waited for (%g)", h);
    cudaFreeHost(pinned), cudaFree(x), cudaStreamDestroy(s);

    // cp.async lands when waited for, as on a GPU, so a kernel that reads too soon reads the old bytes
    float ha[128], *a, *b, *out, got[128];
    for (int i = 0; i < 128; i++) ha[i] = (float)i;
    cudaMalloc(&a, sizeof ha), cudaMalloc(&b, sizeof ha), cudaMalloc(&out, sizeof got);
    cudaMemcpy(a, ha, sizeof ha, cudaMemcpyHostToDevice);
    cudaMemcpy(b, ha, sizeof ha, cudaMemcpyHostToDevice);
    async_batches<<<1, 32>>>(a, b, out);
    cudaMemcpy(got, out, sizeof got, cudaMemcpyDeviceToHost);
    int early = 0, first = 0, second_early = 0, second = 0;
    for (int t = 0; t < 32; t++) {
        early += got[4 * t] == -1, first += got[4 * t + 1] == 4 * t;
        second_early += got[4 * t + 2] == -1, second += got[4 * t + 3] == 4 * t;
    }
    CHECK(early == 32 && first == 32 && second_early == 32 && second == 32,
          "cp.async: a batch lands at __pipeline_wait_prior, not before, the newest N left pending "
          "(%d, %d, %d, %d of 32)", early, first, second_early, second);
    cudaFree(a), cudaFree(b), cudaFree(out);

    // Every other pair of blocks runs a warp at a time to its barriers and lands copies when asked for, so
    // that a write into what another warp still reads shows: blocks 0 and 1 (warps in step, copies at the
    // wait, forward and reversed) read the old values, block 2 (a warp at a time, warp 0 first) the new
    // ones, block 3 (warp 1 first) the old.
    float src[4] = {5, 6, 7, 8}, *dsrc, seen[8], *dseen;
    cudaMalloc(&dsrc, sizeof src), cudaMalloc(&dseen, sizeof seen);
    cudaMemcpy(dsrc, src, sizeof src, cudaMemcpyHostToDevice);
    run_ahead<<<4, 64>>>(dsrc, dseen);
    cudaMemcpy(seen, dseen, sizeof seen, cudaMemcpyDeviceToHost);
    float want[8] = {-1, -1, -1, -1, 5, 7, -1, -1};
    CHECK(!memcmp(seen, want, sizeof want),
          "a warp runs ahead to its barrier, its copies landing when asked for, in every other pair of blocks "
          "(block 0: %g %g, 1: %g %g, 2: %g %g, 3: %g %g)", seen[0], seen[1], seen[2], seen[3], seen[4], seen[5],
          seen[6], seen[7]);
    cudaFree(dsrc), cudaFree(dseen);
}

static void test_ended_lanes(void) {
    int *count, n = 0;
    float *out, got[32];
    cudaMalloc(&count, sizeof(int)), cudaMalloc(&out, sizeof got);
    cudaMemset(count, 0, sizeof(int));
    odd_lanes_end<<<1, 64>>>(count, out);
    cudaMemcpy(&n, count, sizeof n, cudaMemcpyDeviceToHost);
    cudaMemcpy(got, out, sizeof got, cudaMemcpyDeviceToHost);
    int right = 0;
    for (int i = 0; i < 32; i++) right += got[i] == (float)((2 * i) ^ 2);
    CHECK(n == 64 && right == 32,
          "lanes that end while their warp waits at a shuffle are not run again (%d of 64 counted, %d of 32 values)",
          n, right);
    cudaFree(count), cudaFree(out);
}

// Whether a child (in_child) stopped by abort() with `want` in its stderr.
static bool aborted_with(int st, const char *err, const char *want) {
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(err, want);
}

// Runs f in a child; its exit status and the first bytes of its stderr.
template <typename F> static int in_child(F f, char *err, size_t n) {
    int fd[2];
    if (pipe(fd)) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        f();
        _exit(0);
    }
    close(fd[1]);
    size_t have = 0;
    for (ssize_t got; have < n - 1 && (got = read(fd[0], err + have, n - 1 - have)) > 0;) have += (size_t)got;
    while (have && err[have - 1] == '\n') have--; // one TAP line
    err[have] = 0;
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

#if defined(__SANITIZE_THREAD__)
// The fibers under ThreadSanitizer: a read of another thread's write with
// no barrier between them is reported, naming the kernel, whichever order
// the emulator ran them in; a barrier that orders memory on a GPU stops it.
// Each case runs in a process of its own (this program, `race BY READER`):
// TSan reports nothing in a child forked after the fibers were made.
static void run_handoff(int by, int reader) {
    float *out;
    cudaMalloc(&out, sizeof(float));
    switch (by) {
    case NOTHING: handoff<NOTHING><<<1, 64>>>(out, reader); break;
    case SYNCTHREADS: handoff<SYNCTHREADS><<<1, 64>>>(out, reader); break;
    case SYNCWARP: handoff<SYNCWARP><<<1, 64>>>(out, reader); break;
    case SHUFFLE: handoff<SHUFFLE><<<1, 64>>>(out, reader); break;
    case NEXT_PHASE: handoff<NEXT_PHASE><<<1, 64>>>(out, reader); break;
    }
    cudaDeviceSynchronize();
    fprintf(stderr, "ran\n");
}
static void race_case(handoff_by by, int reader, bool race, const char *what) {
    char cmd[128], err[8192];
    snprintf(cmd, sizeof cmd, "/proc/%d/exe race %d %d 2>&1", (int)getpid(), (int)by, reader);
    FILE *p = popen(cmd, "r");
    size_t have = p ? fread(err, 1, sizeof err - 1, p) : 0;
    err[have] = 0;
    while (p && fgetc(p) != EOF) {
    }
    int st = p ? pclose(p) : -1;
    bool reported = strstr(err, "ThreadSanitizer: data race") && strstr(err, "handoff");
    CHECK(st != -1 && strstr(err, "ran") && reported == race, "ThreadSanitizer %s %s",
          race ? "reports" : "does not report", what);
}
static void test_races(void) {
    race_case(NOTHING, 1, true, "a read of another thread's write with nothing between them");
    race_case(NEXT_PHASE, 1, true, "two threads in the same phase, one a barrier ahead of the other");
    race_case(SHUFFLE, 1, true, "a read after a shuffle, which orders no memory");
    race_case(SYNCWARP, 33, true, "a read in another warp after __syncwarp");
    race_case(SYNCTHREADS, 33, false, "a read after __syncthreads");
    race_case(SYNCWARP, 1, false, "a read in the same warp after __syncwarp");
}
#endif

// Blocks run last first every other launch, so a race between blocks
// gives a different result from one launch to the next; every block runs
// once either way.
static void test_block_order(void) {
    const int n = 3 * 2 * 2;
    int *d, h[2][1 + n];
    CHECK(cudaMalloc(&d, sizeof h[0]) == cudaSuccess, "cudaMalloc");
    for (int run = 0; run < 2; run++) {
        cudaMemset(d, 0, sizeof h[0]);
        last_writer<<<dim3(3, 2, 2), 32>>>(d, d + 1);
        cudaMemcpy(h[run], d, sizeof h[0], cudaMemcpyDeviceToHost);
        int once = 0;
        for (int g = 0; g < n; g++) once += h[run][1 + g] == 1;
        CHECK(once == n, "launch %d: every block of 12 ran once (%d did)", run, once);
    }
    CHECK(h[0][0] + h[1][0] == n - 1 && h[0][0] * h[1][0] == 0,
          "two launches' last blocks are the first and the last (%d, %d)", h[0][0], h[1][0]);
    setenv("PIC_EMU_BLOCKS", "reverse", 1);
    for (int run = 0; run < 2; run++) {
        last_writer<<<dim3(3, 2, 2), 32>>>(d, d + 1);
        cudaMemcpy(h[run], d, sizeof(int), cudaMemcpyDeviceToHost);
    }
    unsetenv("PIC_EMU_BLOCKS");
    CHECK(h[0][0] == 0 && h[1][0] == 0, "PIC_EMU_BLOCKS=reverse: block 0 last in both launches (%d, %d)", h[0][0],
          h[1][0]);
    cudaFree(d);
}

static void test_faults(void) {
    char err[512];
    int st = in_child(
        [] {
            float *x;
            cudaMalloc(&x, 64 * sizeof(float));
            divergent_barrier<<<1, 32>>>(x);
            cudaDeviceSynchronize();
        },
        err, sizeof err);
    CHECK(aborted_with(st, err, "divergent_barrier") && strstr(err, "the GPU would hang"),
          "a barrier some threads never reach stops the run, naming the kernel: %s", err);
    st = in_child(
        [] {
            float *x;
            cudaMalloc(&x, 1000 * sizeof(float));
            write_past<<<1, 64>>>(x, 1024); // past the buffer's 256-byte rounding
            cudaDeviceSynchronize();
        },
        err, sizeof err);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "a kernel writing past its buffer faults there");
    st = in_child(
        [] {
            float *x;
            cudaMalloc(&x, 64 * sizeof(float));
            fprintf(stderr, "allocated; ");
            x[3] = 1; // the host writing device memory
        },
        err, sizeof err);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV && strstr(err, "allocated; "),
          "the host touching device memory faults there: %s", err);
    st = in_child(
        [] {
            float *x;
            cudaMalloc(&x, 128 * sizeof(float));
            bounded<<<1, 64>>>(x); // within its bounds: runs
            cudaDeviceSynchronize();
            fprintf(stderr, "64 ran; ");
            bounded<<<1, 128>>>(x);
            cudaDeviceSynchronize();
        },
        err, sizeof err);
    CHECK(aborted_with(st, err, "64 ran; ") &&
              strstr(err, "bounded launched with 128 x 1 x 1 threads a block, past its __launch_bounds__ of 64"),
          "a launch past the kernel's __launch_bounds__ stops the run: %s", err);
    // past 48 KB of dynamic shared memory only with the kernel's opt-in, as
    // large as the launch's: another instance's opt-in is not its own
    st = in_child(
        [] {
            float *sum, got = 0;
            cudaMalloc(&sum, sizeof(float));
            smem_sum<64><<<1, 64, 48 << 10>>>(sum, 12 << 10); // the default's 48 KB: runs
            cudaMemcpy(&got, sum, sizeof got, cudaMemcpyDeviceToHost);
            cudaFuncSetAttribute(smem_sum<64>, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 << 10);
            smem_sum<64><<<1, 64, 64 << 10>>>(sum, 16 << 10);
            cudaMemcpy(&got + 0, sum, sizeof got, cudaMemcpyDeviceToHost);
            fprintf(stderr, "opted in: %g; ", got);
            smem_sum<32><<<1, 32, 64 << 10>>>(sum, 16 << 10);
            cudaDeviceSynchronize();
        },
        err, sizeof err);
    CHECK(aborted_with(st, err, "opted in: 16384; ") &&
              strstr(err, "smem_sum<32> launched with 65536 bytes of dynamic shared memory, past the 48 KB"),
          "a launch past 48 KB of dynamic shared memory without its kernel's opt-in stops the run: %s", err);
    st = in_child(
        [] {
            float *sum;
            cudaMalloc(&sum, sizeof(float));
            cudaFuncSetAttribute(smem_sum<64>, cudaFuncAttributeMaxDynamicSharedMemorySize, 56 << 10);
            smem_sum<64><<<1, 64, 64 << 10>>>(sum, 16 << 10);
            cudaDeviceSynchronize();
        },
        err, sizeof err);
    CHECK(aborted_with(st, err, "(its attribute: 57344)"),
          "and with an opt-in smaller than the launch's: %s", err);
    // launch_pdl: every thread waits for the kernel before it, and touches device memory only after
    st = in_child(
        [] {
            float *x, *out, got[64];
            cudaMalloc(&x, 64 * sizeof(float)), cudaMalloc(&out, 64 * sizeof(float));
            cudaMemset(x, 0, 64 * sizeof(float));
            launch_pdl(copy_after_wait, dim3(4), dim3(64), 0, 0, x, out);
            cudaMemcpy(got, out, sizeof got, cudaMemcpyDeviceToHost);
            fprintf(stderr, "after the wait ran; ");
            launch_pdl(read_before_wait, dim3(4), dim3(64), 0, 0, x, out, 17);
            cudaDeviceSynchronize();
        },
        err, sizeof err);
    CHECK(aborted_with(st, err, "after the wait ran; ") &&
              strstr(err, "read_before_wait, launched by launch_pdl: thread (17, 0, 0) of block (") &&
              strstr(err, ") touched device memory"),
          "a launch_pdl kernel's thread touching device memory before its dependency wait stops the run, after "
          "other threads of its block opened other buffers: %s", err);
    st = in_child(
        [] {
            float *out;
            cudaMalloc(&out, 64 * sizeof(float));
            launch_pdl(no_wait, dim3(1), dim3(64), 0, 0, out);
            cudaDeviceSynchronize();
        },
        err, sizeof err);
    CHECK(aborted_with(st, err,
                       "no_wait, launched by launch_pdl: thread (0, 0, 0) of block (0, 0, 0) touched device memory"),
          "and one that never waits, at its first touch: %s", err);
    // a warp operation takes nothing from a lane that has ended or that the block does not have
    st = in_child(
        [] {
            float *out, got[16];
            cudaMalloc(&out, 16 * sizeof(float));
            half_warp_shuffle<<<1, 32>>>(out, 8); // sources among the running lanes
            cudaMemcpy(got, out, sizeof got, cudaMemcpyDeviceToHost);
            int right = 0;
            for (int i = 0; i < 16; i++) right += got[i] == (float)(i ^ 8);
            fprintf(stderr, "%d right; ", right);
            half_warp_shuffle<<<1, 32>>>(out, 16);
            cudaDeviceSynchronize();
        },
        err, sizeof err);
    CHECK(aborted_with(st, err, "16 right; ") &&
              strstr(err, "half_warp_shuffle: thread (0, 0, 0) of block (0, 0, 0) shuffles from lane 16, which has "
                          "ended"),
          "a shuffle from a lane that has ended stops the run: %s", err);
    st = in_child(
        [] {
            float *out;
            cudaMalloc(&out, 16 * sizeof(float));
            half_warp_shuffle<<<1, 16>>>(out, 16);
            cudaDeviceSynchronize();
        },
        err, sizeof err);
    CHECK(aborted_with(st, err, "shuffles from lane 16, which is past the block's threads"),
          "and one from a lane past a short block's threads: %s", err);
    st = in_child(
        [] {
            float *c;
            cudaMalloc(&c, 256 * sizeof(float));
            wmma_short<<<1, 32>>>(c);
            cudaDeviceSynchronize();
        },
        err, sizeof err);
    CHECK(aborted_with(st, err,
                       "wmma_short, block (0, 0, 0): wmma::store_matrix_sync in warp 0, whose lane 31 has ended"),
          "a wmma operation that a lane of the warp does not execute stops the run: %s", err);
    // dynamic shared memory ends where the launch said, as a GPU's window of it
    st = in_child(
        [] {
            smem_from<<<1, 32, 1024>>>(224); // its last 32 floats
            cudaDeviceSynchronize();
            fprintf(stderr, "within ran; ");
            smem_from<<<2, 32, 1024>>>(240); // 16 past its end
            cudaDeviceSynchronize();
        },
        err, sizeof err);
    CHECK(aborted_with(st, err, "within ran; ") && strstr(err, "smem_from: thread (16, 0, 0) of block (") &&
              strstr(err, "touched byte 1024 of its dynamic shared memory, which the launch made 1024 bytes"),
          "a kernel touching dynamic shared memory past the launch's bytes stops the run: %s", err);
    // two GPUs: a kernel reads its own GPU's memory, and runs on its own streams
    st = in_child(
        [] {
            setenv("PIC_EMU_DEVICES", "2", 1);
            float *x, *y;
            cudaSetDevice(0);
            cudaMalloc(&x, 128 * sizeof(float));
            cudaSetDevice(1);
            cudaMalloc(&y, 128 * sizeof(float));
            bounded<<<1, 64>>>(y);
            cudaDeviceSynchronize();
            fprintf(stderr, "its own ran; ");
            bounded<<<1, 64>>>(x);
            cudaDeviceSynchronize();
        },
        err, sizeof err);
    CHECK(aborted_with(st, err, "its own ran; ") && strstr(err, "bounded on GPU 1 touched a buffer of GPU 0"),
          "a kernel touching another GPU's buffer stops the run: %s", err);
    st = in_child(
        [] {
            setenv("PIC_EMU_DEVICES", "2", 1);
            float *x;
            cudaStream_t s;
            cudaSetDevice(1);
            cudaMalloc(&x, 128 * sizeof(float));
            cudaStreamCreate(&s);
            cudaSetDevice(0);
            bounded<<<1, 64, 0, s>>>(x);
            cudaDeviceSynchronize();
        },
        err, sizeof err);
    CHECK(aborted_with(st, err, "bounded launched on a stream of GPU 1 while GPU 0 is current"),
          "and a launch on another GPU's stream: %s", err);
}

// cuBLASLt's promises: NVIDIA's heuristic chooses for the alignments it is
// told, the bias's read from the bias pointer set at the time (unset: any
// alignment), and a call whose bias is less aligned may fail. Here it does.
static void test_cublaslt(void) {
    cublasLtHandle_t h;
    cublasLtCreate(&h);
    float *buf;
    cudaMalloc((void **)&buf, 4096);
    float *A = buf, *B = buf + 256, *D = buf + 512, *bias = buf + 768 + 4; // the bias 16-byte aligned only
    cudaMemset(buf, 0, 4096);
    cublasLtMatmulDesc_t desc;
    cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    cublasLtEpilogue_t ep = CUBLASLT_EPILOGUE_BIAS;
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof ep);
    cublasLtMatrixLayout_t a, b, d;
    cublasLtMatrixLayoutCreate(&a, CUDA_R_32F, 4, 8, 4);
    cublasLtMatrixLayoutCreate(&b, CUDA_R_32F, 8, 2, 8);
    cublasLtMatrixLayoutCreate(&d, CUDA_R_32F, 4, 2, 4);
    cublasLtMatmulPreference_t pref;
    cublasLtMatmulPreferenceCreate(&pref);
    uint32_t al = 16, bad_mask = 8, mask = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
    cublasLtMatmulPreferenceAttributes_t aligns[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4; i++) cublasLtMatmulPreferenceSetAttribute(pref, aligns[i], &al, sizeof al);
    CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &bad_mask,
                                               sizeof bad_mask) == CUBLAS_STATUS_INVALID_VALUE &&
              cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &mask,
                                                   sizeof mask) == CUBLAS_STATUS_SUCCESS,
          "cuBLASLt: a reduction-scheme mask past the schemes is refused, a scheme's taken");
    float one = 1, zero = 0;
    cublasLtMatmulHeuristicResult_t r[2];
    int found = 0;
    cublasLtMatmulAlgoGetHeuristic(h, desc, a, b, d, d, pref, 1, &r[0], &found); // the bias pointer unset
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias);
    cublasStatus_t late = cublasLtMatmul(h, desc, &one, A, a, B, b, &zero, D, d, D, d, &r[0].algo, NULL, 0, 0);
    cublasLtMatmulAlgoGetHeuristic(h, desc, a, b, d, d, pref, 1, &r[1], &found); // the bias shown
    cublasStatus_t shown = cublasLtMatmul(h, desc, &one, A, a, B, b, &zero, D, d, D, d, &r[1].algo, NULL, 0, 0);
    cudaDeviceSynchronize();
    CHECK(found == 1 && late == CUBLAS_STATUS_INVALID_VALUE && shown == CUBLAS_STATUS_SUCCESS,
          "cuBLASLt: a bias 16-byte aligned fails an algorithm chosen with the bias pointer unset, not one chosen "
          "with it set");
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(a), cublasLtMatrixLayoutDestroy(b), cublasLtMatrixLayoutDestroy(d);
    cublasLtMatmulDescDestroy(desc);
    cublasLtDestroy(h);
    cudaFree(buf);
}

int main(int argc, char **argv) {
#if defined(__SANITIZE_THREAD__)
    if (argc == 4 && !strcmp(argv[1], "race")) { // one of test_races' cases
        run_handoff(atoi(argv[2]), atoi(argv[3]));
        return 0;
    }
#endif
    (void)argc, (void)argv;
    test_sums();
    test_smem_limit();
    test_wmma();
    test_graph();
    test_cub();
    test_async();
    test_ended_lanes();
    test_block_order();
    test_cublaslt();
    test_faults();
#if defined(__SANITIZE_THREAD__)
    test_races();
#endif
    return check_done();
}
