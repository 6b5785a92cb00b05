// The twin of backward.c: forward.cu's calls in reverse on the GPU, and the
// training head a block of rows at a time (its dlogits never exist for all
// rows). Storage T (bf16 or float) for activations and their gradients, the
// residual stream's gradient dres in float (it sums down all the layers),
// every parameter gradient in float into the training state's buffer.
// Under --recompute a layer's activations are recomputed from its input
// just before its backward (the forward kept only the inputs).
#include <string.h>

#include "model/cuda/entry.h"
#include "model/cuda/model.cuh"

using namespace pic_cuda;

namespace {

float *grad(const pic_model *m, size_t off) {
    return off == PIC_PARAM_ABSENT ? NULL : m->cuda->train->grad + off;
}

// dlnf[rows[j], :] += dx[j, :] (rows distinct: one writer per element)
template <typename T> __global__ void scatter_add_rows(float *dst, const T *dx, const size_t *rows, size_t k, int C) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= k * (size_t)C) return;
    dst[rows[i / C] * C + i % C] += to_f(dx[i]);
}

// The key tiles of the last batch: ATTN_KTILE keys of one sequence each.
int upload_ktiles(pic_model *m, const pic_batch *b, int *n, pic_err *err) {
    pic_cuda_train *tr = m->cuda->train;
    int k = 0;
    size_t first = 0;
    for (int s = 0; s < b->n_seq; s++) {
        for (int j = 0; j < b->len[s]; j += ATTN_KTILE)
            tr->h_ktiles[k++] = make_int4((int)(first + j), b->len[s] - j < ATTN_KTILE ? b->len[s] - j : ATTN_KTILE,
                                          (int)first, b->len[s]);
        first += (size_t)b->len[s];
    }
    PIC_CU(cudaMemcpyAsync(tr->ktiles, tr->h_ktiles, (size_t)k * sizeof(int4), cudaMemcpyHostToDevice, m->cuda->s));
    *n = k;
    return 0;
}

// The residual gradient as T for a product (float needs no copy).
template <typename T> const T *as_storage(pic_cuda_train *tr, size_t n, cudaStream_t s, cudaError_t *e) {
    if (sizeof(T) == sizeof(float)) return (const T *)tr->dres;
    *e = convert((T *)tr->dres_t, tr->dres, n, s);
    return (const T *)tr->dres_t;
}

