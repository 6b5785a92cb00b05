// The twin of kvcache.c: the cache of a model on a GPU, the CPU's layout
// ([L][n_slots][max_len][kv_dim]) in the model's storage type, so that the
// attention kernel reads a slot as it reads a packed sequence (a base and an
// offset per sequence, docs/gpu.md). Slots are contiguous: a slot holds
// max_len positions whatever its sequence uses.
#include "model/cuda/entry.h"
#include "model/cuda/kvcache.cuh"
#include "model/cuda/model.cuh"

namespace pic_cuda {

template <typename T>
__global__ void kvcache_append_kernel(T *ck, T *cv, const T *k, const T *v, const int *tok_seq, const int *tok_pos,
                                      const size_t *seq_off, size_t N, int kvd) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N * (size_t)kvd) return;
    size_t n = i / kvd, d = i % kvd, at = seq_off[tok_seq[n]] + (size_t)tok_pos[n] * kvd + d;
    ck[at] = k[i];
    cv[at] = v[i];
}

template <typename T>
cudaError_t kvcache_append(T *ck, T *cv, const T *k, const T *v, const int *tok_seq, const int *tok_pos,
                           const size_t *seq_off, size_t N, int kvd, cudaStream_t s) {
    if (!N) return cudaSuccess;
    kvcache_append_kernel<<<blocks_for(N * (size_t)kvd, 256), 256, 0, s>>>(ck, cv, k, v, tok_seq, tok_pos, seq_off,
                                                                           N, kvd);
    return cudaGetLastError();
}

template cudaError_t kvcache_append<float>(float *, float *, const float *, const float *, const int *, const int *,
                                           const size_t *, size_t, int, cudaStream_t);
template cudaError_t kvcache_append<bf16>(bf16 *, bf16 *, const bf16 *, const bf16 *, const int *, const int *,
                                          const size_t *, size_t, int, cudaStream_t);

}  // namespace pic_cuda

extern "C" int pic_kvcache_alloc_cuda(pic_kvcache *kv, const pic_model *m, pic_err *err) {
    kv->elem_bytes = m->dtype == PIC_DTYPE_BF16 ? 2 : 4;
    kv->stream = m->cuda->s;
    size_t bytes = (size_t)kv->n_layers * kv->n_slots * kv->max_len * kv->kv_dim * kv->elem_bytes;
    // cudaMalloc of 0 bytes may give NULL, which pic_forward would read as "not on the device"
    if (!bytes)
        return pic_err_set(err, "a KV cache of %d slots x %d positions holds nothing", kv->n_slots, kv->max_len);
    cudaError_t e = cudaMalloc(&kv->dev_k, bytes);
    if (e == cudaSuccess) e = cudaMalloc(&kv->dev_v, bytes);
    if (e != cudaSuccess) {
        cudaFree(kv->dev_k);
        kv->dev_k = kv->dev_v = NULL;
        cudaGetLastError();
        return pic_err_set(err,
                           "the KV cache (%d slots x %d positions, %.2f GiB) does not fit in the GPU's memory: "
                           "lower --max-batch-size or --max-new-tokens (%s)",
                           kv->n_slots, kv->max_len, 2.0 * (double)bytes / (1u << 30), cudaGetErrorString(e));
    }
    return 0;
}

extern "C" void pic_kvcache_free_cuda(pic_kvcache *kv) {
    cudaFree(kv->dev_k);
    cudaFree(kv->dev_v);
    kv->dev_k = kv->dev_v = NULL;
}

// Two copies per layer (a 2-D copy over the layers would be one call, but
// its pitch, a layer's whole cache, passes cudaMemcpy2D's limit of 2^31
// bytes for large models and batches).
// The first n positions of slot ss of src into slot ds of dst.
extern "C" int pic_kvcache_fork_cuda(pic_kvcache *dst, int ds, const pic_kvcache *src, int ss, int n, pic_err *err) {
    size_t row = (size_t)src->kv_dim * src->elem_bytes, width = (size_t)n * row;
    size_t dlayer = (size_t)dst->n_slots * dst->max_len * row, slayer = (size_t)src->n_slots * src->max_len * row;
    size_t doff = (size_t)ds * dst->max_len * row, soff = (size_t)ss * src->max_len * row;
    cudaStream_t s = (cudaStream_t)dst->stream;
    for (int l = 0; l < src->n_layers && width; l++) {
        PIC_CU(cudaMemcpyAsync((char *)dst->dev_k + l * dlayer + doff, (const char *)src->dev_k + l * slayer + soff,
                               width, cudaMemcpyDeviceToDevice, s));
        PIC_CU(cudaMemcpyAsync((char *)dst->dev_v + l * dlayer + doff, (const char *)src->dev_v + l * slayer + soff,
                               width, cudaMemcpyDeviceToDevice, s));
    }
    return 0;
}
