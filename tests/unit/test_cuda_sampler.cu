// The device sampler (src/rollout/cuda/sampler.cu) against the CPU's
// (src/rollout/sampler.c), the reference: random logits rows at Qwen's
// V = 151936 and at V = 1000, greedy and six sampling settings (temperature,
// top-k, top-p, min-p alone and together), many uniforms per row, each drawn
// from the stream sampler_next itself draws from.
//
//  - greedy: the same token, always;
//  - sampling: the same token, except where the two sides' cumulative sums
//    (the same terms, associated differently: a sequential sum on the CPU;
//    block reductions and scans, over parts of 4096 ids without truncation,
//    on the GPU) put u or the top-p cut on different sides of a
//    boundary. Each sum of n terms in [0, 1] is within n * 2^-53 of the
//    exact one, so such a draw has u (or top_p) within EPS(n) = 4 n 2^-53 of
//    a cumulative mass; those are counted ("boundary") and may be at most 1
//    in 1000 draws (for random u the expected count is ~1e-10 per draw); any
//    other difference fails;
//  - log-prob and entropy of the drawn token at T: the model's head kernel
//    (logits.cu, held to 1e-6 relative above 1 and 1e-5 against a double
//    reference by test_cuda_logits) against the CPU's logprob_entropy_forward
//    (double sums too), so within twice those;
//  - a row alone gives bit for bit what it gives among the others.
// Prints a "# boundary ..." line that tests/gpu/run.sh puts in its table.
// First, on the host (so also without a GPU): the sort key orders logits
// as the CPU sampler does, special values included; and the draw's steps
// (draw.cuh, the kernels' own code over a one-thread block) give exactly
// sampler_next's token on every draw, ties and all.
#include <math.h>
#include <stdint.h>

#include <algorithm>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cuda_host.cuh"
#include "rollout/cuda/draw.cuh"
#include "rollout/cuda/sort_key.cuh"

extern "C" {
#include "model/layers.h"
#include "rollout/cuda/sampler.h"
}

static long n_draws, n_equal, n_boundary;

static double eps_for(int n) { return 4.0 * (n + 1) * ldexp(1.0, -53); }

// Whether a draw's two tokens a (CPU) and b (GPU) differ only by rounding:
// u within EPS of the cumulative mass between them in the CPU's walk, or
// the kept set's edge (top-p's cut, min-p's threshold) within EPS of it.
static bool at_boundary(const float *x, int V, const sampler_params *sp, double u, int32_t a, int32_t b,
                        sampler_scratch *scr) {
    bool truncated = sp->top_k > 0 || sp->top_p < 1.0f || sp->min_p > 0.0f;
    double *c = (double *)malloc((size_t)V * sizeof *c);
    int32_t *order = (int32_t *)malloc((size_t)V * sizeof *order);
    int n;
    if (!truncated) { // ids in order, weights normalized
        float m = -INFINITY;
        for (int i = 0; i < V; i++) m = fmaxf(m, x[i]);
        m /= sp->temperature;
        double S = 0;
        for (int i = 0; i < V; i++) S += c[i] = exp((double)(x[i] / sp->temperature - m));
        for (int i = 0; i < V; i++) c[i] /= S, order[i] = i;
        n = V;
    } else {
        const int32_t *ids;
        const double *p;
        sampler_dist(x, V, sp, scr, &ids, &p, &n);
        memcpy(order, ids, (size_t)n * sizeof *order);
        memcpy(c, p, (size_t)n * sizeof *c);
    }
    for (int i = 1; i < n; i++) c[i] += c[i - 1]; // now through position i
    bool near = false;
    double eps = eps_for(V);
    for (int i = 0; i + 1 < n && !near; i++)
        near = ((order[i] == a && order[i + 1] == b) || (order[i] == b && order[i + 1] == a)) && fabs(u - c[i]) <= eps;
    if (!near && truncated && (sp->top_p < 1.0f || sp->min_p > 0.0f)) {
        // the kept set's edge: the top-k set's cumulative mass near top_p, or a weight near min_p
        sampler_params k_only = {sp->temperature, sp->top_k, 1.0f, 0.0f};
        const int32_t *ids;
        const double *p;
        int nk;
        sampler_dist(x, V, &k_only, scr, &ids, &p, &nk);
        double run = 0, pmax = p[0];
        for (int i = 0; i < nk && !near; i++) {
            run += p[i];
            near = (sp->top_p < 1.0f && fabs(run - sp->top_p) <= eps) ||
                   (sp->min_p > 0.0f && fabs(p[i] / pmax - sp->min_p) <= eps * sp->min_p);
        }
    }
    free(c), free(order);
    return near;
}

