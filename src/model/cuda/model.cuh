// A model on a GPU (internal to the CUDA backend): the parameters in one
// device buffer of the host's layout (offsets in elements, model.h), and
// one arena, allocated at load for max_tokens tokens, that every forward
// pass carves the same way: nothing is allocated in the hot path.
#ifndef PIC_MODEL_CUDA_MODEL_CUH
#define PIC_MODEL_CUDA_MODEL_CUH

#include "model/cuda/layers.cuh"

extern "C" {
#include "model/model.h"
}

struct pic_cuda_model {
    int device;
    cudaStream_t s;
    pic_cuda::blas *blas;
    void *params; // numel elements of the storage type
    size_t max_tokens, head_rows;
    void *arena;
    size_t arena_bytes, used_before; // device memory in use before load (for peak_bytes)
    // activations, storage type (one layer's set, reused)
    void *x, *ln, *qkv, *q, *k, *v, *att, *res1, *res2, *gu, *h, *lnf, *head_x;
    // float statistics and tables
    float *rstd, *qn_rstd, *kn_rstd, *lse, *lnf_rstd, *cos, *sin, *inv_freq, *head_z, *head_lp, *head_ent;
    // the batch's layout, uploaded per forward from the pinned copies below
    int *tok_seq, *tok_pos;
    size_t *seq_off, *head_row;
    int2 *tiles;
    int32_t *tokens, *head_target;
    void *workspace; // cuBLASLt's
    size_t workspace_bytes;
    // pinned host staging of the same
    void *pinned;
    int *h_tok_seq, *h_tok_pos;
    size_t *h_seq_off, *h_head_row;
    int2 *h_tiles;
    int32_t *h_tokens, *h_head_target;
    float *h_head_lp, *h_head_ent;
};

#endif
