// What every file of the CUDA backend shares: the storage types, their
// conversions to and from the float in which all arithmetic is done, and
// the checks that turn a failed CUDA or cuBLAS call into a pic_err naming
// the call (every call is checked: a GPU error is a message, never a crash
// or a silent wrong number).
#ifndef PIC_MODEL_CUDA_COMMON_CUH
#define PIC_MODEL_CUDA_COMMON_CUH

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "model/error.h"
}

namespace pic_cuda {

typedef __nv_bfloat16 bf16;

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(bf16 x) { return __bfloat162float(x); }
template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_f<bf16>(float x) { return __float2bfloat16_rn(x); }

// The cuBLASLt / CUDA data type of a storage type.
template <typename T> constexpr cudaDataType_t data_type();
template <> constexpr cudaDataType_t data_type<float>() { return CUDA_R_32F; }
template <> constexpr cudaDataType_t data_type<bf16>() { return CUDA_R_16BF; }

inline unsigned blocks_for(size_t n, unsigned threads) { return (unsigned)((n + threads - 1) / threads); }

// PIC_CUDA_BI=simt, PIC_CUDA_ATTN=simt: a bf16 path back on the CUDA cores,
// to rule the tensor-core kernels out on a GPU run (callers keep the answer
// in a function-local static: read once).
inline bool env_says_simt(const char *var) {
    const char *e = getenv(var);
    return e && !strcmp(e, "simt");
}

// Once per kernel instance: the opt-in above 48 KB of shared memory. A
// refusal is returned, and taken out of the runtime's last error, where the
// next launch's check would find it and blame itself.
template <typename Kern> cudaError_t raise_smem(Kern k, size_t bytes, bool *raised) {
    if (*raised) return cudaSuccess;
    cudaError_t e = cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
    *raised = e == cudaSuccess;
    if (e != cudaSuccess) cudaGetLastError();
    return e;
}

// Programmatic dependent launch (Hopper on). A decode step is ~200 small
// kernels in a row, each a few microseconds, and between two of them the
// GPU launches the next one's blocks only once the last has drained. A
// kernel launched by launch_pdl may be scheduled while the kernel before it
// in the stream still runs: its blocks get ready on the idle SMs, and each
// thread waits in pdl_begin, its first statement, for that kernel's end
// and writes (griddepcontrol.wait: the whole grid done, its memory
// visible, so that a kernel's inputs from further back are done too), then
// lets the next kernel get ready. The arithmetic is the same, so the bits
// are. Every thread must call it, before any return: a kernel whose blocks
// all returned early could end before its predecessor, and the next one
// would wait only for it.
__device__ __forceinline__ void pdl_begin() {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
    cudaGridDependencySynchronize();
    cudaTriggerProgrammaticLaunchCompletion();
#endif
}

// A hint that brings the 128-byte line of p into L2 (nothing on the
// emulator). Safe before pdl_begin's wait, unlike a load: L2 is where
// every SM's writes meet, so a line there is never stale.
__device__ __forceinline__ void prefetch_l2(const void *p) {
#ifdef __CUDA_ARCH__
    asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
#endif
}

// Whether launch_pdl asks for the overlap: a GPU of compute capability 9
// or later, no PIC_CUDA_PDL=0 (the A/B switch), and no PIC_CUDA_PROFILE
// (whose events time each phase alone). Read once; pdl_refused turns it
// off for the process, saying so once on stderr.
bool pdl_on();
void pdl_refused(cudaError_t why);

#ifndef PIC_CUDAEMU // the emulator's cu2cpp.pl turns these calls into emu::launch_pdl
// k<<<grid, block, smem, s>>>(args) for a kernel that begins with
// pdl_begin, with the overlap above where pdl_on().
template <typename... P, typename... A>
cudaError_t launch_pdl(void (*k)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t s, A &&...args) {
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid, cfg.blockDim = block, cfg.dynamicSmemBytes = smem, cfg.stream = s;
    cfg.attrs = at, cfg.numAttrs = pdl_on() && s ? 1 : 0; // (not on the legacy stream, which syncs with all)
    cudaError_t e = cudaLaunchKernelEx(&cfg, k, args...);
    if (e != cudaSuccess && cfg.numAttrs) { // a driver that refuses the attribute: without it from now on
        cudaGetLastError();
        pdl_refused(e);
        cfg.numAttrs = 0;
        e = cudaLaunchKernelEx(&cfg, k, args...);
    }
    if (e != cudaSuccess) cudaGetLastError(); // returned here, not left for the next launch's check to blame itself
    return e;
}
#endif

}  // namespace pic_cuda

// Inside a function that has a pic_err *err and returns int: a failed call
// sets err to "file:line: call: reason" and returns -1.
#define PIC_CU(call)                                                                                        \
    do {                                                                                                    \
        cudaError_t e_ = (call);                                                                            \
        if (e_ != cudaSuccess)                                                                              \
            return pic_err_set(err, "%s:%d: %s: %s", __FILE__, __LINE__, #call, cudaGetErrorString(e_));    \
    } while (0)
#define PIC_BLAS(call)                                                                                      \
    do {                                                                                                    \
        cublasStatus_t s_ = (call);                                                                         \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                                    \
            return pic_err_set(err, "%s:%d: %s: %s", __FILE__, __LINE__, #call, cublasLtGetStatusString(s_)); \
    } while (0)
// After a kernel launch: a bad configuration shows here, a fault at the next sync.
#define PIC_LAUNCHED() PIC_CU(cudaGetLastError())

#endif
