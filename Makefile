# pic: build, test, sanitize, benchmark.  Each directory under src/ brings its
# own module.mk, which declares its libraries, programs and unit tests with the
# LIB / PROG / UNIT macros below; this file holds only what they share.

BUILD ?= build
BIN   ?= bin
CC    ?= cc
NVCC  ?= nvcc
OPT   ?= -O2

# CUDA objects are built when nvcc is found; `make CUDA=0` skips them.
ifeq ($(origin CUDA),undefined)
CUDA := $(if $(shell command -v $(NVCC) 2>/dev/null),1,0)
endif

CPPFLAGS += -Isrc -D_GNU_SOURCE -DPIC_VERSION='"$(VERSION)"'
CFLAGS   += -std=c11 $(OPT) -g -Wall -Wextra -Werror -pthread -fno-strict-aliasing
LDFLAGS  += -pthread
CXXFLAGS += -std=c++17 $(OPT) -g -Wall -Wextra -Werror -pthread
# double-conversion (src/common/dtoa.cc) links statically, with the C++
# runtime of its one-time statics (libsupc++): no shared library more
LDLIBS   += -ljansson -lzstd -l:libdouble-conversion.a -lsupc++ -lm
# CUDA objects for H100/H200 (sm_90) and A100 (sm_80), plus sm_90 PTX that
# newer GPUs compile at load.
CUDA_HOME ?= /usr/local/cuda
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
             -gencode arch=compute_90,code=compute_90
NVFLAGS  += -O2 -std=c++17 -Isrc -Itests/unit $(CUDA_ARCH) --compiler-options -Wall,-Werror
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo 0.1)

SAN_RECOVER := -fno-sanitize-recover=undefined -fno-omit-frame-pointer
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined $(SAN_RECOVER)
CXXFLAGS += -fsanitize=address,undefined $(SAN_RECOVER)
LDFLAGS += -fsanitize=address,undefined
endif
# SAN=ub: UndefinedBehaviorSanitizer alone, for the emulated CUDA kernels
# under `make asan`: ASan does not follow the emulator's fibers, UBSan
# needs nothing of the stack, and finds there what a GPU would show as a
# wrong result or a fault (a misaligned vector access, an index overflow).
ifeq ($(SAN),ub)
EMU_SAN := -fsanitize=undefined $(SAN_RECOVER)
CFLAGS  += $(EMU_SAN)
CXXFLAGS += $(EMU_SAN)
LDFLAGS += -fsanitize=undefined
endif
# SAN=thread: ThreadSanitizer, for the emulated CUDA kernels (make tsan-emu):
# each GPU thread is a TSan fiber and only the GPU's barriers order them
# (tests/cudaemu/runtime.cpp), so a read or write that wants a
# __syncthreads or __syncwarp before it is a report, in whatever order the
# emulator ran the threads.
ifeq ($(SAN),thread)
EMU_SAN := -fsanitize=thread -fno-omit-frame-pointer
CFLAGS  += $(EMU_SAN)
CXXFLAGS += $(EMU_SAN)
LDFLAGS += -fsanitize=thread
endif

# ISA=emu: the kernels' AVX2 and AVX-512 paths over SIMDe's portable
# intrinsics (src/model/x86_intrin.h), built by `make isa-emu` for
# tests/isa.bats: every path's own code runs, and is checked, on any CPU.
ifeq ($(ISA),emu)
CPPFLAGS += -DPIC_ISA_EMU
endif

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(filter %.c,$(1))) \
      $(patsubst %.cc,$(BUILD)/obj/%.cc.o,$(filter %.cc,$(1))) \
      $(if $(filter 1 emu,$(CUDA)),$(patsubst %.cu,$(BUILD)/obj/%.cu.o,$(filter %.cu,$(1)))) \
      $(patsubst %.cpp,$(BUILD)/obj/%.cpp.o,$(filter %.cpp,$(1)))

PROGRAMS :=
UNITS    :=
LIBS     :=

# $(call LIB,name,sources): a static library build/libNAME.a, made afresh
# (ar would keep members of an earlier build, e.g. CUDA=0's cuda_none.o
# beside CUDA=1's backend) and again whenever CUDA changes.
define LIB
LIBS += $(BUILD)/lib$(1).a
$(BUILD)/lib$(1).a: $(call obj,$(2)) $(BUILD)/cuda.setting
	@mkdir -p $$(@D)
	rm -f $$@
	$$(AR) rcs $$@ $$(filter %.o,$$^)
endef

