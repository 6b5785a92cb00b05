#!/usr/bin/env bats
# The fuzz targets under tests/fuzz build: each run.sh names its sources by
# hand, and a library function moved to a new file left three of them
# failing to link (pic_utf8_bom, src/common/utf8.c) with nothing noticing.
load helpers

fuzz_build() {
    command -v clang >/dev/null || skip "no clang"
    printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' >probe.c
    clang -fsanitize=fuzzer probe.c -o probe 2>/dev/null || skip "clang has no libFuzzer"
    run "$PIC_ROOT/tests/fuzz/$1/run.sh" --build
    [ "$status" -eq 0 ] || { echo "$output" >&2; return 1; }
}

@test "fuzz target model builds (run.sh --build)" { fuzz_build model; }
@test "fuzz target tokenizer builds (run.sh --build)" { fuzz_build tokenizer; }
@test "fuzz target samples builds (run.sh --build)" { fuzz_build samples; }
@test "fuzz target reward builds (run.sh --build)" { fuzz_build reward; }
@test "fuzz target countdown builds (run.sh --build)" { fuzz_build countdown; }