template <typename T> int backward(pic_model *m, const pic_batch *b, pic_err *err) {
    pic_cuda_model *cm = m->cuda;
    pic_cuda_train *tr = cm->train;
    const pic_config *c = &m->cfg;
    cudaStream_t s = cm->s;
    blas *bl = cm->blas;
    size_t N = m->n_tokens;
    int C = c->hidden_size, F = c->intermediate_size, hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads;
    int qd = nh * hd, kvd = nkv * hd, L = c->n_layers, n_kt = 0;
    float *part = tr->partial;
    T *dh = (T *)tr->dh, *dgu = (T *)tr->dgu, *datt = (T *)tr->datt, *dq = (T *)tr->dq, *dk = (T *)tr->dk;
    T *dv = (T *)tr->dv, *dqkv = (T *)tr->dqkv, *qpre = (T *)tr->qpre, *kpre = (T *)tr->kpre, *vpre = (T *)tr->vpre;
    if (upload_ktiles(m, b, &n_kt, err)) return -1;
    prof_backward(m);

    prof_mark(cm, PROF_BWD_OTHER);
    PIC_CU(cudaMemsetAsync(tr->dres, 0, N * C * sizeof(float), s));
    PIC_CU((rmsnorm_backward<T, float>(tr->dres, grad(m, m->params.off.norm), tr->dlnf, layer_in<T>(cm, L),
                                      param<T>(m, m->params.off.norm), cm->lnf_rstd, N, C, part, COL_CHUNKS, s)));
    for (int l = L - 1; l >= 0; l--) {
        const pic_layer_offsets *o = &m->params.off.layer[l];
        if (tr->recompute && layer_forward<T>(m, NULL, l, N, err)) return -1;
        layer_bufs<T> a = layer_at<T>(cm, l);
        cudaError_t e = cudaSuccess;

        // res2 = res1 + down(h): dres passes through to res1 unchanged
        prof_mark(cm, PROF_BWD_OTHER);
        const T *dr = as_storage<T>(tr, N * C, s, &e);
        PIC_CU(e);
        // fresh: the products below write their input gradients whole
        prof_mark(cm, PROF_BWD_LINEAR);
        if (matmul_backward<T, T>(bl, dh, grad(m, o->wd), grad(m, o->bd), dr, a.h, param<T>(m, o->wd), N, F, C, part,
                                  err, true))
            return -1;
        prof_mark(cm, PROF_BWD_OTHER);
        PIC_CU(swiglu_backward(dgu, dh, a.gu, N, F, s));
        prof_mark(cm, PROF_BWD_LINEAR);
        if (matmul_backward<T, float>(bl, tr->dln, grad(m, o->wgu), grad(m, o->bgu), dgu, a.ln2, param<T>(m, o->wgu),
                                      N, C, 2 * F, part, err, true))
            return -1;
        prof_mark(cm, PROF_BWD_OTHER);
        PIC_CU((rmsnorm_backward<T, float>(tr->dres, grad(m, o->ln2), tr->dln, a.res1, param<T>(m, o->ln2), a.rstd2, N,
                                          C, part, COL_CHUNKS, s)));

        // res1 = in + o_proj(att)
        dr = as_storage<T>(tr, N * C, s, &e);
        PIC_CU(e);
        prof_mark(cm, PROF_BWD_LINEAR);
        if (matmul_backward<T, T>(bl, datt, grad(m, o->wo), grad(m, o->bo), dr, a.att, param<T>(m, o->wo), N, qd, C,
                                  part, err, true))
            return -1;
        prof_mark(cm, PROF_BWD_ATTN);
        PIC_CU(cudaMemsetAsync(dq, 0, N * qd * sizeof(T), s));
        PIC_CU(cudaMemsetAsync(dk, 0, N * kvd * sizeof(T), s));
        PIC_CU(cudaMemsetAsync(dv, 0, N * kvd * sizeof(T), s));
        attn_input<T> ai = {N, cm->tok_seq, cm->tok_pos, a.k, a.v, cm->seq_off, (size_t)kvd, cm->tiles, cm->n_tiles,
                            nullptr}; // no cache: the batch's own keys
        PIC_CU(attention_backward(dq, dk, dv, datt, a.att, a.lse, a.q, ai, tr->ktiles, n_kt, nh, nkv, hd, tr->D, s));
        prof_mark(cm, PROF_BWD_OTHER);
        PIC_CU(rope_backward(dq, N, nh, hd, cm->cos, cm->sin, s));
        PIC_CU(rope_backward(dk, N, nkv, hd, cm->cos, cm->sin, s));
        if (c->qk_norm) {
            // the norms' inputs are the projections before them, in qkv
            PIC_CU(qkv_split_forward(qpre, kpre, vpre, a.qkv, N, qd, kvd, s));
            PIC_CU(cudaMemsetAsync(datt, 0, N * qd * sizeof(T), s));
            PIC_CU((rmsnorm_backward<T, T>(datt, grad(m, o->q_norm), dq, qpre, param<T>(m, o->q_norm), a.qn_rstd,
                                          N * nh, hd, part, COL_CHUNKS * nh, s)));
            PIC_CU(cudaMemcpyAsync(dq, datt, N * qd * sizeof(T), cudaMemcpyDeviceToDevice, s));
            PIC_CU(cudaMemsetAsync(vpre, 0, N * kvd * sizeof(T), s));
            PIC_CU((rmsnorm_backward<T, T>(vpre, grad(m, o->k_norm), dk, kpre, param<T>(m, o->k_norm), a.kn_rstd,
                                          N * nkv, hd, part, COL_CHUNKS * nkv, s)));
            PIC_CU(cudaMemcpyAsync(dk, vpre, N * kvd * sizeof(T), cudaMemcpyDeviceToDevice, s));
        }
        PIC_CU(qkv_split_backward(dqkv, dq, dk, dv, N, qd, kvd, s));
        prof_mark(cm, PROF_BWD_LINEAR);
        if (matmul_backward<T, float>(bl, tr->dln, grad(m, o->wqkv), grad(m, o->bqkv), dqkv, a.ln1,
                                      param<T>(m, o->wqkv), N, C, qd + 2 * kvd, part, err, true))
            return -1;
        prof_mark(cm, PROF_BWD_OTHER);
        PIC_CU((rmsnorm_backward<T, float>(tr->dres, grad(m, o->ln1), tr->dln, layer_in<T>(cm, l), param<T>(m, o->ln1),
                                          a.rstd1, N, C, part, COL_CHUNKS, s)));
    }
    PIC_CU(embedding_backward(grad(m, m->params.off.embed), tr->dres, cm->tokens, N, C, m->cfg.vocab_size,
                              m->cfg.pad_id, tr->embed_scratch, tr->embed_scratch_bytes, s));
    // dlnf is consumed: zero for the next micro-batch's head
    PIC_CU(cudaMemsetAsync(tr->dlnf, 0, N * C * sizeof(float), s));
    prof_mark(cm, PROF_HOST);
    PIC_CU(cudaStreamSynchronize(s));
    return 0;
}

