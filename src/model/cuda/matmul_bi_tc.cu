// The batch-invariant product in bf16 on tensor cores (matmul_bi.cuh). An
// output element is the float accumulator of one chain of 16 x 16 x 16
// bf16 tensor-core products, one per 16-wide slice of k in ascending order
// (the slice past IC zero-padded), then init + bias + that sum. A tensor-
// core product computes each element from its own row of A, column of B and
// accumulator: the other rows of a tile never enter it. So the tile shape
// (16, 64 or 128 rows), the row's place in the batch and the number of rows
// choose only which elements are computed together, never how, and a row
// decoded alone gets the bits it gets among 32k scoring tokens, as with the
// SIMT kernel. What it does not give is the CPU's bits: the tensor core's
// internal sum of 16 products is not the CPU's lane order; exactness is
// per device and dtype, which is what on-policy needs.
//
// The kernel is the plain shape of a tiled tensor-core product: 32-wide
// slices of k staged in shared memory in two buffers (cp.async, 16 bytes a
// copy, when the rows are 16-byte aligned; element by element otherwise),
// each warp holding a WM x WN block of float accumulators.
#include <cuda_pipeline_primitives.h>
#include <mma.h>

#include "model/cuda/matmul_bi.cuh"

namespace pic_cuda {

namespace {

namespace wmma = nvcuda::wmma;

// A staged row: 32 k and 8 of padding (80 bytes: 16-byte aligned, and the
// 16 rows a fragment reads start on different banks).
enum { BK = 32, LDS = BK + 8 };

template <int BM_, int BN_, int WM_, int WN_> struct tiling {
    enum { BM = BM_, BN = BN_, WM = WM_, WN = WN_, WARPS_N = BN / WN, WARPS = (BM / WM) * WARPS_N,
           THREADS = 32 * WARPS, FM = WM / 16, FN = WN / 16 };
    static constexpr size_t smem = 2 * (size_t)(BM + BN) * LDS * sizeof(bf16);
};
typedef tiling<16, 64, 16, 16> small_tiles;    // decode: few rows
typedef tiling<64, 64, 32, 32> medium_tiles;   // a few hundred rows, or few columns
typedef tiling<128, 128, 64, 32> large_tiles;  // prefill, scoring, training

// Rows [r0, r0 + R) x k [k0, k0 + BK) of a row-major [rows, K] matrix into
// s[R][LDS]; zeros outside the matrix. VEC: K % 8 == 0 and the matrix
// 16-byte aligned, so each 8-element chunk lies all inside or all outside.
template <int R, int THREADS, bool VEC>
__device__ __forceinline__ void stage(bf16 *s, const bf16 *g, size_t rows, int K, size_t r0, int k0, int t) {
    if (VEC) {
        for (int i = t; i < R * (BK / 8); i += THREADS) {
            int r = i / (BK / 8), c = i % (BK / 8) * 8, k = k0 + c;
            size_t row = r0 + r;
            if (row < rows && k < K)
                __pipeline_memcpy_async(s + r * LDS + c, g + row * K + k, 16);
            else
                *reinterpret_cast<uint4 *>(s + r * LDS + c) = make_uint4(0, 0, 0, 0);
        }
    } else {
        for (int i = t; i < R * BK; i += THREADS) {
            int r = i / BK, c = i % BK, k = k0 + c;
            size_t row = r0 + r;
            s[r * LDS + c] = row < rows && k < K ? g[row * K + k] : __ushort_as_bfloat16(0);
        }
    }
}

template <typename TL, bool VEC, typename O>
__global__ void __launch_bounds__(TL::THREADS)
    matmul_bi_tc_kernel(O *out, const bf16 *inp, const bf16 *w, const bf16 *bias, size_t N, int K, int OC,
                        bool accumulate) {
    __shared__ __align__(128) unsigned char smem[TL::smem];
    bf16 *xs = reinterpret_cast<bf16 *>(smem), *ws = xs + 2 * TL::BM * LDS; // [2][BM][LDS], [2][BN][LDS]
    int t = threadIdx.x, warp = t / 32, lane = t % 32, wm = warp / TL::WARPS_N, wn = warp % TL::WARPS_N;
    size_t n0 = (size_t)blockIdx.y * TL::BM;
    int j0 = blockIdx.x * TL::BN;

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[TL::FM][TL::FN];
#pragma unroll
    for (int i = 0; i < TL::FM; i++)
#pragma unroll
        for (int j = 0; j < TL::FN; j++) wmma::fill_fragment(acc[i][j], 0.0f);

    int steps = (K + BK - 1) / BK;
    stage<TL::BM, TL::THREADS, VEC>(xs, inp, N, K, n0, 0, t);
    stage<TL::BN, TL::THREADS, VEC>(ws, w, (size_t)OC, K, (size_t)j0, 0, t);
    __pipeline_commit();
    for (int s = 0; s < steps; s++) {
        int cur = s & 1;
        if (s + 1 < steps) { // the next slice streams in while this one is multiplied
            stage<TL::BM, TL::THREADS, VEC>(xs + (cur ^ 1) * TL::BM * LDS, inp, N, K, n0, (s + 1) * BK, t);
            stage<TL::BN, TL::THREADS, VEC>(ws + (cur ^ 1) * TL::BN * LDS, w, (size_t)OC, K, (size_t)j0,
                                            (s + 1) * BK, t);
        }
        __pipeline_commit();
        __pipeline_wait_prior(1);
        __syncthreads();
        const bf16 *xc = xs + cur * TL::BM * LDS + wm * TL::WM * LDS, *wc = ws + cur * TL::BN * LDS + wn * TL::WN * LDS;
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a[TL::FM];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> b[TL::FN];
#pragma unroll
            for (int i = 0; i < TL::FM; i++) wmma::load_matrix_sync(a[i], xc + i * 16 * LDS + kk, LDS);
#pragma unroll
            for (int j = 0; j < TL::FN; j++) wmma::load_matrix_sync(b[j], wc + j * 16 * LDS + kk, LDS);
#pragma unroll
            for (int i = 0; i < TL::FM; i++)
#pragma unroll
                for (int j = 0; j < TL::FN; j++) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
        }
        __syncthreads(); // the buffer just read is the one the next step fills
    }

