# src/common: streams, JSON, command line, atomic writes, progress, graceful stop, UTF-8.
$(eval $(call LIB,common,src/common/cli.c src/common/stream.c src/common/json.c src/common/dtoa.cc \
    src/common/atomic.c src/common/progress.c src/common/stop.c src/common/utf8.c))

# The job's processes (dist.h): over MPI when mpicc is found (`make MPI=0`
# builds the single-process one). Programs that use it link $(DIST_LIB)
# before common and add $(DIST_LDLIBS). The two are libraries of their own
# names so that switching MPI on or off never mixes their objects.
ifeq ($(origin MPI),undefined)
MPI := $(if $(shell command -v mpicc 2>/dev/null),1,0)
endif
ifeq ($(MPI),1)
MPI_CPPFLAGS ?= $(shell mpicc --showme:compile)
MPI_LDLIBS   ?= $(shell mpicc --showme:link)
DIST_LIB     := dist_mpi
DIST_LDLIBS  := $(MPI_LDLIBS)
$(BUILD)/obj/src/common/dist_mpi.o: CPPFLAGS += $(MPI_CPPFLAGS)
$(eval $(call LIB,dist_mpi,src/common/dist_mpi.c))
else
DIST_LIB     := dist_single
DIST_LDLIBS  :=
$(eval $(call LIB,dist_single,src/common/dist_single.c))
endif

# The GPU side (dist_nccl.h): NCCL over the same ranks, opened at run time
# in a CUDA build; a build without CUDA has no communicator. Programs link
# $(NCCL_LIB) before $(DIST_LIB) (two names, as above). The emulated build
# (CUDA=emu) compiles the same file over the emulator and makes the
# libnccl.so.2 it opens there (tests/cudaemu/nccl.cpp, collectives over MPI),
# which needs the programs' own symbols (the emulated runtime): -rdynamic;
# an RPATH (searched before LD_LIBRARY_PATH and the system's, which may
# hold NVIDIA's NCCL) makes it the one they open.
ifneq ($(filter 1 emu,$(CUDA)),)
NCCL_LIB      := dist_nccl
$(eval $(call LIB,dist_nccl,src/common/dist_nccl.cu))
$(eval $(call UNIT,test_cuda_dist_nccl,tests/unit/test_cuda_dist_nccl.cu,dist_nccl $(DIST_LIB) model common,-lopenblas $(DIST_LDLIBS)))
endif
ifeq ($(CUDA),emu)
EMU_NCCL   := $(BUILD)/lib/libnccl.so.2
LDFLAGS    += -rdynamic -Wl,--disable-new-dtags,-rpath,$(abspath $(dir $(EMU_NCCL)))
# (MPI's C interface only: its C++ bindings are another library)
$(EMU_NCCL): tests/cudaemu/nccl.cpp tests/cudaemu/include/nccl.h
	@mkdir -p $(@D)
	$(CXX) $(EMU_FLAGS) -fPIC -shared \
	  $(if $(filter 1,$(MPI)),-DPIC_EMU_MPI -DOMPI_SKIP_MPICXX -DMPICH_SKIP_MPICXX $(MPI_CPPFLAGS)) -o $@ $< \
	  $(if $(filter 1,$(MPI)),$(MPI_LDLIBS))
endif
ifeq ($(filter 1 emu,$(CUDA)),)
NCCL_LIB      := dist_nccl_none
$(eval $(call LIB,dist_nccl_none,src/common/dist_nccl_none.c))
endif
