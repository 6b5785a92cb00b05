/* The shortest decimal digits of a finite x >= 0 that read back as x (as a
 * float when single): digits[0..n), n returned, the value 0.digits x
 * 10^point. Google's double-conversion computes them (docs/dependencies.md);
 * this header is its C face. */
#ifndef PIC_COMMON_DTOA_H
#define PIC_COMMON_DTOA_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { PIC_DTOA_DIGITS = 18 }; /* room for a double's 17 and a NUL */
int pic_shortest_digits(double x, bool single, char digits[PIC_DTOA_DIGITS], int *point);

#ifdef __cplusplus
}
#endif

#endif
