// The twin of kvcache.c: the cache of a model on a GPU, the CPU's paged
// layout ([L][n_pages][PIC_KV_PAGE][kv_dim]) in the model's storage type,
// and the page table ([n_slots][slot_pages]) mirrored in device memory, so
// that attention reads a slot through the table (attn_input's page) in the
// same chunks as a packed sequence. The host owns the table, the counts
// and the free list (kvcache.c); the device copy of the table is brought up
// to date by each forward (the rows kvcache.c marked dirty, forward.cu),
// and a shared page written into is copied here (copy on write). A
// forward's keys and values go into their pages as RoPE is applied
// (qkv_rope_forward, rope.cu).
#include "model/cuda/entry.h"
#include "model/cuda/model.cuh"

namespace {

// Bytes of one page of one layer (k or v alone), and of one layer's pool.
size_t page_bytes(const pic_kvcache *kv) { return (size_t)PIC_KV_PAGE * kv->kv_dim * kv->elem_bytes; }
size_t layer_bytes(const pic_kvcache *kv) { return (size_t)kv->n_pages * page_bytes(kv); }

// Page src into page dst (offsets in 16-byte pieces) in every layer of k and of v.
__global__ void copy_page_kernel(uint4 *k, uint4 *v, size_t dst, size_t src, size_t piece, size_t layer,
                                 int n_layers) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, per = (size_t)n_layers * piece;
    if (i >= 2 * per) return;
    uint4 *base = i < per ? k : v;
    size_t j = i % per, at = j / piece * layer + j % piece;
    base[dst + at] = base[src + at];
}

// The decode attention's work list and, when rows are split over
// segments, their partial sums (attention.cu): at most every slot's every
// segment in a step.
struct decode_sizes {
    int seg_cap;
    size_t work, part; // bytes
};
decode_sizes decode_sizes_of(const pic_model *m, int n_slots, int max_len) {
    using namespace pic_cuda;
    const pic_config *c = &m->cfg;
    attn_decode mode = attention_decode_mode(m->dtype == PIC_DTYPE_BF16, c->n_heads, c->n_kv_heads, c->head_dim);
    decode_sizes z = {0, 0, 0};
    if (mode == ATTN_DECODE_HEAD) return z;
    z.seg_cap = attention_segments(max_len);
    size_t items = (size_t)n_slots * z.seg_cap;
    z.work = (1 + items) * sizeof(int2);
    if (mode == ATTN_DECODE_SPLIT) z.part = items * c->n_heads * ((size_t)c->head_dim + 2) * sizeof(float);
    return z;
}

int decode_buffers(pic_kvcache *kv, const pic_model *m, pic_err *err) {
    decode_sizes z = decode_sizes_of(m, kv->n_slots, kv->slot_pages * PIC_KV_PAGE);
    if (!z.work) return 0;
    kv->seg_cap = z.seg_cap;
    kv->work = (int *)malloc(z.work);
    cudaError_t e = kv->work ? cudaMalloc((void **)&kv->dev_work, z.work) : cudaErrorMemoryAllocation;
    if (e == cudaSuccess && z.part) e = cudaMalloc((void **)&kv->dev_part, z.part);
    if (e == cudaSuccess) return 0;
    pic_kvcache_free_cuda(kv);
    cudaGetLastError();
    return pic_err_set(err,
                       "the decode attention's partial sums (%d slots x %d segments of %d positions: %.2f GiB) do "
                       "not fit in the GPU's memory: lower --max-batch-size or --max-new-tokens (%s)",
                       kv->n_slots, z.seg_cap, pic_cuda::ATTN_SEG, (double)(z.work + z.part) / (1u << 30),
                       cudaGetErrorString(e));
}

}  // namespace

