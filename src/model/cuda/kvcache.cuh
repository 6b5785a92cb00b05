// The device side of the KV cache (kvcache.h): appending a forward pass's
// keys and values to their sequences' pages.
#ifndef PIC_MODEL_CUDA_KVCACHE_CUH
#define PIC_MODEL_CUDA_KVCACHE_CUH

#include "model/cuda/layers.cuh"

namespace pic_cuda {

// Token n's key and value rows k[n], v[n] ([N, kvd]) go to position
// tok_pos[n] of its sequence in one layer's pool (ck, cv): row tok_pos[n] %
// PIC_KV_PAGE of the page its table row (page + seq_off[tok_seq[n]]) names
// for it, where attention will read it (attn_key). The pages must be the
// sequence's own (pic_kvcache_grow has run).
template <typename T>
cudaError_t kvcache_append(T *ck, T *cv, const T *k, const T *v, const int *tok_seq, const int *tok_pos,
                           const size_t *seq_off, const int *page, size_t N, int kvd, cudaStream_t s);

}  // namespace pic_cuda

#endif
