/* A unit test of hand-vectorised kernels, once per instruction set: the
 * kernel is chosen once per process (PIC_ISA, else the CPU's best), so the
 * test runs itself again under each PIC_ISA with --one, where one_path
 * makes that path's checks. Its lines are passed on as comments; a path
 * this CPU or build cannot run is a TAP skip that says so. */
#ifndef PIC_TESTS_ISA_PATHS_H
#define PIC_TESTS_ISA_PATHS_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

/* This test again under PIC_ISA=isa: its exit status, or -1 where the CPU or
 * build lacks the path. */
static int isa_path_run(const char *self, const char *isa) {
    char cmd[4200], line[1024];
    snprintf(cmd, sizeof cmd, "PIC_ISA=%s '%s' --one 2>&1", isa, self);
    FILE *p = popen(cmd, "r");
    if (!p) return 1;
    int lacks = 0;
    while (fgets(line, sizeof line, p)) {
        if (strstr(line, "this CPU or build lacks")) lacks = 1;
        printf("#   %s", line);
    }
    int status = pclose(p);
    return lacks ? -1 : status;
}

/* main: with --one, one_path's checks; else each path's run, one check each
 * ("PIC_ISA=x: " what). */
static int isa_paths_main(int argc, char **argv, void (*one_path)(void), const char *what) {
    if (argc == 2 && !strcmp(argv[1], "--one")) return one_path(), check_done();
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return fprintf(stderr, "%s: cannot read /proc/self/exe\n", argv[0]), 1;
    self[n] = 0;
    static const char *isas[] = {"scalar", "avx2", "avx512"};
    for (int k = 0; k < 3; k++) {
        int rc = isa_path_run(self, isas[k]);
        if (rc < 0)
            CHECK(1, "PIC_ISA=%s # SKIP this CPU or build lacks it", isas[k]);
        else
            CHECK(rc == 0, "PIC_ISA=%s: %s", isas[k], what);
    }
    return check_done();
}

#endif
