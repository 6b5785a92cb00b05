# pic-rollout: scoring (teacher forcing) now; batched sampling later.
$(eval $(call PROG,pic-rollout,src/rollout/main.c src/rollout/score.c,model tokenizer common,-lopenblas -lpcre2-8 -lutf8proc))
