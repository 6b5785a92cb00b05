# pic-cat: concatenate and check record streams.
$(eval $(call PROG,pic-cat,src/cat/main.c,common))
