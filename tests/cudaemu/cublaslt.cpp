// cuBLASLt on the CPU, for the CUDA emulator: in the emulated build it
// stands in for src/model/cuda/cublaslt.cu (which opens NVIDIA's library),
// so that matmul.cu's plans, fallbacks and graph capture run unchanged.
//
// What it does is what NVIDIA documents, for the subset the backend uses:
// D = alpha op(A) op(B) + beta C, plus the BIAS epilogue's vector added to
// every column; column-major layouts (type, rows, cols, ld); A and B in f32
// or bf16 with C = D in f32, or all bf16; the 32F compute types, whose
// alpha and beta are floats in host memory. Each element is a float sum over
// k in increasing order, then alpha acc + beta C + bias, rounded once to D's
// type (bf16: to nearest even). That is CUBLAS_COMPUTE_32F_PEDANTIC's
// arithmetic; 32F and 32F_FAST_TF32 only permit the GPU something less
// exact, so the same answer is theirs too.
//
// A call is checked when it is made, as the library checks it, and what it
// computes is queued on the stream with every value it needs copied
// (emu_enqueue): while the stream is captured into a graph the product runs
// at each launch with the pointers and scalars of the call, not whatever the
// descriptor holds by then, which is how a captured GPU kernel behaves.
#include <cublasLt.h>
#include <string.h>

#include <functional>
#include <vector>

#include "cudaemu.h"

// The handle holds nothing: it exists so that a call without one is refused.
struct cublasLtContext {
    int unused;
};
struct cublasLtMatmulDescOpaque_t {
    cublasComputeType_t compute;
    cudaDataType_t scale;
    int32_t transa, transb; // cublasOperation_t
    uint32_t epilogue;      // cublasLtEpilogue_t
    const void *bias;
    int32_t bias_type; // -1: D's type
};
struct cublasLtMatrixLayoutOpaque_t {
    cudaDataType type;
    uint64_t rows, cols;
    int64_t ld;
};
struct cublasLtMatmulPreferenceOpaque_t {
    uint64_t max_workspace;
    uint32_t align[4];    // A, B, C, D
    uint32_t reductions;  // cublasLtReductionScheme_t bits (this one never splits k: NONE always meets them)
};

