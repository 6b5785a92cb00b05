/* float32 <-> bfloat16 / float16 by bit manipulation, so results do not
 * depend on compiler or CPU support for half types. */
#include <math.h>
#include <string.h>

#include "model/safetensors.h"

uint16_t pic_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1); /* round half to even, as torch does */
    return (uint16_t)(u >> 16);
}

uint16_t pic_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00; /* quiet NaN */
    if (a >= 0x477ff000u) return sign | 0x7c00; /* from 65520 (65504 + half its ulp, a tie to even) on: infinity */
    if (a < 0x38800000u) { /* below 2^-14: a subnormal, man * 2^-24, the product exact and rounded half to even */
        float m;
        memcpy(&m, &a, 4);
        return sign | (uint16_t)nearbyintf(m * 16777216.0f);
    }
    a -= 112u << 23; /* the exponent's bias, 127 to 15 */
    a += 0xfffu + ((a >> 13) & 1); /* round half to even; a carry into the exponent is right */
    return sign | (uint16_t)(a >> 13);
}

float pic_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    float f;
    if (exp == 0) { /* zero or subnormal: man * 2^-24 exactly */
        f = ldexpf((float)man, -24);
        uint32_t u;
        memcpy(&u, &f, 4);
        u |= sign;
        memcpy(&f, &u, 4);
        return f;
    }
    uint32_t u = exp == 31 ? sign | 0x7f800000u | (man << 13)
                           : sign | ((exp + 112) << 23) | (man << 13);
    memcpy(&f, &u, 4);
    return f;
}
