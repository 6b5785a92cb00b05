// The twin of forward.c: the same calls in the same order, on the GPU, in
// the storage type T (bf16 or float) with float statistics. The batch's
// layout (each token's sequence and position, each sequence's keys: an
// offset into the batch's own, or with a KV cache where its slot's row of
// the page table starts; the attention tiles) is built on the host into
// pinned staging and copied once per forward, with the table rows the host
// changed (pic_forward grew the slots before calling here); everything else
// stays on the device, and nothing is allocated. Log-probs and entropies
// come back a block of rows at a time: the full-vocabulary logits of all
// tokens never exist.
#include <stdio.h>
#include <string.h>

#include "model/cuda/entry.h"
#include "model/cuda/matmul_bi.cuh"
#include "model/cuda/model.cuh"

using namespace pic_cuda;

namespace {

// nn.Linear through the model's kind of product: the fixed-order kernel
// while m->batch_invariant is set (generation and scoring, so that a sample
// scores as it was generated), else cuBLASLt (docs/gpu.md).
template <typename T, typename O>
int linear(pic_model *m, O *out, const T *inp, const T *w, const T *bias, size_t N, int IC, int OC, bool acc,
           pic_err *err) {
    if (m->batch_invariant) { // its segments' partials in cuBLASLt's workspace, which it leaves unused
        bi_work work = {(float *)m->cuda->workspace, m->cuda->workspace_bytes, m->cuda->bi_count,
                        m->cuda->bi_count_n};
        PIC_CU((matmul_bi_forward<T, O>(out, inp, w, bias, N, IC, OC, acc, m->cuda->s, work)));
        return 0;
    }
    return matmul_forward<T, O>(m->cuda->blas, out, inp, w, bias, N, IC, OC, acc, err);
}

// The rows of the page table the host changed since the last upload, a run
// of consecutive dirty rows per copy (a decode step's rows are usually one
// run). Copied straight from the host table, which is pageable: the copy
// is staged before cudaMemcpyAsync returns, and in any case the host
// changes the table only between forwards, which end in a synchronize.
// Simpler than pinned staging sized per cache, for a few KB a step.
int upload_table(pic_kvcache *kv, pic_err *err) {
    size_t row = (size_t)kv->slot_pages;
    for (int i = 0; i < kv->n_slots;) {
        if (!kv->dirty[i]) {
            i++;
            continue;
        }
        int j = i;
        while (j < kv->n_slots && kv->dirty[j]) kv->dirty[j++] = false;
        PIC_CU(cudaMemcpyAsync(kv->dev_table + i * row, kv->table + i * row, (size_t)(j - i) * row * sizeof(int),
                               cudaMemcpyHostToDevice, (cudaStream_t)kv->stream));
        i = j;
    }
    return 0;
}

// Where each token sits, the keys of each sequence (packed, or its slot's
// pages in the KV cache, continuing from the slot's length), and the
// attention tiles: up to ATTN_TILE tokens of one sequence each. Through a
// cache with a decode work list (kvcache.cu), the tiles of one token come
// last, with their work items: decode attention computes them a query
// group at a time (attention.cu); the order of tiles changes no result.
int upload_layout(pic_model *m, pic_kvcache *kv, const pic_batch *b, size_t N, pic_err *err) {
    pic_cuda_model *cm = m->cuda;
    const pic_config *c = &m->cfg;
    size_t kvd = (size_t)c->n_kv_heads * c->head_dim, n = 0;
    bool decode = kv && kv->work;
    int nt = 0;
    if (kv && upload_table(kv, err)) return -1;
    layout_views(cm, N);
    for (int s = 0; s < b->n_seq; s++) {
        int slot = b->slot ? b->slot[s] : s, start = kv ? kv->len[slot] : 0;
        cm->h_seq_off[s] = kv ? (size_t)slot * kv->slot_pages : n * kvd;
        for (int t = 0; t < b->len[s]; t += ATTN_TILE)
            if (!decode || b->len[s] - t > 1)
                cm->h_tiles[nt++] = make_int2((int)(n + t), b->len[s] - t < ATTN_TILE ? b->len[s] - t : ATTN_TILE);
        for (int t = 0; t < b->len[s]; t++, n++) cm->h_tok_seq[n] = s, cm->h_tok_pos[n] = start + t;
    }
    cm->n_single = cm->work_cap = 0;
    cudaStream_t s = cm->s;
    if (decode) {
        int first = nt;
        for (int q = 0, n0 = 0; q < b->n_seq; n0 += b->len[q++])
            if (b->len[q] % ATTN_TILE == 1) cm->h_tiles[nt++] = make_int2(n0 + b->len[q] - 1, 1);
        cm->n_single = nt - first;
        // the cache was made for its mode (kvcache.cu): partial sums when split
        attn_decode mode = kv->dev_part ? ATTN_DECODE_SPLIT : ATTN_DECODE_GROUP;
        int items = attention_decode_work((int2 *)kv->work, cm->h_tiles + first, cm->h_tok_pos, cm->n_single, mode);
        cm->work_cap = cm->n_single * (mode == ATTN_DECODE_SPLIT ? kv->seg_cap : 1);
        // pageable, as the table: staged before the call returns
        PIC_CU(cudaMemcpyAsync(kv->dev_work, kv->work, (1 + (size_t)items) * sizeof(int2), cudaMemcpyHostToDevice, s));
    }
    memcpy(cm->h_tokens, b->tokens, N * sizeof(int32_t));
    PIC_CU(cudaMemcpyAsync(cm->layout, cm->h_layout, layout_bytes(N), cudaMemcpyHostToDevice, s));
    cm->n_tiles = nt;
    return 0;
}

}  // namespace

