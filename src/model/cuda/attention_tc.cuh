// The tensor-core attention kernels (attention_tc.cu, attention_decode.cu)
// as attention.cu calls them: bf16, head_dim 64 or 128 only.
#ifndef PIC_MODEL_CUDA_ATTENTION_TC_CUH
#define PIC_MODEL_CUDA_ATTENTION_TC_CUH

#include "model/cuda/layers.cuh"

namespace pic_cuda {

// The shared memory a block of the forward tile kernel, and the larger of
// the backward's two passes, need.
size_t attention_tc_smem_bytes(int head_dim);
size_t attention_tc_backward_smem_bytes(int head_dim);

// attention_forward's contract (layers.cuh) on tensor cores.
cudaError_t attention_tc_forward(bf16 *out, float *lse, const bf16 *q, const attn_input<bf16> &in, int nh, int nkv,
                                 int head_dim, cudaStream_t s);

// The decode kernels' part of attention_tc_forward: in's one-token rows
// (its work list), as attention_decode.cu runs them.
cudaError_t attention_decode_tc(bf16 *out, float *lse, const bf16 *q, const attn_input<bf16> &in, int nh, int nkv,
                                int head_dim, cudaStream_t s);

// attention_backward's two passes after D (layers.cuh), *e their launch's
// error; false, and nothing launched, when the GPU cannot give the kernels
// their shared memory (an A100's 164 KB a block): then the SIMT passes run.
bool attention_tc_backward(bf16 *dq, bf16 *dk, bf16 *dv, const bf16 *dout, const float *lse, const float *D,
                           const bf16 *q, const attn_input<bf16> &in, const int4 *ktiles, int n_ktiles, int nh, int nkv,
                           int head_dim, cudaStream_t s, cudaError_t *e);

}  // namespace pic_cuda

#endif
