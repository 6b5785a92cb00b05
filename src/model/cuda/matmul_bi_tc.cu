// The batch-invariant product in bf16 on tensor cores (matmul_bi.cuh). k
// is cut into segments of KSEG; a segment's partial sum is the float
// accumulator of one chain of 16 x 16 x 16 bf16 tensor-core products, one
// per 16-wide slice of k in ascending order (the slices past IC
// zero-padded), from zero; an output element is init + bias + the
// partials added in ascending order from zero. A tensor-core product
// computes each element from its own row of A, column of B and
// accumulator: the other rows of a tile never enter it. So the tile shape
// (16, 64 or 128 rows), the row's place in the batch, the number of rows,
// and whether one block runs every segment or each segment has a block of
// its own (the partials then added in the same order by the last of them,
// or by a second kernel)
// choose only which elements are computed together and where, never how:
// a row decoded alone gets the bits it gets among 32k scoring tokens, as
// with the SIMT kernel. What it does not give is the CPU's bits: the
// tensor core's internal sum of 16 products is not the CPU's lane order;
// exactness is per device and dtype, which is what on-policy needs.
//
// Why segments: a decode step's narrow products (0.5B's o and down
// projections: 896 columns, 14 blocks of 64) would otherwise keep a handful
// of the GPU's ~130 multiprocessors reading their weights; a block per
// segment multiplies that by K / KSEG (down: 19) without changing a bit.
//
// The kernel is the multistage shape of a tiled tensor-core product
// (CUTLASS's sm80 pipeline): 32-wide slices of k staged in shared memory in
// STAGES buffers (cp.async, 16 bytes a copy, when the rows are 16-byte
// aligned; element by element otherwise), STAGES - 1 slices in flight while
// one is multiplied, one barrier a slice; each warp holds a WM x WN block of
// float accumulators (and, when the block runs every segment, as many
// running totals). The depth is what the GPU's first run asked for: with
// two buffers a block had one 16 KB slice in flight, and the large tiles,
// one block an SM by their registers, ran at ~14% of the tensor cores'
// rate (docs/gpu.md, Measured); a decode step's small tiles, whose weights
// are read once, want a whole segment's worth of bytes in flight per block.
#include <cuda_pipeline_primitives.h>
#include <mma.h>

#include "model/cuda/matmul_bi.cuh"

