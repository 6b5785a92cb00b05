// The sort key of a logit for the device sampler's radix sort (sampler.cu):
// ascending keys are descending logits, and equal logits (-0 and +0
// included, as the CPU's comparison has them) get equal keys, so a stable
// sort keeps their ids ascending: the CPU sampler's order. The IEEE bits
// made monotone as unsigned (negatives flipped, positives above them), then
// complemented. Host and device, so the CPU-side test checks the order.
#ifndef PIC_ROLLOUT_CUDA_SORT_KEY_CUH
#define PIC_ROLLOUT_CUDA_SORT_KEY_CUH

#include <stdint.h>
#include <string.h>

__host__ __device__ inline uint32_t sampler_sort_key(float x) {
    if (x == 0.0f) x = 0.0f;
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    uint32_t ascending = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
    return ~ascending;
}

#endif
