// The C face of double-conversion's shortest digits (dtoa.h). It finds them
// in ~0.1 us, where a search over printf's precisions, each read back by
// strtof, took ~1 us: two such values a token (log-prob and entropy) made
// formatting most of a stream program's time (docs/streams.md).
#include "common/dtoa.h"

#include <double-conversion/double-to-string.h>

int pic_shortest_digits(double x, bool single, char digits[PIC_DTOA_DIGITS], int *point) {
    using dc = double_conversion::DoubleToStringConverter;
    bool negative;
    int length;
    dc::DoubleToAscii(x, single ? dc::SHORTEST_SINGLE : dc::SHORTEST, 0, digits, PIC_DTOA_DIGITS, &negative, &length,
                      point);
    return length;
}
