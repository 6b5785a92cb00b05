// The sampler on the GPU (sampler.h here; the CPU's is src/rollout/sampler.c,
// whose semantics this follows line for line): weights exp(z / T - m) in
// double, never normalized until the draw, the kept set cut in
// HuggingFace's order (top-k, top-p, min-p) on the tokens sorted by logit,
// ids ascending on ties. A draw at temperature alone (or greedy) runs over
// the row's parts of 4096 ids side by side, three kernels (draw.cuh); a
// truncated one is a block's walk of its sorted row.
//
// The sort: when anything truncates, each row is sorted whole by CUB's
// segmented radix sort (header-only, in the toolkit) on a key that orders
// the logits descending; a radix sort is stable, so equal logits keep their
// ids ascending, the CPU's tie rule, with no comparator to get wrong. A
// radix select of the top-p set would read less, but that set can be most
// of a flat vocabulary and its cut needs the sorted prefix sums anyway; the
// full sort is exact, deterministic and one library call (docs/gpu.md).
//
// Every sum is a fixed-shape block reduction or scan (CUB's BlockReduce and
// BlockScan over 256 threads, 4 consecutive items each, chunk after chunk
// in order): no atomics, so a row's result is the same on every run and in
// every batch.
#include <cub/cub.cuh>
#include <cuda_runtime.h>
#include <limits.h>
#include <math.h>

#include "model/cuda/common.cuh"
#include "model/cuda/layers.cuh"
#include "rollout/cuda/draw.cuh"
#include "rollout/cuda/sampler.h"
#include "rollout/cuda/sort_key.cuh"

namespace {

constexpr int kThreads = 256, kItems = 4;
// Rows sorted at once: the sort's buffers are 16 bytes per logit (155 MB
// for 64 rows of Qwen's 151936), whatever the model's head block is.
constexpr size_t kSortRows = 64;

typedef draw_best best_t;
struct better {
    __device__ best_t operator()(best_t a, best_t b) const { return draw_better(a, b); }
};

struct lower {
    __device__ int operator()(int a, int b) const { return b < a ? b : a; }
};

using scan_t = cub::BlockScan<double, kThreads>;
using sum_t = cub::BlockReduce<double, kThreads>;
using min_t = cub::BlockReduce<int, kThreads>;
using best_reduce_t = cub::BlockReduce<best_t, kThreads>;

struct shared_t {
    union {
        scan_t::TempStorage scan;
        sum_t::TempStorage sum;
        min_t::TempStorage min;
        best_reduce_t::TempStorage best;
    } tmp;
    double d;
    int i;
};

// Each logit's key (sort_key.cuh) and id, for the rows' radix sort.
__global__ void sort_keys(uint32_t *key, int32_t *id, const float *z, size_t n, int V) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    key[i] = sampler_sort_key(z[i]);
    id[i] = (int32_t)(i % (size_t)V);
}

__global__ void segment_offsets(int *off, int rows, int V) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= rows) off[i] = i * V;
}

// draw.cuh's block on the GPU: 256 threads, every result in every thread.
// Sums are a thread's strided or consecutive items in order, then CUB's
// block reduction or exclusive scan of the threads' partials: a fixed shape.
struct device_block {
    shared_t &sh;

    __device__ int argmax(const float *x, int n) {
        best_t b = {-INFINITY, INT_MAX};
        for (int i = threadIdx.x; i < n; i += kThreads)
            if (x[i] > b.v || b.i == INT_MAX) b = {x[i], i};
        b = best_reduce_t(sh.tmp.best).Reduce(b, better());
        return broadcast(b.i);
    }

    template <class F> __device__ double sum(int n, F value) {
        double local = 0;
        for (int j = threadIdx.x; j < n; j += kThreads) local += value(j);
        double total = sum_t(sh.tmp.sum).Sum(local);
        if (threadIdx.x == 0) sh.d = total;
        __syncthreads();
        total = sh.d;
        __syncthreads();
        return total;
    }

    template <class P> __device__ int count(int n, P pred) {
        int local = 0;
        for (int j = threadIdx.x; j < n; j += kThreads) local += pred(j) ? 1 : 0;
        return broadcast(cub::BlockReduce<int, kThreads>(sh.tmp.min).Sum(local));
    }

