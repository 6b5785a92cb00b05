# pic-rollout: generation (prompts, scheduler, sampler, stops, records) and
# scoring (teacher forcing).
ROLLOUT_SRC := $(addprefix src/rollout/,prompt.c sampler.c stop.c input.c record.c generate.c score.c)
$(eval $(call LIB,rollout,$(ROLLOUT_SRC)))
$(eval $(call PROG,pic-rollout,src/rollout/main.c,rollout model tokenizer $(DIST_LIB) common,-lopenblas -lpcre2-8 -lutf8proc $(DIST_LDLIBS)))
$(eval $(call UNIT,test_rollout_invariance,tests/unit/test_rollout_invariance.c,model common,-lopenblas))
$(eval $(call UNIT,test_sampler,tests/unit/test_sampler.c,rollout common))
$(eval $(call PROG,pic-rollout-floor,src/rollout/floor.c,model common,-lopenblas))
