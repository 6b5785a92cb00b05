/* The sampler's exp (src/rollout/sampler_exp.c) gives its scalar
 * definition's bits on every instruction set, over every length's tail and
 * through the ids, and is within 2 ulp of glibc's exp from 1 down to the
 * subnormals, with exp's values at 0, -inf and past the ends, and NaN for
 * NaN. The kernel is chosen once per process, so the test runs itself again
 * under each PIC_ISA (--one); a path this CPU cannot run is skipped, saying
 * so. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "isa_paths.h"
#include "common/cli.h"
#include "model/matmul_bi.h"
#include "rollout/sampler_exp.h"

static uint64_t rng_state = 7;

static double uniform01(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* |a - b| in units of b's last place (of the smallest normal below it) */
static double ulps(double a, double b) {
    double unit = ldexp(1.0, (b >= 0x1p-1022 ? ilogb(b) : -1022) - 52);
    return fabs(a - b) / unit;
}

static void one_path(void) {
    const char *isa = pic_matmul_bi_isa();
    enum { N = 100003 }; /* odd: every path ends in a scalar tail */
    float *z = pic_malloc(N * sizeof *z);
    double *w = pic_malloc(N * sizeof *w);
    int32_t *idx = pic_malloc(N * sizeof *idx);
    /* logits over the range a draw sees and beyond: x = z / T - m in (-800, 0] */
    for (int i = 0; i < N; i++) z[i] = (float)(-800.0 * pow(uniform01(), 3.0));
    z[0] = 0.0f, z[1] = -0.0f, z[2] = -INFINITY, z[3] = -744.5f, z[4] = -708.5f, z[5] = -1e-30f, z[6] = -746.0f;
    static const float Ts[] = {1.0f, 0.6f, 1.7f}, ms[] = {0.0f, -3.25f, 12.5f};
    int bad_bits = 0, cases = 0;
    double worst = 0;
    for (int t = 0; t < 3; t++) {
        float T = Ts[t], m = ms[t] / T;
        for (size_t n = 0; n <= 19; n++) { /* every tail of a vector of 4 or 8 */
            sampler_exp(w, z + 7, n, T, m);
            for (size_t i = 0; i < n; i++) bad_bits += w[i] != sampler_exp1(z[7 + i], T, m), cases++;
        }
        sampler_exp(w, z, N, T, m);
        for (int i = 0; i < N; i++) {
            double want1 = sampler_exp1(z[i], T, m);
            bad_bits += memcmp(&w[i], &want1, sizeof want1) != 0, cases++;
            double e = ulps(w[i], exp((double)(z[i] / T - m)));
            if (e > worst) worst = e;
        }
        for (int i = 0; i < N; i++) idx[i] = (int32_t)((i * 7919LL) % N);
        sampler_exp_ids(w, z, idx, N, T, m);
        for (int i = 0; i < N; i++) bad_bits += w[i] != sampler_exp1(z[idx[i]], T, m), cases++;
    }
    CHECK(!bad_bits, "PIC_ISA=%s: sampler_exp gives the definition's bits (%d of %d differ)", isa, bad_bits, cases);
    CHECK(worst <= 2.0, "PIC_ISA=%s: within 2 ulp of exp from 1 to the subnormals (worst %.2f)", isa, worst);
    sampler_exp(w, z, 8, 1.0f, 0.0f);
    CHECK(w[0] == 1.0 && w[1] == 1.0, "PIC_ISA=%s: exp(0) and exp(-0) are 1 (%a, %a)", isa, w[0], w[1]);
    CHECK(w[2] == 0.0 && w[6] == 0.0, "PIC_ISA=%s: exp(-inf) and exp(-746) are 0 (%a, %a)", isa, w[2], w[6]);
    CHECK(w[3] > 0.0 && w[3] == exp(-744.5), "PIC_ISA=%s: exp(-744.5) is glibc's subnormal (%a, %a)", isa, w[3],
          exp(-744.5));
    float odd[9] = {NAN, 800.0f, -1e30f, 1e30f, 0.5f, -0.5f, 1.0f, -1.0f, 709.0f};
    double wo[9];
    sampler_exp(wo, odd, 9, 1.0f, 0.0f);
    CHECK(isnan(wo[0]), "PIC_ISA=%s: NaN in, NaN out (%a)", isa, wo[0]);
    CHECK(isinf(wo[1]) && wo[2] == 0.0 && isinf(wo[3]), "PIC_ISA=%s: past the ends, inf, 0 and inf (%a %a %a)", isa,
          wo[1], wo[2], wo[3]);
    int near = 1;
    for (int i = 4; i < 9; i++) near &= ulps(wo[i], exp((double)odd[i])) <= 2.0;
    CHECK(near, "PIC_ISA=%s: positive arguments too, within 2 ulp (exp(709) %a against %a)", isa, wo[8], exp(709.0));
    free(z), free(w), free(idx);
}

int main(int argc, char **argv) {
    return isa_paths_main(argc, argv, one_path,
                          "the sampler's exp gives its definition's bits");
}