# $(call PROG,name,sources,libs,ldlibs): bin/NAME linked with build/libLIB.a...
# (whatever links the model library gets the CUDA libraries it needs)
define PROG
PROGRAMS += $(BIN)/$(1)
$(BIN)/$(1): $(call obj,$(2)) $(foreach l,$(3),$(BUILD)/lib$(l).a)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o %.a,$$^) $(4) $(if $(filter model,$(3)),$$(MODEL_LDLIBS)) $$(LDLIBS)
endef

# $(call UNIT,name,sources,libs,ldlibs): a C unit test build/tests/NAME (TAP)
define UNIT
UNITS += $(BUILD)/tests/$(1)
$(BUILD)/tests/$(1): $(call obj,$(2)) $(foreach l,$(3),$(BUILD)/lib$(l).a)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o %.a,$$^) $(4) $(if $(filter model,$(3)),$$(MODEL_LDLIBS)) $$(LDLIBS)
endef

# With CUDA=1 the model library holds the CUDA backend: what links it links
# these. The CUDA runtime links statically, so bin/ needs only the driver and
# cuBLASLt, which has no static build here and is too big to carry: it is
# opened on first use (src/model/cuda/cublaslt.cu), found through the rpath
# on a machine with the toolkit there, else through LD_LIBRARY_PATH
# (tests/gpu/run.sh points it at the GPU machine's copy). A CUDA=1 binary
# runs --device cpu without any GPU, and without cuBLASLt.
CUDA_LDLIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lstdc++
MODEL_LDLIBS := $(if $(filter 1,$(CUDA)),$(CUDA_LDLIBS),$(if $(filter emu,$(CUDA)),-lstdc++))

