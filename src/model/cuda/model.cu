// Loading a model onto a GPU (the twin of model.c and params.c's buffer):
// the host's float parameters are converted to the storage type a chunk at
// a time and copied into one device buffer of the same layout; the arena
// for max_tokens tokens, cuBLASLt's workspace, the stream and the pinned
// staging of the batch's layout are made here, once. Out of memory names
// what did not fit and the option that lowers it.
#include <stdlib.h>
#include <string.h>

#include <atomic>

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

static std::atomic<int> pdl_state{-1}; // unknown, off, on (a process's every thread and GPU alike)

bool pic_cuda::pdl_on() {
    if (pdl_state < 0) {
        const char *e = getenv("PIC_CUDA_PDL"), *prof = getenv("PIC_CUDA_PROFILE");
        int dev = 0, major = 0;
        bool ok = cudaGetDevice(&dev) == cudaSuccess &&
                  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess;
        cudaGetLastError();
        pdl_state = ok && major >= 9 && !(e && !strcmp(e, "0")) && !(prof && *prof && strcmp(prof, "0"));
    }
    return pdl_state == 1;
}

void pic_cuda::pdl_refused(cudaError_t why) {
    if (pdl_state == 1)
        fprintf(stderr, "pic: the GPU refused a programmatic dependent launch (%s): kernels launch without it\n",
                cudaGetErrorString(why));
    pdl_state = 0;
}

namespace {

const size_t kWorkspace = 32u << 20;
// The fixed-order product's tile counters (matmul_bi.cuh): it splits only
// when its tiles are fewer than twice the multiprocessors.
const size_t kBiCounters = 4096;
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
    size_t N = cm->max_tokens, HR = cm->head_rows, SR = cm->stage_rows, C = c->hidden_size, F = c->intermediate_size;
    size_t hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads, qd = nh * hd, kvd = nkv * hd, V = c->vocab_size;
    void **act[] = {&cm->x, &cm->ln, &cm->qkv, &cm->q, &cm->k, &cm->v, &cm->att, &cm->gu, &cm->h, &cm->lnf,
                    &cm->head_x};
    size_t act_n[] = {N * C, N * C, N * (qd + 2 * kvd), N * qd, N * kvd, N * kvd, N * qd, N * 2 * F, N * F, N * C,
                      HR * C};
    // training: layer_at and layer_in give the training state's sets; the
    // final norm's output and the head's rows are the arena's still
    if (cm->for_training)
        for (size_t i = 0; i + 2 < sizeof act_n / sizeof *act_n; i++) act_n[i] = 0; // all but lnf and head_x
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
    cm->head_lp = k.take<float>(SR);
    cm->head_ent = k.take<float>(SR);
    cm->layout = k.take<char>(pic_cuda::layout_bytes(N));
    cm->head_row = k.take<size_t>(SR);
    cm->head_target = k.take<int32_t>(SR);
    cm->workspace = k.take<char>(kWorkspace);
    cm->workspace_bytes = kWorkspace;
    cm->bi_count = k.take<int>(kBiCounters);
    cm->bi_count_n = kBiCounters;
}

