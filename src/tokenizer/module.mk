# src/tokenizer: HF tokenizer.json (BPE, byte-level and sentencepiece-style)
# and chat formatting. Users link -lpcre2-8 -lutf8proc.
$(eval $(call LIB,tokenizer,src/tokenizer/strmap.c src/tokenizer/utf8.c src/tokenizer/regex.c \
    src/tokenizer/added.c src/tokenizer/normalize.c src/tokenizer/pretok.c src/tokenizer/bpe.c \
    src/tokenizer/encode.c src/tokenizer/decode.c src/tokenizer/load.c src/tokenizer/load_pipeline.c src/tokenizer/chat.c \
    src/tokenizer/chat_detect.c))
$(eval $(call UNIT,test_tokenizer,tests/unit/test_tokenizer.c,tokenizer common,-lpcre2-8 -lutf8proc))
$(eval $(call UNIT,test_tokenizer_chat,tests/unit/test_tokenizer_chat.c,tokenizer common,-lpcre2-8 -lutf8proc))
