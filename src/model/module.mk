# The model library: HF configs, safetensors, parameters, the CPU forward
# pass, and with CUDA=1 the CUDA backend (src/model/cuda/, docs/gpu.md),
# which forward.c and model.c call for a model loaded onto a GPU.
MODEL_CUDA_SRC := $(addprefix src/model/cuda/,logits.cu)
MODEL_SRC := $(addprefix src/model/,error.c config.c dtype.c safetensors.c st_write.c params.c \
  parallel.c embedding.c rmsnorm.c matmul.c matmul_bi.c rope.c attention.c swiglu.c logits.c \
  kvcache.c acts.c model.c forward.c backward.c floor.c) \
  $(if $(filter 1,$(CUDA)),$(MODEL_CUDA_SRC),src/model/cuda_none.c)
$(eval $(call LIB,model,$(MODEL_SRC)))
$(eval $(call UNIT,test_model,tests/unit/test_model.c,model common,-lopenblas))
$(eval $(call UNIT,test_safetensors,tests/unit/test_safetensors.c,model common,-lopenblas))
$(eval $(call PROG,pic-model-bench,src/model/bench.c,model common,-lopenblas))

# The CUDA backend, built when nvcc is found (make CUDA=0 skips it): device
# layers with the CPU names and a _cuda suffix, each tested against a
# double-precision host reference where a GPU exists (skipped elsewhere).
ifeq ($(CUDA),1)
$(eval $(call LIB,model_cuda,src/model/cuda/logits.cu))
$(eval $(call UNIT,test_cuda_logits,tests/unit/test_cuda_logits.cu,model_cuda,$(CUDA_LDLIBS)))
endif
