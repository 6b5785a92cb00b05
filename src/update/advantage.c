/* Advantages (advantage.h). Groups are found by sorting indices by id, so a
 * step of any size costs n log n and the samples of a group need not be
 * adjacent in the stream. */
#include "update/advantage.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"

static const pic_adv_in *cmp_in;
static int by_group(const void *a, const void *b) {
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(cmp_in[i].group, cmp_in[j].group);
    return c ? c : (i > j) - (i < j);
}

size_t *pic_adv_group_order(const pic_adv_in *in, size_t n) {
    size_t *idx = pic_malloc((n + 1) * sizeof *idx);
    for (size_t i = 0; i < n; i++) idx[i] = i;
    cmp_in = in;
    qsort(idx, n, sizeof *idx, by_group);
    return idx;
}

/* A group of one has no baseline: verl quietly gives it A = r, which pushes
 * up every lone correct answer; here it is an error the caller reports. */
static int grpo(const pic_adv_cfg *c, const pic_adv_in *in, size_t n, double *adv, size_t *bad,
                const char **why) {
    size_t *idx = pic_adv_group_order(in, n);
    int rc = 0;
    for (size_t s = 0; s < n && rc == 0;) {
        size_t e = s + 1;
        while (e < n && strcmp(in[idx[e]].group, in[idx[s]].group) == 0) e++;
        double mean = 0, ss = 0;
        size_t k = 0;
        for (size_t i = s; i < e; i++)
            if (in[idx[i]].has_reward) mean += in[idx[i]].reward, k++;
        /* members with their own advantage do not need the group's numbers */
        bool needed = false;
        for (size_t i = s; i < e; i++) needed |= !in[idx[i]].has_adv;
        if (needed && k < 2) {
            for (size_t i = s; i < e; i++)
                if (!in[idx[i]].has_adv) *bad = idx[i];
            *why = k == 0 ? "no reward in the group" : "a group of one sample has no GRPO baseline";
            rc = -1;
            break;
        }
        if (k) mean /= (double)k;
        for (size_t i = s; i < e; i++)
            if (in[idx[i]].has_reward) ss += (in[idx[i]].reward - mean) * (in[idx[i]].reward - mean);
        double sd = k > 1 ? sqrt(ss / (double)(k - 1)) : 0;
        for (size_t i = s; i < e; i++) {
            const pic_adv_in *x = &in[idx[i]];
            if (x->has_adv) continue;
            double a = x->reward - mean;
            adv[idx[i]] = c->std_norm ? a / (sd + 1e-6) : a;
        }
        s = e;
    }
    free(idx);
    return rc;
}

int pic_advantages(const pic_adv_cfg *c, const pic_adv_in *in, size_t n, double *adv, size_t *bad,
                   const char **why) {
    for (size_t i = 0; i < n; i++) {
        if (in[i].has_adv) {
            adv[i] = in[i].adv;
        } else if (c->mode != PIC_ADV_GRPO) {
            bool pos = in[i].positive;
            adv[i] = c->mode == PIC_ADV_NSR ? (pos ? 0 : -1)
                   : c->mode == PIC_ADV_PSR ? (pos ? 1 : 0)
                                            : (pos ? c->lambda : -1);
        } else if (!in[i].has_reward) {
            *bad = i;
            *why = "no reward, correct or advantage";
            return -1;
        }
    }
    return c->mode == PIC_ADV_GRPO ? grpo(c, in, n, adv, bad, why) : 0;
}