namespace pic_cuda {

// One decoder layer: layer_in(l) to layer_in(l + 1), its activations in
// layer_at(l); with a KV cache, the keys of this layer's pool of pages (the
// batch's appended to their slots' pages), found through the page table.
template <typename T> int layer_forward(pic_model *m, pic_kvcache *kv, int l, size_t N, pic_err *err) {
    pic_cuda_model *cm = m->cuda;
    const pic_config *c = &m->cfg;
    cudaStream_t s = cm->s;
    int C = c->hidden_size, F = c->intermediate_size, hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads;
    int qd = nh * hd, kvd = nkv * hd;
    const pic_layer_offsets *o = &m->params.off.layer[l];
    layer_bufs<T> a = layer_at<T>(cm, l);
    const T *in = layer_in<T>(cm, l);
    T *out = layer_in<T>(cm, l + 1);

    prof_mark(cm, PROF_NORM);
    PIC_CU(rmsnorm_forward(a.ln1, a.rstd1, in, param<T>(m, o->ln1), N, C, c->rms_eps, s));
    prof_mark(cm, PROF_QKV);
    if (linear(m, a.qkv, a.ln1, param<T>(m, o->wqkv), param<T>(m, o->bqkv), N, C, qd + 2 * kvd, false, err)) return -1;
    prof_mark(cm, PROF_ROPE);
    // split, rotate and (with a cache) append in one pass; Qwen3's q/k norms come between split and rotation
    kv_dest<T> cache = {};
    if (kv) { // this layer's pool of pages
        size_t layer = (size_t)l * kv->n_pages * PIC_KV_PAGE * kvd;
        cache = {(T *)kv->dev_k + layer, (T *)kv->dev_v + layer, cm->tok_seq, cm->tok_pos, cm->seq_off,
                 kv->dev_table};
    }
    const T *qkv = a.qkv;
    if (c->qk_norm) {
        PIC_CU(qkv_split_forward(a.q, a.k, a.v, a.qkv, N, qd, kvd, s));
        PIC_CU(rmsnorm_forward(a.q, a.qn_rstd, a.q, param<T>(m, o->q_norm), N * nh, hd, c->rms_eps, s));
        PIC_CU(rmsnorm_forward(a.k, a.kn_rstd, a.k, param<T>(m, o->k_norm), N * nkv, hd, c->rms_eps, s));
        qkv = nullptr;
    }
    PIC_CU(qkv_rope_forward(a.q, a.k, a.v, qkv, N, nh, nkv, hd, cm->cos, cm->sin, cache, s));

    attn_input<T> ai = {N, cm->tok_seq, cm->tok_pos, a.k, a.v, cm->seq_off, (size_t)kvd, cm->tiles, cm->n_tiles,
                        nullptr};
    if (kv) { // the keys: this layer's pool, the batch's appended to their slots' pages
        ai.k = cache.k, ai.v = cache.v, ai.page = kv->dev_table;
        if (kv->work) { // the one-token tiles (last) a query group at a time
            ai.n_single = cm->n_single, ai.work = (const int2 *)kv->dev_work, ai.work_cap = cm->work_cap;
            ai.part = kv->dev_part, ai.seg_cap = kv->seg_cap;
        }
    }
    prof_mark(cm, PROF_ATTN);
    PIC_CU(attention_forward(a.att, a.lse, a.q, ai, nh, nkv, hd, s));

    prof_mark(cm, PROF_OPROJ);
    if (a.res1 != in) PIC_CU(cudaMemcpyAsync(a.res1, in, N * C * sizeof(T), cudaMemcpyDeviceToDevice, s));
    if (linear(m, a.res1, a.att, param<T>(m, o->wo), param<T>(m, o->bo), N, qd, C, true, err)) return -1;

    prof_mark(cm, PROF_NORM);
    PIC_CU(rmsnorm_forward(a.ln2, a.rstd2, a.res1, param<T>(m, o->ln2), N, C, c->rms_eps, s));
    prof_mark(cm, PROF_MLP_UP);
    if (linear(m, a.gu, a.ln2, param<T>(m, o->wgu), param<T>(m, o->bgu), N, C, 2 * F, false, err)) return -1;
    prof_mark(cm, PROF_SWIGLU);
    PIC_CU(swiglu_forward(a.h, a.gu, N, F, s));
    prof_mark(cm, PROF_MLP_DOWN);
    if (out != a.res1) PIC_CU(cudaMemcpyAsync(out, a.res1, N * C * sizeof(T), cudaMemcpyDeviceToDevice, s));
    if (linear(m, out, a.h, param<T>(m, o->wd), param<T>(m, o->bd), N, F, C, true, err)) return -1;
    return 0;
}

template int layer_forward<float>(pic_model *, pic_kvcache *, int, size_t, pic_err *);
template int layer_forward<bf16>(pic_model *, pic_kvcache *, int, size_t, pic_err *);

void graphs_reset(pic_cuda_model *cm) {
    pic_cuda_graphs &g = cm->graphs;
    for (size_t i = 0; i < g.n; i++)
        if (g.exec[i]) cudaGraphExecDestroy(g.exec[i]);
    delete[] g.exec;
    delete[] g.warm;
    delete[] g.used;
    pic_cuda_graphs kept = g;
    g = pic_cuda_graphs();
    g.off = kept.off;
    memcpy(g.why, kept.why, sizeof g.why);
}

}  // namespace pic_cuda