namespace {

// An algorithm from this heuristic: data[0] says so, data[1..4] keep the
// alignments of A, B, C and D that the caller promised when asking for it,
// data[5] the bias's: NVIDIA's heuristic reads it from the bias pointer set
// then (unset, NULL, it is any alignment: 256), and a call with a bias less
// aligned may fail.
const uint64_t ALGO_MAGIC = 0x706963656d756c74ull; // "picemult"

// The attribute setters' rule: a value of exactly the attribute's size.
template <typename T> cublasStatus_t set(T *dst, const void *buf, size_t n) {
    if (!buf || n != sizeof(T)) return CUBLAS_STATUS_INVALID_VALUE;
    memcpy(dst, buf, sizeof(T));
    return CUBLAS_STATUS_SUCCESS;
}

bool storage_type(int32_t t) { return t == CUDA_R_32F || t == CUDA_R_16BF; }

// A product, validated: D is m x n, op(A) m x k, op(B) k x n.
struct problem {
    uint64_t m, n, k;
    bool ta, tb; // op is the transpose
    cudaDataType_t ab, cd, bias_type;
    bool bias;
    int64_t lda, ldb, ldc, ldd;
};

// What the library refuses, for the heuristic and the product alike:
// INVALID_VALUE for what is inconsistent, NOT_SUPPORTED for what is valid
// cuBLASLt that this emulator (and the backend) does not use.
cublasStatus_t check(cublasLtMatmulDesc_t d, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                     cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t dl, problem *p) {
    if (!d || !a || !b || !c || !dl) return CUBLAS_STATUS_INVALID_VALUE;
    if (d->scale != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED; // the 32F types scale in float
    if (d->transa != CUBLAS_OP_N && d->transa != CUBLAS_OP_T) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (d->transb != CUBLAS_OP_N && d->transb != CUBLAS_OP_T) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (d->epilogue != CUBLASLT_EPILOGUE_DEFAULT && d->epilogue != CUBLASLT_EPILOGUE_BIAS)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    // NVIDIA's table for the 32F compute types: A and B alike, C and D alike
    // (out of place too), f32 inputs only with f32 outputs.
    if (a->type != b->type || c->type != dl->type) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (!storage_type(a->type) || !storage_type(c->type)) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (a->type == CUDA_R_32F && c->type != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
    p->bias = d->epilogue == CUBLASLT_EPILOGUE_BIAS;
    int32_t bt = d->bias_type == -1 ? (int32_t)dl->type : d->bias_type;
    if (p->bias && !storage_type(bt)) return CUBLAS_STATUS_NOT_SUPPORTED;

    p->ta = d->transa == CUBLAS_OP_T, p->tb = d->transb == CUBLAS_OP_T;
    p->m = dl->rows, p->n = dl->cols;
    uint64_t am = p->ta ? a->cols : a->rows, ak = p->ta ? a->rows : a->cols;
    uint64_t bk = p->tb ? b->cols : b->rows, bn = p->tb ? b->rows : b->cols;
    if (am != p->m || bn != p->n || ak != bk || c->rows != p->m || c->cols != p->n)
        return CUBLAS_STATUS_INVALID_VALUE;
    p->k = ak;
    // column-major: a column's elements must not overlap the next column's
    for (cublasLtMatrixLayout_t l : {a, b, c, dl})
        if (l->ld < 0 || (uint64_t)l->ld < l->rows) return CUBLAS_STATUS_INVALID_VALUE;
    p->ab = (cudaDataType_t)a->type, p->cd = (cudaDataType_t)c->type, p->bias_type = (cudaDataType_t)bt;
    p->lda = a->ld, p->ldb = b->ld, p->ldc = c->ld, p->ldd = dl->ld;
    return CUBLAS_STATUS_SUCCESS;
}

float load(const void *p, cudaDataType_t t, size_t i) {
    return t == CUDA_R_32F ? ((const float *)p)[i] : __bfloat162float(((const __nv_bfloat16 *)p)[i]);
}
void store(void *p, cudaDataType_t t, size_t i, float v) {
    if (t == CUDA_R_32F)
        ((float *)p)[i] = v;
    else
        ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v);
}

// One product, with everything it reads copied in at the call.
struct product {
    problem p;
    const void *a, *b, *c, *bias;
    void *d;
    float alpha, beta;

    void operator()() const {
        size_t m = p.m, n = p.n, k = p.k;
        // op(A)'s rows and op(B)'s columns, in float and contiguous: each
        // element of D is then one dot product in increasing k
        std::vector<float> ra(m * k), cb(n * k);
        for (size_t i = 0; i < m; i++)
            for (size_t q = 0; q < k; q++)
                ra[i * k + q] = load(a, p.ab, p.ta ? q + i * (size_t)p.lda : i + q * (size_t)p.lda);
        for (size_t j = 0; j < n; j++)
            for (size_t q = 0; q < k; q++)
                cb[j * k + q] = load(b, p.ab, p.tb ? j + q * (size_t)p.ldb : q + j * (size_t)p.ldb);
        for (size_t j = 0; j < n; j++)
            for (size_t i = 0; i < m; i++) {
                float acc = 0.0f;
                for (size_t q = 0; q < k; q++) acc += ra[i * k + q] * cb[j * k + q];
                float v = alpha * acc;
                // beta = 0: C is not read (it may be uninitialised, or NaN)
                if (beta != 0.0f) v += beta * load(c, p.cd, i + j * (size_t)p.ldc);
                if (p.bias) v += load(bias, p.bias_type, i);
                // C = D is read just above, element by element: in place is safe
                store(d, p.cd, i + j * (size_t)p.ldd, v);
            }
    }
};

bool aligned(const void *ptr, uint64_t to) { return !to || (uintptr_t)ptr % to == 0; }

// The largest power of two up to 256 that divides the address.
uint64_t alignment_of(const void *ptr) {
    uint64_t k = 1;
    while (k < 256 && (uintptr_t)ptr % (2 * k) == 0) k <<= 1;
    return k;
}

}  // namespace

extern "C" {

cublasStatus_t CUBLASWINAPI cublasLtCreate(cublasLtHandle_t *h) {
    if (!h) return CUBLAS_STATUS_INVALID_VALUE;
    *h = new cublasLtContext();
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasLtDestroy(cublasLtHandle_t h) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

const char *CUBLASWINAPI cublasLtGetStatusString(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    }
    return "<unknown>";
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *d, cublasComputeType_t ct,
                                                     cudaDataType_t scale) {
    if (!d) return CUBLAS_STATUS_INVALID_VALUE;
    if (ct != CUBLAS_COMPUTE_32F && ct != CUBLAS_COMPUTE_32F_PEDANTIC && ct != CUBLAS_COMPUTE_32F_FAST_TF32)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    *d = new cublasLtMatmulDescOpaque_t{ct, scale, CUBLAS_OP_N, CUBLAS_OP_N, CUBLASLT_EPILOGUE_DEFAULT, nullptr, -1};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d) {
    delete d;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr,
                                                           const void *buf, size_t n) {
    if (!d) return CUBLAS_STATUS_INVALID_VALUE;
    switch (attr) {
    case CUBLASLT_MATMUL_DESC_TRANSA: return set(&d->transa, buf, n);
    case CUBLASLT_MATMUL_DESC_TRANSB: return set(&d->transb, buf, n);
    case CUBLASLT_MATMUL_DESC_EPILOGUE: return set(&d->epilogue, buf, n);
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER: return set(&d->bias, buf, n);
    case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE: return set(&d->bias_type, buf, n);
    }
    return CUBLAS_STATUS_NOT_SUPPORTED; // an attribute the emulator does not model
}

cublasStatus_t CUBLASWINAPI cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *l, cudaDataType type, uint64_t rows,
                                                       uint64_t cols, int64_t ld) {
    if (!l) return CUBLAS_STATUS_INVALID_VALUE;
    *l = new cublasLtMatrixLayoutOpaque_t{type, rows, cols, ld}; // checked where it is used, as NVIDIA does
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l) {
    delete l;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *p) {
    if (!p) return CUBLAS_STATUS_INVALID_VALUE;
    *p = new cublasLtMatmulPreferenceOpaque_t{0, {256, 256, 256, 256}, CUBLASLT_REDUCTION_SCHEME_MASK}; // NVIDIA's defaults
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p) {
    delete p;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t p,
                                                                 cublasLtMatmulPreferenceAttributes_t attr,
                                                                 const void *buf, size_t n) {
    if (!p) return CUBLAS_STATUS_INVALID_VALUE;
    switch (attr) {
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES: return set(&p->max_workspace, buf, n);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES: return set(&p->align[0], buf, n);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES: return set(&p->align[1], buf, n);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES: return set(&p->align[2], buf, n);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES: return set(&p->align[3], buf, n);
    case CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK: {
        uint32_t m;
        cublasStatus_t st = set(&m, buf, n);
        if (st == CUBLAS_STATUS_SUCCESS && (m & ~(uint32_t)CUBLASLT_REDUCTION_SCHEME_MASK)) return CUBLAS_STATUS_INVALID_VALUE;
        if (st == CUBLAS_STATUS_SUCCESS) p->reductions = m;
        return st;
    }
    }
    return CUBLAS_STATUS_NOT_SUPPORTED;
}

// One algorithm for every supported problem: it needs no workspace and any
// alignment will do, so every preference is met.
cublasStatus_t CUBLASWINAPI cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t h, cublasLtMatmulDesc_t desc,
                                                           cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                                           cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                                                           cublasLtMatmulPreference_t pref, int requested,
                                                           cublasLtMatmulHeuristicResult_t results[], int *returned) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!pref || requested < 1 || !results || !returned) return CUBLAS_STATUS_INVALID_VALUE;
    *returned = 0;
    problem p;
    cublasStatus_t st = check(desc, a, b, c, d, &p);
    if (st != CUBLAS_STATUS_SUCCESS) return st;
    memset(&results[0], 0, sizeof results[0]);
    results[0].algo.data[0] = ALGO_MAGIC;
    for (int i = 0; i < 4; i++) results[0].algo.data[1 + i] = pref->align[i];
    results[0].algo.data[5] = p.bias ? (desc->bias ? alignment_of(desc->bias) : 256) : 0;
    results[0].workspaceSize = 0;
    results[0].state = CUBLAS_STATUS_SUCCESS;
    results[0].wavesCount = 1.0f;
    *returned = 1;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasLtMatmul(cublasLtHandle_t h, cublasLtMatmulDesc_t desc, const void *alpha,
                                           const void *A, cublasLtMatrixLayout_t Ad, const void *B,
                                           cublasLtMatrixLayout_t Bd, const void *beta, const void *C,
                                           cublasLtMatrixLayout_t Cd, void *D, cublasLtMatrixLayout_t Dd,
                                           const cublasLtMatmulAlgo_t *algo, void *workspace, size_t ws_bytes,
                                           cudaStream_t stream) {
    (void)workspace, (void)ws_bytes; // the algorithm needs none
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    product w;
    cublasStatus_t st = check(desc, Ad, Bd, Cd, Dd, &w.p);
    if (st != CUBLAS_STATUS_SUCCESS) return st;
    if (!alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
    w.alpha = *(const float *)alpha, w.beta = *(const float *)beta; // host pointer mode: read now
    w.a = A, w.b = B, w.c = C, w.d = D, w.bias = desc->bias;
    const problem &p = w.p;
    bool empty = !p.m || !p.n;
    if (!empty && (!D || (p.k && (!A || !B)) || (w.beta != 0.0f && !C) || (p.bias && !w.bias)))
        return CUBLAS_STATUS_INVALID_VALUE;
    // in place needs D's layout for C; out of place, C's ld may differ
    if (C == D && (Cd->ld != Dd->ld)) return CUBLAS_STATUS_INVALID_VALUE;
    if (algo) { // an algorithm from the heuristic, and pointers as aligned as promised when it was chosen
        if (algo->data[0] != ALGO_MAGIC) return CUBLAS_STATUS_INVALID_VALUE;
        const void *ptrs[4] = {A, B, C, D};
        for (int i = 0; i < 4; i++)
            if (!aligned(ptrs[i], algo->data[1 + i])) return CUBLAS_STATUS_INVALID_VALUE;
        if (p.bias && !aligned(w.bias, algo->data[5])) return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (empty) return CUBLAS_STATUS_SUCCESS;
    emu_trace(stream, "cublasLtMatmul %d x %d x %d", (int)p.m, (int)p.n, (int)p.k);
    emu_enqueue(stream, std::function<void()>(w));
    return CUBLAS_STATUS_SUCCESS;
}

}  // extern "C"
