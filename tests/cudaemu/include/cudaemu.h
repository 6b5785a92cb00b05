// cudaemu: the CUDA backend's own .cu files run on the CPU, so that every
// kernel is checked against its CPU twin in every `make test`, on machines
// without a GPU (docs/gpu.md, "The emulator").
//
// tests/cudaemu/cu2cpp.pl rewrites a .cu file into C++ (a launch
// `k<<<grid, block, smem, stream>>>(args)` becomes emu::launch(...), an
// `extern __shared__` array a pointer to the block's dynamic shared memory,
// a kernel's first statement a check of its launch: more than 48 KB of
// dynamic shared memory without the kernel's opt-in, or more threads than
// its __launch_bounds__, stop the run as the GPU refuses the launch),
// and this header, found in place of the toolkit's cuda_runtime.h,
// cuda_bf16.h, mma.h and cuda_pipeline.h, supplies the rest:
//
// - A block's threads are fibers on one host thread, run in turn; each runs
//   until it waits at a barrier (__syncthreads, __syncwarp, a shuffle, a
//   wmma call) or ends. A barrier opens when every thread it waits for that
//   has not ended waits at it. Threads that never meet are a deadlock that
//   the GPU would hang on: it is an error that names the kernel.
// - Blocks run one after another, so a `__shared__` variable is a static.
// - Device memory is host memory: cudaMalloc gives each buffer an
//   inaccessible page right after its end, so a kernel that runs past a
//   buffer stops at once (SIGSEGV) instead of reading the neighbour. While
//   no device work runs, device memory (not cudaMallocHost's) is
//   inaccessible to the host too: host code that touches it faults
//   (PIC_EMU_PROTECT=0: not). With several GPUs (PIC_EMU_DEVICES), a
//   buffer and a stream belong to the GPU current when they were made: a
//   kernel that touches another GPU's buffer, or is launched on its
//   stream, stops the run.
// - Work on a stream is queued, in order, and runs only when the host waits
//   for it: cudaStreamSynchronize, cudaEventSynchronize,
//   cudaDeviceSynchronize, cudaFree, or a blocking copy, which waits for
//   the legacy stream and the blocking streams but not for those made
//   cudaStreamNonBlocking. So a result read without the wait a GPU needs is
//   not there yet. Copies from pageable host memory read it at once, and
//   into it complete before returning, as on a GPU. While a stream is
//   captured into a graph its launches, copies and sets are recorded with
//   their arguments (as the GPU records them) and queued at each
//   cudaGraphLaunch.
// - wmma fragments hold 8 elements a lane, a lane's share of the tile
//   (element e of lane l is the tile's row-major element 8 l + e); an
//   mma_sync adds up k in increasing order in float.
//
// What it cannot tell: timing, the memory model (a missing fence that the
// GPU's scheduling would expose), the tensor cores' own rounding, and
// anything about performance. Every other block runs its threads last to
// first, which exposes a read before a barrier of what a later thread
// writes (PIC_EMU_ORDER=forward or reverse: every block one way); and
// every other pair of blocks runs a warp at a time, each to its next
// __syncthreads, and lands its cp.async copies when they are asked for,
// not waited for, which exposes a write (a copy) into a buffer that
// another warp may still be reading (PIC_EMU_AHEAD=1 or 0: every block).
// Every other launch runs its blocks last to first, which exposes two
// blocks writing one element, or one reading what another writes
// (PIC_EMU_BLOCKS=forward or reverse: every launch).
// Those orders show a missing barrier only where they change a result;
// built with ThreadSanitizer (make tsan-emu) every access is checked: the
// fibers are TSan's, ordered only by the barriers that order memory on a
// GPU (runtime.cpp), so a read or write that wants one before it is a
// report naming both lines, whatever order the threads ran in.
#ifndef PIC_CUDAEMU_H
#define PIC_CUDAEMU_H
#define PIC_CUDAEMU 1 // for the few lines of the CUDA files that differ here (common.cuh's launch_pdl)

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <functional>
#include <type_traits>

