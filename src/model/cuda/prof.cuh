// Where a pass's GPU time goes (PIC_CUDA_PROFILE=1): an event on the
// model's stream where each phase starts, the intervals between them summed
// per phase and printed to stderr when the model is freed. For the GPU
// session's benchmark, which has minutes, not a profiler: the events cost a
// few microseconds each and wait for nothing until their buffer fills. A
// process under it runs its decode steps without graphs (an event captured
// into a graph is not timed). The interval after a phase's last kernel, up
// to the next mark, is that phase's: every entry point marks PROF_HOST when
// it hands back to the host, so the host's own time between calls is not a
// kernel's.
#ifndef PIC_CUDA_PROF_CUH
#define PIC_CUDA_PROF_CUH

#include <stdio.h>

#include "model/model.h"

namespace pic_cuda {

enum prof_phase {
    PROF_HOST, // the stream idle between calls, the host working
    PROF_EMBED,
    PROF_NORM,
    PROF_QKV,
    PROF_ROPE, // the q/k/v split, Qwen3's q/k norms, RoPE, the KV cache's append
    PROF_ATTN,
    PROF_OPROJ,
    PROF_MLP_UP,
    PROF_SWIGLU,
    PROF_MLP_DOWN,
    PROF_HEAD, // lm_head a block of rows at a time, log-probs and entropies (or logits out)
    PROF_BWD_HEAD,
    PROF_BWD_LINEAR,
    PROF_BWD_ATTN,
    PROF_BWD_OTHER, // norms, SwiGLU, RoPE, the residual, the embedding
    PROF_OPTIM,     // the gradient's norm, clipping, AdamW
    PROF_N
};

// Starts phase p on the model's stream (nothing unless PIC_CUDA_PROFILE is set).
void prof_mark(pic_cuda_model *cm, prof_phase p);

// The least work of each phase, counted by the host from the shapes of
// what it asks for: the FLOPs of the matrix products (and attention's),
// and the bytes that must cross device memory, each tensor once (weights
// once a call, activations once, the KV cache's keys once a step). The
// table divides them by PIC_CUDA_PROFILE_RATES ("TFLOPS,TBPS", the bf16
// matrix rate and copy bandwidth the benchmark measured in the same run)
// into the phase's floor, the larger of the two times. What pic does
// beyond it (a product's inputs read again per tile, recomputation, the
// logits of a block of rows written and read back) is the gap to it.
void prof_work(pic_cuda_model *cm, prof_phase p, double flops, double bytes);
// A forward pass of N tokens whose queries see `pairs` causal query-key
// pairs and read `keys` rows of keys and values (a cache's included):
// every phase from the embedding to the final norm.
void prof_forward(const pic_model *m, size_t N, double pairs, double keys);
// The head over `rows` rows: lm_head's product and the statistics, plus
// `out` bytes the caller takes (logits to the host).
void prof_head(const pic_model *m, size_t rows, double out);
// The backward of the last forward (its pairs and keys), and of the head
// over `rows` rows (logits recomputed, both products).
void prof_backward(const pic_model *m);
void prof_head_backward(const pic_model *m, size_t rows);
// The table of the phases' times (at the model's free).
void prof_report(pic_cuda_model *cm, FILE *f);
// The profile's state, made at load when PIC_CUDA_PROFILE=1, else NULL.
struct prof_state;
prof_state *prof_new(void);
void prof_free(prof_state *p);

} // namespace pic_cuda

#endif