void carve_pinned(carver &k, pic_cuda_model *cm) {
    size_t N = cm->max_tokens, SR = cm->stage_rows;
    cm->h_layout = k.take<char>(pic_cuda::layout_bytes(N));
    cm->h_head_row = k.take<size_t>(SR);
    cm->h_head_target = k.take<int32_t>(SR);
    cm->h_head_lp = k.take<float>(SR);
    cm->h_head_ent = k.take<float>(SR);
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

// Where the weights come from: the host's floats (p->data), drawn (seed,
// std), or later, tensor by tensor (pic_model_upload_cuda).
enum weights { FROM_HOST, DRAWN, LATER };

// Allocates everything and fills the weights as w says.
int setup(pic_model *m, pic_cuda_model *cm, size_t max_tokens, bool training, weights w, uint64_t seed, float std,
          pic_err *err) {
    const pic_config *c = &m->cfg;
    bool bf = m->dtype == PIC_DTYPE_BF16;
    size_t es = bf ? 2 : 4, free_b = 0, total_b = 0;
    PIC_CU(cudaGetDevice(&cm->device));
    PIC_CU(cudaMemGetInfo(&free_b, &total_b));
    cm->used_before = total_b - free_b;
    cm->max_tokens = max_tokens;
    cm->for_training = training;
    size_t hr = ((size_t)512 << 20) / (4 * (size_t)c->vocab_size) / 64 * 64;
    cm->head_rows = hr < 64 ? 64 : hr > 4096 ? 4096 : hr;
    // A test's small vocabulary fits all its rows in one block; it sets this
    // to run the head's block after block path (tests/unit/test_cuda_backward.cu).
    const char *test_rows = getenv("PIC_CUDA_HEAD_ROWS");
    if (test_rows && atol(test_rows) > 0) cm->head_rows = (size_t)atol(test_rows);
    cm->stage_rows = max_tokens > cm->head_rows ? max_tokens : cm->head_rows;

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

    if (w == FROM_HOST ? upload_params(cm, &m->params, bf, err)
        : w == DRAWN   ? bf ? init_params<bf16>(cm, &m->params, seed, std, err)
                            : init_params<float>(cm, &m->params, seed, std, err)
                       : 0)
        return -1;
    PIC_CU(cudaMemcpy(cm->inv_freq, m->inv_freq, (size_t)c->head_dim / 2 * sizeof(float), cudaMemcpyHostToDevice));
    PIC_CU(cudaMemset(cm->bi_count, 0, cm->bi_count_n * sizeof(int))); // each product leaves them so
    // A copy from pageable memory may return before its DMA lands, and cm->s
    // is non-blocking (not ordered after the legacy stream): wait for them.
    PIC_CU(cudaDeviceSynchronize());
    PIC_CU(cudaStreamCreateWithFlags(&cm->s, cudaStreamNonBlocking));
    return pic_cuda::blas_create(&cm->blas, cm->s, cm->workspace, cm->workspace_bytes, !bf, err);
}

// The training state: one layout for counting and carving (device), and
// the pinned staging of the head's upstream gradients and the key tiles.
void carve_train(carver &k, pic_cuda_model *cm, pic_cuda_train *tr, const pic_model *m, size_t es) {
    const pic_config *c = &m->cfg;
    size_t N = cm->max_tokens, HR = cm->head_rows, C = c->hidden_size, F = c->intermediate_size;
    size_t hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads, qd = nh * hd, kvd = nkv * hd, V = c->vocab_size;
    size_t numel = m->params.numel, L = c->n_layers;
    bool bf = es == 2;
    size_t own = tr->hi - tr->lo;
    tr->grad = k.take<float>(numel);
    tr->m = k.take<float>(own);
    tr->v = k.take<float>(own);
    tr->master = bf ? k.take<float>(own) : (float *)cm->params;
    for (size_t l = 0; l <= L; l++) tr->xs[l] = k.take<char>(N * C * es);
    for (int i = 0; i < (tr->recompute ? 1 : (int)L); i++) {
        pic_cuda_acts *a = &tr->sets[i];
        void **act[] = {&a->ln1, &a->qkv, &a->q, &a->k, &a->v, &a->att, &a->res1, &a->ln2, &a->gu, &a->h};
        size_t act_n[] = {N * C, N * (qd + 2 * kvd), N * qd, N * kvd, N * kvd, N * qd, N * C, N * C, N * 2 * F, N * F};
        for (size_t j = 0; j < sizeof act / sizeof *act; j++) *act[j] = k.take<char>(act_n[j] * es);
        a->rstd1 = k.take<float>(N);
        a->rstd2 = k.take<float>(N);
        a->qn_rstd = k.take<float>(N * nh);
        a->kn_rstd = k.take<float>(N * nkv);
        a->lse = k.take<float>(N * nh);
    }
    tr->dres = k.take<float>(N * C);
    tr->dln = k.take<float>(N * C);
    tr->dlnf = k.take<float>(N * C);
    tr->D = k.take<float>(N * nh);
    size_t widest = C > 2 * F ? C : 2 * F;
    widest = widest > qd + 2 * kvd ? widest : qd + 2 * kvd;
    tr->partial = k.take<float>(pic_cuda::COL_CHUNKS * widest);
    tr->head_dlogp = k.take<float>(cm->stage_rows);
    tr->head_dent = k.take<float>(cm->stage_rows);
    tr->norm_part = k.take<double>(pic_cuda::NORM_BLOCKS);
    tr->norm = k.take<double>(1);
    void **g[] = {&tr->dres_t, &tr->dh, &tr->dgu, &tr->datt, &tr->dq, &tr->dk, &tr->dv, &tr->dqkv, &tr->qpre,
                  &tr->kpre, &tr->vpre, &tr->head_dz, &tr->head_dx};
    size_t g_n[] = {bf ? N * C : 0, N * F, N * 2 * F, N * qd, N * qd, N * kvd, N * kvd, N * (qd + 2 * kvd), N * qd,
                    N * kvd, N * kvd, bf ? HR * V : 0, HR * C};
    for (size_t j = 0; j < sizeof g / sizeof *g; j++) *g[j] = k.take<char>(g_n[j] * es);
    tr->ktiles = k.take<int4>(N);
    tr->embed_scratch_bytes = pic_cuda::embedding_backward_scratch(N, c->vocab_size);
    tr->embed_scratch = k.take<char>(tr->embed_scratch_bytes);
}

void carve_train_pinned(carver &k, pic_cuda_model *cm, pic_cuda_train *tr) {
    tr->h_dlogp = k.take<float>(cm->stage_rows);
    tr->h_dent = k.take<float>(cm->stage_rows);
    tr->h_ktiles = k.take<int4>(cm->max_tokens);
    tr->h_norm = k.take<double>(1);
}

void free_train(pic_cuda_model *cm) {
    pic_cuda_train *tr = cm->train;
    if (!tr) return;
    cudaFree(tr->arena);
    cudaFreeHost(tr->pinned);
    delete[] tr->xs;
    delete[] tr->sets;
    delete tr;
    cm->train = NULL;
}

}  // namespace