namespace pic_cuda {

namespace {

namespace wmma = nvcuda::wmma;

// A staged row: 32 k and 8 of padding (80 bytes: 16-byte aligned, and the
// 16 rows a fragment reads start on different banks).
enum { BK = 32, LDS = BK + 8 };
static_assert(BI_KSEG % BK == 0, "a segment is whole staged slices");

template <int BM_, int BN_, int WM_, int WN_, int STAGES_> struct tiling {
    enum { BM = BM_, BN = BN_, WM = WM_, WN = WN_, STAGES = STAGES_, WARPS_N = BN / WN, WARPS = (BM / WM) * WARPS_N,
           THREADS = 32 * WARPS, FM = WM / 16, FN = WN / 16 };
    static constexpr size_t stage = (size_t)(BM + BN) * LDS; // elements: BM rows of x, then BN of w
    static constexpr size_t smem = STAGES * stage * sizeof(bf16);
};
typedef tiling<16, 64, 16, 16, 8> small_tiles;    // decode: few rows; a segment's 32 KB of weights in flight
typedef tiling<64, 64, 32, 32, 4> medium_tiles;   // a few hundred rows, or few columns
typedef tiling<128, 128, 64, 32, 4> large_tiles;  // prefill, scoring, training

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

// The partials of element (n, col), part[S][N][OC], added in order from
// zero, then init + bias + that sum: what one block running every segment
// writes.
template <typename O>
__device__ __forceinline__ void add_partials(O *out, const float *part, const bf16 *bias, size_t N, int OC, int S,
                                             bool accumulate, size_t n, int col) {
    float sum = 0.0f;
    for (int z = 0; z < S; z++) sum = __fadd_rn(sum, __ldcg(part + ((size_t)z * N + n) * OC + col));
    O *o = out + n * OC + col;
    float init = accumulate ? to_f(*o) : 0.0f;
    if (bias) init = __fadd_rn(init, to_f(bias[col]));
    *o = from_f<O>(__fadd_rn(init, sum));
}

// SPLIT: this block's segment is blockIdx.z, and its partial goes to
// part[z][N][OC]; the tile's last block to finish (count: a counter a
// tile, zero before and after) adds the partials, or, count NULL,
// matmul_bi_add does. Else the block runs every segment and writes
// init + bias + their sum. rows_x: blockIdx.x counts row
// tiles and blockIdx.y column tiles (else the other way round): the GPU
// starts blocks x first, so the tiles that share the larger operand's slice
// run together and read it from L2, not from memory once each.
template <typename TL, bool VEC, bool SPLIT, typename O>
__global__ void __launch_bounds__(TL::THREADS)
    matmul_bi_tc_kernel(O *out, float *part, int *count, const bf16 *inp, const bf16 *w, const bf16 *bias, size_t N,
                        int K, int OC, bool accumulate, bool rows_x) {
    extern __shared__ __align__(128) unsigned char smem[];
    bf16 *stages = reinterpret_cast<bf16 *>(smem); // [STAGES][BM + BN][LDS]
    int t = threadIdx.x, warp = t / 32, lane = t % 32, wm = warp / TL::WARPS_N, wn = warp % TL::WARPS_N;
    size_t n0 = (size_t)(rows_x ? blockIdx.x : blockIdx.y) * TL::BM;
    int j0 = (rows_x ? blockIdx.y : blockIdx.x) * TL::BN;
    enum { SEG = BI_KSEG / BK }; // staged slices a segment
    int all = (K + BK - 1) / BK, s0 = SPLIT ? (int)blockIdx.z * SEG : 0, s1 = SPLIT && s0 + SEG < all ? s0 + SEG : all;
    // A decode step's few rows: the product is its weights' bytes. While the kernel before this one still
    // runs (pdl_begin), ask for the block's weights, a forward's constants, into L2: a hint, so it may
    // come before the wait that any read of the rows needs.
    if constexpr (TL::BM == 16)
        for (int i = t; i < TL::BN * (s1 - s0); i += TL::THREADS) {
            int r = i / (s1 - s0), k = (s0 + i % (s1 - s0)) * BK; // a slice: 64 bytes of the row
            if (j0 + r < OC) prefetch_l2(w + (size_t)(j0 + r) * K + k);
        }
    pdl_begin();

    typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> accum;
    accum acc[TL::FM][TL::FN], tot[SPLIT ? 1 : TL::FM][SPLIT ? 1 : TL::FN];
#pragma unroll
    for (int i = 0; i < TL::FM; i++)
#pragma unroll
        for (int j = 0; j < TL::FN; j++) {
            wmma::fill_fragment(acc[i][j], 0.0f);
            if constexpr (!SPLIT) wmma::fill_fragment(tot[i][j], 0.0f);
        }

    auto fill = [&](int i) { // slice s0 + i into its buffer, as one commit group (empty past the end)
        if (s0 + i < s1) {
            bf16 *buf = stages + (size_t)(i % TL::STAGES) * TL::stage;
            stage<TL::BM, TL::THREADS, VEC>(buf, inp, N, K, n0, (s0 + i) * BK, t);
            stage<TL::BN, TL::THREADS, VEC>(buf + TL::BM * LDS, w, (size_t)OC, K, (size_t)j0, (s0 + i) * BK, t);
        }
        __pipeline_commit();
    };
    for (int i = 0; i < TL::STAGES - 1; i++) fill(i);
    for (int s = s0; s < s1; s++) {
        // this slice's group has landed once at most STAGES - 2 later ones are pending; the barrier makes
        // every thread's copies visible, and frees the buffer the previous slice was read from
        __pipeline_wait_prior(TL::STAGES - 2);
        __syncthreads();
        fill(s - s0 + TL::STAGES - 1);
        const bf16 *buf = stages + (size_t)((s - s0) % TL::STAGES) * TL::stage;
        const bf16 *xc = buf + wm * TL::WM * LDS, *wc = buf + TL::BM * LDS + wn * TL::WN * LDS;
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
        if constexpr (!SPLIT)
            if ((s + 1) % SEG == 0 || s + 1 == s1) // a segment ends: into the total, in order
#pragma unroll
                for (int i = 0; i < TL::FM; i++)
#pragma unroll
                    for (int j = 0; j < TL::FN; j++) {
                        // the same element of both fragments: they share one layout
                        for (int e = 0; e < acc[i][j].num_elements; e++)
                            tot[i][j].x[e] = __fadd_rn(tot[i][j].x[e], acc[i][j].x[e]);
                        wmma::fill_fragment(acc[i][j], 0.0f);
                    }
    }
    __syncthreads(); // every warp done reading the stages (the last real copies landed at their slice's wait)

    // Each warp's 16 x 16 blocks through 1 KB of the (now free) staging
    // memory: the segment's partial, or init + bias + sum, in that order,
    // as the SIMT kernel.
    float *cs = reinterpret_cast<float *>(smem) + warp * 256;
#pragma unroll
    for (int i = 0; i < TL::FM; i++)
#pragma unroll
        for (int j = 0; j < TL::FN; j++) {
            wmma::store_matrix_sync(cs, SPLIT ? acc[i][j] : tot[SPLIT ? 0 : i][SPLIT ? 0 : j], 16, wmma::mem_row_major);
            __syncwarp();
            for (int e = lane; e < 256; e += 32) {
                size_t n = n0 + wm * TL::WM + i * 16 + e / 16;
                int col = j0 + wn * TL::WN + j * 16 + e % 16;
                if (n >= N || col >= OC) continue;
                if (SPLIT) {
                    part[((size_t)blockIdx.z * N + n) * OC + col] = cs[e];
                    continue;
                }
                O *o = out + n * OC + col;
                float init = accumulate ? to_f(*o) : 0.0f;
                if (bias) init = __fadd_rn(init, to_f(bias[col]));
                *o = from_f<O>(__fadd_rn(init, cs[e]));
            }
            __syncwarp();
        }
    if constexpr (SPLIT) {
        if (!count) return;
        // The threadFenceReduction pattern: every thread's partials visible
        // to the whole GPU before the block counts itself in; the block that
        // counts last sees them all. Which block that is varies, the sums do
        // not: each element adds the S partials in order.
        __shared__ bool last;
        __threadfence();
        __syncthreads();
        unsigned tile = blockIdx.x + gridDim.x * blockIdx.y;
        if (t == 0) last = atomicAdd(&count[tile], 1) == (int)gridDim.z - 1;
        __syncthreads();
        if (!last) return;
        __threadfence();
        for (int e = t; e < TL::BM * TL::BN; e += TL::THREADS) {
            size_t n = n0 + e / TL::BN;
            int col = j0 + e % TL::BN;
            if (n < N && col < OC) add_partials(out, part, bias, N, OC, (int)gridDim.z, accumulate, n, col);
        }
        if (t == 0) count[tile] = 0; // for the next product, which the stream runs after this one
    }
}

// The segments' partials added by a kernel of their own (no counters).
template <typename O>
__global__ void matmul_bi_add(O *out, const float *part, const bf16 *bias, size_t N, int OC, int S, bool accumulate) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N * (size_t)OC) return;
    add_partials(out, part, bias, N, OC, S, accumulate, i / OC, (int)(i % OC));
}

