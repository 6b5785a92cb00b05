# src/tok: pic-tok, tokenize / detokenize record streams.
$(eval $(call PROG,pic-tok,src/tok/main.c,tokenizer common,-lpcre2-8 -lutf8proc))
