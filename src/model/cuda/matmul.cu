// The CUDA twin of matmul.c: nn.Linear through cuBLASLt, float accumulation,
// the bias added in the epilogue. In float32 the compute type is
// CUBLAS_COMPUTE_32F_PEDANTIC: no TF32, no reduced-precision shortcuts, so
// a GPU in f32 can be held to the same golden fixtures as the CPU.
//
// Row-major out[N, OC] = inp[N, IC] . W[OC, IC]^T is, read column-major,
// out^T[OC, N] = W^T . inp^T: A = W (IC x OC, transposed), B = inp (IC x N),
// m = OC, n = N, k = IC. A plan (descriptors and the algorithm cuBLASLt's
// heuristic picked) is made once per shape and kept, so a forward pass only
// launches.
//
// Two fallbacks keep every shape running: a bias that is not 16-byte aligned
// (cuBLASLt's epilogue reads it in vectors) or a shape without an epilogue
// algorithm gets the CPU's order instead, the bias written first and the
// product accumulated onto it; and a shape without a pedantic f32 algorithm
// gets CUBLAS_COMPUTE_32F, which is still float32 throughout (TF32 is only
// ever used under CUBLAS_COMPUTE_32F_FAST_TF32, never asked for here).
#include <string.h>

#include "model/cuda/layers.cuh"

namespace pic_cuda {

// What a plan computes (row-major, as the CPU's matmul.c):
// FWD out[N, OC] = inp . W^T; DINP dinp[N, IC] = dout . W; DW dW[OC, IC] = dout^T . inp.
enum plan_kind { FWD, DINP, DW };

struct plan {
    plan_kind kind;
    size_t N;
    int IC, OC;
    cudaDataType_t in, out;
    bool accumulate, pedantic;
    unsigned align;      // the pointers' common alignment, bytes (<= 256)
    unsigned bias_align; // 0: no bias epilogue; else the bias's alignment (<= 256), which the heuristic reads
    const void *bias;    // the first such bias (not part of the key): shown to the heuristic
    bool ok;        // false: cuBLASLt had no algorithm (remembered, not asked again)
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
};

enum { MAX_PLANS = 64 };

struct blas {
    cublasLtHandle_t h;
    cudaStream_t s;
    void *ws;
    size_t ws_bytes;
    bool pedantic;
    plan plans[MAX_PLANS];
    int n_plans, next_evict;
};

int blas_create(blas **out, cudaStream_t s, void *workspace, size_t workspace_bytes, bool pedantic, pic_err *err) {
    blas *b = new blas();
    b->s = s;
    b->ws = workspace;
    b->ws_bytes = workspace_bytes;
    b->pedantic = pedantic;
    cublasStatus_t st = cublasLtCreate(&b->h);
    if (st != CUBLAS_STATUS_SUCCESS) {
        delete b;
        return pic_err_set(err, "cublasLtCreate: %s", cublasLtGetStatusString(st));
    }
    *out = b;
    return 0;
}

static void plan_free(plan *p) {
    cublasLtMatrixLayoutDestroy(p->a);
    cublasLtMatrixLayoutDestroy(p->b);
    cublasLtMatrixLayoutDestroy(p->c);
    cublasLtMatmulDescDestroy(p->desc);
}

void blas_destroy(blas *b) {
    if (!b) return;
    for (int i = 0; i < b->n_plans; i++) plan_free(&b->plans[i]);
    cublasLtDestroy(b->h);
    delete b;
}

static unsigned alignment(const void *p) {
    uintptr_t a = (uintptr_t)p;
    unsigned k = 1;
    while (k < 256 && !(a & k)) k <<= 1;
    return k;
}

static int make_plan(blas *bl, plan *p, pic_err *err) {
    cublasComputeType_t ct = p->pedantic ? CUBLAS_COMPUTE_32F_PEDANTIC : CUBLAS_COMPUTE_32F;
    PIC_BLAS(cublasLtMatmulDescCreate(&p->desc, ct, CUDA_R_32F));
    // column-major, where a row-major [R, C] matrix reads as its transpose:
    // FWD out^T = (W^T)^T . inp^T (A transposed); DINP dinp^T[IC, N] =
    // W^T[IC, OC] . dout^T[OC, N]; DW dW^T[IC, OC] = inp^T[IC, N] .
    // (dout^T)^T (B transposed)
    cublasOperation_t ta = p->kind == FWD ? CUBLAS_OP_T : CUBLAS_OP_N, tb = p->kind == DW ? CUBLAS_OP_T : CUBLAS_OP_N;
    PIC_BLAS(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    PIC_BLAS(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    if (p->bias_align) {
        cublasLtEpilogue_t ep = CUBLASLT_EPILOGUE_BIAS;
        PIC_BLAS(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof ep));
        cudaDataType_t bt = p->in;
        PIC_BLAS(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt));
        // the heuristic reads the bias's alignment from this pointer (unset,
        // NULL would promise 256 bytes): every bias of this plan's key has
        // the same alignment
        PIC_BLAS(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &p->bias, sizeof p->bias));
    }
    uint64_t N = p->N, IC = (uint64_t)p->IC, OC = (uint64_t)p->OC;
    uint64_t ar = IC, ac = p->kind == DW ? N : OC, br = p->kind == FWD ? IC : OC, cr = p->kind == FWD ? OC : IC,
             cc = p->kind == DW ? OC : N;
    PIC_BLAS(cublasLtMatrixLayoutCreate(&p->a, p->in, ar, ac, (int64_t)ar));
    PIC_BLAS(cublasLtMatrixLayoutCreate(&p->b, p->in, br, N, (int64_t)br));
    PIC_BLAS(cublasLtMatrixLayoutCreate(&p->c, p->out, cr, cc, (int64_t)cr));
    cublasLtMatmulPreference_t pref;
    PIC_BLAS(cublasLtMatmulPreferenceCreate(&pref));
    uint32_t al = p->align;
    /* Unset, the heuristic could pick a kernel that needs more workspace or
     * alignment than the buffers have: a failure is an error, as elsewhere. */
    cublasStatus_t st =
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &bl->ws_bytes,
                                             sizeof bl->ws_bytes);
    cublasLtMatmulPreferenceAttributes_t aligns[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4 && st == CUBLAS_STATUS_SUCCESS; i++)
        st = cublasLtMatmulPreferenceSetAttribute(pref, aligns[i], &al, sizeof al);
    /* split-K only with float partials in the workspace, summed in a fixed
     * step: not the output type's (bf16 partials would round the sums the
     * CPU keeps in float), not in place (its counters live in the
     * workspace, which matmul_bi's split path also writes between calls) */
    uint32_t schemes = CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &schemes,
                                                  sizeof schemes);
    if (st != CUBLAS_STATUS_SUCCESS) {
        cublasLtMatmulPreferenceDestroy(pref);
        return pic_err_set(err, "cuBLASLt: setting a matmul preference: %s", cublasLtGetStatusString(st));
    }
    cublasLtMatmulHeuristicResult_t r;
    int found = 0;
    st = cublasLtMatmulAlgoGetHeuristic(bl->h, p->desc, p->a, p->b, p->c, p->c, pref, 1, &r, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st != CUBLAS_STATUS_SUCCESS || !found)
        return pic_err_set(err, "cuBLASLt has no algorithm for [%zu x %d] . [%d x %d]^T (%s)", p->N, p->IC, p->OC,
                           p->IC, st != CUBLAS_STATUS_SUCCESS ? cublasLtGetStatusString(st) : "none found");
    p->algo = r.algo;
    return 0;
}