include $(sort $(wildcard src/*/module.mk)) tests/unit/module.mk

# Holds the CUDA setting of the last build; touched only when it changes.
$(BUILD)/cuda.setting: FORCE
	@mkdir -p $(@D)
	@echo $(CUDA) | cmp -s - $@ || echo $(CUDA) > $@
# Holds the version (git describe) of the last build; touched only when it
# changes. cli.c alone prints it (--version), and make saw no reason to
# rebuild cli.o after a commit: every program named the commit cli.c last
# changed in.
$(BUILD)/version.setting: FORCE
	@mkdir -p $(@D)
	@echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' > $@
$(BUILD)/obj/src/common/cli.o: $(BUILD)/version.setting
FORCE:

.PHONY: all deps test test-blas host-cuda isa-emu cuda-emu ubsan-emu tsan-emu test-tsan unit asan valgrind bench demo clean FORCE
.DEFAULT_GOAL := all
all: $(PROGRAMS) $(UNITS)

deps:
	@scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<
# C++ where a library has only a C++ face (src/common/dtoa.cc)
$(BUILD)/obj/%.cc.o: %.cc
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -MMD -MP -c -o $@ $<

ifneq ($(CUDA),emu)
$(BUILD)/obj/%.cu.o: %.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVFLAGS) -MMD -MP -c -o $@ $<
else
# CUDA=emu: the CUDA files as C++ over tests/cudaemu (the emulator), each
# .cu and .cuh rewritten by cu2cpp.pl into $(BUILD)/cu2cpp/ first; the
# emulator's own .cpp files with the same flags.
EMU_DIR     := $(BUILD)/cu2cpp
EMU_HEADERS := $(patsubst %,$(EMU_DIR)/%,$(wildcard src/*/cuda/*.cuh src/*/cuda/*.h tests/unit/*.cuh))
EMU_FLAGS   := -std=c++17 $(OPT) -g -Wall -Werror -Wno-unused-function -Wno-unknown-pragmas -pthread \
               -ffp-contract=off -U_FORTIFY_SOURCE -I$(EMU_DIR)/src -I$(EMU_DIR)/tests/unit -Itests/cudaemu/include \
               -Isrc -Itests/unit -D_GNU_SOURCE -DPIC_VERSION='"$(VERSION)"' $(EMU_SAN)
$(EMU_DIR)/%: % tests/cudaemu/cu2cpp.pl
	@mkdir -p $(@D)
	perl tests/cudaemu/cu2cpp.pl $< > $@.tmp && mv $@.tmp $@
# kept, not removed as intermediates: the next build finds them up to date
.PRECIOUS: $(EMU_DIR)/%
$(BUILD)/obj/%.cu.o: $(EMU_DIR)/%.cu $(EMU_HEADERS)
	@mkdir -p $(@D)
	$(CXX) $(EMU_FLAGS) -MMD -MP -c -x c++ -o $@ $<
$(BUILD)/obj/%.cpp.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(EMU_FLAGS) -MMD -MP -c -o $@ $<
endif

# The CUDA backend's twin tests, run over the emulator (tests/cudaemu) by
# `make cuda-emu`: every kernel against its CPU twin, without a GPU.
# (test_cuda_cublaslt checks how the real library is opened: GPU only.)
CUDA_EMU  := $(BUILD)/cuda-emu
EMU_UNIT_NAMES := test_cudaemu test_cuda_logits test_cuda_layers test_cuda_invariance test_cuda_backward \
                  test_cuda_sampler
EMU_UNITS := $(addprefix $(CUDA_EMU)/tests/,$(EMU_UNIT_NAMES))
# the same built with UBSan (make ubsan-emu), in a folder of their own: the
# objects of the two builds must not meet in one link
UBSAN_EMU   := $(BUILD)/ubsan-emu
UBSAN_UNITS := $(addprefix $(UBSAN_EMU)/tests/,$(EMU_UNIT_NAMES))
# and with ThreadSanitizer (make tsan-emu, make test-tsan): a kernel's
# missing barrier is a report. `make asan` runs the emulator's own test of
# it (test_cudaemu: the races it must report and those it must not).
TSAN_EMU   := $(BUILD)/tsan-emu
TSAN_UNITS := $(addprefix $(TSAN_EMU)/tests/,$(EMU_UNIT_NAMES))

# Everything under tests/ goes through prove, which prints the closing summary.
# Under the sanitizers (SAN=1) the emulator's twin tests run built with
# UBSan alone (SAN=ub: ASan does not follow a stack switched by longjmp),
# and its programs' tests (cuda_emu.bats) are left out.
TEST_FILES ?= $(UNITS) $(if $(filter 1,$(SAN)),$(UBSAN_UNITS) $(TSAN_EMU)/tests/test_cudaemu \
                $(filter-out tests/cuda_emu.bats,$(sort $(wildcard tests/*.bats))),\
                $(EMU_UNITS) $(sort $(wildcard tests/*.bats)))
# `all` runs after deps in a make of its own: what deps installs (mpicc) is
# found when the build is configured.
# --failures --comments: a failing test's line and message in the log (CI
# keeps only the log), and nothing more for the passing ones.
PROVE_SHOW := --failures --comments
test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory host-cuda
	@$(MAKE) --no-print-directory isa-emu
	@$(MAKE) --no-print-directory $(if $(filter 1,$(SAN)),ubsan-emu $(TSAN_EMU)/tests/test_cudaemu,cuda-emu)
	PIC_BIN=$(abspath $(BIN)) PIC_BUILD=$(abspath $(BUILD)) \
	  prove --exec tests/run-one $(PROVE_SHOW) $(PROVE_FLAGS) $(TEST_FILES)

# The programs with a --device, built with the CUDA backend's host stand-in
# (src/model/cuda_host.c, src/rollout/cuda_host.c), for tests/host_cuda.bats:
# their GPU paths run without a GPU.
HOST_CUDA := $(BUILD)/host-cuda
host-cuda:
	@$(MAKE) --no-print-directory CUDA=host BUILD=$(HOST_CUDA) BIN=$(HOST_CUDA)/bin \
	  $(addprefix $(HOST_CUDA)/bin/,pic-update pic-rollout pic-model-bench)

# The programs and unit tests whose bits depend on the hand-vectorised
# kernels, built with ISA=emu (SIMDe, CPU only), for tests/isa.bats: a CPU
# without AVX-512 (or AVX2) runs those paths' own code there.
ISA_EMU := $(BUILD)/isa-emu
isa-emu:
	@$(MAKE) --no-print-directory ISA=emu CUDA=0 MPI=0 BUILD=$(ISA_EMU) BIN=$(ISA_EMU)/bin \
	  $(addprefix $(ISA_EMU)/bin/,pic-rollout pic-update) \
	  $(addprefix $(ISA_EMU)/tests/,test_rollout_invariance test_logits test_rows test_sampler_exp)

# The CUDA backend's own files built over the emulator (CUDA=emu, see
# tests/cudaemu/include/cudaemu.h) and its twin tests, for `make test`.
# Its pic-rollout, pic-update and golden tests serve tests/cuda_emu.bats.
# Its NCCL (lib/libnccl.so.2) and test_cuda_dist_nccl serve tests/dist.bats.
cuda-emu:
	@$(MAKE) --no-print-directory CUDA=emu BUILD=$(CUDA_EMU) BIN=$(CUDA_EMU)/bin $(EMU_UNITS) \
	  $(addprefix $(CUDA_EMU)/bin/,pic-rollout pic-update) \
	  $(addprefix $(CUDA_EMU)/tests/,test_model test_backward test_cuda_dist_nccl) $(CUDA_EMU)/lib/libnccl.so.2

# The emulator's twin tests alone, built with UBSan (for `make asan`), at -O2:
# they run for minutes, and UBSan needs no -O1 to report well.
ubsan-emu:
	@$(MAKE) --no-print-directory CUDA=emu SAN=ub OPT=-O2 BUILD=$(UBSAN_EMU) BIN=$(UBSAN_EMU)/bin $(UBSAN_UNITS)

# The emulator's twin tests built with ThreadSanitizer (SAN=thread), and
# `make test-tsan` runs them: every kernel's accesses checked against the
# GPU's barriers (tests/cudaemu/runtime.cpp). It takes well over an hour on
# two cores, so it is not part of `make test`: run it after changing a
# kernel's barriers, before a GPU session.
tsan-emu:
	@$(MAKE) --no-print-directory CUDA=emu SAN=thread OPT=-O2 BUILD=$(TSAN_EMU) BIN=$(TSAN_EMU)/bin $(TSAN_UNITS)
$(TSAN_EMU)/tests/%: FORCE
	@$(MAKE) --no-print-directory CUDA=emu SAN=thread OPT=-O2 BUILD=$(TSAN_EMU) BIN=$(TSAN_EMU)/bin $@
test-tsan: tsan-emu
	PIC_BUILD=$(abspath $(BUILD)) prove --exec tests/run-one $(PROVE_SHOW) $(PROVE_FLAGS) $(TSAN_UNITS)

# The BLAS-sensitive tests under each OpenBLAS kernel family (part of `test`).
test-blas: deps all
	PIC_BIN=$(abspath $(BIN)) PIC_BUILD=$(abspath $(BUILD)) \
	  prove --exec tests/run-one $(PROVE_SHOW) $(PROVE_FLAGS) tests/blas_cores.bats

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer.
asan:
	$(MAKE) SAN=1 CUDA=0 BUILD=build/asan BIN=build/asan/bin OPT=-O1 test

# The quick unit tests and one generation, scored, under valgrind's memcheck
# (apt-get install valgrind): the uninitialised reads that gcc's sanitizers
# cannot see (it has no MemorySanitizer), built without them at -O1.
# Valgrind runs AVX2 but not AVX-512: the avx2 and scalar kernels both run.
# About two minutes on two cores; not part of `make test`.
VG_BUILD := build/vg
VG_UNITS := test_countdown test_eval test_kvcache test_loss test_pictl test_reward test_rows
VALGRIND := OPENBLAS_NUM_THREADS=1 valgrind -q --error-exitcode=9 --track-origins=yes --leak-check=full \
            --suppressions=tests/valgrind.supp
VG_QWEN  := tests/fixtures/models/qwen2-tiny
valgrind:
	@$(MAKE) --no-print-directory CUDA=0 OPT=-O1 BUILD=$(VG_BUILD) BIN=$(VG_BUILD)/bin \
	  $(addprefix $(VG_BUILD)/tests/,$(VG_UNITS)) $(VG_BUILD)/bin/pic-rollout
	@# exit 9 is memcheck's; a test's own failure (1) is `make test`'s to judge:
	@# under valgrind's slowdown test_reward's time limits fail
	set -e; for t in $(VG_UNITS); do rc=0; $(VALGRIND) $(VG_BUILD)/tests/$$t >/dev/null || rc=$$?; \
	  if [ $$rc -gt 1 ]; then echo "not ok $$t: exit $$rc"; exit 1; fi; echo "ok $$t"; done
	set -e; d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	echo '{"id": 1, "problem": "1 plus 7 is"}' >$$d/p; \
	for isa in avx2 scalar; do \
	  PIC_ISA=$$isa $(VALGRIND) $(VG_BUILD)/bin/pic-rollout -m $(VG_QWEN) -n 2 --max-new-tokens 4 --seed 1 --plain -q $$d/p >$$d/g; \
	  PIC_ISA=$$isa $(VALGRIND) $(VG_BUILD)/bin/pic-rollout --score -m $(VG_QWEN) --plain -q $$d/g >/dev/null; \
	  echo "ok pic-rollout, PIC_ISA=$$isa"; done

# bench/torch_peer.sh is a helper the others call: the PyTorch peer runs once,
# its figures kept in PIC_TORCH_PEER for every benchmark that compares.
# bench/gpu_common.sh is sourced by the GPU benchmarks, not run.
BENCH_HELPERS := bench/torch_peer.sh bench/gpu_common.sh
bench: deps all
	@peer=$$(mktemp); trap 'rm -f "$$peer"' EXIT; \
	for b in $(filter-out $(BENCH_HELPERS),$(sort $(wildcard bench/*.sh))); do \
	  echo "== $$b"; PIC_TORCH_PEER=$$peer $$b || exit 1; done

demo: deps all
	pipelines/demo.sh

clean:
	rm -rf $(BUILD) $(filter-out $(BIN)/.gitkeep,$(wildcard $(BIN)/*))

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