// ---- declarations of the dialect ---------------------------------------------
#define __global__
#define __host__
#define __device__ inline
#define __forceinline__
#define __noinline__
#define __shared__ static
#define __constant__ static
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __CUDA_ARCH_EMU__ 1

struct uint3 {
    unsigned x, y, z;
};
struct __attribute__((aligned(8))) int2 {
    int x, y;
};
struct __attribute__((aligned(16))) int4 {
    int x, y, z, w;
};
struct __attribute__((aligned(16))) uint4 {
    unsigned x, y, z, w;
};
struct __attribute__((aligned(8))) float2 {
    float x, y;
};
struct __attribute__((aligned(16))) float4 {
    float x, y, z, w;
};
inline int2 make_int2(int x, int y) { return int2{x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
    constexpr dim3(uint3 u) : x(u.x), y(u.y), z(u.z) {}
};

// ---- the runtime API ----------------------------------------------------------
typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorNotReady = 600,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchFailure = 719,
    cudaErrorStreamCaptureUnsupported = 900,
    cudaErrorStreamCaptureInvalidated = 901,
    cudaErrorStreamCaptureUnmatched = 903,
} cudaError_t;

typedef enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
} cudaMemcpyKind;

typedef enum cudaDataType_t {
    CUDA_R_32F = 0,
    CUDA_R_64F = 1,
    CUDA_R_16F = 2,
    CUDA_R_16BF = 14,
} cudaDataType_t;
typedef cudaDataType_t cudaDataType;

enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};
enum cudaFuncAttribute {
    cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
};
enum cudaStreamCaptureMode {
    cudaStreamCaptureModeGlobal = 0,
    cudaStreamCaptureModeThreadLocal = 1,
    cudaStreamCaptureModeRelaxed = 2,
};
#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01

typedef struct emu_stream *cudaStream_t;
typedef struct emu_graph *cudaGraph_t;
typedef struct emu_graph *cudaGraphExec_t;
typedef struct emu_event *cudaEvent_t;

cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaGetDevice(int *d);
cudaError_t cudaSetDevice(int d);
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char *cudaGetErrorString(cudaError_t e);
const char *cudaGetErrorName(cudaError_t e);
cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total_b);

cudaError_t cudaMalloc(void **p, size_t n);
cudaError_t cudaFree(void *p);
cudaError_t cudaMallocHost(void **p, size_t n);
cudaError_t cudaFreeHost(void *p);
template <typename T> cudaError_t cudaMalloc(T **p, size_t n) { return cudaMalloc((void **)p, n); }
template <typename T> cudaError_t cudaMallocHost(T **p, size_t n) { return cudaMallocHost((void **)p, n); }

cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind kind, cudaStream_t s = 0);
cudaError_t cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                         cudaMemcpyKind kind);
cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                              size_t height, cudaMemcpyKind kind, cudaStream_t s = 0);
cudaError_t cudaMemset(void *p, int v, size_t n);
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s = 0);

cudaError_t cudaStreamCreate(cudaStream_t *s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *e, cudaGraph_t g, unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s);
cudaError_t cudaGraphDestroy(cudaGraph_t g);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e);
cudaError_t cudaEventCreate(cudaEvent_t *e);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = 0);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b);

// Work on a stream: now, or into the graph the stream is being captured
// into (the emulated cuBLASLt enqueues its products here too).
void emu_enqueue(cudaStream_t s, std::function<void()> work);

// PIC_EMU_TRACE=FILE: one line a host call that costs on a GPU (a launch,
// a copy, a wait, an allocation), as the host makes it, "captured" when
// it goes into a graph (docs/gpu.md, "Tests": a decode step's calls).
void emu_trace(cudaStream_t s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// The kernel attributes the backend sets and asks: a kernel is a function
// here, so these record the largest dynamic shared memory asked for and
// answer occupancy from the emulated device's shared memory.
namespace emu {
cudaError_t func_set_max_smem(const void *f, int bytes);
int occupancy(int threads, size_t smem);
}
template <typename F> cudaError_t cudaFuncSetAttribute(F *f, cudaFuncAttribute attr, int v) {
    return attr == cudaFuncAttributeMaxDynamicSharedMemorySize ? emu::func_set_max_smem((const void *)f, v)
                                                               : cudaSuccess;
}
template <typename F>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *n, F *, int threads, size_t smem) {
    *n = emu::occupancy(threads, smem);
    return cudaSuccess;
}

