// cuBLASLt, opened on first use. Linked as a library, it cost every process
// of a CUDA build about 25,000 page faults and 50 ms of system time at
// start (its writable segments: 190 MB, 357,000 relocations), also the
// processes that never touch a GPU: pic-rollout and pic-update at each step
// of the CPU demo. These definitions of the functions the backend calls
// stand in for the library's: the first call opens it, each function finds
// its symbol once. Without the library a call fails with
// CUBLAS_STATUS_NOT_INITIALIZED, and cublasLtGetStatusString says why.
#include <cublasLt.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#define PIC_LT_STR2(x) #x
#define PIC_LT_STR(x) PIC_LT_STR2(x)
static const char soname[] = "libcublasLt.so." PIC_LT_STR(CUBLAS_VER_MAJOR);

static void *lib;
static char why[512];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void open_lib(void) {
    // the executable's rpath, then LD_LIBRARY_PATH, as for a linked library
    lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!lib) snprintf(why, sizeof why, "cuBLASLt could not be loaded: %s", dlerror());
}

static void *lt_sym(const char *name) {
    pthread_once(&once, open_lib);
    if (!lib) return NULL;
    void *f = dlsym(lib, name);
    if (!f) snprintf(why, sizeof why, "%s has no %s", soname, name);
    return f;
}

// Each wrapper resolves its symbol once (a function-local static: C++
// initialises it once, thread-safely).
#define PIC_LT(name, params, args)                                                          \
    extern "C" cublasStatus_t CUBLASWINAPI name params {                                    \
        static decltype(&name) f = reinterpret_cast<decltype(&name)>(lt_sym(#name));       \
        return f ? f args : CUBLAS_STATUS_NOT_INITIALIZED;                                  \
    }

PIC_LT(cublasLtCreate, (cublasLtHandle_t *h), (h))
PIC_LT(cublasLtDestroy, (cublasLtHandle_t h), (h))
PIC_LT(cublasLtMatmul,
       (cublasLtHandle_t h, cublasLtMatmulDesc_t desc, const void *alpha, const void *A, cublasLtMatrixLayout_t Ad,
        const void *B, cublasLtMatrixLayout_t Bd, const void *beta, const void *C, cublasLtMatrixLayout_t Cd, void *D,
        cublasLtMatrixLayout_t Dd, const cublasLtMatmulAlgo_t *algo, void *ws, size_t ws_bytes, cudaStream_t stream),
       (h, desc, alpha, A, Ad, B, Bd, beta, C, Cd, D, Dd, algo, ws, ws_bytes, stream))
PIC_LT(cublasLtMatmulAlgoGetHeuristic,
       (cublasLtHandle_t h, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t Ad, cublasLtMatrixLayout_t Bd,
        cublasLtMatrixLayout_t Cd, cublasLtMatrixLayout_t Dd, cublasLtMatmulPreference_t pref, int requested,
        cublasLtMatmulHeuristicResult_t results[], int *returned),
       (h, desc, Ad, Bd, Cd, Dd, pref, requested, results, returned))
PIC_LT(cublasLtMatmulDescCreate, (cublasLtMatmulDesc_t * d, cublasComputeType_t ct, cudaDataType_t st), (d, ct, st))
PIC_LT(cublasLtMatmulDescDestroy, (cublasLtMatmulDesc_t d), (d))
PIC_LT(cublasLtMatmulDescSetAttribute,
       (cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr, const void *buf, size_t n), (d, attr, buf, n))
PIC_LT(cublasLtMatmulPreferenceCreate, (cublasLtMatmulPreference_t * p), (p))
PIC_LT(cublasLtMatmulPreferenceDestroy, (cublasLtMatmulPreference_t p), (p))
PIC_LT(cublasLtMatmulPreferenceSetAttribute,
       (cublasLtMatmulPreference_t p, cublasLtMatmulPreferenceAttributes_t attr, const void *buf, size_t n),
       (p, attr, buf, n))
PIC_LT(cublasLtMatrixLayoutCreate, (cublasLtMatrixLayout_t * l, cudaDataType type, uint64_t rows, uint64_t cols,
                                    int64_t ld),
       (l, type, rows, cols, ld))
PIC_LT(cublasLtMatrixLayoutDestroy, (cublasLtMatrixLayout_t l), (l))

extern "C" const char *CUBLASWINAPI cublasLtGetStatusString(cublasStatus_t status) {
    static decltype(&cublasLtGetStatusString) f =
        reinterpret_cast<decltype(&cublasLtGetStatusString)>(lt_sym("cublasLtGetStatusString"));
    // a stand-in's failure (no library, no symbol) is this status, with why set
    if (!f || (status == CUBLAS_STATUS_NOT_INITIALIZED && why[0])) return why;
    return f(status);
}
