# src/eval: pic-eval (metrics over scored sample streams).
$(eval $(call LIB,evalmetrics,src/eval/metrics.c))
$(eval $(call UNIT,test_eval,tests/unit/test_eval.c,evalmetrics common))
