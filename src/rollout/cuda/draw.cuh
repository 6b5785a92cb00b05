// One draw of the device sampler (sampler.cu), written once over a "block"
// that supplies the row-wide operations, so that the same steps run on the
// GPU (thread blocks with CUB's fixed-shape reductions and scans) and on
// the host (one thread, sequential sums: host_block below), where the test
// holds them to sampler.c's sampler_next draw for draw without a GPU. A
// block B has:
//   int argmax(x, n)             the largest of x[0..n), the lowest index on ties
//   double sum(n, value)         sum of value(j), j < n
//   int count(n, pred)           how many j < n have pred(j)
//   int first_where(n, value, hit, carry)  the first j < n with hit(j, before,
//                                through, value(j)), before and through carry plus
//                                the sums of value over [0, j) and [0, j]; -1 if none
//
// Untruncated draws (temperature alone, or greedy: RL's usual setting) take
// the row in parts of kDrawPart ids, each part a block of its own on the GPU,
// so that a draw at batch 1 is not one SM walking the whole vocabulary
// (Qwen's 151936 ids: 38 parts). The parts are fixed by V alone and combined
// in their order, so a draw still depends on its row and u only:
//   1. draw_part_best: each part's largest logit (the lowest id on ties);
//      draw_argmax combines them in order: the row's argmax, and m;
//   2. draw_part_mass: each part's sum of the weights exp(z / T - m);
//   3. draw_pick: the total S is the parts' masses added in order; the
//      part where u S falls is found by their running sum, and the token by
//      a walk of that part's ids from the mass before it.
// Truncated draws (top-k, top-p, min-p) walk the row sorted by logit
// (sort_key.cuh), one block a draw: draw_sorted.
#ifndef PIC_ROLLOUT_CUDA_DRAW_CUH
#define PIC_ROLLOUT_CUDA_DRAW_CUH

#include <math.h>
#include <stdint.h>
#include <vector>

enum { kDrawPart = 4096 };

__host__ __device__ inline int draw_parts(int V) { return (V + kDrawPart - 1) / kDrawPart; }

struct draw_best {
    float v;
    int i;
};

// The larger logit, the lower id on ties: the CPU's argmax.
__host__ __device__ inline draw_best draw_better(draw_best a, draw_best b) {
    return b.v > a.v || (b.v == a.v && b.i < a.i) ? b : a;
}

// Part p's largest logit and its id.
#pragma nv_exec_check_disable
template <class B> __host__ __device__ draw_best draw_part_best(B &b, const float *x, int V, int p) {
    int lo = p * kDrawPart, n = V - lo < kDrawPart ? V - lo : kDrawPart;
    int at = lo + b.argmax(x + lo, n);
    return {x[at], at};
}

// The row's argmax from its parts' bests, in order.
__host__ __device__ inline int draw_argmax(const draw_best *best, int P) {
    draw_best r = best[0];
    for (int p = 1; p < P; p++) r = draw_better(r, best[p]);
    return r.i;
}

// Part p's mass: the sum of its weights exp((double)(z / T - m)).
#pragma nv_exec_check_disable
template <class B> __host__ __device__ double draw_part_mass(B &b, const float *x, int V, int p, float T, float m) {
    const float *xp = x + p * kDrawPart;
    int n = V - p * kDrawPart < kDrawPart ? V - p * kDrawPart : kDrawPart;
    return b.sum(n, [&](int j) { return exp((double)(xp[j] / T - m)); });
}

// The token: the first id whose running mass passes u S (and of any weight).
#pragma nv_exec_check_disable
template <class B>
__host__ __device__ int32_t draw_pick(B &b, const float *x, int V, float T, int argmax, const double *mass, int P,
                                      double u) {
    float m = x[argmax] / T;
    double S = 0;
    for (int p = 0; p < P; p++) S += mass[p];
    double target = u * S, carry = 0;
    int p = 0;
    while (p < P && !(carry + mass[p] > target)) carry += mass[p++];
    if (p == P) { // rounding left target beyond the sum: the last part of any mass
        for (p = P - 1; p > 0 && !(mass[p] > 0); p--) {
        }
        carry = 0;
        for (int q = 0; q < p; q++) carry += mass[q];
    }
    int lo = p * kDrawPart, n = V - lo < kDrawPart ? V - lo : kDrawPart;
    auto w = [&](int j) { return exp((double)(x[lo + j] / T - m)); };
    int at = b.first_where(n, w, [&](int, double, double through, double v) { return through > target && v > 0; },
                           carry);
    if (at >= 0) return lo + at;
    // rounding again (the walk's sums are associated unlike the part's): the part's last token of any weight
    int from_end = b.first_where(n, [&](int j) { return w(n - 1 - j); },
                                 [](int, double, double, double v) { return v > 0; }, 0.0);
    return from_end >= 0 ? lo + n - 1 - from_end : argmax;
}