namespace {

// The layers of a forward pass on the batch upload_layout laid out: RoPE
// tables, embeddings, every decoder layer, the final norm into cm->lnf.
// Device work only, on the model's stream: what a graph can hold.
template <typename T> int body(pic_model *m, pic_kvcache *kv, size_t N, pic_err *err) {
    pic_cuda_model *cm = m->cuda;
    const pic_config *c = &m->cfg;
    cudaStream_t s = cm->s;
    int C = c->hidden_size, hd = c->head_dim;
    prof_mark(cm, PROF_EMBED);
    PIC_CU(rope_tables(cm->cos, cm->sin, cm->tok_pos, N, cm->inv_freq, hd, (float)c->rope.attention_factor, s));
    PIC_CU(embedding_forward(layer_in<T>(cm, 0), cm->tokens, param<T>(m, m->params.off.embed), N, C, s));
    for (int l = 0; l < c->n_layers; l++)
        if (layer_forward<T>(m, kv, l, N, err)) return -1;
    const T *in = layer_in<T>(cm, c->n_layers);
    prof_mark(cm, PROF_NORM);
    PIC_CU(rmsnorm_forward((T *)cm->lnf, cm->lnf_rstd, in, param<T>(m, m->params.off.norm), N, C, c->rms_eps, s));
    return 0;
}

// Batch sizes up to GRAPH_MAX_BATCH have their decode graphs; GRAPH_KEEP
// of them are held at once: continuous batching's batch sizes
// wander over every value up to --max-batch-size, and a 7B step's graph is
// ~400 nodes, so the least recently launched is dropped (and captured again
// should its size come back) rather than one kept per size ever seen.
enum { GRAPH_MAX_BATCH = 1024, GRAPH_KEEP = 64 };

// A decode step (one new token per sequence, through a cache, on the
// inference arena) of N sequences launches ~12 kernels a layer: at small
// batches their launch costs more than the arithmetic (0.5B at batch 1:
// ~300 launches, ~1 ms, against a 0.25 ms floor of weight reads). So its
// body runs as a CUDA graph, one per N, captured the second time N comes
// (the first runs directly: one-time attribute settings and cuBLASLt plans
// happen outside the capture) and replayed from then on. Every kernel's
// arguments are fixed for a given N and cache: what changes per step
// (tokens, positions, the page table) is in device buffers upload_layout
// fills before the launch. A replay runs the captured kernels, so it gives
// the same bits. A capture that fails turns graphs off for the model and
// the step runs directly; PIC_CUDA_GRAPHS=0 turns them off.
bool graphable(pic_model *m, const pic_kvcache *kv, const pic_batch *b, size_t N) {
    const pic_cuda_graphs &g = m->cuda->graphs;
    static const bool refused = [] {
        const char *e = getenv("PIC_CUDA_GRAPHS");
        return e && !strcmp(e, "0");
    }();
    return kv && !m->cuda->train && N == (size_t)b->n_seq && N <= GRAPH_MAX_BATCH && !g.off && !refused &&
           !m->cuda->prof; // (a profile's events are not timed inside a graph)
}

template <typename T> int run_body(pic_model *m, pic_kvcache *kv, const pic_batch *b, size_t N, pic_err *err) {
    pic_cuda_model *cm = m->cuda;
    if (!graphable(m, kv, b, N)) return body<T>(m, kv, N, err);
    pic_cuda_graphs &g = cm->graphs;
    const void *key[5] = {kv->dev_k, kv->dev_v, kv->dev_table, kv->dev_work, kv->dev_part};
    if (g.n && (memcmp(g.key, key, sizeof key) || g.key_pages != kv->n_pages || g.key_segs != kv->seg_cap ||
                g.bi != m->batch_invariant))
        graphs_reset(cm);
    if (!g.n) {
        g.n = GRAPH_MAX_BATCH + 1;
        g.exec = new cudaGraphExec_t[g.n]();
        g.warm = new unsigned char[g.n]();
        g.used = new unsigned long[g.n]();
        memcpy(g.key, key, sizeof key), g.key_pages = kv->n_pages, g.key_segs = kv->seg_cap;
        g.bi = m->batch_invariant;
    }
    g.used[N] = ++g.step;
    if (g.exec[N]) {
        PIC_CU(cudaGraphLaunch(g.exec[N], cm->s));
        return 0;
    }
    if (!g.warm[N]) {
        g.warm[N] = 1;
        return body<T>(m, kv, N, err);
    }
    if (g.live == GRAPH_KEEP) { // the least recently launched makes room
        size_t old = 0;
        for (size_t i = 1; i < g.n; i++)
            if (g.exec[i] && (!g.exec[old] || g.used[i] < g.used[old])) old = i;
        PIC_CU(cudaGraphExecDestroy(g.exec[old]));
        g.exec[old] = NULL;
        g.live--;
    }
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamBeginCapture(cm->s, cudaStreamCaptureModeRelaxed);
    int rc = 0;
    if (e == cudaSuccess) {
        rc = body<T>(m, kv, N, err);
        e = cudaStreamEndCapture(cm->s, &graph);
        if (!rc && e == cudaSuccess) e = cudaGraphInstantiate(&g.exec[N], graph, 0);
    }
    if (graph) cudaGraphDestroy(graph);
    if (rc || e != cudaSuccess) { // nothing ran: run it directly, without graphs from now on, and say why
        snprintf(g.why, sizeof g.why, "capturing a step of %zu: %.100s", N, rc ? err->msg : cudaGetErrorString(e));
        g.exec[N] = NULL;
        g.off = true;
        cudaGetLastError();
        return body<T>(m, kv, N, err);
    }
    g.live++;
    PIC_CU(cudaGraphLaunch(g.exec[N], cm->s));
    return 0;
}

// The head's input, rows h_head_row[at..at + k) of the final norm's
// output lnf: where they lie in order (every row, or a decode step's, each
// sequence's one token), lnf itself, aligned as cuBLASLt likes it; else
// gathered into head_x through head_row[at..at + k). The product reads the
// same values either way.
template <typename T>
int head_rows_of(const T **rows, pic_cuda_model *cm, const T *lnf, size_t at, size_t k, int C, cudaStream_t s,
                 pic_err *err) {
    const size_t *want = cm->h_head_row + at;
    size_t first = want[0];
    bool in_order = first * C * sizeof(T) % 256 == 0;
    for (size_t j = 1; j < k && in_order; j++) in_order = want[j] == first + j;
    *rows = in_order ? lnf + first * C : (const T *)cm->head_x;
    if (in_order) return 0;
    PIC_CU(cudaMemcpyAsync(cm->head_row + at, want, k * sizeof(size_t), cudaMemcpyHostToDevice, s));
    gather_rows<<<blocks_for(k * C, 256), 256, 0, s>>>((T *)cm->head_x, lnf, cm->head_row + at, k, C);
    PIC_LAUNCHED();
    return 0;
}

template <typename T>
int forward(pic_model *m, pic_kvcache *kv, const pic_batch *b, size_t N, pic_logits which, float *logits,
            pic_head_fn fn, void *ctx, pic_err *err) {
    pic_cuda_model *cm = m->cuda;
    const pic_config *c = &m->cfg;
    cudaStream_t s = cm->s;
    int C = c->hidden_size;
    if (kv && kv->elem_bytes != sizeof(T)) return pic_err_set(err, "the KV cache's type is not the model's");
    if (upload_layout(m, kv, b, N, err)) return -1;
    cm->cached = kv != NULL;
    if (cm->prof) { // the pass's least work (PIC_CUDA_PROFILE's floor): its causal pairs, its key rows read
        double pairs = 0, keys = 0;
        for (int q = 0; q < b->n_seq; q++) {
            double start = kv ? kv->len[b->slot ? b->slot[q] : q] : 0, len = b->len[q];
            pairs += len * start + len * (len + 1) / 2, keys += start + len;
        }
        prof_forward(m, N, pairs, keys);
    }
    T *lnf = (T *)cm->lnf;
    if (run_body<T>(m, kv, b, N, err)) return -1;

    if (which != PIC_LOGITS_NONE) {
        prof_mark(cm, PROF_HEAD);
        /* the rows wanted, a block at a time through lm_head, logits to the
         * host or to fn on the device */
        size_t n = which == PIC_LOGITS_ALL ? N : (size_t)b->n_seq, V = (size_t)c->vocab_size;
        prof_head(m, n, fn ? 0 : (double)n * V * sizeof(float));
        for (size_t i = 0, last = 0, seq = 0; i < n; i += cm->head_rows) {
            size_t kk = n - i < cm->head_rows ? n - i : cm->head_rows;
            for (size_t j = 0; j < kk; j++) {
                if (which == PIC_LOGITS_ALL) {
                    cm->h_head_row[j] = i + j;
                } else {
                    last += (size_t)b->len[seq++];
                    cm->h_head_row[j] = last - 1;
                }
            }
            const T *rows;
            if (head_rows_of<T>(&rows, cm, lnf, 0, kk, C, s, err)) return -1;
            if (linear<T, float>(m, cm->head_z, rows, param<T>(m, m->params.off.lm_head), NULL, kk, C, (int)V, false,
                                 err))
                return -1;
            if (fn) {
                if (fn(ctx, i, kk, cm->head_z, (void *)s, err)) return -1;
                // the pinned row list is reused by the next block: fn should have
                // waited for the stream already, and then this costs nothing
                PIC_CU(cudaStreamSynchronize(s));
                continue;
            }
            PIC_CU(cudaMemcpyAsync(logits + i * V, cm->head_z, kk * V * sizeof(float), cudaMemcpyDeviceToHost, s));
            PIC_CU(cudaStreamSynchronize(s)); // the pinned row list is reused by the next block
        }
    }
    prof_mark(cm, PROF_HOST);
    PIC_CU(cudaStreamSynchronize(s));
    m->n_tokens = N;
    if (kv)
        for (int q = 0; q < b->n_seq; q++) kv->len[b->slot ? b->slot[q] : q] += b->len[q];
    return 0;
}

// A stage of rows at a time (every token of a batch: one stage, as a
// rule), its blocks back to back on the stream: each block's rows and
// targets were copied up with the stage, its log-probs and entropies land
// at their places in the stage's arrays, and the host waits once, for all
// of them. A block's product and statistics are those of a call with that
// block alone, so the bits are too.
template <typename T>
int stats(pic_model *m, const size_t *rows, size_t n, const int32_t *targets, float temp, float *logp, float *ent,
          pic_err *err) {
    pic_cuda_model *cm = m->cuda;
    cudaStream_t s = cm->s;
    int C = m->cfg.hidden_size, V = m->cfg.vocab_size;
    prof_head(m, n, 0);
    for (size_t at = 0; at < n; at += cm->stage_rows) {
        size_t sn = n - at < cm->stage_rows ? n - at : cm->stage_rows;
        prof_mark(cm, PROF_HEAD);
        memcpy(cm->h_head_row, rows + at, sn * sizeof(size_t));
        if (targets) {
            memcpy(cm->h_head_target, targets + at, sn * sizeof(int32_t));
            PIC_CU(cudaMemcpyAsync(cm->head_target, cm->h_head_target, sn * sizeof(int32_t), cudaMemcpyHostToDevice,
                                   s));
        }
        for (size_t i = 0; i < sn; i += cm->head_rows) {
            size_t k = sn - i < cm->head_rows ? sn - i : cm->head_rows;
            const T *x;
            if (head_rows_of<T>(&x, cm, (const T *)cm->lnf, i, k, C, s, err)) return -1;
            if (linear<T, float>(m, cm->head_z, x, param<T>(m, m->params.off.lm_head), NULL, k, C, V, false, err))
                return -1;
            PIC_CU(logprob_entropy_forward(cm->head_lp + i, cm->head_ent + i, cm->head_z,
                                           targets ? cm->head_target + i : NULL, k, V, temp, s));
        }
        PIC_CU(cudaMemcpyAsync(cm->h_head_lp, cm->head_lp, sn * sizeof(float), cudaMemcpyDeviceToHost, s));
        PIC_CU(cudaMemcpyAsync(cm->h_head_ent, cm->head_ent, sn * sizeof(float), cudaMemcpyDeviceToHost, s));
        prof_mark(cm, PROF_HOST);
        PIC_CU(cudaStreamSynchronize(s)); // the stage's results, and its pinned rows free for the next
        if (logp && targets) memcpy(logp + at, cm->h_head_lp, sn * sizeof(float));
        if (ent) memcpy(ent + at, cm->h_head_ent, sn * sizeof(float));
    }
    return 0;
}

}  // namespace

