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

extern "C" {
#include "model/kvcache.h" // PIC_KV_PAGE, the page a chunk of keys lies in
}

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

// Where qkv_rope_forward appends the keys and values (k NULL: nowhere): a
// layer's pool of pages of a KV cache, and the batch's layout: token n's
// row goes to position tok_pos[n] of its sequence, through the page table
// row at seq_off[tok_seq[n]], where attention reads it (attn_key).
template <typename T> struct kv_dest {
    T *k, *v;
    const int *tok_seq, *tok_pos;
    const size_t *seq_off;
    const int *page;
};
// The attention's inputs from the qkv product in one pass: q, k and v split
// out of qkv[N, (nh + 2 nkv) head_dim] (qkv NULL: already split into q, k
// and v, as after Qwen3's q/k norms), q and k rotated, k and v appended to
// cache. The operations of qkv_split_forward and rope_forward on q and on
// k, so the same bits, in one launch where there were four (the append was
// a kernel of its own): at batch 1 a decode step's kernels are latency,
// each launch in its graph costing about what its work does.
template <typename T>
cudaError_t qkv_rope_forward(T *q, T *k, T *v, const T *qkv, size_t N, int nh, int nkv, int head_dim,
                             const float *cos, const float *sin, kv_dest<T> cache, cudaStream_t s);

// pic_attn_input in device memory, keys of type T.
template <typename T> struct attn_input {
    size_t N;
    const int *tok_seq, *tok_pos; // [N]
    const T *k, *v;               // bases
    const size_t *seq_off;        // [n_seq] packed: elements from k (and v) to position 0 of sequence s;
                                  // paged: where s's row of the page table starts
    size_t kv_stride;
    const int2 *tiles;            // [n_tiles]: (first token, tokens) runs of one sequence, <= ATTN_TILE each
    int n_tiles;
    const int *page;              // nullptr (packed), or a KV cache's page table (kvcache.h)
    // Decode attention (bf16 on tensor cores, attention_decode_mode): with
    // work set, the last n_single tiles hold one token each (a decode row,
    // or a prompt of one token) and are computed a kv head's query group at
    // a time, by the work items attention_decode_work lists: work[0].x is
    // their count, work[1 + w] = (single tile i, segment s, or -1 for all).
    // With part set, a row whose keys span several segments has one item
    // per segment, which writes its partial sums to part (row i, segment s:
    // [(i seg_cap + s) n_heads + head][head_dim + 2], the output then m and
    // l), and attention_forward merges them in order afterwards.
    int n_single;
    const int2 *work;
    int work_cap;                 // the most items work can list (the launch's size)
    float *part;
    int seg_cap;
};

// Elements from a layer's pool of pages to position j of the slot whose
// row of the page table starts at page + row (positions stride apart).
__device__ __forceinline__ size_t page_key(const int *page, size_t row, int j, size_t stride) {
    return ((size_t)page[row + (size_t)(j / PIC_KV_PAGE)] * PIC_KV_PAGE + (size_t)(j % PIC_KV_PAGE)) * stride;
}

// pic_attn_key: elements from in.k (and in.v) to position j of sequence s.
// A kernel reads keys in chunks of n positions starting at a multiple of n,
// n dividing PIC_KV_PAGE, so a chunk lies in one page: it asks for the
// chunk's first position and steps kv_stride from there, paged or not.
template <typename T> __device__ __forceinline__ size_t attn_key(const attn_input<T> &in, int s, int j) {
    return in.page ? page_key(in.page, in.seq_off[s], j, in.kv_stride) : in.seq_off[s] + (size_t)j * in.kv_stride;
}

// ATTN_SEG: in bf16 on tensor cores a row's softmax is defined over
// segments of this many key positions (from position 0): each segment's
// sums from a fresh start, the segments merged in order. Any kernel may
// then compute a row's segments in one block or in many and get the same
// bits, which is what lets decode split a long context over blocks and
// still equal scoring (docs/gpu.md, "Decode attention").
enum { ATTN_TILE = 64, ATTN_SEG = 512 };
// Causal GQA, flash style: each block takes a tile of queries of one
// sequence and one head, streams the keys through shared memory with an
// online softmax (no [T, T] matrix anywhere), and saves the log-sum-exp
// lse[N, n_heads]. Any even head_dim up to 256.
template <typename T>
cudaError_t attention_forward(T *out, float *lse, const T *q, const attn_input<T> &in, int n_heads,
                              int n_kv_heads, int head_dim, cudaStream_t s);

