// The device side of the KV cache (kvcache.h): appending a forward pass's
// keys and values to their sequences' slots.
#ifndef PIC_MODEL_CUDA_KVCACHE_CUH
#define PIC_MODEL_CUDA_KVCACHE_CUH

#include "model/cuda/common.cuh"

namespace pic_cuda {

// Token n's key and value rows k[n], v[n] ([N, kvd]) go to position
// tok_pos[n] of its sequence's slot: cache + seq_off[tok_seq[n]] +
// tok_pos[n] * kvd, for the cache of one layer (ck, cv).
template <typename T>
cudaError_t kvcache_append(T *ck, T *cv, const T *k, const T *v, const int *tok_seq, const int *tok_pos,
                           const size_t *seq_off, size_t N, int kvd, cudaStream_t s);

}  // namespace pic_cuda

#endif