extern "C" int pic_forward_check_cuda(const pic_model *m, size_t N, pic_err *err) {
    if (N > m->cuda->max_tokens)
        return pic_err_set(err, "a batch of %zu tokens is more than the GPU's arena holds (%zu): raise --max-batch-tokens",
                           N, m->cuda->max_tokens);
    if (m->cuda->for_training && !m->cuda->train)
        return pic_err_set(err, "pic_forward_cuda: a model loaded for training has no training state yet "
                                "(pic_train_init_cuda): its arena holds no activations");
    return 0;
}

extern "C" int pic_forward_cuda(pic_model *m, pic_kvcache *kv, const pic_batch *b, size_t N, pic_logits which,
                                float *logits, pic_head_fn fn, void *ctx, pic_err *err) {
    if (pic_forward_check_cuda(m, N, err)) return -1;
    return m->dtype == PIC_DTYPE_BF16 ? forward<bf16>(m, kv, b, N, which, logits, fn, ctx, err)
                                      : forward<float>(m, kv, b, N, which, logits, fn, ctx, err);
}

extern "C" const char *pic_cuda_graphs_off(const pic_model *m) {
    return m->cuda && m->cuda->graphs.off && m->cuda->graphs.why[0] ? m->cuda->graphs.why : NULL;
}

extern "C" int pic_forward_stats_cuda(pic_model *m, const size_t *rows, size_t n, const int32_t *targets, float T,
                                      float *logp, float *ent, pic_err *err) {
    return m->dtype == PIC_DTYPE_BF16 ? stats<bf16>(m, rows, n, targets, T, logp, ent, err)
                                      : stats<float>(m, rows, n, targets, T, logp, ent, err);
}