// R rows of V random logits (scale s; every fourth row peaked), per_row
// draws each, under sp: the checks of the header comment.
static void run_case(int V, int R, int per_row, double scale, const sampler_params *sp, const char *what) {
    size_t e = (size_t)R * V, nd = (size_t)R * per_row;
    float *x = (float *)malloc(e * sizeof *x);
    for (size_t i = 0; i < e; i++) x[i] = (float)(scale * normal());
    for (int r = 1; r < R; r += 4) x[(size_t)r * V + rand() % V] += 12.0f;
    float *dz;
    cudaMalloc(&dz, e * sizeof *dz);
    cudaMemcpy(dz, x, e * sizeof *x, cudaMemcpyHostToDevice);
    int *row = (int *)malloc(nd * sizeof *row);
    double *u = (double *)malloc(nd * sizeof *u);
    int32_t *want = (int32_t *)malloc(nd * sizeof *want), *tok = (int32_t *)malloc(nd * sizeof *tok);
    float *lp = (float *)malloc(nd * sizeof *lp), *h = (float *)malloc(nd * sizeof *h);
    sampler_scratch scr = {0};
    for (size_t d = 0; d < nd; d++) {
        pic_rng rng, copy;
        pic_rng_seed(&rng, 42, (uint64_t)V, d);
        copy = rng;
        row[d] = (int)(d / per_row);
        u[d] = pic_rng_uniform(&copy); // the uniform sampler_next draws first
        want[d] = sampler_next(x + (size_t)row[d] * V, V, sp, &scr, &rng);
    }
    float Ts = sp->temperature > 0 ? sp->temperature : 1.0f;
    sampler_cuda *s = sampler_cuda_new();
    pic_err err = {{0}};
    int rc = sampler_next_cuda(s, dz, (size_t)R, V, sp, nd, row, u, Ts, tok, lp, h, NULL, &err);
    CHECK(rc == 0, "%s V %d: the device sampler ran%s%s", what, V, rc ? ": " : "", rc ? err.msg : "");
    if (rc) goto out;
    {
        long equal = 0, boundary = 0, other = 0;
        double worst_lp = 0, worst_h = 0;
        for (size_t d = 0; d < nd; d++) {
            const float *xr = x + (size_t)row[d] * V;
            if (tok[d] == want[d]) equal++;
            else if (sp->temperature > 0 && tok[d] >= 0 && tok[d] < V && at_boundary(xr, V, sp, u[d], want[d], tok[d], &scr))
                boundary++;
            else if (other++ < 3)
                printf("# %s V %d draw %zu: u %.17g, CPU %d, GPU %d\n", what, V, d, u[d], want[d], tok[d]);
            if (tok[d] < 0 || tok[d] >= V) continue;
            float clp, ch;
            logprob_entropy_forward(&clp, &ch, xr, &tok[d], 1, V, Ts);
            worst_lp = fmax(worst_lp, fabs((double)lp[d] - clp) / fmax(1.0, fabs(clp)));
            worst_h = fmax(worst_h, fabs((double)h[d] - ch));
        }
        n_draws += (long)nd, n_equal += equal, n_boundary += boundary;
        if (sp->temperature == 0)
            CHECK(equal == (long)nd, "%s V %d: greedy = the CPU's on %ld of %zu rows", what, V, equal, nd);
        else
            CHECK(other == 0 && boundary * 1000 <= (long)nd,
                  "%s V %d: the CPU's token on %ld of %zu draws, %ld at a mass boundary (<= 1/1000), %ld otherwise",
                  what, V, equal, nd, boundary, other);
        CHECK(worst_lp <= 2e-6 && worst_h <= 2e-5, "%s V %d: log-prob within 2e-6 (%.3g), entropy within 2e-5 (%.3g)",
              what, V, worst_lp, worst_h);

        // each row alone, with its first uniform, gives the bits it gave in the batch
        bool same = true;
        for (int r = 0; r < R && same; r++) {
            int zero = 0;
            int32_t t1;
            float lp1, h1;
            size_t d = (size_t)r * per_row;
            if (sampler_next_cuda(s, dz + (size_t)r * V, 1, V, sp, 1, &zero, &u[d], Ts, &t1, &lp1, &h1, NULL, &err))
                same = false;
            else
                same = t1 == tok[d] && memcmp(&lp1, &lp[d], sizeof lp1) == 0 && memcmp(&h1, &h[d], sizeof h1) == 0;
        }
        CHECK(same, "%s V %d: a row alone = the same row among %d, bit for bit", what, V, R);
    }
out:
    sampler_cuda_free(s);
    sampler_free(&scr);
    cudaFree(dz);
    free(x), free(row), free(u), free(want), free(tok), free(lp), free(h);
}

