// Loading a model onto a GPU (the twin of model.c and params.c's buffer):
// the host's float parameters are converted to the storage type a chunk at
// a time and copied into one device buffer of the same layout; the arena
// for max_tokens tokens, cuBLASLt's workspace, the stream and the pinned
// staging of the batch's layout are made here, once. Out of memory names
// what did not fit and the option that lowers it.
#include <stdlib.h>
#include <string.h>

#include "model/cuda/entry.h"
#include "model/cuda/model.cuh"

extern "C" {
#include "model/safetensors.h"
}

using pic_cuda::bf16;

extern "C" bool pic_cuda_visible(void) {
    int n = 0;
    bool ok = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
    cudaGetLastError(); // no driver or no device is an answer, not a pending error
    return ok;
}

namespace {

const size_t kWorkspace = 32u << 20;
const double kGiB = 1024.0 * 1024.0 * 1024.0;

struct carver {
    char *base; // NULL when counting
    size_t off;
    template <typename X> X *take(size_t n) {
        X *p = base ? (X *)(base + off) : NULL;
        off += (n * sizeof(X) + 255) / 256 * 256; // cuBLASLt's preferred alignment
        return p;
    }
};

// One layout for counting and for carving: device arena, then pinned host.
void carve_device(carver &k, pic_cuda_model *cm, const pic_config *c, size_t es) {
    size_t N = cm->max_tokens, HR = cm->head_rows, C = c->hidden_size, F = c->intermediate_size;
    size_t hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads, qd = nh * hd, kvd = nkv * hd, V = c->vocab_size;
    void **act[] = {&cm->x, &cm->ln, &cm->qkv, &cm->q, &cm->k, &cm->v, &cm->att, &cm->res1, &cm->res2, &cm->gu,
                    &cm->h, &cm->lnf, &cm->head_x};
    size_t act_n[] = {N * C, N * C, N * (qd + 2 * kvd), N * qd, N * kvd, N * kvd, N * qd, N * C, N * C, N * 2 * F,
                      N * F, N * C, HR * C};
    for (size_t i = 0; i < sizeof act / sizeof *act; i++) *act[i] = k.take<char>(act_n[i] * es);
    cm->rstd = k.take<float>(N);
    cm->qn_rstd = k.take<float>(N * nh);
    cm->kn_rstd = k.take<float>(N * nkv);
    cm->lse = k.take<float>(N * nh);
    cm->lnf_rstd = k.take<float>(N);
    cm->cos = k.take<float>(N * hd / 2);
    cm->sin = k.take<float>(N * hd / 2);
    cm->inv_freq = k.take<float>(hd / 2);
    cm->head_z = k.take<float>(HR * V);
    cm->head_lp = k.take<float>(HR);
    cm->head_ent = k.take<float>(HR);
    cm->tok_seq = k.take<int>(N);
    cm->tok_pos = k.take<int>(N);
    cm->seq_off = k.take<size_t>(N);
    cm->head_row = k.take<size_t>(HR);
    cm->tiles = k.take<int2>(N);
    cm->tokens = k.take<int32_t>(N);
    cm->head_target = k.take<int32_t>(HR);
    cm->workspace = k.take<char>(kWorkspace);
    cm->workspace_bytes = kWorkspace;
}

void carve_pinned(carver &k, pic_cuda_model *cm) {
    size_t N = cm->max_tokens, HR = cm->head_rows;
    cm->h_tok_seq = k.take<int>(N);
    cm->h_tok_pos = k.take<int>(N);
    cm->h_seq_off = k.take<size_t>(N);
    cm->h_head_row = k.take<size_t>(HR);
    cm->h_tiles = k.take<int2>(N);
    cm->h_tokens = k.take<int32_t>(N);
    cm->h_head_target = k.take<int32_t>(HR);
    cm->h_head_lp = k.take<float>(HR);
    cm->h_head_ent = k.take<float>(HR);
}

// The host's float parameters into the device buffer, converted a chunk at a time.
int upload_params(pic_cuda_model *cm, const pic_params *p, bool bf, pic_err *err) {
    const size_t chunk = 1u << 24;
    size_t es = bf ? 2 : 4;
    void *stage = malloc(chunk * es);
    if (!stage) return pic_err_set(err, "out of host memory staging the weights for the GPU");
    int rc = 0;
    for (size_t i = 0; i < p->numel && !rc; i += chunk) {
        size_t n = p->numel - i < chunk ? p->numel - i : chunk;
        if (bf)
            for (size_t j = 0; j < n; j++) ((uint16_t *)stage)[j] = pic_f32_to_bf16(p->data[i + j]);
        else
            memcpy(stage, p->data + i, n * es);
        cudaError_t e = cudaMemcpy((char *)cm->params + i * es, stage, n * es, cudaMemcpyHostToDevice);
        if (e != cudaSuccess) rc = pic_err_set(err, "copying the weights to the GPU: %s", cudaGetErrorString(e));
    }
    free(stage);
    return rc;
}

// splitmix64 of (seed, element): reproducible whatever the launch shape.
__device__ uint64_t mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// kind 0: Normal(0, std) (Box-Muller), 1: ones (norms), 2: zeros (biases).
template <typename T> __global__ void init_kernel(T *x, size_t n, uint64_t seed, float std, int kind) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float v = kind == 1 ? 1.0f : 0.0f;
    if (kind == 0) {
        uint64_t a = mix(seed ^ mix(2 * i)), b = mix(seed ^ mix(2 * i + 1));
        float u1 = ((a >> 40) + 1.0f) / 16777217.0f, u2 = (b >> 40) / 16777216.0f;
        v = std * sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
    }
    x[i] = pic_cuda::from_f<T>(v);
}