// Multiprocessors of the current device (read once).
int multiprocessors() {
    static const int n = [] {
        int d = 0, c = 0;
        // a failed query falls back to 100, and its error is cleared here:
        // left pending, the next launch's check would blame that kernel
        if (cudaGetDevice(&d) != cudaSuccess || cudaDeviceGetAttribute(&c, cudaDevAttrMultiProcessorCount, d) != cudaSuccess)
            cudaGetLastError();
        return c > 0 ? c : 100;
    }();
    return n;
}

// One kernel instance on grid, its shared memory raised past 48 KB once.
template <typename TL, bool VEC, bool SPLIT, typename O>
cudaError_t run(dim3 grid, O *out, float *part, int *count, const bf16 *inp, const bf16 *w, const bf16 *bias,
                size_t N, int IC, int OC, bool acc, bool rows_x, cudaStream_t s) {
    static bool raised;
    cudaError_t e = raise_smem(matmul_bi_tc_kernel<TL, VEC, SPLIT, O>, TL::smem, &raised);
    if (e != cudaSuccess) return e;
    return launch_pdl(matmul_bi_tc_kernel<TL, VEC, SPLIT, O>, grid, TL::THREADS, TL::smem, s, out, part, count, inp, w,
                      bias, N, IC, OC, acc, rows_x);
}