// For every pair of a set with duplicates, +-0, +-inf, subnormals and the
// extremes: key(a) < key(b) exactly when a > b, equal keys exactly when
// a == b (so a stable sort leaves ids ascending, the CPU's tie rule).
static void test_sort_key(void) {
    enum { N = 1200 };
    float x[N] = {0.0f, -0.0f, INFINITY, -INFINITY, 1e-45f, -1e-45f, 1.17e-38f, -1.17e-38f, 3.4e38f, -3.4e38f, 1.0f, -1.0f};
    for (int i = 12; i < N; i++) x[i] = i % 5 == 0 ? x[rand() % i] : (float)(normal() * pow(10.0, rand() % 12 - 6));
    long wrong = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            uint32_t a = sampler_sort_key(x[i]), b = sampler_sort_key(x[j]);
            wrong += (a < b) != (x[i] > x[j]) || (a == b) != (x[i] == x[j]);
        }
    CHECK(wrong == 0, "sort key: descending logits, equal keys for equal logits, on %d x %d pairs (%ld wrong)", N, N,
          wrong);
}

// The row's ids ordered as the device's stable radix sort on sort keys leaves them.
static void host_sort(int32_t *ids, const float *x, int V) {
    for (int i = 0; i < V; i++) ids[i] = i;
    std::stable_sort(ids, ids + V, [&](int32_t a, int32_t b) { return sampler_sort_key(x[a]) < sampler_sort_key(x[b]); });
}

// draw.cuh over host_block against sampler_next: the same token on every
// draw, on rows with many tied logits (rounded to halves) and without. Up
// to 4096 ids the sums are sampler_next's, in its order; past it, over
// several parts (4099: a part of 3; 9000: three), the total is the parts'
// sums added, sampler_next's terms associated otherwise, so a draw could
// differ only with u within ~V 2^-53 of a boundary: never, in these draws.
static void test_host_draw(const sampler_params *sp, const char *what) {
    static const int Vs[] = {7, 1000, 4099, 9000};
    long draws = 0, same = 0;
    sampler_scratch scr = {0};
    for (int v = 0; v < 4; v++) {
        int V = Vs[v];
        float *x = (float *)malloc((size_t)V * sizeof *x);
        int32_t *ids = (int32_t *)malloc((size_t)V * sizeof *ids);
        for (int r = 0; r < 8; r++) {
            for (int i = 0; i < V; i++) {
                x[i] = (float)(2.5 * normal());
                if (r % 2) x[i] = roundf(2 * x[i]) / 2;
            }
            bool truncated = sp->top_k > 0 || sp->top_p < 1.0f || sp->min_p > 0.0f;
            host_sort(ids, x, V);
            for (int d = 0; d < 200; d++, draws++) {
                pic_rng rng, copy;
                pic_rng_seed(&rng, 9, (uint64_t)(V * 8 + r), (uint64_t)d);
                copy = rng;
                double u = sp->temperature > 0 ? pic_rng_uniform(&copy) : 0;
                int32_t got = sampler_draw_host(x, truncated ? ids : NULL, V, sp->temperature, sp->top_k,
                                                sp->top_p, sp->min_p, u);
                same += got == sampler_next(x, V, sp, &scr, &rng);
            }
            // the ends of u, where rounding takes the fallbacks (the last token of any weight)
            if (sp->temperature > 0)
                for (double u : {0.0, nextafter(1.0, 0.0)}) {
                    same += sampler_draw_host(x, truncated ? ids : NULL, V, sp->temperature, sp->top_k, sp->top_p,
                                              sp->min_p, u) == sampler_pick(x, V, sp, &scr, u);
                    draws++;
                }
        }
        free(x), free(ids);
    }
    sampler_free(&scr);
    CHECK(same == draws, "%s: the kernel's steps on the host = sampler_next on %ld of %ld draws", what, same, draws);
}

int main(void) {
    srand(12);
    test_sort_key();
    struct {
        sampler_params sp;
        const char *what;
    } cases[] = {
        {{0.0f, 0, 1.0f, 0.0f}, "greedy"},
        {{1.0f, 0, 1.0f, 0.0f}, "T 1"},
        {{0.6f, 0, 0.95f, 0.0f}, "T 0.6 top-p 0.95"},
        {{1.0f, 50, 1.0f, 0.0f}, "T 1 top-k 50"},
        {{1.0f, 0, 1.0f, 0.1f}, "T 1 min-p 0.1"},
        {{0.7f, 20, 0.9f, 0.05f}, "T 0.7 top-k 20 top-p 0.9 min-p 0.05"},
        {{1.3f, 0, 0.5f, 0.0f}, "T 1.3 top-p 0.5"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) test_host_draw(&cases[c].sp, cases[c].what);
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        printf("# no CUDA device: the device sampler's checks are skipped\n");
        return check_done();
    }
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        run_case(151936, 6, 12, 3.0, &cases[c].sp, cases[c].what);
        run_case(1000, 40, 64, 2.0, &cases[c].sp, cases[c].what);
        // more rows than one sort takes (64): whole chunks and a partial last one
        run_case(1000, 150, 3, 2.0, &cases[c].sp, cases[c].what);
    }
    printf("# boundary: %ld draws, %ld the CPU's token, %ld at a mass boundary (u or the cut within 4 n 2^-53)\n",
           n_draws, n_equal, n_boundary);
    return check_done();
}
