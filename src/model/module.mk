# The model library: HF configs, safetensors, parameters, the CPU forward
# pass, and with CUDA=1 the CUDA backend (src/model/cuda/, docs/gpu.md),
# which forward.c and model.c call for a model loaded onto a GPU; with
# CUDA=host its stand-in made of the CPU's layers (cuda_host.c), which runs
# the programs' GPU paths without a GPU (tests/host_cuda.bats); else
# cuda_none.c, which says that there is no GPU.
MODEL_CUDA_SRC := $(addprefix src/model/cuda/,cublaslt.cu embedding.cu rmsnorm.cu matmul.cu matmul_bi.cu matmul_bi_tc.cu rope.cu attention.cu attention_tc.cu attention_decode.cu swiglu.cu \
  logits.cu kvcache.cu model.cu forward.cu reduce.cu backward.cu adamw.cu prof.cu)
# CUDA=emu: the CUDA backend itself over the emulator (tests/cudaemu), its
# cuBLASLt a reference product on the CPU.
CUDA_EMU_SRC := tests/cudaemu/runtime.cpp tests/cudaemu/cublaslt.cpp
MODEL_SRC := $(addprefix src/model/,error.c config.c dtype.c safetensors.c st_write.c params.c \
  parallel.c embedding.c rmsnorm.c matmul.c matmul_bi.c rope.c attention.c swiglu.c logits.c \
  kvcache.c acts.c model.c forward.c backward.c adamw.c floor.c) \
  $(if $(filter 1,$(CUDA)),$(MODEL_CUDA_SRC),$(if $(filter host,$(CUDA)),src/model/cuda_host.c,\
    $(if $(filter emu,$(CUDA)),$(filter-out %/cublaslt.cu,$(MODEL_CUDA_SRC)) $(CUDA_EMU_SRC),src/model/cuda_none.c)))
$(eval $(call LIB,model,$(MODEL_SRC)))
$(eval $(call UNIT,test_model,tests/unit/test_model.c,model common,-lopenblas))
$(eval $(call UNIT,test_safetensors,tests/unit/test_safetensors.c,model common,-lopenblas))
$(eval $(call UNIT,test_matmul_split,tests/unit/test_matmul_split.c,model common,-lopenblas))
$(eval $(call UNIT,test_parallel,tests/unit/test_parallel.c,model common,-lopenblas))
$(eval $(call UNIT,test_logits,tests/unit/test_logits.c,model common,-lopenblas))
$(eval $(call UNIT,test_kvcache,tests/unit/test_kvcache.c,model common,-lopenblas))
$(eval $(call UNIT,test_rows,tests/unit/test_rows.c,model common,-lopenblas))
$(eval $(call UNIT,test_adamw,tests/unit/test_adamw.c,model common))
$(eval $(call PROG,pic-model-bench,src/model/bench.c,model common,-lopenblas))
$(eval $(call PROG,pic-kernel-bench,src/model/kernel_bench.c,model common,-lopenblas))

# The CUDA backend's unit tests, built when nvcc is found (make CUDA=0 skips
# them): each layer against its CPU twin, the logits head against a double
# reference, where a GPU exists (a TAP skip elsewhere).
ifneq ($(filter 1 emu,$(CUDA)),)
$(eval $(call UNIT,test_cuda_logits,tests/unit/test_cuda_logits.cu,model common,-lopenblas))
$(eval $(call UNIT,test_cuda_layers,tests/unit/test_cuda_layers.cu,model common,-lopenblas))
$(eval $(call UNIT,test_cuda_invariance,tests/unit/test_cuda_invariance.cu,model common,-lopenblas))
$(eval $(call UNIT,test_cuda_backward,tests/unit/test_cuda_backward.cu,update model common,-lopenblas))
$(eval $(call UNIT,test_cuda_cublaslt,tests/unit/test_cuda_cublaslt.cu,model common,-lopenblas))
endif
# The emulator's own checks (tests/cudaemu): only with CUDA=emu.
ifeq ($(CUDA),emu)
# (the emulator alone: `make asan` builds it under TSan without the backend)
$(eval $(call UNIT,test_cudaemu,tests/unit/test_cudaemu.cu $(CUDA_EMU_SRC),common,-lstdc++))
endif