template <typename T>
int head_backward(pic_model *m, const size_t *rows, size_t n, const int32_t *targets, float temp, const float *dlogp,
                  const float *dent, pic_err *err) {
    pic_cuda_model *cm = m->cuda;
    pic_cuda_train *tr = cm->train;
    cudaStream_t s = cm->s;
    int C = m->cfg.hidden_size, V = m->cfg.vocab_size;
    T *x = (T *)cm->head_x, *dx = (T *)tr->head_dx;
    // in f32 the gradient overwrites the logits; in bf16 it is rounded into its own buffer for the product
    T *dz = sizeof(T) == sizeof(float) ? (T *)cm->head_z : (T *)tr->head_dz;
    prof_head_backward(m, n);
    // a stage of rows at a time, its blocks back to back, as stats (forward.cu)
    for (size_t at = 0; at < n; at += cm->stage_rows) {
        size_t sn = n - at < cm->stage_rows ? n - at : cm->stage_rows;
        prof_mark(cm, PROF_BWD_HEAD);
        memcpy(cm->h_head_row, rows + at, sn * sizeof(size_t));
        memcpy(cm->h_head_target, targets + at, sn * sizeof(int32_t));
        if (dlogp) memcpy(tr->h_dlogp, dlogp + at, sn * sizeof(float));
        if (dent) memcpy(tr->h_dent, dent + at, sn * sizeof(float));
        PIC_CU(cudaMemcpyAsync(cm->head_row, cm->h_head_row, sn * sizeof(size_t), cudaMemcpyHostToDevice, s));
        PIC_CU(cudaMemcpyAsync(cm->head_target, cm->h_head_target, sn * sizeof(int32_t), cudaMemcpyHostToDevice, s));
        if (dlogp) PIC_CU(cudaMemcpyAsync(tr->head_dlogp, tr->h_dlogp, sn * sizeof(float), cudaMemcpyHostToDevice, s));
        if (dent) PIC_CU(cudaMemcpyAsync(tr->head_dent, tr->h_dent, sn * sizeof(float), cudaMemcpyHostToDevice, s));
        for (size_t i = 0; i < sn; i += cm->head_rows) {
            size_t k = sn - i < cm->head_rows ? sn - i : cm->head_rows;
            const size_t *row = cm->head_row + i;
            gather_rows<<<blocks_for(k * C, 256), 256, 0, s>>>(x, (const T *)cm->lnf, row, k, C);
            PIC_LAUNCHED();
            const T *w = param<T>(m, m->params.off.lm_head);
            if (matmul_forward<T, float>(cm->blas, cm->head_z, x, w, NULL, k, C, V, false, err)) return -1;
            PIC_CU(logprob_entropy_backward<T>(dz, cm->head_z, cm->head_target + i, dlogp ? tr->head_dlogp + i : NULL,
                                               dent ? tr->head_dent + i : NULL, k, V, temp, s));
            if (matmul_backward<T, T>(cm->blas, dx, grad(m, m->params.off.lm_head), NULL, dz, x, w, k, C, V,
                                      tr->partial, err, true))
                return -1;
            scatter_add_rows<<<blocks_for(k * C, 256), 256, 0, s>>>(tr->dlnf, dx, row, k, C);
            PIC_LAUNCHED();
        }
        prof_mark(cm, PROF_HOST);
        PIC_CU(cudaStreamSynchronize(s)); // the pinned staging is reused by the next stage
    }
    return 0;
}

int need_training(const pic_model *m, pic_err *err) {
    return m->cuda && m->cuda->train ? 0 : pic_err_set(err, "the model on the GPU has no training state (pic_train_init_cuda)");
}

}  // namespace

extern "C" int pic_backward_cuda(pic_model *m, const pic_batch *b, pic_err *err) {
    if (need_training(m, err)) return -1;
    // the backward reads the last forward's layout (offsets of packed keys,
    // positions, tiles): that forward must have been of this batch, packed
    size_t n = 0;
    for (int q = 0; q < b->n_seq; q++) n += (size_t)b->len[q];
    if (m->cuda->cached || n != m->n_tokens)
        return pic_err_set(err, "pic_backward: the last forward was not of this batch without a KV cache (%zu tokens, "
                           "the batch %zu%s)", m->n_tokens, n, m->cuda->cached ? ", through a cache" : "");
    return m->dtype == PIC_DTYPE_BF16 ? backward<bf16>(m, b, err) : backward<float>(m, b, err);
}

extern "C" int pic_head_backward_cuda(pic_model *m, const size_t *rows, size_t n, const int32_t *targets, float T,
                                      const float *dlogp, const float *dent, pic_err *err) {
    if (need_training(m, err)) return -1;
    // rows are distinct and of the last forward (pic_head_backward checked):
    // scatter_add_rows adds a block's rows with one thread per element
    return m->dtype == PIC_DTYPE_BF16 ? head_backward<bf16>(m, rows, n, targets, T, dlogp, dent, err)
                                      : head_backward<float>(m, rows, n, targets, T, dlogp, dent, err);
}