extern "C" void pic_model_free_cuda(pic_model *m) {
    pic_cuda_model *cm = m->cuda;
    if (!cm) return;
    if (cm->s) cudaStreamSynchronize(cm->s);
    pic_cuda::prof_report(cm, stderr);
    pic_cuda::prof_free(cm->prof);
    free_train(cm);
    pic_cuda::graphs_reset(cm);
    pic_cuda::blas_destroy(cm->blas);
    if (cm->s) cudaStreamDestroy(cm->s);
    cudaFree(cm->arena);
    cudaFree(cm->params);
    cudaFreeHost(cm->pinned);
    cudaGetLastError();
    delete cm;
    m->cuda = NULL;
}

// -1 with a message naming the head size, when what (the forward's or the
// backward's attention) needs more shared memory a block than this GPU gives.
static int attention_fits(const pic_model *m, const char *what, size_t need, pic_err *err) {
    size_t limit = pic_cuda::attention_smem_limit();
    if (need <= limit) return 0;
    return pic_err_set(err,
                       "head_dim %d: %s needs %zu bytes of shared memory a block, this GPU gives %zu (an A100, "
                       "H100 or H200 gives enough; --device cpu runs it anywhere)",
                       m->cfg.head_dim, what, need, limit);
}

static int load(pic_model *m, size_t max_batch_tokens, bool training, weights w, uint64_t seed, float std, pic_err *err) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError();
        return pic_err_set(err, "no CUDA GPU is visible (%s; --device cpu runs on the CPU)",
                           e != cudaSuccess ? cudaGetErrorString(e) : "no device");
    }
    // the ranks of a job on one machine take a GPU each (model.h)
    PIC_CU(cudaSetDevice(m->gpu % n));
    if (m->cfg.head_dim > 256)
        return pic_err_set(err, "head_dim %d: the GPU's attention serves heads of up to 256 (--device cpu runs it)",
                           m->cfg.head_dim);
    bool bf = m->dtype == PIC_DTYPE_BF16;
    if (attention_fits(m, "the GPU's attention", pic_cuda::attention_smem_bytes(bf, m->cfg.head_dim), err)) return -1;
    m->cuda = new pic_cuda_model();
    if (setup(m, m->cuda, max_batch_tokens, training, w, seed, std, err)) {
        pic_model_free_cuda(m);
        return -1;
    }
    m->cuda->prof = pic_cuda::prof_new();
    return 0;
}