    // Chunks of kThreads * kItems in order, each thread kItems consecutive
    // items, an exclusive scan of the threads' partials, the chunks' carry.
    template <class F, class H> __device__ int first_where(int n, F value, H hit, double carry) {
        for (int base = 0; base < n; base += kThreads * kItems) {
            int j0 = base + threadIdx.x * kItems;
            double v[kItems], local = 0;
            for (int q = 0; q < kItems; q++) {
                v[q] = j0 + q < n ? value(j0 + q) : 0.0;
                local += v[q];
            }
            double before, chunk;
            scan_t(sh.tmp.scan).ExclusiveSum(local, before, chunk); // chunk: in every thread
            __syncthreads();
            before += carry;
            int found = INT_MAX;
            for (int q = 0; q < kItems && j0 + q < n; q++) {
                double through = before + v[q];
                if (found == INT_MAX && hit(j0 + q, before, through, v[q])) found = j0 + q;
                before = through;
            }
            found = broadcast(min_t(sh.tmp.min).Reduce(found, lower()));
            if (found != INT_MAX) return found;
            carry += chunk;
        }
        return -1;
    }

    // thread 0's v in every thread (CUB's reductions leave theirs there)
    __device__ int broadcast(int v) {
        if (threadIdx.x == 0) sh.i = v;
        __syncthreads();
        v = sh.i;
        __syncthreads();
        return v;
    }
};

// A truncated draw per block: z the logits, sorted the chunk's rows sorted,
// row[d] draw d's row (row0 the chunk's first).
__global__ void __launch_bounds__(kThreads) draw_sorted_kernel(int32_t *tok, const float *z, const int32_t *sorted,
                                                                const int *row, const double *u, int row0, int V,
                                                                float T, int top_k, float top_p, float min_p) {
    __shared__ shared_t sh;
    device_block b = {sh};
    int d = blockIdx.x;
    int32_t t = draw_sorted(b, z + (size_t)row[d] * V, sorted + (size_t)(row[d] - row0) * V, V, T, top_k, top_p,
                            min_p, u[d]);
    // the draw keeps at least one token, so t is in range whatever the
    // logits; NaN ones give a NaN log-prob, which the record's writer
    // reports as on the CPU (record.c). -1 only if that ever fails.
    if (threadIdx.x == 0) tok[d] = t >= 0 && t < V ? t : -1;
}

// Untruncated draws (draw.cuh), grid draws x parts: each part's best
// logit, then each part's mass (every block combines the bests for m),
// then, a block a draw, the pick.
__global__ void __launch_bounds__(kThreads) part_best_kernel(best_t *best, const float *z, const int *row, int V) {
    pic_cuda::pdl_begin();
    __shared__ shared_t sh;
    device_block b = {sh};
    int d = blockIdx.x, p = blockIdx.y, P = draw_parts(V);
    best_t r = draw_part_best(b, z + (size_t)row[d] * V, V, p);
    if (threadIdx.x == 0) best[(size_t)d * P + p] = r;
}

__global__ void __launch_bounds__(kThreads) part_mass_kernel(double *mass, const best_t *best, const float *z,
                                                              const int *row, int V, float T) {
    pic_cuda::pdl_begin();
    __shared__ shared_t sh;
    device_block b = {sh};
    int d = blockIdx.x, p = blockIdx.y, P = draw_parts(V);
    const float *x = z + (size_t)row[d] * V;
    double r = draw_part_mass(b, x, V, p, T, x[draw_argmax(best + (size_t)d * P, P)] / T);
    if (threadIdx.x == 0) mass[(size_t)d * P + p] = r;
}

__global__ void __launch_bounds__(kThreads) pick_kernel(int32_t *tok, const best_t *best, const double *mass,
                                                         const float *z, const int *row, const double *u, int V,
                                                         float T) {
    pic_cuda::pdl_begin();
    __shared__ shared_t sh;
    device_block b = {sh};
    int d = blockIdx.x, P = draw_parts(V);
    int argmax = draw_argmax(best + (size_t)d * P, P);
    int32_t t = T == 0.0f ? argmax : draw_pick(b, z + (size_t)row[d] * V, V, T, argmax, mass + (size_t)d * P, P, u[d]);
    if (threadIdx.x == 0) tok[d] = t >= 0 && t < V ? t : -1;
}

}  // namespace

struct sampler_cuda {
    size_t rows_cap, V, draws_cap, temp_bytes;
    uint32_t *key_in, *key_out;
    int32_t *id_in, *id_out, *tok;
    int *off, *row;
    void *temp;
    double *u;
    float *lp, *ent;
    // the untruncated draws' parts: parts_cap of each
    size_t parts_cap;
    best_t *best;
    double *mass;
    // pinned twins of row, u, tok, lp and ent: copies from pageable memory
    // would each wait for the stream, three round trips a step before one.
    // Both are one block, [u][row][tok][lp][ent] of draws_cap each, so that
    // a step's draws go up in one copy and its results come back in another
    struct {
        int *row;
        double *u;
        int32_t *tok;
        float *lp, *ent;
    } h;
};

