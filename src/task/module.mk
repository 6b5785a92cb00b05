# pic-task: synthetic verifiable problems (math, Countdown) for the demo and tests.
$(eval $(call LIB,task,src/task/task.c src/task/countdown.c))
$(eval $(call PROG,pic-task,src/task/main.c,task common))
