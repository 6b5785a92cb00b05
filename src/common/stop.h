/* A graceful stop for a long-lived program (pic-update --serve): the first
 * SIGINT, SIGTERM or SIGHUP is remembered rather than fatal, so that the
 * program can finish what must not be lost (AdamW's state) and then die of
 * the signal. A cluster's scheduler sends SIGTERM some seconds before
 * SIGKILL, and Ctrl-C is SIGINT. A later SIGINT (Ctrl-C again) ends it at
 * once; a later SIGTERM or SIGHUP does not, since one stop often arrives
 * twice (a signal to the process group, and train.sh passing it on to its
 * server), and SIGKILL is how their senders insist. */
#ifndef PIC_STOP_H
#define PIC_STOP_H

#include <stdbool.h>

/* Catches the three signals from now on, each unless it is ignored (a
 * background job's SIGINT, nohup's SIGHUP: those stay ignored). The handler
 * restarts interrupted system calls, so that the program's reads and writes
 * go on as if nothing came; only pic_stop_wait_input notices at once. */
void pic_stop_catch(void);
/* The signal caught, or 0. */
int pic_stop_signal(void);
/* "SIGINT", "SIGTERM" or "SIGHUP" (else "a signal"), for messages. */
const char *pic_stop_name(int sig);
/* Waits until fd has input (or its end, or an error) or a stop signal has
 * come, whichever is first; false for the signal. No signal is missed
 * between the check and the wait (ppoll). */
bool pic_stop_wait_input(int fd);
/* Dies of sig, its default action, as if it had never been caught: the
 * exit status tells the parent (a shell, a launcher) what ended it. */
_Noreturn void pic_stop_die(int sig);

#endif
