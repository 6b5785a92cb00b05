/* The device the golden unit tests run on: PIC_TEST_DEVICE=cpu|cuda|auto
 * and PIC_TEST_DTYPE=f32|bf16 (tests/gpu/run.sh sets them; unset, the CPU
 * in f32). */
#ifndef PIC_TESTS_DEVICE_OPTS_H
#define PIC_TESTS_DEVICE_OPTS_H

#include <stdlib.h>

#include "common/cli.h"
#include "model/model.h"

static inline pic_model_opts device_opts(void) {
    pic_model_opts o = {.device = PIC_DEVICE_CPU, .dtype = PIC_DTYPE_F32};
    const char *d = getenv("PIC_TEST_DEVICE"), *t = getenv("PIC_TEST_DTYPE");
    if (d && pic_device_parse(d) < 0) pic_die("PIC_TEST_DEVICE=%s: expected cpu, cuda or auto", d);
    if (t && pic_model_dtype_parse(t) < 0) pic_die("PIC_TEST_DTYPE=%s: expected f32 or bf16", t);
    if (d) o.device = (pic_device)pic_device_parse(d);
    if (t) o.dtype = (pic_model_dtype)pic_model_dtype_parse(t);
    o.device = pic_device_resolve(o.device);
    o.dtype = pic_model_dtype_resolve(o.dtype, o.device);
    return o;
}

#endif