namespace {

// Sort buffers for rows x V logits, arrays for n draws and their parts of
// rows of V (parts), grown when short.
int reserve(sampler_cuda *s, size_t rows, size_t V, size_t n, size_t parts, pic_err *err) {
    if (rows > s->rows_cap || V != s->V) {
        cudaFree(s->key_in), cudaFree(s->key_out), cudaFree(s->id_in), cudaFree(s->id_out), cudaFree(s->off);
        cudaFree(s->temp);
        s->key_in = s->key_out = NULL, s->id_in = s->id_out = NULL, s->off = NULL, s->temp = NULL;
        s->rows_cap = 0;
        size_t e = rows * V;
        s->temp_bytes = 0;
        PIC_CU(cub::DeviceSegmentedRadixSort::SortPairs(NULL, s->temp_bytes, s->key_in, s->key_out, s->id_in,
                                                        s->id_out, (int)e, (int)rows, s->off, s->off + 1));
        if (cudaMalloc(&s->key_in, e * sizeof(uint32_t)) != cudaSuccess ||
            cudaMalloc(&s->key_out, e * sizeof(uint32_t)) != cudaSuccess ||
            cudaMalloc(&s->id_in, e * sizeof(int32_t)) != cudaSuccess ||
            cudaMalloc(&s->id_out, e * sizeof(int32_t)) != cudaSuccess ||
            cudaMalloc(&s->off, (rows + 1) * sizeof(int)) != cudaSuccess ||
            cudaMalloc(&s->temp, s->temp_bytes) != cudaSuccess) {
            cudaGetLastError();
            return pic_err_set(err,
                               "out of GPU memory for the sampler's sort of %zu rows of %zu logits (%.0f MB): lower "
                               "--max-batch-size or --max-new-tokens, which size the KV cache",
                               rows, V, (16.0 * e + s->temp_bytes) / 1e6);
        }
        segment_offsets<<<pic_cuda::blocks_for(rows + 1, 256), 256>>>(s->off, (int)rows, (int)V);
        PIC_LAUNCHED();
        PIC_CU(cudaDeviceSynchronize());
        s->rows_cap = rows, s->V = V;
    }
    if (n > s->draws_cap) {
        cudaFree(s->u);
        cudaFreeHost(s->h.u);
        s->tok = NULL, s->row = NULL, s->u = NULL, s->lp = s->ent = NULL;
        s->h = {};
        s->draws_cap = 0;
        size_t bytes = n * (sizeof(double) + sizeof(int) + sizeof(int32_t) + 2 * sizeof(float));
        PIC_CU(cudaMalloc(&s->u, bytes));
        PIC_CU(cudaMallocHost(&s->h.u, bytes));
        s->row = (int *)(s->u + n), s->tok = (int32_t *)(s->row + n), s->lp = (float *)(s->tok + n), s->ent = s->lp + n;
        s->h.row = (int *)(s->h.u + n), s->h.tok = (int32_t *)(s->h.row + n);
        s->h.lp = (float *)(s->h.tok + n), s->h.ent = s->h.lp + n;
        s->draws_cap = n;
    }
    if (n * parts > s->parts_cap) {
        cudaFree(s->best), cudaFree(s->mass);
        s->best = NULL, s->mass = NULL, s->parts_cap = 0;
        PIC_CU(cudaMalloc(&s->best, n * parts * sizeof(best_t)));
        PIC_CU(cudaMalloc(&s->mass, n * parts * sizeof(double)));
        s->parts_cap = n * parts;
    }
    return 0;
}

}  // namespace

extern "C" sampler_cuda *sampler_cuda_new(void) { return (sampler_cuda *)calloc(1, sizeof(sampler_cuda)); }

extern "C" void sampler_cuda_free(sampler_cuda *s) {
    if (!s) return;
    cudaFree(s->key_in), cudaFree(s->key_out), cudaFree(s->id_in), cudaFree(s->id_out), cudaFree(s->off);
    cudaFree(s->temp), cudaFree(s->u); // u's block holds row, tok, lp and ent too
    cudaFree(s->best), cudaFree(s->mass);
    cudaFreeHost(s->h.u);
    free(s);
}

