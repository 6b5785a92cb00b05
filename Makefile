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
LDLIBS   += -ljansson -lzstd -lm
NVFLAGS  += -O2 -std=c++17 -Isrc -Itests/unit -arch=sm_90 --compiler-options -Wall,-Werror
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo 0.1)

ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(filter %.c,$(1))) \
      $(if $(filter 1,$(CUDA)),$(patsubst %.cu,$(BUILD)/obj/%.cu.o,$(filter %.cu,$(1))))

PROGRAMS :=
UNITS    :=
LIBS     :=

# $(call LIB,name,sources): a static library build/libNAME.a
define LIB
LIBS += $(BUILD)/lib$(1).a
$(BUILD)/lib$(1).a: $(call obj,$(2))
	@mkdir -p $$(@D)
	$$(AR) rcs $$@ $$^
endef

# $(call PROG,name,sources,libs,ldlibs): bin/NAME linked with build/libLIB.a...
define PROG
PROGRAMS += $(BIN)/$(1)
$(BIN)/$(1): $(call obj,$(2)) $(foreach l,$(3),$(BUILD)/lib$(l).a)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o %.a,$$^) $(4) $$(LDLIBS)
endef

# $(call UNIT,name,sources,libs,ldlibs): a C unit test build/tests/NAME (TAP)
define UNIT
UNITS += $(BUILD)/tests/$(1)
$(BUILD)/tests/$(1): $(call obj,$(2)) $(foreach l,$(3),$(BUILD)/lib$(l).a)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o %.a,$$^) $(4) $$(LDLIBS)
endef

# Modules with .cu sources add $(CUDA_LDLIBS) to their programs' ldlibs when
# CUDA=1. The CUDA runtime links statically, so bin/ runs on a GPU machine
# that has only the driver.
CUDA_LDLIBS := -L/usr/local/cuda/lib64 -lcudart_static -ldl -lrt -lstdc++

include $(sort $(wildcard src/*/module.mk)) tests/unit/module.mk

.PHONY: all deps test test-blas unit asan bench demo clean
.DEFAULT_GOAL := all
all: $(PROGRAMS) $(UNITS)

deps:
	@scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/%.cu.o: %.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVFLAGS) -c -o $@ $<

# Everything under tests/ goes through prove, which prints the closing summary.
TEST_FILES ?= $(UNITS) $(sort $(wildcard tests/*.bats))
test: deps all
	PIC_BIN=$(abspath $(BIN)) PIC_BUILD=$(abspath $(BUILD)) \
	  prove --exec tests/run-one $(PROVE_FLAGS) $(TEST_FILES)

# The BLAS-sensitive tests under each OpenBLAS kernel family (part of `test`).
test-blas: deps all
	PIC_BIN=$(abspath $(BIN)) PIC_BUILD=$(abspath $(BUILD)) \
	  prove --exec tests/run-one $(PROVE_FLAGS) tests/blas_cores.bats

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer.
asan:
	$(MAKE) SAN=1 CUDA=0 BUILD=build/asan BIN=build/asan/bin OPT=-O1 test

bench: deps all
	@for b in $(sort $(wildcard bench/*.sh)); do echo "== $$b"; $$b || exit 1; done

demo: deps all
	pipelines/demo.sh

clean:
	rm -rf $(BUILD) $(filter-out $(BIN)/.gitkeep,$(wildcard $(BIN)/*))

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