template <typename TL, typename O>
cudaError_t launch(O *out, const bf16 *inp, const bf16 *w, const bf16 *bias, size_t N, int IC, int OC, bool acc,
                   bi_split split, bi_work work, cudaStream_t s) {
    static_assert(TL::smem <= 227 * 1024, "an sm_80/sm_90 block's shared memory");
    static_assert(TL::WARPS * 256 * sizeof(float) <= TL::smem, "the epilogue's staging fits");
    size_t col_tiles = ((size_t)OC + TL::BN - 1) / TL::BN, row_tiles = (N + TL::BM - 1) / TL::BM;
    // the weights larger than the rows (the head; decode): a column tile's row tiles side by side, so its
    // weights come from memory once (the head's 272 MB at 0.5B, 4 row tiles at batch 64: 4 times before)
    bool rows_x = (size_t)OC > N;
    dim3 grid((unsigned)(rows_x ? row_tiles : col_tiles), (unsigned)(rows_x ? col_tiles : row_tiles));
    if (grid.y > 65535) return cudaErrorInvalidConfiguration; // > 1M rows or columns: never in an arena
    bool vec = IC % 8 == 0 && (uintptr_t)inp % 16 == 0 && (uintptr_t)w % 16 == 0;
    // a block per segment when the blocks would not fill the GPU twice and the partials fit
    int S = (IC + BI_KSEG - 1) / BI_KSEG;
    bool fits = work.buf && (size_t)S * N * OC * sizeof(float) <= work.bytes;
    bool few = (size_t)grid.x * grid.y < 2 * (size_t)multiprocessors();
    bool split_k = S > 1 && fits && (split == BI_SPLIT_ALWAYS || (split == BI_SPLIT_AUTO && few));
    if (split == BI_SPLIT_ALWAYS && S > 1 && !split_k) return cudaErrorInvalidValue; // asked; the partials do not fit
    if (split_k) grid.z = (unsigned)S;
    int *count = split_k && work.count && (size_t)grid.x * grid.y <= work.count_n ? work.count : NULL;
    float *part = split_k ? work.buf : NULL;
    cudaError_t e = vec ? split_k ? run<TL, true, true>(grid, out, part, count, inp, w, bias, N, IC, OC, acc, rows_x, s)
                                  : run<TL, true, false>(grid, out, part, count, inp, w, bias, N, IC, OC, acc, rows_x, s)
                        : split_k ? run<TL, false, true>(grid, out, part, count, inp, w, bias, N, IC, OC, acc, rows_x, s)
                                  : run<TL, false, false>(grid, out, part, count, inp, w, bias, N, IC, OC, acc, rows_x, s);
    if (e == cudaSuccess && split_k && !count)
        matmul_bi_add<O><<<blocks_for(N * (size_t)OC, 256), 256, 0, s>>>(out, work.buf, bias, N, OC, S, acc);
    return e == cudaSuccess ? cudaGetLastError() : e;
}

}  // namespace

template <typename O>
cudaError_t matmul_bi_tc_forward(O *out, const bf16 *inp, const bf16 *weight, const bf16 *bias, size_t N, int IC,
                                 int OC, bool accumulate, bi_tiles tiles, bi_split split, bi_work work,
                                 cudaStream_t s) {
    if (!N || OC <= 0) return cudaSuccess;
    if (tiles == BI_TILES_AUTO) { // a guess until a GPU measures it: enough blocks to fill ~130 SMs twice
        size_t large = (N + 127) / 128 * (size_t)((OC + 127) / 128);
        tiles = N <= 64 ? BI_TILES_SMALL : large >= 256 ? BI_TILES_LARGE : BI_TILES_MEDIUM;
    }
    switch (tiles) {
    case BI_TILES_SMALL:
        return launch<small_tiles, O>(out, inp, weight, bias, N, IC, OC, accumulate, split, work, s);
    case BI_TILES_MEDIUM:
        return launch<medium_tiles, O>(out, inp, weight, bias, N, IC, OC, accumulate, split, work, s);
    default: return launch<large_tiles, O>(out, inp, weight, bias, N, IC, OC, accumulate, split, work, s);
    }
}

template cudaError_t matmul_bi_tc_forward<bf16>(bf16 *, const bf16 *, const bf16 *, const bf16 *, size_t, int, int,
                                                bool, bi_tiles, bi_split, bi_work, cudaStream_t);
template cudaError_t matmul_bi_tc_forward<float>(float *, const bf16 *, const bf16 *, const bf16 *, size_t, int, int,
                                                 bool, bi_tiles, bi_split, bi_work, cudaStream_t);

}  // namespace pic_cuda