extern "C" int sampler_next_cuda(sampler_cuda *s, const float *z, size_t k, int V, const sampler_params *sp,
                                 size_t n_draws, const int *row, const double *u, float stats_T, int32_t *tok,
                                 float *logp, float *ent, void *stream, pic_err *err) {
    if (!n_draws) return 0;
    for (size_t d = 0; d < n_draws; d++) // the chunks below walk the draws in row order
        if (row[d] < 0 || (size_t)row[d] >= k || (d && row[d] < row[d - 1]))
            return pic_err_set(err, "sampler_next_cuda: draw %zu's row %d is not ascending within [0, %zu)", d, row[d], k);
    cudaStream_t st = (cudaStream_t)stream;
    bool greedy = sp->temperature == 0.0f, truncated = sp->top_k > 0 || sp->top_p < 1.0f || sp->min_p > 0.0f;
    bool sort = !greedy && truncated;
    // the sort's buffers at their size from the first: grown with the head's
    // blocks they would be freed and made again, beside a KV pool sized to
    // the free memory (whose margin counts them whole)
    int P = draw_parts(V);
    if (reserve(s, sort ? kSortRows : 0, sort ? (size_t)V : s->V, n_draws, sort ? 0 : (size_t)P, err)) return -1;
    memcpy(s->h.row, row, n_draws * sizeof(int)); // the last step's copies are done: it ended in a sync
    memcpy(s->h.u, u, n_draws * sizeof(double));
    // u and row in one copy: u's whole span, then row's first n_draws
    size_t up = (char *)(s->h.row + n_draws) - (char *)s->h.u;
    PIC_CU(cudaMemcpyAsync(s->u, s->h.u, up, cudaMemcpyHostToDevice, st));
    if (!sort) {
        dim3 parts((unsigned)n_draws, (unsigned)P);
        PIC_CU(pic_cuda::launch_pdl(part_best_kernel, parts, kThreads, 0, st, s->best, z, s->row, V));
        if (!greedy)
            PIC_CU(pic_cuda::launch_pdl(part_mass_kernel, parts, kThreads, 0, st, s->mass, s->best, z, s->row, V,
                                        sp->temperature));
        PIC_CU(pic_cuda::launch_pdl(pick_kernel, (unsigned)n_draws, kThreads, 0, st, s->tok, s->best, s->mass, z,
                                    s->row, s->u, V, sp->temperature));
    }
    for (size_t r0 = 0, d0 = 0; sort && r0 < k && d0 < n_draws; r0 += kSortRows) {
        size_t rows = k - r0 < kSortRows ? k - r0 : kSortRows, d1 = d0;
        while (d1 < n_draws && (size_t)row[d1] < r0 + rows) d1++;
        if (d1 == d0) continue;
        size_t e = rows * (size_t)V;
        sort_keys<<<pic_cuda::blocks_for(e, 256), 256, 0, st>>>(s->key_in, s->id_in, z + r0 * V, e, V);
        PIC_LAUNCHED();
        PIC_CU(cub::DeviceSegmentedRadixSort::SortPairs(s->temp, s->temp_bytes, s->key_in, s->key_out, s->id_in,
                                                        s->id_out, (int)e, (int)rows, s->off, s->off + 1, 0, 32, st));
        draw_sorted_kernel<<<(unsigned)(d1 - d0), kThreads, 0, st>>>(s->tok + d0, z, s->id_out, s->row + d0,
                                                                     s->u + d0, (int)r0, V, sp->temperature,
                                                                     sp->top_k, sp->top_p, sp->min_p);
        PIC_LAUNCHED();
        d0 = d1;
    }
    // The log-probs and entropies of the model's head kernel, as --score gets
    // them, one launch for every draw: a block per draw reads its row
    // (several draws share a prompt's row after its prefill)
    bool one_each = n_draws == k;
    for (size_t d = 0; one_each && d < n_draws; d++) one_each = (size_t)row[d] == d;
    PIC_CU(pic_cuda::logprob_entropy_forward(s->lp, s->ent, z, s->tok, n_draws, V, stats_T, st,
                                             one_each ? nullptr : s->row));
    // tok, lp and ent in one copy, from tok's start to ent's n_draws-th
    size_t down = (char *)(s->h.ent + n_draws) - (char *)s->h.tok;
    PIC_CU(cudaMemcpyAsync(s->h.tok, s->tok, down, cudaMemcpyDeviceToHost, st));
    PIC_CU(cudaStreamSynchronize(st));
    memcpy(tok, s->h.tok, n_draws * sizeof(int32_t));
    memcpy(logp, s->h.lp, n_draws * sizeof(float));
    memcpy(ent, s->h.ent, n_draws * sizeof(float));
    for (size_t d = 0; d < n_draws; d++)
        if (tok[d] < 0)
            return pic_err_set(err, "the model's logits of row %d are not finite: no token to draw", row[d]);
    return 0;
}
