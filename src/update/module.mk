# src/update: pic-update, the trainer (docs/update.md).
$(eval $(call LIB,update,src/update/loss.c src/update/advantage.c src/update/batch.c \
  src/update/coproc.c src/update/train.c src/update/ckpt.c src/update/request.c))
$(eval $(call PROG,pic-update,src/update/main.c src/update/options.c,update model tokenizer $(NCCL_LIB) $(DIST_LIB) common,-lopenblas -lpcre2-8 -lutf8proc $(DIST_LDLIBS)))
$(eval $(call UNIT,test_loss,tests/unit/test_loss.c,update common))
$(eval $(call UNIT,test_train,tests/unit/test_train.c,update model $(NCCL_LIB) $(DIST_LIB) common,-lopenblas $(DIST_LDLIBS)))
$(eval $(call UNIT,test_backward,tests/unit/test_backward.c,update model common,-lopenblas))
$(eval $(call PROG,pic-update-bench,src/update/bench.c,update model $(NCCL_LIB) $(DIST_LIB) common,-lopenblas $(DIST_LDLIBS)))
