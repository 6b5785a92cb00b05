/* Errors of the model library: a loader fills a message naming the file, the
 * tensor or key, and returns -1; the program decides whether to die (the
 * programs do, through pic_die) or recover (the unit tests do). */
#ifndef PIC_MODEL_ERROR_H
#define PIC_MODEL_ERROR_H

#include <stdarg.h>

typedef struct {
    char msg[512];
} pic_err;

/* Formats into err (which may be NULL) and returns -1. */
int pic_err_set(pic_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