template <typename T> int init_params(pic_cuda_model *cm, const pic_params *p, uint64_t seed, float std, pic_err *err) {
    for (size_t i = 0; i < p->n_desc; i++) {
        const pic_param_desc *d = &p->desc[i];
        const char *tail = strrchr(d->name, '.');
        int kind = tail && !strcmp(tail, ".bias") ? 2 : strstr(d->name, "norm") ? 1 : 0;
        T *x = (T *)cm->params + d->offset;
        init_kernel<T><<<pic_cuda::blocks_for(d->numel, 256), 256>>>(x, d->numel, seed + 0x51ed27ull * (i + 1), std, kind);
        PIC_LAUNCHED();
    }
    PIC_CU(cudaDeviceSynchronize());
    return 0;
}

// Allocates everything; fills the weights from the host's (p->data), or draws them (seed, std).
int setup(pic_model *m, pic_cuda_model *cm, size_t max_tokens, uint64_t seed, float std, pic_err *err) {
    const pic_config *c = &m->cfg;
    bool bf = m->dtype == PIC_DTYPE_BF16;
    size_t es = bf ? 2 : 4, free_b = 0, total_b = 0;
    PIC_CU(cudaGetDevice(&cm->device));
    PIC_CU(cudaMemGetInfo(&free_b, &total_b));
    cm->used_before = total_b - free_b;
    cm->max_tokens = max_tokens;
    size_t hr = ((size_t)512 << 20) / (4 * (size_t)c->vocab_size) / 64 * 64;
    cm->head_rows = hr < 64 ? 64 : hr > 4096 ? 4096 : hr;

    size_t pbytes = m->params.numel * es;
    if (cudaMalloc(&cm->params, pbytes) != cudaSuccess) {
        cudaGetLastError();
        cm->params = NULL;
        return pic_err_set(err, "out of GPU memory: the weights need %.2f GiB in %s, %.2f GiB are free%s", pbytes / kGiB,
                           pic_model_dtype_name(m->dtype), free_b / kGiB, bf ? "" : " (--dtype bf16 halves them)");
    }
    carver count = {NULL, 0};
    carve_device(count, cm, c, es);
    if (cudaMalloc(&cm->arena, count.off) != cudaSuccess) {
        cudaGetLastError();
        cm->arena = NULL;
        cudaMemGetInfo(&free_b, &total_b);
        return pic_err_set(err,
                           "out of GPU memory: the activations of %zu tokens need %.2f GiB, %.2f GiB are free after "
                           "the weights: lower --max-batch-tokens",
                           max_tokens, count.off / kGiB, free_b / kGiB);
    }
    cm->arena_bytes = count.off;
    carver k = {(char *)cm->arena, 0};
    carve_device(k, cm, c, es);
    carver pc = {NULL, 0};
    carve_pinned(pc, cm);
    PIC_CU(cudaMallocHost(&cm->pinned, pc.off));
    carver pk = {(char *)cm->pinned, 0};
    carve_pinned(pk, cm);

    if (m->params.data ? upload_params(cm, &m->params, bf, err)
                       : bf ? init_params<bf16>(cm, &m->params, seed, std, err)
                            : init_params<float>(cm, &m->params, seed, std, err))
        return -1;
    PIC_CU(cudaMemcpy(cm->inv_freq, m->inv_freq, (size_t)c->head_dim / 2 * sizeof(float), cudaMemcpyHostToDevice));
    PIC_CU(cudaStreamCreateWithFlags(&cm->s, cudaStreamNonBlocking));
    return pic_cuda::blas_create(&cm->blas, cm->s, cm->workspace, cm->workspace_bytes, !bf, err);
}

}  // namespace

extern "C" void pic_model_free_cuda(pic_model *m) {
    pic_cuda_model *cm = m->cuda;
    if (!cm) return;
    if (cm->s) cudaStreamSynchronize(cm->s);
    pic_cuda::blas_destroy(cm->blas);
    if (cm->s) cudaStreamDestroy(cm->s);
    cudaFree(cm->arena);
    cudaFree(cm->params);
    cudaFreeHost(cm->pinned);
    cudaGetLastError();
    delete cm;
    m->cuda = NULL;
}

static int load(pic_model *m, size_t max_batch_tokens, uint64_t seed, float std, pic_err *err) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError();
        return pic_err_set(err, "no CUDA GPU is visible (%s; --device cpu runs on the CPU)",
                           e != cudaSuccess ? cudaGetErrorString(e) : "no device");
    }
    if (m->cfg.head_dim > 256)
        return pic_err_set(err, "head_dim %d: the GPU's attention serves heads of up to 256 (--device cpu runs it)",
                           m->cfg.head_dim);
    m->cuda = new pic_cuda_model();
    if (setup(m, m->cuda, max_batch_tokens, seed, std, err)) {
        pic_model_free_cuda(m);
        return -1;
    }
    return 0;
}

extern "C" int pic_model_load_cuda(pic_model *m, size_t max_batch_tokens, pic_err *err) {
    if (!m->params.data) return pic_err_set(err, "pic_model_load_cuda: the model has no host weights");
    return load(m, max_batch_tokens, 0, 0, err);
}

extern "C" int pic_model_random_cuda(pic_model *m, size_t max_batch_tokens, uint64_t seed, float std, pic_err *err) {
    if (m->params.data) return pic_err_set(err, "pic_model_random_cuda: the model has host weights");
    return load(m, max_batch_tokens, seed, std, err);
}

extern "C" size_t pic_cuda_peak_bytes(const pic_model *m) {
    size_t free_b = 0, total_b = 0;
    if (!m->cuda || cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) return 0;
    size_t used = total_b - free_b;
    return used > m->cuda->used_before ? used - m->cuda->used_before : 0;
}
