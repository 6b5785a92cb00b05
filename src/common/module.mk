# src/common: streams, JSON, command line, atomic writes, progress.
$(eval $(call LIB,common,src/common/cli.c src/common/stream.c src/common/json.c \
    src/common/atomic.c src/common/progress.c))
