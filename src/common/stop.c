/* The graceful stop of stop.h. */
#include "stop.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>

#include "atomic.h"

static const int stop_sigs[] = {SIGINT, SIGTERM, SIGHUP};
static volatile sig_atomic_t caught;

static void on_stop(int sig) {
    if (caught && sig == SIGINT) pic_atomic_die_of(sig); /* Ctrl-C again: now, leaving no temporary file */
    if (!caught) caught = sig;
}

static void stop_set(sigset_t *set) {
    sigemptyset(set);
    for (size_t i = 0; i < sizeof stop_sigs / sizeof *stop_sigs; i++) sigaddset(set, stop_sigs[i]);
}

void pic_stop_catch(void) {
    for (size_t i = 0; i < sizeof stop_sigs / sizeof *stop_sigs; i++) {
        struct sigaction old, sa = {0};
        if (sigaction(stop_sigs[i], NULL, &old) != 0 || old.sa_handler == SIG_IGN) continue;
        sa.sa_handler = on_stop;
        sa.sa_flags = SA_RESTART;
        stop_set(&sa.sa_mask); /* one handler at a time: the first signal is the one kept */
        sigaction(stop_sigs[i], &sa, NULL);
    }
}

int pic_stop_signal(void) { return caught; }

const char *pic_stop_name(int sig) {
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
}

bool pic_stop_wait_input(int fd) {
    sigset_t stops, old;
    stop_set(&stops);
    sigprocmask(SIG_BLOCK, &stops, &old);
    struct pollfd p = {fd, POLLIN, 0};
    /* the signals are let in only inside ppoll: one that came before it is
     * seen by the check, one during it ends the wait */
    while (!caught && ppoll(&p, 1, NULL, &old) < 0 && errno == EINTR) continue;
    sigprocmask(SIG_SETMASK, &old, NULL);
    return !caught;
}

/* pic_atomic_die_of unblocks sig after raising it: also right outside a handler */
void pic_stop_die(int sig) { pic_atomic_die_of(sig); }
