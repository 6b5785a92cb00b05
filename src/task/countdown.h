/* Countdown problems (TinyZero's task, docs/demo.md): reach a target from
 * given numbers with + - * / and parentheses, each number used exactly once.
 * Every problem is solvable by construction: the generator combines the
 * numbers into the target and keeps that expression as a witness. */
#ifndef PIC_TASK_COUNTDOWN_H
#define PIC_TASK_COUNTDOWN_H

#include <stdbool.h>

#include "common/rng.h"

enum { COUNTDOWN_MAX_NUMBERS = 8 };

typedef struct {
    int count;        /* how many numbers, 2..COUNTDOWN_MAX_NUMBERS */
    long max_number;  /* numbers are drawn from 1..max_number (<= 10000) */
    long max_target;  /* targets lie in 1..max_target (<= 1000000) */
} countdown_level;

typedef struct {
    int count;
    long numbers[COUNTDOWN_MAX_NUMBERS];
    long target;
    char witness[256];  /* an expression using each number once, equal to target */
    char problem[256];
    char solution[640]; /* the witness's steps, ending in \boxed{witness} */
} countdown;

/* The level of difficulty 1..5: 3, 4, 4, 5, 6 numbers from 1..20, 1..20,
 * 1..50, 1..50, 1..100, targets up to 100, 200, 500, 500, 1000. */
countdown_level countdown_level_at(int difficulty);

/* One problem drawn from r. Returns false when no target within the level
 * was reached in a bounded number of draws (only for levels whose targets
 * cannot be reached, such as --max-target far below the numbers). */
bool countdown_make(countdown *c, const countdown_level *lv, pic_rng *r);

#endif