    // Each warp's 16 x 16 blocks through 1 KB of the (now free) staging
    // memory: init + bias + sum, in that order, as the SIMT kernel.
    float *cs = reinterpret_cast<float *>(smem) + warp * 256;
#pragma unroll
    for (int i = 0; i < TL::FM; i++)
#pragma unroll
        for (int j = 0; j < TL::FN; j++) {
            wmma::store_matrix_sync(cs, acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
            for (int e = lane; e < 256; e += 32) {
                size_t n = n0 + wm * TL::WM + i * 16 + e / 16;
                int col = j0 + wn * TL::WN + j * 16 + e % 16;
                if (n >= N || col >= OC) continue;
                O *o = out + n * OC + col;
                float init = accumulate ? to_f(*o) : 0.0f;
                if (bias) init = __fadd_rn(init, to_f(bias[col]));
                *o = from_f<O>(__fadd_rn(init, cs[e]));
            }
            __syncwarp();
        }
}

template <typename TL, typename O>
cudaError_t launch(O *out, const bf16 *inp, const bf16 *w, const bf16 *bias, size_t N, int IC, int OC, bool acc,
                   cudaStream_t s) {
    static_assert(TL::smem + 0 <= 48 * 1024, "static shared memory");
    static_assert(TL::WARPS * 256 * sizeof(float) <= TL::smem, "the epilogue's staging fits");
    dim3 grid((unsigned)((OC + TL::BN - 1) / TL::BN), (unsigned)((N + TL::BM - 1) / TL::BM));
    if (grid.y > 65535) return cudaErrorInvalidConfiguration; // > 1M rows: the arena never holds that many
    bool vec = IC % 8 == 0 && (uintptr_t)inp % 16 == 0 && (uintptr_t)w % 16 == 0;
    if (vec)
        matmul_bi_tc_kernel<TL, true, O><<<grid, TL::THREADS, 0, s>>>(out, inp, w, bias, N, IC, OC, acc);
    else
        matmul_bi_tc_kernel<TL, false, O><<<grid, TL::THREADS, 0, s>>>(out, inp, w, bias, N, IC, OC, acc);
    return cudaGetLastError();
}

}  // namespace

template <typename O>
cudaError_t matmul_bi_tc_forward(O *out, const bf16 *inp, const bf16 *weight, const bf16 *bias, size_t N, int IC,
                                 int OC, bool accumulate, bi_tiles tiles, cudaStream_t s) {
    if (!N || OC <= 0) return cudaSuccess;
    if (tiles == BI_TILES_AUTO) { // a guess until a GPU measures it: enough blocks to fill ~130 SMs twice
        size_t large = (N + 127) / 128 * (size_t)((OC + 127) / 128);
        tiles = N <= 64 ? BI_TILES_SMALL : large >= 256 ? BI_TILES_LARGE : BI_TILES_MEDIUM;
    }
    switch (tiles) {
    case BI_TILES_SMALL: return launch<small_tiles, O>(out, inp, weight, bias, N, IC, OC, accumulate, s);
    case BI_TILES_MEDIUM: return launch<medium_tiles, O>(out, inp, weight, bias, N, IC, OC, accumulate, s);
    default: return launch<large_tiles, O>(out, inp, weight, bias, N, IC, OC, accumulate, s);
    }
}

template cudaError_t matmul_bi_tc_forward<bf16>(bf16 *, const bf16 *, const bf16 *, const bf16 *, size_t, int, int,
                                                bool, bi_tiles, cudaStream_t);
template cudaError_t matmul_bi_tc_forward<float>(float *, const bf16 *, const bf16 *, const bf16 *, size_t, int, int,
                                                 bool, bi_tiles, cudaStream_t);

}  // namespace pic_cuda