static int get_plan(blas *bl, const plan &want, plan **out, pic_err *err) {
    for (int i = 0; i < bl->n_plans; i++) {
        plan *p = &bl->plans[i];
        if (p->kind == want.kind && p->N == want.N && p->IC == want.IC && p->OC == want.OC && p->in == want.in &&
            p->out == want.out &&
            p->bias_align == want.bias_align && p->accumulate == want.accumulate && p->align == want.align &&
            p->pedantic == want.pedantic) {
            *out = p;
            return p->ok ? 0 : pic_err_set(err, "cuBLASLt has no algorithm for [%zu x %d] . [%d x %d]^T", p->N,
                                           p->IC, p->OC, p->IC);
        }
    }
    plan *p;
    if (bl->n_plans < MAX_PLANS) {
        p = &bl->plans[bl->n_plans++];
    } else { // a forward pass uses a handful of shapes; this is for long runs of varied batches
        p = &bl->plans[bl->next_evict];
        bl->next_evict = (bl->next_evict + 1) % MAX_PLANS;
        plan_free(p);
    }
    *p = want;
    p->ok = make_plan(bl, p, err) == 0;
    *out = p;
    return p->ok ? 0 : -1;
}

// out[n, j] = (accumulate ? out[n, j] : 0) + bias[j]: the bias first, as the CPU does.
template <typename T, typename O>
__global__ void bias_first_kernel(O *out, const T *bias, size_t N, int OC, bool accumulate) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N * (size_t)OC) return;
    out[i] = from_f<O>((accumulate ? to_f(out[i]) : 0.0f) + to_f(bias[i % OC]));
}

