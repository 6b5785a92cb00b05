// The CUDA twin of matmul_bi.h: nn.Linear in one fixed order of float
// operations per output element, whatever the number of rows, the tile an
// element falls in or the launch that computes it: the batch-invariant
// product generation and scoring use on a GPU (docs/gpu.md, Generation).
// matmul.cu's cuBLASLt product stays beside it for --fast and training.
#ifndef PIC_MODEL_CUDA_MATMUL_BI_CUH
#define PIC_MODEL_CUDA_MATMUL_BI_CUH

#include "model/cuda/common.cuh"

namespace pic_cuda {

// The contract of matmul_bi.h, element (n, j) exactly as the CPU computes
// it: init + reduce16(lanes), lanes[l] the fused multiply-adds over
// k = l (mod 16), ascending k, reduce16 the pairwise tree (+8, +4, +2, +1),
// init = (accumulate ? out[n, j] : 0) + bias[j]. Inputs of type T are read
// as float (bf16 converts exactly), so in float32 the GPU's products are
// the CPU's bits; out's type O is T, or float for the lm_head's logits.
template <typename T, typename O>
cudaError_t matmul_bi_forward(O *out, const T *inp, const T *weight, const T *bias, size_t N, int IC, int OC,
                              bool accumulate, cudaStream_t s);

}  // namespace pic_cuda

#endif