// How a step's one-token tiles are computed: a block per query head
// (HEAD: the tile kernel, reading a kv head's keys once per head of its
// group), a block per kv head with the group's heads as its rows (GROUP:
// the keys read once), or that split into a block per ATTN_SEG positions
// (SPLIT, the default where it applies: a long context no longer runs in
// one block). Every mode gives the same bits. GROUP and SPLIT need bf16 on
// tensor cores and groups of at most 16 heads; PIC_CUDA_DECODE_ATTN=head
// or group picks the others, for the benchmark.
enum attn_decode { ATTN_DECODE_HEAD, ATTN_DECODE_GROUP, ATTN_DECODE_SPLIT };
attn_decode attention_decode_mode(bool bf16, int n_heads, int n_kv_heads, int head_dim);
// Whether bf16 attention at head_dim runs on tensor cores in this process
// (heads of 64 and 128, where the GPU's blocks hold the tile kernel's
// shared memory, unless PIC_CUDA_ATTN=simt).
bool attention_tensor_cores(int head_dim);
// The shared memory a block of attention_forward needs at head_dim (bf16 or
// float), and what a block of this process's GPU may have: a model whose
// heads need more is refused at load (model.cu), not at its first pass.
size_t attention_smem_bytes(bool bf16, int head_dim);
size_t attention_smem_limit();
// The same for attention_backward (pic_train_init_cuda refuses a model
// whose backward the GPU cannot run).
size_t attention_backward_smem_bytes(bool bf16, int head_dim);
// The work items of the one-token tiles[0..n) (host copies of the tiles
// and of each token's position) into work (work[0].x their count,
// attn_input's format); returns the count. A SPLIT row at position p has
// p / ATTN_SEG + 1 items.
int attention_decode_work(int2 *work, const int2 *tiles, const int *tok_pos, int n, attn_decode mode);
// Segments of a sequence of max_len positions (attn_input's seg_cap).
__host__ __device__ inline int attention_segments(int max_len) { return (max_len + ATTN_SEG - 1) / ATTN_SEG; }

// out[N, F] = silu(gu[:, :F]) * gu[:, F:]
template <typename T> cudaError_t swiglu_forward(T *out, const T *gu, size_t N, int F, cudaStream_t s);

// Rows of logits[N, V] (float): log p of targets (may be NULL) and entropy
// at temperature T; logp or entropy may be NULL. With rows (device, [N]),
// output i is the row rows[i] of logits (a row drawn from several times);
// each output is one block's, so the bits do not depend on it.
cudaError_t logprob_entropy_forward(float *logp, float *entropy, const float *logits, const int32_t *targets,
                                    size_t N, int V, float temperature, cudaStream_t s, const int *rows = nullptr);


// ---- backward (issue 11): one beside each forward, the CPU's names ------
// As on the CPU, gradients ACCUMULATE (+=) unless said otherwise: the
// caller zeroes them once. Parameter gradients are float (the optimizer's
// buffer) whatever T; activation gradients are T, or float where a sum runs
// down the residual stream (G below). Every sum runs in a fixed order: no
// atomics, so a step's gradient is the same bits run after run.

// dst[c] += sum over p < P of partial[p * C + c], p ascending.
cudaError_t sum_partials(float *dst, const float *partial, int P, int C, cudaStream_t s);
// Rows are cut into this many chunks for column sums; partial scratch holds
// COL_CHUNKS * C floats.
enum { COL_CHUNKS = 64 };
// dst[c] += sum over n of src[n * C + c] (a bias's gradient), through scratch.
template <typename T>
cudaError_t col_sums(float *dst, const T *src, size_t N, int C, float *scratch, cudaStream_t s);
// dst[i] = src[i] in another type (the float residual gradient into T for a product).
template <typename D, typename S> cudaError_t convert(D *dst, const S *src, size_t n, cudaStream_t s);

// dembed[tokens[n], :] += dout[n, :], n ascending for each row, as the CPU
// adds (tokens below V; the positions sorted by token in scratch, of
// embedding_backward_scratch(N, V) bytes or more), except the row of pad
// (padding_idx; -1 for none).
size_t embedding_backward_scratch(size_t N, int V);
cudaError_t embedding_backward(float *dembed, const float *dout, const int32_t *tokens, size_t N, int C, int V,
                               int pad, void *scratch, size_t scratch_bytes, cudaStream_t s);
