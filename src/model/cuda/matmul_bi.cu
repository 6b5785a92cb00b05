// The batch-invariant product on the GPU (matmul_bi.cuh). A block computes
// a 16-row x 32-column tile of the output from 32-wide slices of k staged in
// shared memory; each thread owns four columns of one row and keeps sixteen
// float lanes for each, lane k mod 16, so that a slice adds k then k + 16 to
// the same lane in ascending order, as the CPU's v16 loop does. The tile
// only chooses which elements are computed together, never how: rows past N
// and k past IC are zeros (fma(0, 0, x) = x for the never -0 lanes), and a
// row alone or among thousands gets the same bits.
//
// Arithmetic is SIMT float (fmaf, no tensor cores), the float32 path: a
// decode step is bound by reading the weights, which each block reads once
// per 16 rows; a large prefill or a scoring pass is compute-bound at the
// CUDA cores' float rate. bf16 goes to tensor cores (matmul_bi_tc.cu),
// whose fixed order is their own, not the CPU's.
#include <type_traits>

#include "model/cuda/matmul_bi.cuh"

namespace pic_cuda {

namespace {

enum { BM = 16, BN = 32, KC = 32, THREADS = 128, COLS = BN / (THREADS / BM) };

// v16_reduce's pairing: lane l + 8 onto l, then + 4, + 2, + 1.
__device__ __forceinline__ float reduce16(float a[16]) {
#pragma unroll
    for (int l = 0; l < 8; l++) a[l] = __fadd_rn(a[l], a[l + 8]);
#pragma unroll
    for (int l = 0; l < 4; l++) a[l] = __fadd_rn(a[l], a[l + 4]);
#pragma unroll
    for (int l = 0; l < 2; l++) a[l] = __fadd_rn(a[l], a[l + 2]);
    return __fadd_rn(a[0], a[1]);
}

template <typename T, typename O>
__global__ void __launch_bounds__(THREADS) matmul_bi_kernel(O *out, const T *inp, const T *w, const T *bias,
                                                           size_t N, int K, int OC, bool accumulate) {
    __shared__ float xs[BM][KC + 1], ws[BN][KC + 1];
    int t = threadIdx.x, r = t / (THREADS / BM), cg = t % (THREADS / BM);
    size_t n0 = (size_t)blockIdx.y * BM;
    int j0 = blockIdx.x * BN;
    float acc[COLS][16];
#pragma unroll
    for (int c = 0; c < COLS; c++)
#pragma unroll
        for (int l = 0; l < 16; l++) acc[c][l] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += KC) {
        for (int i = t; i < BM * KC; i += THREADS) {
            int row = i / KC, k = k0 + i % KC;
            size_t n = n0 + row;
            xs[row][i % KC] = n < N && k < K ? to_f(inp[n * K + k]) : 0.0f;
        }
        for (int i = t; i < BN * KC; i += THREADS) {
            int col = i / KC, k = k0 + i % KC, j = j0 + col;
            ws[col][i % KC] = j < OC && k < K ? to_f(w[(size_t)j * K + k]) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < KC; kk++) {
            float x = xs[r][kk];
#pragma unroll
            for (int c = 0; c < COLS; c++) acc[c][kk % 16] = fmaf(x, ws[cg + c * (THREADS / BM)][kk], acc[c][kk % 16]);
        }
        __syncthreads();
    }
    size_t n = n0 + r;
    if (n >= N) return;
#pragma unroll
    for (int c = 0; c < COLS; c++) {
        int j = j0 + cg + c * (THREADS / BM);
        if (j >= OC) continue;
        float s = reduce16(acc[c]);
        O *o = out + n * OC + j;
        float init = accumulate ? to_f(*o) : 0.0f;
        if (bias) init = __fadd_rn(init, to_f(bias[j]));
        *o = from_f<O>(__fadd_rn(init, s));
    }
}

}  // namespace

template <typename T, typename O>
cudaError_t matmul_bi_simt_forward(O *out, const T *inp, const T *weight, const T *bias, size_t N, int IC, int OC,
                                   bool accumulate, cudaStream_t s) {
    if (!N || OC <= 0) return cudaSuccess;
    dim3 grid((unsigned)((OC + BN - 1) / BN), (unsigned)((N + BM - 1) / BM));
    if (grid.y > 65535) return cudaErrorInvalidConfiguration; // > 1M rows: the arena never holds that many
    matmul_bi_kernel<T, O><<<grid, THREADS, 0, s>>>(out, inp, weight, bias, N, IC, OC, accumulate);
    return cudaGetLastError();
}

// PIC_CUDA_BI=simt: bf16 on the CUDA cores too (the CPU's result, rounded).
template <typename T, typename O>
cudaError_t matmul_bi_forward(O *out, const T *inp, const T *weight, const T *bias, size_t N, int IC, int OC,
                              bool accumulate, cudaStream_t s, bi_work work) {
    static const bool simt = env_says_simt("PIC_CUDA_BI");
    if constexpr (std::is_same<T, bf16>::value)
        if (!simt)
            return matmul_bi_tc_forward<O>(out, inp, weight, bias, N, IC, OC, accumulate, BI_TILES_AUTO,
                                           BI_SPLIT_AUTO, work, s);
    return matmul_bi_simt_forward<T, O>(out, inp, weight, bias, N, IC, OC, accumulate, s);
}

#define PIC_BI_INSTANCES(name, ...)                                                                                 \
    template cudaError_t name<float, float>(float *, const float *, const float *, const float *, size_t, int, int, \
                                            bool, __VA_ARGS__);                                                     \
    template cudaError_t name<bf16, bf16>(bf16 *, const bf16 *, const bf16 *, const bf16 *, size_t, int, int, bool, \
                                          __VA_ARGS__);                                                             \
    template cudaError_t name<bf16, float>(float *, const bf16 *, const bf16 *, const bf16 *, size_t, int, int,     \
                                           bool, __VA_ARGS__);
PIC_BI_INSTANCES(matmul_bi_simt_forward, cudaStream_t)
PIC_BI_INSTANCES(matmul_bi_forward, cudaStream_t, bi_work)

}  // namespace pic_cuda
