# pic-rollout: generation (prompts, scheduler, sampler, stops, records) and
# scoring (teacher forcing).
$(eval $(call PROG,pic-rollout,src/rollout/main.c src/rollout/score.c,model tokenizer common,-lopenblas -lpcre2-8 -lutf8proc))
$(eval $(call UNIT,test_rollout_invariance,tests/unit/test_rollout_invariance.c,model common,-lopenblas))
