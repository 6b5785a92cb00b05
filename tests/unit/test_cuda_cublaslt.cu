// cuBLASLt is opened on first use (src/model/cuda/cublaslt.cu): the CPU
// work of a CUDA build never maps it (linked, it cost each process ~25,000
// page faults at start); the backend's first call opens it and answers.
// Needs no GPU.
#include <cublasLt.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
extern "C" {
#include "model/model.h"
}

static bool mapped(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096];
    bool found = false;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "libcublasLt")) found = true;
    if (f) fclose(f);
    return found;
}

int main(void) {
    pic_model m;
    pic_err err;
    pic_model_opts cpu = {PIC_DEVICE_CPU, PIC_DTYPE_AUTO, 0, false, 0};
    if (pic_model_load(&m, "tests/fixtures/models/qwen2-tiny", &cpu, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    static const int len[1] = {5};
    static const int32_t toks[5] = {1, 2, 3, 4, 5};
    pic_batch b = {1, len, toks, NULL};
    CHECK(pic_forward(&m, NULL, &b, PIC_LOGITS_NONE, NULL, &err) == 0 && !mapped(),
          "a CUDA build's forward on the CPU leaves cuBLASLt unloaded");
    const char *s = cublasLtGetStatusString(CUBLAS_STATUS_SUCCESS);
    CHECK(mapped() && s && strcasestr(s, "success"), "the first call opens it and answers (%s)", s ? s : "NULL");
    pic_model_free(&m);
    return check_done();
}
