# src/update: pic-update, the trainer (docs/update.md).
$(eval $(call LIB,update,src/update/loss.c src/update/advantage.c src/update/adamw.c src/update/batch.c \
  src/update/coproc.c))
$(eval $(call UNIT,test_loss,tests/unit/test_loss.c,update common))
