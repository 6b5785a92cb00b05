// One draw of the device sampler (sampler.cu), written once over a "block"
// that supplies the row-wide operations, so that the same steps run on the
// GPU (a thread block with CUB's fixed-shape reductions and scans) and on
// the host (one thread, sequential sums: host_block below), where the test
// holds them to sampler.c's sampler_next draw for draw, bit for bit, without
// a GPU. A block B has:
//   int argmax(x, V)             the largest logit, the lowest id on ties
//   double sum(n, value)         sum of value(j), j < n
//   int count(n, pred)           how many j < n have pred(j)
//   int first_where(n, value, hit)  the first j < n with hit(j, before,
//                                through, value(j)), before and through the
//                                sums of value over [0, j) and [0, j]; -1 if none
#ifndef PIC_ROLLOUT_CUDA_DRAW_CUH
#define PIC_ROLLOUT_CUDA_DRAW_CUH

#include <math.h>
#include <stdint.h>

// The token sampler_next draws from the row x [V] with uniform u, given the
// row's ids sorted by sort_key.cuh (descending logits, ids ascending on
// ties), or NULL when nothing truncates (then nothing is sorted).
#pragma nv_exec_check_disable
template <class B>
__host__ __device__ int32_t sampler_draw(B &b, const float *x, const int32_t *sorted, int V, float T, int top_k,
                                         float top_p, float min_p, double u) {
    int argmax = b.argmax(x, V);
    if (T == 0.0f) return argmax;
    // z / T is monotone in z, so the order of the logits is the order of z / T
    float m = x[argmax] / T;
    if (!sorted) { // no truncation: walk the ids in order against u times the total mass
        auto w = [&](int i) { return exp((double)(x[i] / T - m)); };
        double target = u * b.sum(V, w);
        int at = b.first_where(V, w, [&](int, double, double through, double v) { return through > target && v > 0; });
        if (at >= 0) return at;
        // rounding left target beyond the sum: the last token of any weight
        int from_end = b.first_where(V, [&](int j) { return w(V - 1 - j); },
                                     [](int, double, double, double v) { return v > 0; });
        return from_end >= 0 ? V - 1 - from_end : argmax;
    }
    auto w = [&](int j) { return exp((double)(x[sorted[j]] / T - m)); };
    int n = top_k > 0 && top_k < V ? top_k : V;
    if (top_p < 1.0f) {
        // keep, in descending order, each token whose predecessors' mass is
        // still below top_p (the one crossing it stays; at least one)
        double limit = (double)top_p * b.sum(n, w);
        int cut = b.first_where(n, w, [&](int j, double before, double, double) { return j > 0 && before >= limit; });
        if (cut > 0) n = cut;
    }
    // p_i >= min_p * p_max <=> exp(z_i - m) >= min_p, whatever the
    // normalization; w falls along the sorted order, so this keeps a prefix
    if (min_p > 0.0f) n = b.count(n, [&](int j) { return w(j) >= (double)min_p; });
    if (n < 1) n = 1; // only NaN logits keep nothing (the first weight is exp(0) otherwise)
    double S = b.sum(n, w);
    int at = b.first_where(n, [&](int j) { return w(j) / S; },
                           [&](int, double, double through, double) { return through > u; });
    return sorted[at < 0 ? n - 1 : at];
}

// The block of one host thread: sums in order, as sampler.c adds.
struct host_block {
    int argmax(const float *x, int V) {
        int best = 0;
        for (int i = 1; i < V; i++)
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
    template <class F, class H> int first_where(int n, F value, H hit) {
        double before = 0;
        for (int j = 0; j < n; j++) {
            double v = value(j), through = before + v;
            if (hit(j, before, through, v)) return j;
            before = through;
        }
        return -1;
    }
};

#endif