extern "C" int pic_model_load_cuda(pic_model *m, size_t max_batch_tokens, bool training, pic_err *err) {
    if (!m->params.data) return pic_err_set(err, "pic_model_load_cuda: the model has no host weights");
    return load(m, max_batch_tokens, training, FROM_HOST, 0, 0, err);
}

extern "C" int pic_model_random_cuda(pic_model *m, size_t max_batch_tokens, bool training, uint64_t seed, float std,
                                     pic_err *err) {
    if (m->params.data) return pic_err_set(err, "pic_model_random_cuda: the model has host weights");
    return load(m, max_batch_tokens, training, DRAWN, seed, std, err);
}

extern "C" int pic_model_alloc_cuda(pic_model *m, size_t max_batch_tokens, bool training, pic_err *err) {
    if (m->params.data) return pic_err_set(err, "pic_model_alloc_cuda: the model has host weights");
    return load(m, max_batch_tokens, training, LATER, 0, 0, err);
}

// A synchronous copy from pageable memory may return before its DMA lands,
// and the model's stream is not ordered after the legacy one: wait for it,
// before (its forwards read the weights) and after.
extern "C" int pic_model_upload_cuda(pic_model *m, size_t offset, const void *src, size_t n, pic_err *err) {
    size_t es = m->dtype == PIC_DTYPE_BF16 ? 2 : 4;
    if (!m->cuda || offset + n > m->params.numel)
        return pic_err_set(err, "pic_model_upload_cuda: %zu values at %zu pass the %zu parameters", n, offset,
                           m->params.numel);
    PIC_CU(cudaStreamSynchronize(m->cuda->s));
    PIC_CU(cudaMemcpy((char *)m->cuda->params + offset * es, src, n * es, cudaMemcpyHostToDevice));
    PIC_CU(cudaDeviceSynchronize());
    return 0;
}

extern "C" int pic_model_download_cuda(pic_model *m, size_t offset, void *dst, size_t n, pic_err *err) {
    size_t es = m->dtype == PIC_DTYPE_BF16 ? 2 : 4;
    if (!m->cuda || offset + n > m->params.numel)
        return pic_err_set(err, "pic_model_download_cuda: %zu values at %zu pass the %zu parameters", n, offset,
                           m->params.numel);
    PIC_CU(cudaStreamSynchronize(m->cuda->s));
    PIC_CU(cudaMemcpy(dst, (const char *)m->cuda->params + offset * es, n * es, cudaMemcpyDeviceToHost));
    return 0;
}

extern "C" void *pic_model_weights_cuda(pic_model *m, pic_err *err) {
    if (!m->cuda) return pic_err_set(err, "pic_model_weights_cuda: the model is not on a GPU"), nullptr;
    cudaError_t e = cudaStreamSynchronize(m->cuda->s);
    if (e != cudaSuccess) return pic_err_set(err, "pic_model_weights_cuda: %s", cudaGetErrorString(e)), nullptr;
    return m->cuda->params;
}

extern "C" size_t pic_cuda_peak_bytes(const pic_model *m) {
    size_t free_b = 0, total_b = 0;
    if (!m->cuda || cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) return 0;
    size_t used = total_b - free_b;
    return used > m->cuda->used_before ? used - m->cuda->used_before : 0;
}

extern "C" size_t pic_cuda_free_bytes(void) {
    size_t free_b = 0, total_b = 0;
    return cudaMemGetInfo(&free_b, &total_b) == cudaSuccess ? free_b : 0;
}

// ---- training (issue 11) ----------------------------------------------------

// The pinned staging, zeroed state and master weights of a new training
// state (pic_train_init_cuda frees the state if this fails).
static int train_start(pic_model *m, pic_cuda_model *cm, pic_cuda_train *tr, size_t es, pic_err *err) {
    carver pc = {NULL, 0};
    carve_train_pinned(pc, cm, tr);
    PIC_CU(cudaMallocHost(&tr->pinned, pc.off));
    carver pk = {(char *)tr->pinned, 0};
    carve_train_pinned(pk, cm, tr);
    PIC_CU(cudaMemsetAsync(tr->arena, 0, tr->arena_bytes, cm->s)); // gradient, moments and dlnf start at zero
    if (es == 2) // master weights from the weights (pic_train_state_put_cuda puts exact ones)
        PIC_CU(pic_cuda::convert(tr->master, (const bf16 *)cm->params + tr->lo, tr->hi - tr->lo, cm->s));
    PIC_CU(cudaStreamSynchronize(cm->s));
    return 0;
}