template <typename T, typename O>
int matmul_forward(blas *bl, O *out, const T *inp, const T *weight, const T *bias, size_t N, int IC, int OC,
                   bool accumulate, pic_err *err) {
    if (!N) return 0;
    unsigned al = alignment(out) < alignment(inp) ? alignment(out) : alignment(inp);
    al = alignment(weight) < al ? alignment(weight) : al;
    plan want;
    memset(&want, 0, sizeof want);
    want.N = N, want.IC = IC, want.OC = OC, want.in = data_type<T>(), want.out = data_type<O>();
    want.bias_align = bias && alignment(bias) >= 16 ? alignment(bias) : 0, want.bias = bias;
    want.accumulate = accumulate, want.align = al, want.pedantic = bl->pedantic;
    plan *p;
    int rc = get_plan(bl, want, &p, err);
    if (rc && want.bias_align) want.bias_align = 0, rc = get_plan(bl, want, &p, err);
    if (rc && want.pedantic) want.pedantic = false, rc = get_plan(bl, want, &p, err);
    if (rc) return -1;
    if (bias && !want.bias_align) {
        bias_first_kernel<T, O><<<blocks_for(N * OC, 256), 256, 0, bl->s>>>(out, bias, N, OC, accumulate);
        PIC_LAUNCHED();
        accumulate = true;
    } else if (bias) {
        PIC_BLAS(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    }
    float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    PIC_BLAS(cublasLtMatmul(bl->h, p->desc, &alpha, weight, p->a, inp, p->b, &beta, out, p->c, out, p->c, &p->algo,
                            bl->ws, bl->ws_bytes, bl->s));
    return 0;
}

template int matmul_forward<float, float>(blas *, float *, const float *, const float *, const float *, size_t, int,
                                          int, bool, pic_err *);
template int matmul_forward<bf16, bf16>(blas *, bf16 *, const bf16 *, const bf16 *, const bf16 *, size_t, int, int,
                                        bool, pic_err *);
template int matmul_forward<bf16, float>(blas *, float *, const bf16 *, const bf16 *, const bf16 *, size_t, int, int,
                                         bool, pic_err *);


// The gradient of nn.Linear, as the CPU's matmul_backward: two products
// with beta = 1 (everything accumulates; a fresh dinp takes beta = 0) and the bias's column sums in a
// fixed order (col_sums). cuBLASLt keeps one algorithm per shape (the
// plan), and its result for a given algorithm and shape is the same bits
// every run.
static int gemm_acc(blas *bl, plan_kind kind, void *out, cudaDataType_t ot, const void *a, const void *b,
                    cudaDataType_t it, size_t N, int IC, int OC, pic_err *err, bool accumulate = true) {
    unsigned al = alignment(out) < alignment(a) ? alignment(out) : alignment(a);
    al = alignment(b) < al ? alignment(b) : al;
    plan want;
    memset(&want, 0, sizeof want);
    want.kind = kind, want.N = N, want.IC = IC, want.OC = OC, want.in = it, want.out = ot, want.accumulate = accumulate;
    want.align = al, want.pedantic = bl->pedantic;
    plan *p;
    int rc = get_plan(bl, want, &p, err);
    if (rc && want.pedantic) want.pedantic = false, rc = get_plan(bl, want, &p, err);
    if (rc) return -1;
    float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    PIC_BLAS(cublasLtMatmul(bl->h, p->desc, &alpha, a, p->a, b, p->b, &beta, out, p->c, out, p->c, &p->algo, bl->ws,
                            bl->ws_bytes, bl->s));
    return 0;
}

template <typename T, typename D>
int matmul_backward(blas *bl, D *dinp, float *dweight, float *dbias, const T *dout, const T *inp, const T *weight,
                    size_t N, int IC, int OC, float *scratch, pic_err *err, bool fresh) {
    if (!N) return 0;
    if (dinp && gemm_acc(bl, DINP, dinp, data_type<D>(), weight, dout, data_type<T>(), N, IC, OC, err, !fresh))
        return -1;
    if (dweight && gemm_acc(bl, DW, dweight, CUDA_R_32F, inp, dout, data_type<T>(), N, IC, OC, err)) return -1;
    if (dbias) PIC_CU(col_sums(dbias, dout, N, OC, scratch, bl->s));
    return 0;
}

#define MM_BW(T, D)                                                                                               \
    template int matmul_backward<T, D>(blas *, D *, float *, float *, const T *, const T *, const T *, size_t, int, \
                                       int, float *, pic_err *, bool);
MM_BW(float, float)
MM_BW(bf16, bf16)
MM_BW(bf16, float)
#undef MM_BW

}  // namespace pic_cuda
