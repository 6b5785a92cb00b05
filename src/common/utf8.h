/* UTF-8 as RFC 3629 defines it: no overlong form, no surrogate, nothing
 * above U+10FFFF. It is what jansson accepts in a string, what utf8proc
 * decodes and what a tokenizer.json's Rust strings hold, so every program
 * checks text against this one definition. */
#ifndef PIC_COMMON_UTF8_H
#define PIC_COMMON_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The length (1 to 4) of the well-formed character at s[i] of s[0, n), its
 * code point in *cp; 0 when the bytes there are not one. */
int pic_utf8_next(const char *s, size_t n, size_t i, uint32_t *cp);
/* The length of the longest well-formed prefix of s[0, n). */
size_t pic_utf8_valid_prefix(const char *s, size_t n);
/* The line (from 1) of the first byte of s[0, n) that is not UTF-8, in
 * *byte where on that line it is (from 1) and in *value the byte; 0 when s
 * is UTF-8. For messages about text, which name a line as an editor does. */
size_t pic_utf8_bad_line(const char *s, size_t n, size_t *byte, unsigned char *value);
/* s[0, n) made UTF-8: each maximal subpart of an ill-formed sequence
 * (Unicode 3.9) becomes one U+FFFD, as Rust's String::from_utf8_lossy and
 * Python's errors="replace" do. Malloc'd, NUL-ended, its length in *len. */
char *pic_utf8_lossy(const char *s, size_t n, size_t *len);
/* 3 when s[0, n) starts with a UTF-8 byte-order mark (EF BB BF), else 0:
 * what to skip at the start of a file, as jq does (Windows editors write
 * one, and it is no part of the first record, value or word). */
size_t pic_utf8_bom(const char *s, size_t n);

#endif