extern "C" int pic_train_init_cuda(pic_model *m, bool recompute, size_t lo, size_t hi, pic_err *err) {
    pic_cuda_model *cm = m->cuda;
    if (!cm) return pic_err_set(err, "pic_train_init_cuda: the model is not on a GPU");
    if (lo > hi || hi > m->params.numel)
        return pic_err_set(err, "pic_train_init_cuda: the slice [%zu, %zu) of %zu parameters", lo, hi,
                           m->params.numel);
    if (!cm->for_training)
        return pic_err_set(err, "pic_train_init_cuda: the model was loaded for inference (pic_model_opts.training): "
                                "its arena holds a layer's activations that training never uses");
    if (attention_fits(m, "training's attention backward",
                       pic_cuda::attention_backward_smem_bytes(m->dtype == PIC_DTYPE_BF16, m->cfg.head_dim), err))
        return -1;
    if (cm->train && cm->train->recompute != recompute)
        return pic_err_set(err, "pic_train_init_cuda: the training state was made %s --recompute",
                           cm->train->recompute ? "with" : "without");
    if (cm->train && (cm->train->lo != lo || cm->train->hi != hi))
        return pic_err_set(err, "pic_train_init_cuda: the training state was made for the slice [%zu, %zu)",
                           cm->train->lo, cm->train->hi);
    if (cm->train) return 0;
    size_t es = m->dtype == PIC_DTYPE_BF16 ? 2 : 4, L = (size_t)m->cfg.n_layers;
    pic_cuda_train *tr = cm->train = new pic_cuda_train();
    tr->recompute = recompute;
    tr->lo = lo, tr->hi = hi;
    tr->xs = new void *[L + 1];
    tr->sets = new pic_cuda_acts[recompute || !L ? 1 : L]();
    carver count = {NULL, 0};
    carve_train(count, cm, tr, m, es);
    size_t free_b = 0, total_b = 0;
    if (cudaMalloc(&tr->arena, count.off) != cudaSuccess) {
        cudaGetLastError();
        tr->arena = NULL;
        cudaMemGetInfo(&free_b, &total_b);
        free_train(cm);
        return pic_err_set(err,
                           "out of GPU memory: training %zu-token micro-batches needs %.2f GiB (gradient, AdamW "
                           "moments%s, activations), %.2f GiB are free: lower --micro-tokens%s",
                           cm->max_tokens, count.off / kGiB, es == 2 ? ", fp32 master weights" : "", free_b / kGiB,
                           recompute ? "" : " or add --recompute");
    }
    tr->arena_bytes = count.off;
    carver k = {(char *)tr->arena, 0};
    carve_train(k, cm, tr, m, es);
    if (train_start(m, cm, tr, es, err)) {
        // a half-made state would pass the next call's cm->train test
        cudaStreamSynchronize(cm->s);
        free_train(cm);
        return -1;
    }
    return 0;
}

extern "C" int pic_grad_zero_cuda(pic_model *m, pic_err *err) {
    pic_cuda_model *cm = m->cuda;
    if (!cm || !cm->train) return pic_err_set(err, "pic_grad_zero_cuda: no training state");
    PIC_CU(cudaMemsetAsync(cm->train->grad, 0, m->params.numel * sizeof(float), cm->s));
    return 0;
}