// ---- bf16 ------------------------------------------------------------------------
struct __nv_bfloat16 {
    unsigned short __x;
    __nv_bfloat16() = default;
    __nv_bfloat16(float f) { __x = from(f); }
    operator float() const {
        uint32_t u = (uint32_t)__x << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    static unsigned short from(float f) { // round to nearest even, NaN stays NaN
        uint32_t u;
        memcpy(&u, &f, 4);
        if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40);
        return (unsigned short)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
    }
};
typedef __nv_bfloat16 nv_bfloat16;
inline float __bfloat162float(__nv_bfloat16 x) { return (float)x; }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) {
    __nv_bfloat16 b;
    b.__x = u;
    return b;
}
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 b) { return b.__x; }

// ---- device arithmetic ---------------------------------------------------------
// The _rn forms are the plain IEEE operations; this file is built with
// -ffp-contract=off so that no product is fused where the GPU's is not.
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline float __expf(float a) { return expf(a); }
inline float __logf(float a) { return logf(a); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float a) { return 1.0f / sqrtf(a); }
inline float cospif(float x) { return (float)cos(3.141592653589793 * (double)x); }
inline float sinpif(float x) { return (float)sin(3.141592653589793 * (double)x); }
inline float __saturatef(float a) { return a < 0 ? 0 : a > 1 ? 1 : a; }
inline unsigned __float_as_uint(float f) {
    unsigned u;
    memcpy(&u, &f, 4);
    return u;
}
inline float __uint_as_float(unsigned u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
inline int __float_as_int(float f) { return (int)__float_as_uint(f); }
inline float __int_as_float(int i) { return __uint_as_float((unsigned)i); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
using std::max;
using std::min;

// ---- the fibers: thread indices, barriers, shuffles ------------------------------
namespace emu {

struct thread_state;
extern thread_state *cur;    // the running GPU thread
extern uint3 block_idx;      // of the running block
extern dim3 block_dim, grid_dim;
const uint3 &thread_idx();
int lane();
void wait_block();             // __syncthreads
// cp.async (cuda_pipeline_primitives.h) as the GPU does it: the source read
// when asked for, the destination written only when the thread waits for
// its batch (or ends), so that reading a buffer before
// __pipeline_wait_prior, or another thread's copy before the barrier after
// it, finds the old bytes
void async_copy(void *dst, const void *src, size_t n, size_t zfill);
void async_commit();
void async_wait(size_t newest_pending);
void wait_warp();              // __syncwarp
void wait_lanes();             // a warp-wide operation's: the lanes meet, no memory ordered (for TSan)
// What a GPU leaves undefined stops the run: an .aligned operation (wmma,
// ldmatrix, mma.sync) that a lane of the warp does not execute, having ended
// or being past the block's threads (whole_warp names it before the
// operation's first wait_lanes; the scheduler checks when it lets the warp
// go on), and a shuffle from such a lane (source_lane, after the first
// wait_lanes: every lane still running is there, none past it).
void whole_warp(const char *op);
void source_lane(int from);
float *warp_scratch(size_t n); // n floats that the running warp shares
#if defined(__SANITIZE_THREAD__)
void quiet_begin(); // the emulator's own accesses follow: not the kernel's memory (runtime.cpp)
void quiet_end();
#else
inline void quiet_begin() {} // nothing to hide without TSan: no call in the warp operations
inline void quiet_end() {}
#endif
void *dynamic_smem();          // the running block's extern __shared__ array

struct launch_cfg {
    dim3 grid, block;
    size_t smem;
    cudaStream_t stream;
    bool pdl; // a programmatic dependent launch (launch_pdl below)
    launch_cfg(dim3 g, dim3 b, size_t s = 0, cudaStream_t st = 0, bool p = false)
        : grid(g), block(b), smem(s), stream(st), pdl(p) {}
};
// Runs body once for each thread of each block (or records that, when the
// stream is captured); a bad configuration is the launch's error, as on a GPU.
void run_grid(const launch_cfg &c, const char *name, std::function<void()> body);

template <typename F, typename... A> void launch(const launch_cfg &c, const char *name, F f, A... args) {
    run_grid(c, name, [=]() { f(args...); });
}

// common.cuh's launch_pdl (cu2cpp.pl adds the kernel's name): the kernels
// run one after another here, as ever, so the overlap is nothing to
// emulate; what is checked is the kernel's side of it: every thread of
// such a kernel must pass cudaGridDependencySynchronize (pdl_begin) before
// it ends, or the GPU could run it before the kernel whose output it reads,
// and must not touch device memory before it (runtime.cpp, pdl_touch).
template <typename... P, typename... A>
cudaError_t launch_pdl(const char *name, void (*k)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t s,
                       A... args) {
    run_grid(launch_cfg(grid, block, smem, s, true), name, [=]() { k(args...); });
    return cudaGetLastError();
}
void grid_dependency_wait();

// Each kernel's first statement (cu2cpp.pl puts it there): the kernel by
// its address, whose dynamic shared memory past 48 KB is checked against
// what cudaFuncSetAttribute raised it to.
void kernel_entry(const void *kernel);

// A kernel's __launch_bounds__, checked by each of its threads (cu2cpp.pl
// puts the call first in its body): more threads a block is a failed
// launch on the GPU, a stop here.
void launch_bounds_exceeded(const char *kernel, long max_threads);
template <typename... R> void launch_bounds(const char *kernel, long max_threads, R...) {
    if ((long)block_dim.x * block_dim.y * block_dim.z > max_threads) launch_bounds_exceeded(kernel, max_threads);
}

// A value that every lane of the warp deposits, then reads another's.
template <typename T> T shuffle(T v, int from) {
    static_assert(sizeof(T) <= sizeof(double) * 2, "a shuffled value fits the scratch");
    enum { W = (sizeof(T) + sizeof(float) - 1) / sizeof(float) };
    float *s = warp_scratch(32 * W);
    wait_lanes(); // no lane still reads the scratch of a previous operation
    source_lane(from & 31);
    quiet_begin();
    memcpy(s + lane() * W, &v, sizeof(T));
    quiet_end();
    wait_lanes();
    T r;
    quiet_begin();
    memcpy(&r, s + (from & 31) * W, sizeof(T));
    quiet_end();
    return r;
}

// The PTX warp instructions of src/model/cuda/mma.cuh, with the register
// layouts the PTX ISA documents ("Matrix Fragments for mma.m16n8k16";
// "ldmatrix"). Lane l = 4 g + t. A 32-bit register holds two 16-bit
// elements, the first (lower column, or lower k) in its low half.
//
// ldmatrix .x4: lane 8 i + j gives the address of row j of 8 x 8 matrix i
// (8 elements, 16 bytes, aligned to 16); register i of lane l holds matrix
// i's elements (g, 2t), (g, 2t + 1), or with .trans (2t, g), (2t + 1, g).
void bad_ldmatrix(const void *p);
inline void ldmatrix_x4(uint32_t (&r)[4], const void *p, bool trans) {
    if ((uintptr_t)p % 16) bad_ldmatrix(p);
    float *s = warp_scratch(2 * 32);
    whole_warp("ldmatrix");
    wait_lanes();
    quiet_begin();
    memcpy(s + 2 * lane(), &p, sizeof p);
    quiet_end();
    wait_lanes();
    int g = lane() / 4, t = lane() % 4;
    for (int i = 0; i < 4; i++) {
        const uint16_t *row, *row2;
        uint32_t lo, hi;
        quiet_begin(); // the addresses in the scratch; the rows themselves are the kernel's
        memcpy(&row, s + 2 * (8 * i + (trans ? 2 * t : g)), sizeof row);
        memcpy(&row2, s + 2 * (8 * i + 2 * t + 1), sizeof row2);
        quiet_end();
        if (!trans) {
            lo = row[2 * t], hi = row[2 * t + 1];
        } else {
            lo = row[g];
            hi = row2[g];
        }
        r[i] = lo | hi << 16;
    }
    wait_lanes();
}

// mma.sync.m16n8k16.row.col.f32.bf16.bf16.f32: d = a b + c, A 16 x 16
// (register 0: (g, 2t..), 1: (g + 8, 2t..), 2: (g, 8 + 2t..),
// 3: (g + 8, 8 + 2t..)), B 16 x 8 (b0: (2t.., g), b1: (8 + 2t.., g), the
// pair down k), C and D 16 x 8 (0, 1: (g, 2t), (g, 2t + 1); 2, 3: row
// g + 8). k is added up in increasing order in float after c, as wmma's.
inline void mma_bf16_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    enum { W = 10 }; // a lane's a[4], b0, b1, c[4]
    float *s = warp_scratch(32 * W);
    whole_warp("mma.sync");
    wait_lanes();
    quiet_begin(); // registers only: the scratch is the emulator's
    float *mine = s + W * lane();
    memcpy(mine, a, 16);
    memcpy(mine + 4, &b0, 4);
    memcpy(mine + 5, &b1, 4);
    memcpy(mine + 6, d, 16);
    quiet_end();
    wait_lanes();
    quiet_begin();
    auto half = [](const float *reg, int k) { // the element of a register pair down k or along a row
        uint32_t u;
        memcpy(&u, reg, 4);
        uint32_t bits = (k % 2 ? u >> 16 : u & 0xffffu) << 16;
        float f;
        memcpy(&f, &bits, 4);
        return f;
    };
    int g = lane() / 4, t = lane() % 4;
    float out[4];
    for (int e = 0; e < 4; e++) {
        int row = g + 8 * (e / 2), col = 2 * t + e % 2;
        float sum = mine[6 + e];
        for (int k = 0; k < 16; k++) {
            const float *al = s + W * (4 * (row % 8) + k % 8 / 2), *bl = s + W * (4 * col + k % 8 / 2);
            float av = half(al + (row >= 8) + 2 * (k >= 8), k), bv = half(bl + 4 + (k >= 8), k);
            sum += av * bv;
        }
        out[e] = sum;
    }
    quiet_end();
    wait_lanes(); // every lane has read the scratch before any lane writes it again
    memcpy(d, out, 16);
}

}  // namespace emu

#define threadIdx (emu::thread_idx())
#define blockIdx (emu::block_idx)
#define blockDim (emu::block_dim)
#define gridDim (emu::grid_dim)
#define warpSize 32

inline void __syncthreads(void) { emu::wait_block(); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu::wait_warp(); }
inline void __threadfence_block(void) {}
inline void __threadfence(void) {}
// One host thread runs the device and a fiber yields only at a barrier, so
// a read-modify-write is atomic as it stands; written as one for TSan.
inline int atomicAdd(int *p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
template <typename T> T __ldcg(const T *p) { return *p; }
template <typename T> T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
    int l = emu::lane();
    return emu::shuffle(v, (l & ~(width - 1)) | ((l ^ mask) & (width - 1)));
}
template <typename T> T __shfl_sync(unsigned, T v, int src, int width = 32) {
    int l = emu::lane();
    return emu::shuffle(v, (l & ~(width - 1)) | (src & (width - 1)));
}
template <typename T> T __shfl_down_sync(unsigned, T v, unsigned d, int width = 32) {
    int l = emu::lane(), in = (l & (width - 1)) + (int)d;
    return emu::shuffle(v, in < width ? l + (int)d : l);
}

// ---- cp.async: landed when waited for (runtime.cpp), size and alignment checked ----------
inline void __pipeline_memcpy_async(void *dst, const void *src, size_t n, size_t zfill = 0) {
    emu::async_copy(dst, src, n, zfill);
}
inline void __pipeline_commit(void) { emu::async_commit(); }

// ---- programmatic dependent launch: the wait is recorded (launch_pdl), the trigger nothing ----
inline void cudaGridDependencySynchronize(void) { emu::grid_dependency_wait(); }
inline void cudaTriggerProgrammaticLaunchCompletion(void) {}
inline void __pipeline_wait_prior(size_t n) { emu::async_wait(n); }

// ---- wmma on the CUDA cores ---------------------------------------------------------
namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void> struct fragment {
    static_assert(M == 16 && N == 16 && K == 16, "the emulator has the 16 x 16 x 16 shape");
    enum { num_elements = 8 };
    typedef T element_type;
    T x[8];
};

template <typename F> void fill_fragment(F &f, float v) {
    for (int e = 0; e < 8; e++) f.x[e] = v;
}

namespace detail {
// (row, col) of a lane's element e in the row-major tile
inline int row(int e) { return (emu::lane() * 8 + e) / 16; }
inline int col(int e) { return (emu::lane() * 8 + e) % 16; }
}  // namespace detail

template <typename Use, typename T, typename L>
void load_matrix_sync(fragment<Use, 16, 16, 16, T, L> &f, const T *p, unsigned ld) {
    emu::whole_warp("wmma::load_matrix_sync");
    emu::wait_lanes();
    for (int e = 0; e < 8; e++) {
        int r = detail::row(e), c = detail::col(e);
        // matrix_a is [m][k], matrix_b [k][n]; col_major stores the transpose
        f.x[e] = std::is_same<L, col_major>::value ? p[(size_t)c * ld + r] : p[(size_t)r * ld + c];
    }
}
template <typename T>
void load_matrix_sync(fragment<accumulator, 16, 16, 16, T> &f, const T *p, unsigned ld, layout_t l) {
    emu::whole_warp("wmma::load_matrix_sync");
    emu::wait_lanes();
    for (int e = 0; e < 8; e++) {
        int r = detail::row(e), c = detail::col(e);
        f.x[e] = l == mem_col_major ? p[(size_t)c * ld + r] : p[(size_t)r * ld + c];
    }
}
template <typename T>
void store_matrix_sync(T *p, const fragment<accumulator, 16, 16, 16, T> &f, unsigned ld, layout_t l) {
    emu::whole_warp("wmma::store_matrix_sync");
    emu::wait_lanes();
    for (int e = 0; e < 8; e++) {
        int r = detail::row(e), c = detail::col(e);
        (l == mem_col_major ? p[(size_t)c * ld + r] : p[(size_t)r * ld + c]) = f.x[e];
    }
}

// D = A B + C over the warp: each lane puts its shares of A, B and C in the
// warp's scratch, then makes its own share of D.
template <typename TA, typename LA, typename TB, typename LB, typename TC>
void mma_sync(fragment<accumulator, 16, 16, 16, TC> &d, const fragment<matrix_a, 16, 16, 16, TA, LA> &a,
              const fragment<matrix_b, 16, 16, 16, TB, LB> &b, const fragment<accumulator, 16, 16, 16, TC> &c) {
    float *s = emu::warp_scratch(3 * 256), *sa = s, *sb = s + 256, *sc = s + 512;
    emu::whole_warp("wmma::mma_sync");
    emu::wait_lanes();
    emu::quiet_begin(); // fragments only: the scratch is the emulator's
    int l = emu::lane();
    for (int e = 0; e < 8; e++) {
        sa[l * 8 + e] = (float)a.x[e];
        sb[l * 8 + e] = (float)b.x[e];
        sc[l * 8 + e] = (float)c.x[e];
    }
    emu::quiet_end();
    emu::wait_lanes();
    emu::quiet_begin();
    float out[8];
    for (int e = 0; e < 8; e++) {
        int r = detail::row(e), col = detail::col(e);
        float sum = sc[r * 16 + col];
        for (int k = 0; k < 16; k++) sum += sa[r * 16 + k] * sb[k * 16 + col];
        out[e] = sum;
    }
    emu::quiet_end();
    emu::wait_lanes(); // every lane has read the scratch before any lane writes it again
    for (int e = 0; e < 8; e++) d.x[e] = out[e];
}
}  // namespace wmma
}  // namespace nvcuda

#endif
