# src/eval: pic-eval (metrics over scored sample streams) and its arithmetic.
$(eval $(call LIB,evalmetrics,src/eval/metrics.c))
$(eval $(call PROG,pic-eval,src/eval/main.c src/eval/tally.c src/eval/report.c,evalmetrics common))
$(eval $(call UNIT,test_eval,tests/unit/test_eval.c,evalmetrics common))