// Array a of the training state on the device at offset, or NULL (with a
// message) when n values there do not fit in it: the moments, and the
// master weights in bf16, hold the slice [lo, hi) only.
static float *state_array(pic_model *m, pic_state_array a, size_t offset, size_t n, const char *fn, pic_err *err) {
    pic_cuda_model *cm = m->cuda;
    if (!cm || !cm->train) return pic_err_set(err, "%s: no training state", fn), nullptr;
    if (offset > m->params.numel || n > m->params.numel - offset)
        return pic_err_set(err, "%s: %zu values at %zu pass the %zu parameters", fn, n, offset, m->params.numel),
               nullptr;
    pic_cuda_train *tr = cm->train;
    if (a == PIC_STATE_GRAD) return tr->grad + offset;
    if (a == PIC_STATE_MASTER && m->dtype != PIC_DTYPE_BF16) return tr->master + offset; // the weights
    if (a != PIC_STATE_MASTER && a != PIC_STATE_M && a != PIC_STATE_V)
        return pic_err_set(err, "%s: no array %d", fn, (int)a), nullptr;
    if (offset < tr->lo || offset + n > tr->hi)
        return pic_err_set(err, "%s: %zu values at %zu outside this GPU's slice [%zu, %zu)", fn, n, offset, tr->lo,
                           tr->hi),
               nullptr;
    float *arr = a == PIC_STATE_M ? tr->m : a == PIC_STATE_V ? tr->v : tr->master;
    return arr + (offset - tr->lo);
}

// Whether array a holds only this GPU's slice (the rest of what is put is dropped).
static bool sliced(const pic_model *m, pic_state_array a) {
    return a == PIC_STATE_M || a == PIC_STATE_V || (a == PIC_STATE_MASTER && m->dtype == PIC_DTYPE_BF16);
}

// A copy from pageable memory may return before its DMA lands, and cm->s is
// not ordered after the legacy stream: the device is synchronized after it,
// and the model's stream before (its steps may still read or write the array).
extern "C" int pic_train_state_put_cuda(pic_model *m, pic_state_array a, size_t offset, const float *x, size_t n,
                                        pic_err *err) {
    if (!state_array(m, PIC_STATE_GRAD, offset, n, "pic_train_state_put_cuda", err)) return -1; // the bounds
    pic_cuda_model *cm = m->cuda;
    size_t lo = offset, hi = offset + n;
    if (sliced(m, a)) lo = lo > cm->train->lo ? lo : cm->train->lo, hi = hi < cm->train->hi ? hi : cm->train->hi;
    PIC_CU(cudaStreamSynchronize(cm->s));
    if (lo < hi) {
        float *dst = state_array(m, a, lo, hi - lo, "pic_train_state_put_cuda", err);
        if (!dst) return -1;
        PIC_CU(cudaMemcpy(dst, x + (lo - offset), (hi - lo) * sizeof(float), cudaMemcpyHostToDevice));
    }
    if (a == PIC_STATE_MASTER && m->dtype == PIC_DTYPE_BF16) { // the weights the products read: their rounding
        const size_t chunk = (size_t)1 << 22;
        uint16_t *stage = (uint16_t *)malloc((n < chunk ? n : chunk) * sizeof *stage + 1);
        if (!stage) return pic_err_set(err, "out of host memory staging the master weights' rounding");
        cudaError_t e = cudaSuccess;
        for (size_t i = 0; i < n && e == cudaSuccess; i += chunk) {
            size_t k = n - i < chunk ? n - i : chunk;
            for (size_t j = 0; j < k; j++) stage[j] = pic_f32_to_bf16(x[i + j]);
            e = cudaMemcpy((uint16_t *)cm->params + offset + i, stage, k * sizeof *stage, cudaMemcpyHostToDevice);
        }
        free(stage);
        PIC_CU(e);
    }
    PIC_CU(cudaDeviceSynchronize());
    return 0;
}

extern "C" float *pic_train_array_cuda(pic_model *m, pic_state_array a, pic_err *err) {
    float *x = state_array(m, a, 0, m->params.numel, "pic_train_array_cuda", err);
    if (!x) return nullptr;
    cudaError_t e = cudaStreamSynchronize(m->cuda->s);
    if (e != cudaSuccess) return pic_err_set(err, "pic_train_array_cuda: %s", cudaGetErrorString(e)), nullptr;
    return x;
}

extern "C" int pic_train_state_get_cuda(pic_model *m, pic_state_array a, size_t offset, float *x, size_t n,
                                        pic_err *err) {
    const float *src = state_array(m, a, offset, n, "pic_train_state_get_cuda", err);
    if (!src) return -1;
    PIC_CU(cudaStreamSynchronize(m->cuda->s));
    PIC_CU(cudaMemcpy(x, src, n * sizeof(float), cudaMemcpyDeviceToHost));
    return 0;
}
