/* Synthetic, verifiable math problems: arithmetic and small linear equations
 * with a difficulty knob, each with its exact answer and a worked solution
 * that ends in \boxed{answer}. The built-in demo trains on these. */
#ifndef PIC_TASK_H
#define PIC_TASK_H

#include <stdint.h>

#include "common/rng.h"

typedef enum { TASK_ADD, TASK_SUB, TASK_MUL, TASK_DIV, TASK_EQ, TASK_KINDS } task_kind;

extern const char *const task_kind_names[TASK_KINDS];

typedef struct {
    task_kind kind;
    char problem[160];
    char answer[32];
    char solution[256];
} task;

/* Which kinds a difficulty offers (bit i = kind i); difficulty 1..5. */
unsigned task_kinds_at(int difficulty);

/* One problem of the given kind and difficulty, drawn from r. */
void task_make(task *t, task_kind kind, int difficulty, pic_rng *r);

#endif