// A truncated draw: the row's ids sorted by sort_key.cuh (descending
// logits, ids ascending on ties), cut in HuggingFace's order.
#pragma nv_exec_check_disable
template <class B>
__host__ __device__ int32_t draw_sorted(B &b, const float *x, const int32_t *sorted, int V, float T, int top_k,
                                        float top_p, float min_p, double u) {
    // z / T is monotone in z, so the order of the logits is the order of z / T
    float m = x[sorted[0]] / T;
    auto w = [&](int j) { return exp((double)(x[sorted[j]] / T - m)); };
    int n = top_k > 0 && top_k < V ? top_k : V;
    // and every token tied with the k-th once scaled, as HF's and vLLM's
    // top-k keep them (they drop scores below the k-th's): sorted, they follow
    for (float edge = x[sorted[n - 1]] / T; n < V && x[sorted[n]] / T == edge;) n++;
    if (top_p < 1.0f) {
        // keep, in descending order, each token whose predecessors' mass is
        // still below top_p (the one crossing it stays; at least one)
        double limit = (double)top_p * b.sum(n, w);
        int cut = b.first_where(n, w, [&](int j, double before, double, double) { return j > 0 && before >= limit; },
                                0.0);
        if (cut > 0) n = cut;
    }
    // p_i >= min_p * p_max <=> exp(z_i - m) >= min_p, whatever the
    // normalization; w falls along the sorted order, so this keeps a prefix
    if (min_p > 0.0f) n = b.count(n, [&](int j) { return w(j) >= (double)min_p; });
    if (n < 1) n = 1; // only NaN logits keep nothing (the first weight is exp(0) otherwise)
    double S = b.sum(n, w);
    int at = b.first_where(n, [&](int j) { return w(j) / S; },
                           [&](int, double, double through, double) { return through > u; }, 0.0);
    if (at >= 0) return sorted[at];
    // rounding left u beyond the kept mass: the last kept token that has
    // any (weights fall along the order, so those with some are a prefix)
    int with_mass = b.count(n, [&](int j) { return w(j) / S > 0.0; });
    return sorted[with_mass > 0 ? with_mass - 1 : 0];
}

// The block of one host thread: sums in order, as sampler.c adds.
struct host_block {
    int argmax(const float *x, int n) {
        int best = 0;
        for (int i = 1; i < n; i++)
            if (x[i] > x[best]) best = i;
        return best;
    }
    template <class F> double sum(int n, F value) {
        double s = 0;
        for (int j = 0; j < n; j++) s += value(j);
        return s;
    }
    template <class P> int count(int n, P pred) {
        int c = 0;
        for (int j = 0; j < n; j++) c += pred(j) ? 1 : 0;
        return c;
    }
    template <class F, class H> int first_where(int n, F value, H hit, double carry) {
        double before = carry;
        for (int j = 0; j < n; j++) {
            double v = value(j), through = before + v;
            if (hit(j, before, through, v)) return j;
            before = through;
        }
        return -1;
    }
};

// The whole draw on the host, the device's steps in its order: the token
// sampler_next draws from x [V] with uniform u, given the row's ids sorted
// when anything truncates (NULL otherwise).
inline int32_t sampler_draw_host(const float *x, const int32_t *sorted, int V, float T, int top_k, float top_p,
                                 float min_p, double u) {
    host_block b;
    if (sorted && T != 0.0f) return draw_sorted(b, x, sorted, V, T, top_k, top_p, min_p, u);
    int P = draw_parts(V);
    std::vector<draw_best> best(P);
    for (int p = 0; p < P; p++) best[p] = draw_part_best(b, x, V, p);
    int argmax = draw_argmax(best.data(), P);
    if (T == 0.0f) return argmax;
    std::vector<double> mass(P);
    for (int p = 0; p < P; p++) mass[p] = draw_part_mass(b, x, V, p, T, x[argmax] / T);
    return draw_pick(b, x, V, T, argmax, mass.data(), P, u);
}

#endif
