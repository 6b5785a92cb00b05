# src/common: streams, JSON, command line, atomic writes, progress, graceful stop.
$(eval $(call LIB,common,src/common/cli.c src/common/stream.c src/common/json.c \
    src/common/atomic.c src/common/progress.c src/common/stop.c))

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
# $(NCCL_LIB) before $(DIST_LIB) (two names, as above).
ifeq ($(CUDA),1)
NCCL_LIB      := dist_nccl
NCCL_CPPFLAGS ?= -I/usr/local/cuda/include
$(BUILD)/obj/src/common/dist_nccl.o $(BUILD)/obj/tests/unit/test_cuda_dist_nccl.o: CPPFLAGS += $(NCCL_CPPFLAGS)
$(eval $(call LIB,dist_nccl,src/common/dist_nccl.c))
$(eval $(call UNIT,test_cuda_dist_nccl,tests/unit/test_cuda_dist_nccl.c,dist_nccl $(DIST_LIB) common,$(CUDA_LDLIBS) $(DIST_LDLIBS)))
else
NCCL_LIB      := dist_nccl_none
$(eval $(call LIB,dist_nccl_none,src/common/dist_nccl_none.c))
endif