// dinp (G) += ..., dweight (may be NULL) += ... through scratch (chunks * C
// floats): the rows in chunks, summed in order. COL_CHUNKS for a layer's
// norm; the q/k norms, whose rows are the N x heads of width head_dim, take
// COL_CHUNKS * heads, so that as many threads work as for a layer's norm.
template <typename T, typename G>
cudaError_t rmsnorm_backward(G *dinp, float *dweight, const G *dout, const T *inp, const T *weight,
                             const float *rstd, size_t N, int C, float *scratch, int chunks, cudaStream_t s);
// dinp[N, IC] (D: T or float) += dout . W; dweight[OC, IC] += dout^T . inp
// (float); dbias[OC] += column sums of dout (through scratch). Any of
// dinp, dweight, dbias may be NULL. fresh: dinp = dout . W (beta 0), for a
// scratch gradient that a memset would otherwise zero first (a write and
// a read of it less); the weights' gradients always accumulate. Returns 0,
// or -1 with a message.
template <typename T, typename D>
int matmul_backward(blas *b, D *dinp, float *dweight, float *dbias, const T *dout, const T *inp, const T *weight,
                    size_t N, int IC, int OC, float *scratch, pic_err *err, bool fresh = false);
// In place: the rotation's transpose.
template <typename T>
cudaError_t rope_backward(T *dx, size_t N, int n_heads, int head_dim, const float *cos, const float *sin,
                          cudaStream_t s);
// Writes (does not accumulate) dqkv from dq, dk, dv.
template <typename T>
cudaError_t qkv_split_backward(T *dqkv, const T *dq, const T *dk, const T *dv, size_t N, int qd, int kvd,
                               cudaStream_t s);
// Key tiles of the backward: (first key's token, keys, the sequence's first
// token, its length); up to ATTN_KTILE keys of one sequence each.
enum { ATTN_KTILE = 32 };
// Flash-style backward of attention_forward over packed sequences without a
// cache (in.page nullptr: key tiles count positions from each sequence's
// first token, and dk, dv are the batch's own): the probabilities recomputed from lse, never stored. D[N, n_heads]
// is scratch (rowsum(dout * out)). One pass per key tile writes dk, dv;
// one per query tile writes dq: each output has one owner, sums in a fixed
// order. dq, dk, dv accumulate; dk, dv in the layout of in.k, in.v.
template <typename T>
cudaError_t attention_backward(T *dq, T *dk, T *dv, const T *dout, const T *out, const float *lse, const T *q,
                               const attn_input<T> &in, const int4 *ktiles, int n_ktiles, int n_heads,
                               int n_kv_heads, int head_dim, float *D, cudaStream_t s);
// Writes (does not accumulate) dgu[N, 2F] from dh[N, F].
template <typename T> cudaError_t swiglu_backward(T *dgu, const T *dh, const T *gu, size_t N, int F, cudaStream_t s);
// Writes dlogits[N, V] (type O: float, in place allowed, or T) for upstream
// dlogp and dent (either may be NULL).
template <typename O>
cudaError_t logprob_entropy_backward(O *dlogits, const float *logits, const int32_t *targets, const float *dlogp,
                                     const float *dent, size_t N, int V, float temperature, cudaStream_t s);

// ---- the optimizer (twins of src/model/adamw.c) ------------------------
// The sum of the squares of g[n], the global L2 norm's square (in double,
// fixed blocks then a fixed tree), into *ss (device); scratch holds
// NORM_BLOCKS doubles.
enum { NORM_BLOCKS = 1024 };
cudaError_t grad_sumsq(double *ss, const float *g, size_t n, double *scratch, cudaStream_t s);
// g *= coef
cudaError_t scale(float *g, size_t n, float coef, cudaStream_t s);
// torch's AdamW in float32, as pic_adamw_step; with weights (bf16, or NULL)
// the updated master param is also written there rounded.
template <typename T>
cudaError_t pic_adamw_step(float *param, const float *grad, float *m, float *v, size_t n, double lr, double beta1,
                           double beta2, double eps, double weight_decay, long t, T *weights, cudaStream_t s);

}  // namespace pic_cuda

#endif
