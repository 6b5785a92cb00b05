// The CUDA twin of matmul_bi.h: nn.Linear in one fixed order of float
// operations per output element, whatever the number of rows, the tile an
// element falls in or the launch that computes it: the batch-invariant
// product generation, scoring and pic-update's forward use on a GPU
// (docs/gpu.md, Generation).
// matmul.cu's cuBLASLt product stays beside it for --fast and training.
#ifndef PIC_MODEL_CUDA_MATMUL_BI_CUH
#define PIC_MODEL_CUDA_MATMUL_BI_CUH

#include "model/cuda/common.cuh"

namespace pic_cuda {

// Device scratch a product may use (none: buf NULL), and counters (zero
// between products; none: count NULL) by which the last block of a tile's
// segments to finish adds the partials itself, where a second kernel would.
struct bi_work {
    float *buf;
    size_t bytes;
    int *count;
    size_t count_n;
};

// out[N, OC] (+)= inp[N, IC] . weight[OC, IC]^T + bias, each element in one
// fixed sequence of operations whatever N; out's type O is T, or float for
// the lm_head's logits. Float32 runs matmul_bi_simt_forward (the CPU's
// bits); bf16 runs matmul_bi_tc_forward, or the SIMT kernel when the
// environment has PIC_CUDA_BI=simt (read once; "tc" or unset: tensor cores).
// work: scratch for the tensor-core product's segments (matmul_bi_tc_forward).
template <typename T, typename O>
cudaError_t matmul_bi_forward(O *out, const T *inp, const T *weight, const T *bias, size_t N, int IC, int OC,
                              bool accumulate, cudaStream_t s, struct bi_work work);

// The contract of matmul_bi.h, element (n, j) exactly as the CPU computes
// it: init + reduce16(lanes), lanes[l] the fused multiply-adds over
// k = l (mod 16), ascending k, reduce16 the pairwise tree (+8, +4, +2, +1),
// init = (accumulate ? out[n, j] : 0) + bias[j]. Inputs of type T are read
// as float (bf16 converts exactly), so in float32 the GPU's products are
// the CPU's bits. CUDA cores only.
template <typename T, typename O>
cudaError_t matmul_bi_simt_forward(O *out, const T *inp, const T *weight, const T *bias, size_t N, int IC, int OC,
                                   bool accumulate, cudaStream_t s);

// bf16 on tensor cores (matmul_bi_tc.cu): element (n, j) is init + acc,
// init as above; k is cut into segments of BI_KSEG (the last one shorter;
// the slices past IC zero-padded to a multiple of 32); segment z's partial
// p_z is 0 followed by one 16 x 16 x 16 tensor-core product per 16-wide
// slice of k in it, ascending; acc = ((0 + p_0) + p_1) + ... Not the CPU's
// bits (the hardware sums each slice's 16 products its own way), but the
// same bits for a row whatever the batch: every tiling, and a block per
// segment or one for all, runs the same chains and the same adds. `tiles`
// picks the block shape (AUTO: by N and OC), `split` whether each segment
// gets its own blocks (AUTO: when the blocks would be few, in `work`, which
// must hold segments x N x OC floats: without it, never); the tests run each
// on the same inputs. The split's partials are added, in order, by the last
// block of each tile to arrive when `work` has a counter for every tile,
// else by a second kernel: the same operations (a decode step's graph has
// one node a product, not two).
enum { BI_KSEG = 256 };
typedef enum { BI_TILES_AUTO, BI_TILES_SMALL, BI_TILES_MEDIUM, BI_TILES_LARGE } bi_tiles;
typedef enum { BI_SPLIT_AUTO, BI_SPLIT_NEVER, BI_SPLIT_ALWAYS } bi_split;
template <typename O>
cudaError_t matmul_bi_tc_forward(O *out, const bf16 *inp, const bf16 *weight, const bf16 *bias, size_t N, int IC,
                                 int OC, bool accumulate, bi_tiles tiles, bi_split split, bi_work work,
                                 cudaStream_t s);

}  // namespace pic_cuda

#endif
