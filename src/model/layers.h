/* The layers of the transformer, one forward function each, in files by
 * concern (rmsnorm.c, matmul.c, rope.c, attention.c, swiglu.c, embedding.c,
 * logits.c). A backward pass sits beside each later with the same stem
 * (rmsnorm_backward), and the CUDA versions in src/model/cuda/ in .cu files
 * of the same stems with the same names (cuda/layers.cuh). All tensors are
 * row-major float32; N counts tokens packed
 * sequence after sequence (no padding). */
#ifndef PIC_MODEL_LAYERS_H
#define PIC_MODEL_LAYERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/config.h"
#include "model/kvcache.h"

/* out[N, C] = embed[tokens[n], :] */
void embedding_forward(float *out, const int32_t *tokens, const float *embed, size_t N, int C);

/* out[N, C] = inp / rms(inp) * weight; rstd[N] keeps 1/rms for backward.
 * out may equal inp. */
void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, size_t N, int C,
                     float eps);

/* out[N, OC] (+)= inp[N, IC] . weight[OC, IC]^T + bias[OC] (bias may be NULL):
 * nn.Linear through OpenBLAS sgemm, split over the pool in blocks of rows
 * (the same bits as one call, at any thread count; matmul.c). */
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, size_t N,
                    int IC, int OC, bool accumulate);

/* The per-pair rotation frequencies (head_dim / 2 of them) of c's RoPE type,
 * computed in float32 as transformers does, and the cos and sin tables
 * ([N, head_dim / 2]) for the given positions. */
void rope_inv_freq(float *inv_freq, const pic_rope_config *r, int head_dim);
void rope_tables(float *cos, float *sin, const int *pos, size_t N, const float *inv_freq, int head_dim,
                 float attention_factor);
/* Rotates x[N, n_heads * head_dim] in place, in transformers' rotate_half
 * layout (pair i is (x[i], x[i + head_dim/2])). */
void rope_forward(float *x, size_t N, int n_heads, int head_dim, const float *cos, const float *sin);

/* Splits the fused projection qkv[N, qd + 2 kvd] into q[N, qd], k[N, kvd] and v[N, kvd]. */
void qkv_split_forward(float *q, float *k, float *v, const float *qkv, size_t N, int qd, int kvd);

/* Where attention finds each new token's sequence, position and keys: one
 * base address and an offset per sequence, or a page table (a KV cache's,
 * kvcache.h), no table of pointers, so the same description serves host
 * and device memory (the cache's pages or the batch's own keys, packed). */
typedef struct {
    size_t N;
    const int *tok_seq;      /* [N] sequence of each new token */
    const int *tok_pos;      /* [N] absolute position of each new token */
    const float *k, *v;      /* the base of keys and of values (after RoPE) */
    const size_t *seq_off;   /* [n_seq] packed keys: elements from k (and v) to position 0 of sequence s;
                              * paged: where s's row of the page table starts */
    size_t kv_stride;        /* elements between consecutive positions */
    const int *page;         /* NULL (packed), or the page table: position j of s is row j % PIC_KV_PAGE
                              * of page page[seq_off[s] + j / PIC_KV_PAGE], whose rows start at
                              * k + page * PIC_KV_PAGE * kv_stride */
} pic_attn_input;

/* Elements from in->k (and in->v) to position j of sequence s. Positions
 * j .. j + n - 1 are kv_stride apart when they lie in one page (j a
 * multiple of n, n dividing PIC_KV_PAGE): every kernel reads keys so. */
static inline size_t pic_attn_key(const pic_attn_input *in, int s, int j) {
    if (!in->page) return in->seq_off[s] + (size_t)j * in->kv_stride;
    size_t page = (size_t)in->page[in->seq_off[s] + (size_t)(j / PIC_KV_PAGE)];
    return (page * PIC_KV_PAGE + (size_t)(j % PIC_KV_PAGE)) * in->kv_stride;
}

/* The workspace attention_forward needs for N tokens whose sequences hold up
 * to max_ctx positions, in bytes (the caller keeps it, so a forward pass
 * allocates nothing). */
size_t attention_workspace_size(size_t N, int max_ctx, int n_heads, int n_kv_heads);

/* Causal grouped-query attention: out[N, n_heads * head_dim] for queries
 * q[N, n_heads * head_dim] over positions 0..tok_pos of their sequence.
 * lse[N, n_heads] (may be NULL) keeps each softmax's log-sum-exp so that a
 * backward can recompute the probabilities instead of storing them. work
 * holds attention_workspace_size bytes (for at most max_ctx positions). */
void attention_forward(float *out, float *lse, const float *q, const pic_attn_input *in, int n_heads,
                       int n_kv_heads, int head_dim, void *work, size_t work_bytes);

/* out[N, F] = silu(gu[:, :F]) * gu[:, F:] (the gate and up halves of the fused projection) */
void swiglu_forward(float *out, const float *gu, size_t N, int F);

/* For each row of logits[N, V] at temperature T: logp[n] = log softmax(logits/T)[targets[n]]
 * and entropy[n] = entropy of softmax(logits/T), without materialising probabilities.
 * targets or logp may be NULL (entropy only); entropy may be NULL. */
void logprob_entropy_forward(float *logp, float *entropy, const float *logits, const int32_t *targets,
                             size_t N, int V, float temperature);

/* Backward passes (llm.c style), one beside each forward. Gradients of
 * inputs and of parameters ACCUMULATE (+=) unless said otherwise, so the
 * caller zeroes them once per optimizer step and micro-batches add up. */
/* pad: the token whose row gets no gradient (padding_idx), -1 for none */
void embedding_backward(float *dembed, const float *dout, const int32_t *tokens, size_t N, int C, int pad);
/* inp is the forward's input (not its output); dinp may not alias dout. */
void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                      const float *rstd, size_t N, int C);
/* Rows of C per block when a product C[M, N] = A[M, K] B[K, N] is split
 * over the pool (matmul.c says why these). */
size_t pic_gemm_block_rows(size_t N, size_t K);
/* True when an M x N x K product is too few rows to split but work enough
 * to go to OpenBLAS's own threads (with more than one pool thread): its
 * bits may then depend on their number. */
bool pic_gemm_unsplit_threaded(size_t M, size_t N, size_t K);
/* Any of dinp, dweight, dbias may be NULL. */
void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, size_t N, int IC, int OC);
/* In place: dx holds the gradient of the rotated x on entry, of x on return. */
void rope_backward(float *dx, size_t N, int n_heads, int head_dim, const float *cos, const float *sin);
/* Writes (does not accumulate) dqkv from dq, dk, dv. */
void qkv_split_backward(float *dqkv, const float *dq, const float *dk, const float *dv, size_t N, int qd, int kvd);
/* Packed sequences without a cache, as pic_forward runs them for training:
 * dk and dv are bases of the layout of in->k and in->v (in->seq_off,
 * in->kv_stride). out and lse are the forward's; dq, dk, dv accumulate. */
void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
                        const float *lse, const float *q, const pic_attn_input *in, int n_seq, int n_heads,
                        int n_kv_heads, int head_dim);
/* Writes (does not accumulate) dgu[N, 2F] from dh[N, F]. */
void swiglu_backward(float *dgu, const float *dh, const float *gu, size_t N, int F);
/* Writes dlogits[N, V] (may equal logits) for upstream dlogp[N] and dent[N]
 * (either may be NULL) of logprob_entropy_forward. */
void logprob_entropy_backward(float *dlogits, const float *logits, const int32_t *targets, const float *dlogp,
                              const float *dent, size_t N, int V, float temperature);

#endif