extern "C" int pic_kvcache_alloc_cuda(pic_kvcache *kv, const pic_model *m, pic_err *err) {
    kv->elem_bytes = m->dtype == PIC_DTYPE_BF16 ? 2 : 4;
    kv->stream = m->cuda->s;
    size_t bytes = (size_t)kv->n_layers * layer_bytes(kv), table = (size_t)kv->n_slots * kv->slot_pages * sizeof(int);
    // cudaMalloc of 0 bytes may give NULL, which pic_forward would read as "not on the device"
    if (!bytes || !table)
        return pic_err_set(err, "a KV cache of %d pages for %d slots x %d positions holds nothing", kv->n_pages,
                           kv->n_slots, kv->max_len);
    cudaError_t e = cudaMalloc(&kv->dev_k, bytes);
    if (e == cudaSuccess) e = cudaMalloc(&kv->dev_v, bytes);
    if (e == cudaSuccess) e = cudaMalloc((void **)&kv->dev_table, table);
    if (e != cudaSuccess) {
        pic_kvcache_free_cuda(kv);
        cudaGetLastError();
        return pic_err_set(err,
                           "the KV cache (%d pages of %d positions: %zu positions, %.2f GiB) does not fit in the "
                           "GPU's memory: lower --max-batch-size or --max-new-tokens or --kv-cache-tokens (%s)",
                           kv->n_pages, PIC_KV_PAGE, (size_t)kv->n_pages * PIC_KV_PAGE,
                           (2.0 * (double)bytes + (double)table) / (1u << 30), cudaGetErrorString(e));
    }
    if (decode_buffers(kv, m, err)) return -1;
    // the whole table once (no page yet); from here on forward.cu uploads the dirty rows
    PIC_CU(cudaMemcpyAsync(kv->dev_table, kv->table, table, cudaMemcpyHostToDevice, (cudaStream_t)kv->stream));
    return 0;
}

extern "C" size_t pic_kvcache_extra_bytes_cuda(const pic_model *m, int n_slots, int max_len) {
    decode_sizes z = decode_sizes_of(m, n_slots, max_len);
    return z.work + z.part;
}

extern "C" void pic_kvcache_free_cuda(pic_kvcache *kv) {
    cudaFree(kv->dev_k);
    cudaFree(kv->dev_v);
    cudaFree(kv->dev_table);
    cudaFree(kv->dev_work);
    cudaFree(kv->dev_part);
    free(kv->work);
    kv->dev_k = kv->dev_v = NULL;
    kv->dev_table = kv->work = kv->dev_work = NULL;
    kv->dev_part = NULL;
}

// One launch for all layers, k and v, on the model's stream, so that it
// lands after the forwards that wrote page src and before the one that
// writes page dst: a prompt's n samples copy n - 1 pages in their first
// step, which would be 2 L copies each (a 2-D copy over the layers would
// need a layer's pool as its pitch, past cudaMemcpy2D's 2^31 bytes for
// large models and pools). A page is PIC_KV_PAGE rows: a multiple of 16
// bytes, copied 16 at a time.
extern "C" int pic_kvcache_copy_page_cuda(pic_kvcache *kv, int dst, int src, pic_err *err) {
    if (dst < 0 || dst >= kv->n_pages || src < 0 || src >= kv->n_pages)
        return pic_err_set(err, "kv cache: no page %d or %d in a pool of %d", src, dst, kv->n_pages);
    static_assert(PIC_KV_PAGE * 2 % sizeof(uint4) == 0, "a page is whole 16-byte pieces");
    size_t piece = page_bytes(kv) / sizeof(uint4), layer = layer_bytes(kv) / sizeof(uint4);
    size_t n = 2 * (size_t)kv->n_layers * piece;
    copy_page_kernel<<<pic_cuda::blocks_for(n, 256), 256, 0, (cudaStream_t)kv->stream>>>(
        (uint4 *)kv->dev_k, (uint4 *)kv->dev_v, (size_t)dst * piece, (size_t)src * piece, piece, layer, kv->n_layers);
    PIC_LAUNCHED();
    return 0;
}
