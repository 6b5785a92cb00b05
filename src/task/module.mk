# pic-task: synthetic verifiable math problems for the demo and tests.
$(eval $(call LIB,task,src/task/task.c))
$(eval $(call PROG,pic-task,src/task/main.c,task common))
