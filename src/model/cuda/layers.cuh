// The CUDA twins of layers.h: the same names in namespace pic_cuda (C++
// linkage, so they never clash with the C functions), in .cu files of the
// same stems as the CPU's (rmsnorm.c / rmsnorm.cu, ...), so that forward.c
// and forward.cu read side by side. Each is templated on the storage type
// T (float or bf16) of activations and weights; arithmetic is float, norms
// and softmax statistics included. Pointers are device pointers; calls are
// asynchronous on stream s and return the launch's error.
#ifndef PIC_MODEL_CUDA_LAYERS_CUH
#define PIC_MODEL_CUDA_LAYERS_CUH

#include "model/cuda/common.cuh"

namespace pic_cuda {

// out[N, C] = embed[tokens[n], :]
template <typename T>
cudaError_t embedding_forward(T *out, const int32_t *tokens, const T *embed, size_t N, int C, cudaStream_t s);

// out[N, C] = inp / rms(inp) * weight; rstd[N] (may be NULL) keeps 1/rms. out may equal inp.
template <typename T>
cudaError_t rmsnorm_forward(T *out, float *rstd, const T *inp, const T *weight, size_t N, int C, float eps,
                            cudaStream_t s);

// cuBLASLt, its workspace and the plans it chose, per model (matmul.cu).
struct blas;
int blas_create(blas **b, cudaStream_t s, void *workspace, size_t workspace_bytes, bool pedantic, pic_err *err);
void blas_destroy(blas *b);

// out[N, OC] (+)= inp[N, IC] . weight[OC, IC]^T + bias[OC] (bias may be NULL),
// the bias in cuBLASLt's epilogue, float accumulation; out's type O is T, or
// float for the lm_head's logits. Returns 0, or -1 with a message.
// (Part 3 puts a fixed-order, batch-invariant product beside this one.)
template <typename T, typename O>
int matmul_forward(blas *b, O *out, const T *inp, const T *weight, const T *bias, size_t N, int IC, int OC,
                   bool accumulate, pic_err *err);

// The cos and sin tables ([N, head_dim / 2], float) for positions pos.
cudaError_t rope_tables(float *cos, float *sin, const int *pos, size_t N, const float *inv_freq, int head_dim,
                        float attention_factor, cudaStream_t s);
// Rotates x[N, n_heads * head_dim] in place (rotate_half layout).
template <typename T>
cudaError_t rope_forward(T *x, size_t N, int n_heads, int head_dim, const float *cos, const float *sin,
                         cudaStream_t s);

template <typename T>
cudaError_t qkv_split_forward(T *q, T *k, T *v, const T *qkv, size_t N, int qd, int kvd, cudaStream_t s);

// pic_attn_input in device memory, keys of type T.
template <typename T> struct attn_input {
    size_t N;
    const int *tok_seq, *tok_pos; // [N]
    const T *k, *v;               // bases
    const size_t *seq_off;        // [n_seq] elements from k (and v) to position 0 of sequence s
    size_t kv_stride;
    const int2 *tiles;            // [n_tiles]: (first token, tokens) runs of one sequence, <= ATTN_TILE each
    int n_tiles;
};
enum { ATTN_TILE = 64 };
// Causal GQA, flash style: each block takes a tile of queries of one
// sequence and one head, streams the keys through shared memory with an
// online softmax (no [T, T] matrix anywhere), and saves the log-sum-exp
// lse[N, n_heads]. Any even head_dim up to 256.
template <typename T>
cudaError_t attention_forward(T *out, float *lse, const T *q, const attn_input<T> &in, int n_heads,
                              int n_kv_heads, int head_dim, cudaStream_t s);

// out[N, F] = silu(gu[:, :F]) * gu[:, F:]
template <typename T> cudaError_t swiglu_forward(T *out, const T *gu, size_t N, int F, cudaStream_t s);

// Rows of logits[N, V] (float): log p of targets (may be NULL) and entropy
// at temperature T; logp or entropy may be NULL.
cudaError_t logprob_entropy_forward(float *logp, float *entropy, const float *logits, const int32_t *targets,
                                    size_t N, int V, float temperature, cudaStream_t s);

}  // namespace pic_cuda

#endif
