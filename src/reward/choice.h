/* Multiple-choice answers: a letter A-E found as lighteval's and
 * Math-Verify's letter extraction finds it ("the answer is (C)", "D. it
 * can't be A", "B。不是 A"). */
#ifndef PIC_REWARD_CHOICE_H
#define PIC_REWARD_CHOICE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    RW_CHOICE_NONE,
    RW_CHOICE_ANCHORED, /* after "final answer is", "answer", or at the start of the text or a line */
    RW_CHOICE_LOOSE,    /* a letter standing alone anywhere (the rightmost) */
} rw_choice_kind;

/* The choice letter in s[0..n), in the extraction's priority order; *letter
 * is set when the result is not RW_CHOICE_NONE. Linear in n. */
rw_choice_kind rw_choice(const char *s, size_t n, char *letter);

/* A gold answer that is a choice: "C", "(D) Alina", "C Cecile", "the answer
 * is\nC Cecile"; prose and math (digits, LaTeX) are not. */
bool rw_choice_gold(const char *s, size_t n, char *letter);

/* The letter a boxed answer gives: "C", "(C)", "\\text{(C)}", "C. 42",
 * "\\textbf{(B)} 7". */
bool rw_choice_boxed(const char *s, size_t n, char *letter);

#endif
