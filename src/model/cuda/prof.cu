// PIC_CUDA_PROFILE=1: the phases' GPU time (prof.cuh).
#include <stdlib.h>
#include <string.h>

#include "model/cuda/model.cuh"
#include "model/cuda/prof.cuh"

namespace pic_cuda {

enum { PROF_EVENTS = 1024 };

struct prof_state {
    cudaEvent_t ev[PROF_EVENTS];
    prof_phase ph[PROF_EVENTS];
    int n;        // events recorded since the last drain (the first is the open interval's start)
    bool broken;  // an event call failed: the table says so instead of a wrong number
    double ms[PROF_N];
    long starts[PROF_N];
    double flops[PROF_N], bytes[PROF_N]; // the least work (prof_work)
    double pairs, keys;                  // the last forward's, for its backward
    double tflops, tbps;                 // PIC_CUDA_PROFILE_RATES, 0 when unset
};

static const char *const names[PROF_N] = {
    "host (stream idle)", "embedding", "rmsnorm", "qkv projection", "split, q/k norm, rope", "attention",
    "o projection", "mlp up (gate, up)", "swiglu", "mlp down", "head (lm_head, log-probs)", "backward: head",
    "backward: projections", "backward: attention", "backward: other", "optimizer (norm, AdamW)"};

prof_state *prof_new(void) {
    const char *e = getenv("PIC_CUDA_PROFILE");
    if (!e || !*e || !strcmp(e, "0")) return NULL;
    prof_state *p = (prof_state *)calloc(1, sizeof *p);
    if (!p) return NULL;
    for (int i = 0; i < PROF_EVENTS; i++)
        if (cudaEventCreate(&p->ev[i]) != cudaSuccess) p->broken = true;
    cudaGetLastError();
    const char *r = getenv("PIC_CUDA_PROFILE_RATES");
    if (r && (sscanf(r, "%lf,%lf", &p->tflops, &p->tbps) != 2 || !(p->tflops > 0) || !(p->tbps > 0))) {
        fprintf(stderr, "PIC_CUDA_PROFILE_RATES: want TFLOPS,TBPS (two positive numbers), got '%s': no floor\n", r);
        p->tflops = p->tbps = 0;
    }
    return p;
}

void prof_free(prof_state *p) {
    if (!p) return;
    for (int i = 0; i < PROF_EVENTS; i++)
        if (p->ev[i]) cudaEventDestroy(p->ev[i]);
    free(p);
}

// The closed intervals into the sums; the last event starts the next round.
static void drain(prof_state *p) {
    if (p->n < 2) return;
    if (cudaEventSynchronize(p->ev[p->n - 1]) != cudaSuccess) p->broken = true;
    for (int i = 1; i < p->n; i++) {
        float ms = 0;
        if (cudaEventElapsedTime(&ms, p->ev[i - 1], p->ev[i]) != cudaSuccess) p->broken = true;
        p->ms[p->ph[i - 1]] += ms;
    }
    cudaGetLastError();
    cudaEvent_t last = p->ev[p->n - 1];
    p->ev[p->n - 1] = p->ev[0], p->ev[0] = last, p->ph[0] = p->ph[p->n - 1];
    p->n = 1;
}

void prof_mark(pic_cuda_model *cm, prof_phase ph) {
    prof_state *p = cm->prof;
    if (!p) return;
    if (p->n && p->ph[p->n - 1] == ph) return; // the phase goes on
    if (p->n == PROF_EVENTS) drain(p);
    if (cudaEventRecord(p->ev[p->n], cm->s) != cudaSuccess) p->broken = true, cudaGetLastError();
    p->ph[p->n++] = ph;
    p->starts[ph]++;
}

void prof_work(pic_cuda_model *cm, prof_phase ph, double flops, double bytes) {
    prof_state *p = cm->prof;
    if (!p) return;
    p->flops[ph] += flops;
    p->bytes[ph] += bytes;
}

namespace {

// The shapes the counts below are made of, in elements; E is the bytes of
// an element of the weights and activations (bf16 or float).
struct dims {
    double C, F, hd, nh, qd, kvd, V, L, E;
};

dims dims_of(const pic_model *m) {
    const pic_config *c = &m->cfg;
    double qd = (double)c->n_heads * c->head_dim, kvd = (double)c->n_kv_heads * c->head_dim;
    return {(double)c->hidden_size, (double)c->intermediate_size, (double)c->head_dim, (double)c->n_heads, qd, kvd,
            (double)c->vocab_size, (double)c->n_layers, m->dtype == PIC_DTYPE_BF16 ? 2.0 : 4.0};
}

// A product of N rows by a weight of IC x OC: the weight and the rows in,
// the result out (and, added onto, the residual in as well).
void product(pic_cuda_model *cm, prof_phase ph, const dims &d, double N, double IC, double OC, bool adds) {
    prof_work(cm, ph, d.L * 2 * N * IC * OC, d.L * d.E * (IC * OC + N * IC + N * OC * (adds ? 2 : 1)));
}

// Its backward: both products (the input's gradient and the weight's), the
// weight and both activations in, the input's gradient out, the weight's
// float gradient read and written (it sums over micro-batches).
void product_backward(pic_cuda_model *cm, const dims &d, double N, double IC, double OC) {
    prof_work(cm, PROF_BWD_LINEAR, d.L * 4 * N * IC * OC,
              d.L * (d.E * (IC * OC + N * OC + 2 * N * IC) + 8 * IC * OC));
}

} // namespace

void prof_forward(const pic_model *m, size_t tokens, double pairs, double keys) {
    pic_cuda_model *cm = m->cuda;
    prof_state *p = cm->prof;
    if (!p) return;
    dims d = dims_of(m);
    double N = (double)tokens, E = d.E;
    p->pairs = pairs, p->keys = keys;
    prof_work(cm, PROF_EMBED, 0, E * 2 * N * d.C);
    // two a layer and the final one: the rows in and out, the weight, the float 1/rms out
    prof_work(cm, PROF_NORM, 0, (2 * d.L + 1) * (E * (2 * N * d.C + d.C) + 4 * N));
    product(cm, PROF_QKV, d, N, d.C, d.qd + 2 * d.kvd, false);
    // q, k and v in, rotated out (k and v into the cache)
    prof_work(cm, PROF_ROPE, 0, d.L * E * 2 * N * (d.qd + 2 * d.kvd));
    // Q K^T and P V; q in, the output and its log-sum-exp out, each key and value row once
    prof_work(cm, PROF_ATTN, d.L * 4 * d.hd * d.nh * pairs,
              d.L * (E * (2 * N * d.qd + 2 * keys * d.kvd) + 4 * N * d.nh));
    product(cm, PROF_OPROJ, d, N, d.qd, d.C, true);
    product(cm, PROF_MLP_UP, d, N, d.C, 2 * d.F, false);
    prof_work(cm, PROF_SWIGLU, 0, d.L * E * 3 * N * d.F);
    product(cm, PROF_MLP_DOWN, d, N, d.F, d.C, true);
}

void prof_head(const pic_model *m, size_t rows, double out) {
    if (!m->cuda->prof) return;
    dims d = dims_of(m);
    double n = (double)rows;
    // lm_head once, the rows in, a log-prob and an entropy out
    prof_work(m->cuda, PROF_HEAD, 2 * n * d.C * d.V, d.E * (d.V * d.C + n * d.C) + 8 * n + out);
}

void prof_backward(const pic_model *m) {
    pic_cuda_model *cm = m->cuda;
    prof_state *p = cm->prof;
    if (!p) return;
    dims d = dims_of(m);
    double N = (double)m->n_tokens, E = d.E;
    product_backward(cm, d, N, d.C, d.qd + 2 * d.kvd);
    product_backward(cm, d, N, d.qd, d.C);
    product_backward(cm, d, N, d.C, 2 * d.F);
    product_backward(cm, d, N, d.F, d.C);
    // FlashAttention-2's five products of the forward's size (S again, dV, dP, dQ, dK): 2.5 times its FLOPs;
    // q, the output, its gradient, k and v in, their three gradients out, the log-sum-exp and D
    prof_work(cm, PROF_BWD_ATTN, d.L * 10 * d.hd * d.nh * p->pairs,
              d.L * (E * (4 * N * d.qd + 2 * p->keys * d.kvd + 2 * N * d.kvd) + 8 * N * d.nh));
    // each norm: its output's float gradient and input in, the float residual gradient read and written, its
    // weight's gradient; SwiGLU's: dh and gate/up in, their gradient out; RoPE's and the split's: q, k, v's
    // gradients read and written; Qwen3's q/k norms: gradient and input in, gradient out; the embedding's
    // gradient: the residual's gradient in, its rows out
    double norms = (2 * d.L + 1) * (N * d.C * (4 + E + 8) + 8 * d.C);
    double layer = E * (5 * N * d.F + 2 * N * (d.qd + d.kvd) + 2 * N * (d.qd + 2 * d.kvd));
    if (m->cfg.qk_norm) layer += E * 3 * N * (d.qd + d.kvd);
    prof_work(cm, PROF_BWD_OTHER, 0, norms + d.L * layer + 8 * N * d.C);
}

void prof_head_backward(const pic_model *m, size_t rows) {
    if (!m->cuda->prof) return;
    dims d = dims_of(m);
    double n = (double)rows;
    // the logits again, then both products: lm_head and the rows in, the rows' float gradient out (added onto),
    // lm_head's float gradient read and written
    prof_work(m->cuda, PROF_BWD_HEAD, 6 * n * d.C * d.V,
              d.E * (d.V * d.C + n * d.C) + 8 * d.V * d.C + 8 * n * d.C + 8 * n);
}

void prof_report(pic_cuda_model *cm, FILE *f) {
    prof_state *p = cm->prof;
    if (!p) return;
    drain(p);
    bool rated = p->tflops > 0;
    double busy = 0, flops = 0, bytes = 0, floor = 0, floors[PROF_N] = {0};
    for (int i = 1; i < PROF_N; i++) {
        if (rated) {
            double compute = p->flops[i] / (p->tflops * 1e9), memory = p->bytes[i] / (p->tbps * 1e9); // ms
            floors[i] = compute > memory ? compute : memory;
        }
        busy += p->ms[i], flops += p->flops[i], bytes += p->bytes[i], floor += floors[i];
    }
    fprintf(f, "PIC_CUDA_PROFILE: GPU time by phase over the process%s\n",
            p->broken ? " (an event call failed: the numbers are incomplete)" : "");
    if (rated)
        fprintf(f, "  floor: the larger of GFLOP at %g TFLOP/s and GB at %g TB/s (PIC_CUDA_PROFILE_RATES)\n",
                p->tflops, p->tbps);
    else
        fprintf(f, "  no floor: PIC_CUDA_PROFILE_RATES=TFLOPS,TBPS unset\n");
    fprintf(f, "  %-28s %10s %7s %8s %12s %10s %10s %11s\n", "phase", "ms", "% busy", "starts", "GFLOP", "GB",
            "floor ms", "floor/time");
    for (int i = 1; i < PROF_N; i++) {
        if (!p->starts[i]) continue;
        fprintf(f, "  %-28s %10.3f %6.1f%% %8ld %12.6g %10.6g", names[i], p->ms[i],
                busy > 0 ? 100 * p->ms[i] / busy : 0.0, p->starts[i], p->flops[i] / 1e9, p->bytes[i] / 1e9);
        if (rated && p->ms[i] > 0)
            fprintf(f, " %10.4g %11.3g\n", floors[i], floors[i] / p->ms[i]);
        else
            fprintf(f, " %10s %11s\n", "-", "-");
    }
    fprintf(f, "  %-28s %10.3f %7s %8s %12.6g %10.6g", "busy (all but the host)", busy, "", "", flops / 1e9,
            bytes / 1e9);
    if (rated && busy > 0)
        fprintf(f, " %10.4g %11.3g\n", floor, floor / busy);
    else
        fprintf(f, " %10s %11s\n", "-", "-");
    fprintf(f, "  %-28s %10.3f\n", names[0], p->ms[0]);
}

} // namespace pic_cuda
