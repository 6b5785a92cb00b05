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

void prof_report(pic_cuda_model *cm, FILE *f) {
    prof_state *p = cm->prof;
    if (!p) return;
    drain(p);
    double busy = 0;
    for (int i = 1; i < PROF_N; i++) busy += p->ms[i];
    fprintf(f, "PIC_CUDA_PROFILE: GPU time by phase over the process%s\n",
            p->broken ? " (an event call failed: the numbers are incomplete)" : "");
    fprintf(f, "  %-28s %10s %7s %8s\n", "phase", "ms", "% busy", "starts");
    for (int i = 1; i < PROF_N; i++)
        if (p->starts[i])
            fprintf(f, "  %-28s %10.3f %6.1f%% %8ld\n", names[i], p->ms[i], busy > 0 ? 100 * p->ms[i] / busy : 0.0,
                    p->starts[i]);
    fprintf(f, "  %-28s %10.3f\n  %-28s %10.3f\n", "busy (all but the host)", busy, names[0], p->ms[0]);
}

} // namespace pic_cuda
