# pic-init: new randomly initialised checkpoints with a byte-level BPE tokenizer.
$(eval $(call LIB,init,src/init/bytelevel.c))
$(eval $(call PROG,pic-init,src/init/main.c,init model tokenizer common,-lopenblas -lpcre2-8 -lutf8proc))
