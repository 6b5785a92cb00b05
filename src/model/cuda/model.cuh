// A model on a GPU (internal to the CUDA backend): the parameters in one
// device buffer of the host's layout (offsets in elements, model.h), and
// one arena, allocated at load for max_tokens tokens, that every forward
// pass carves the same way: nothing is allocated in the hot path.
#ifndef PIC_MODEL_CUDA_MODEL_CUH
#define PIC_MODEL_CUDA_MODEL_CUH

#include "model/cuda/layers.cuh"
#include "model/cuda/prof.cuh"

extern "C" {
#include "model/model.h"
}

// One layer's activations as a backward pass needs them (issue 11).
struct pic_cuda_acts {
    void *ln1, *qkv, *q, *k, *v, *att, *res1, *ln2, *gu, *h; // storage type
    float *rstd1, *rstd2, *qn_rstd, *kn_rstd, *lse;
};

// The training state (pic_train_init_cuda, model.cu): fp32 gradient, AdamW
// moments and master weights in the parameters' layout; every layer's input
// (xs[l], the embeddings' output at 0 and the final norm's input at L); the
// activations of every layer, or of one that backward recomputes
// (recompute); the backward's scratch. One allocation.
struct pic_cuda_train {
    bool recompute;
    void *arena;
    size_t arena_bytes;
    size_t lo, hi;                // the slice whose moments and (bf16) master weights this GPU keeps
    float *grad, *m, *v, *master; // m, v (and master in bf16) hold the slice; master is the weights in f32
    void **xs;                    // [L + 1] (host array of device pointers)
    pic_cuda_acts *sets;          // [L], or [1] with recompute (host array)
    float *dres, *dln, *dlnf, *D, *partial, *head_dlogp, *head_dent;
    double *norm_part, *norm;
    void *dres_t, *dh, *dgu, *datt, *dq, *dk, *dv, *dqkv, *qpre, *kpre, *vpre, *head_dz, *head_dx;
    int4 *ktiles;
    void *embed_scratch; // embedding_backward's sort
    size_t embed_scratch_bytes;
    void *pinned;
    float *h_dlogp, *h_dent;
    int4 *h_ktiles;
    double *h_norm;
};

// CUDA graphs of a decode step's layers (forward.cu): one per batch size,
// replayed with the cache they were captured with.
struct pic_cuda_graphs {
    cudaGraphExec_t *exec;  // [n] by batch size, NULL until captured
    unsigned char *warm;    // [n] that size ran once without a graph
    unsigned long *used;    // [n] the step that last launched it (least recent goes first)
    unsigned long step;
    size_t n, live;         // live: graphs held
    const void *key[5];     // the cache's pools, table and decode buffers the graphs read
    int key_pages, key_segs;
    bool bi, off;           // captured with batch_invariant; graphs refused (off)
    char why[160];          // why a capture failed and turned them off
};

struct pic_cuda_model {
    int device;
    cudaStream_t s;
    pic_cuda::blas *blas;
    void *params; // numel elements of the storage type
    size_t max_tokens, head_rows;
    // the rows of a head call staged at once (its row list, targets,
    // upstream gradients, log-probs and entropies): every token of a batch,
    // so that a call's blocks run back to back with one wait at the end
    size_t stage_rows;
    bool for_training; // the arena holds no layer activations: the training state's sets do
    void *arena;
    size_t arena_bytes, used_before; // device memory in use before load (for peak_bytes)
    // activations, storage type (one layer's set, reused); x is the
    // residual stream, each block's output added onto it in place
    void *x, *ln, *qkv, *q, *k, *v, *att, *gu, *h, *lnf, *head_x;
    // float statistics and tables
    float *rstd, *qn_rstd, *kn_rstd, *lse, *lnf_rstd, *cos, *sin, *inv_freq, *head_z, *head_lp, *head_ent;
    // the batch's layout: one block, copied up per forward from its pinned
    // twin in one call; the arrays are views into it at offsets that depend
    // on the forward's token count alone (pic_cuda::layout_views), so a
    // decode step's graph, kept per count, finds them where it captured them
    char *layout;
    int *tok_seq, *tok_pos;
    size_t *seq_off;
    int2 *tiles;
    int32_t *tokens;
    size_t *head_row;
    int32_t *head_target;
    void *workspace; // cuBLASLt's
    size_t workspace_bytes;
    int *bi_count; // the fixed-order product's tile counters, zero between products
    size_t bi_count_n;
    // pinned host staging of the same
    void *pinned;
    char *h_layout;
    int *h_tok_seq, *h_tok_pos;
    size_t *h_seq_off;
    int2 *h_tiles;
    int32_t *h_tokens;
    size_t *h_head_row;
    int32_t *h_head_target;
    float *h_head_lp, *h_head_ent;
    int n_tiles;            // of the last forward (its layout stays on the device for a backward)
    bool cached;            // the last forward went through a KV cache (no backward from it)
    int n_single, work_cap; // its one-token tiles, last, for the decode attention (when kv has a work list)
    pic_cuda_train *train;  // NULL unless training
    pic_cuda_graphs graphs; // decode steps' (forward.cu)
    pic_cuda::prof_state *prof; // PIC_CUDA_PROFILE's (prof.cu), else NULL
};

