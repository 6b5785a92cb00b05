# pic-rollout: generation (prompts, scheduler, sampler, stops, records) and
# scoring (teacher forcing).
# With CUDA=1 it holds the sampler's CUDA twin (cuda/sampler.cu), else
# cuda_none.c, which a CPU-only pic-rollout never reaches; with CUDA=host
# its stand-in (cuda_host.c, beside src/model/cuda_host.c).
ROLLOUT_SRC := $(addprefix src/rollout/,prompt.c sampler.c sampler_exp.c stop.c input.c record.c generate.c score.c) \
  $(if $(filter 1 emu,$(CUDA)),src/rollout/cuda/sampler.cu,$(if $(filter host,$(CUDA)),src/rollout/cuda_host.c,src/rollout/cuda_none.c))
$(eval $(call LIB,rollout,$(ROLLOUT_SRC)))
$(eval $(call PROG,pic-rollout,src/rollout/main.c,rollout model tokenizer $(DIST_LIB) common,-lopenblas -lpcre2-8 -lutf8proc $(DIST_LDLIBS)))
$(eval $(call UNIT,test_rollout_invariance,tests/unit/test_rollout_invariance.c,model common,-lopenblas))
$(eval $(call UNIT,test_sampler,tests/unit/test_sampler.c,rollout model common,-lopenblas))
$(eval $(call UNIT,test_stop,tests/unit/test_stop.c,rollout model tokenizer common,-lopenblas -lpcre2-8 -lutf8proc))
$(eval $(call UNIT,test_sampler_exp,tests/unit/test_sampler_exp.c,rollout model common,-lopenblas))
$(eval $(call PROG,pic-rollout-floor,src/rollout/floor.c,model common,-lopenblas))
# The device sampler against the CPU's, where a GPU exists (a TAP skip
# elsewhere); tests/gpu/run.sh runs it in a section of its own.
ifneq ($(filter 1 emu,$(CUDA)),)
$(eval $(call UNIT,test_cuda_sampler,tests/unit/test_cuda_sampler.cu,rollout model common,-lopenblas))
endif
