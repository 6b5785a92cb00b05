# pic-batch: the deterministic prompt batch of a training step.
$(eval $(call PROG,pic-batch,src/batch/main.c,common))