namespace pic_cuda {

// Parameters of the device buffer at an offset of the layout (NULL when absent).
template <typename T> const T *param(const pic_model *m, size_t off) {
    return off == PIC_PARAM_ABSENT ? NULL : (const T *)m->cuda->params + off;
}

// The layout block of a forward of N tokens, at most N sequences and N
// tiles: [seq_off: N][tiles: N][tok_seq: N][tok_pos: N][tokens: N], the
// 8-byte arrays first.
inline size_t layout_bytes(size_t N) {
    return N * (sizeof(size_t) + sizeof(int2) + sizeof(int) + sizeof(int) + sizeof(int32_t));
}
// Points the layout's arrays, on the device and pinned, at their places for N tokens.
inline void layout_views(pic_cuda_model *cm, size_t N) {
    char *base[2] = {cm->layout, cm->h_layout};
    for (int i = 0; i < 2; i++) {
        size_t *seq_off = (size_t *)base[i];
        int2 *tiles = (int2 *)(seq_off + N);
        int *tok_seq = (int *)(tiles + N), *tok_pos = tok_seq + N;
        int32_t *tokens = (int32_t *)(tok_pos + N);
        if (i == 0) cm->seq_off = seq_off, cm->tiles = tiles, cm->tok_seq = tok_seq, cm->tok_pos = tok_pos, cm->tokens = tokens;
        else cm->h_seq_off = seq_off, cm->h_tiles = tiles, cm->h_tok_seq = tok_seq, cm->h_tok_pos = tok_pos, cm->h_tokens = tokens;
    }
}

// rows[i] of src[., C] into dst[i, C]
template <typename T> __global__ void gather_rows(T *dst, const T *src, const size_t *rows, size_t k, int C) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= k * (size_t)C) return;
    dst[i] = src[rows[i / C] * C + i % C];
}

// Layer l's activations: its own set when training keeps them all, else
// the one set every layer reuses (the inference arena's, where both norms
// share one buffer).
template <typename T> struct layer_bufs {
    T *ln1, *qkv, *q, *k, *v, *att, *res1, *ln2, *gu, *h;
    float *rstd1, *rstd2, *qn_rstd, *kn_rstd, *lse;
};

template <typename T> layer_bufs<T> layer_at(const pic_cuda_model *cm, int l) {
    if (cm->train) {
        const pic_cuda_acts &a = cm->train->sets[cm->train->recompute ? 0 : l];
        return {(T *)a.ln1, (T *)a.qkv, (T *)a.q, (T *)a.k, (T *)a.v, (T *)a.att, (T *)a.res1, (T *)a.ln2,
                (T *)a.gu, (T *)a.h, a.rstd1, a.rstd2, a.qn_rstd, a.kn_rstd, a.lse};
    }
    return {(T *)cm->ln, (T *)cm->qkv, (T *)cm->q, (T *)cm->k, (T *)cm->v, (T *)cm->att, (T *)cm->x,
            (T *)cm->ln, (T *)cm->gu, (T *)cm->h, cm->rstd, cm->rstd, cm->qn_rstd, cm->kn_rstd, cm->lse};
}

// The input of layer l (l = n_layers: the final norm's); layer l writes
// layer_in(l + 1). Training keeps each layer's input for the backward;
// inference has one residual stream (x, also each layer's res1), which the
// layers' attention and MLP outputs are added onto in place: no copy of it
// a layer (two graph nodes a layer of a decode step, where each node's
// latency costs as much as its work).
template <typename T> T *layer_in(const pic_cuda_model *cm, int l) {
    if (cm->train) return (T *)cm->train->xs[l];
    (void)l;
    return (T *)cm->x;
}

// forward.cu: drops the decode graphs (a new cache, a freed model).
void graphs_reset(pic_cuda_model *cm);

// forward.cu: layer l of the last batch's layout (kv: generation's cache, or
// NULL; backward.cu recomputes a layer under --recompute with NULL).
template <typename T> int layer_forward(pic_model *m, pic_kvcache *kv, int l, size_t N, pic_err *err);

}  // namespace pic_cuda

#endif
