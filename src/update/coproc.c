/* The co-process (coproc.h): two pipes, fork, exec sh -c. SIGPIPE is
 * ignored so that a controller that died shows up as a write error. */
#include "update/coproc.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/stop.h"
#include "common/stream.h"

void pic_coproc_start(pic_coproc *c, const char *cmd) {
    int in[2], out[2];
    if (pipe(in) || pipe(out)) pic_die("--alpha-cmd: pipe: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) pic_die("--alpha-cmd: fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c->cmd = pic_strdup(cmd);
    c->pid = pid;
    c->to = fdopen(in[1], "w");
    c->from = fdopen(out[0], "r");
    if (!c->to || !c->from) pic_die("--alpha-cmd: fdopen: %s", strerror(errno));
}

double pic_coproc_ask(pic_coproc *c, double x) {
    /* a failed write is not yet the error: whatever the command did say
     * before it went away tells more */
    /* 17 digits: the controller integrates the entropy the stats line
     * records, not one rounded to 9 digits (rerun offline, pictl on the
     * logged entropies then gives the same alphas) */
    int werr = fprintf(c->to, "%.17g\n", x) < 0 || fflush(c->to) != 0 ? errno : 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, c->from);
    if (n <= 0 && pic_stop_signal()) { /* the stop reached the controller too */
        free(line);
        return NAN;
    }
    if (n <= 0)
        pic_die("--alpha-cmd '%s': ended without answering entropy %.9g%s%s", c->cmd, x, werr ? ": " : "",
                werr ? strerror(werr) : "");
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = 0;
    /* strtod would stop at a NUL byte and take "0.3\0junk" for 0.3 */
    size_t nul = pic_nul_column(line, (size_t)n);
    if (nul) pic_die("--alpha-cmd '%s': answered a line with a NUL byte at column %zu, not a number", c->cmd, nul);
    char *end;
    errno = 0;
    double a = strtod(line, &end);
    if (end == line || *end || errno || !isfinite(a))
        pic_die("--alpha-cmd '%s': answered '%s', not a number", c->cmd, line);
    /* the range --alpha and a request's alpha have: beyond it, a typo or a
     * controller gone wrong, whose step would be taken in silence */
    if (fabs(a) > 1e3) pic_die("--alpha-cmd '%s': answered %s, outside [-1000, 1000] (as --alpha)", c->cmd, line);
    free(line);
    /* an answer: it has taken x into its state (pictl saves it at the end of
     * its input, which a pic-update that dies gives it too), so a retry of a
     * step that fails from here on would give it x twice */
    pic_die_note = "the controller (--alpha-cmd) already took this step's entropy: restore its state before retrying";
    return a;
}

void pic_coproc_finish(pic_coproc *c) {
    fclose(c->to);
    char buf[256];
    while (fgets(buf, sizeof buf, c->from)) {
    }
    fclose(c->from);
    int st;
    while (waitpid(c->pid, &st, 0) < 0)
        if (errno != EINTR) pic_die("--alpha-cmd: waitpid: %s", strerror(errno));
    if (WIFSIGNALED(st) && pic_stop_signal()) { /* the stop's signal, to the process group */
        free(c->cmd);
        return;
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        pic_die("--alpha-cmd '%s' failed (%s %d)", c->cmd, WIFEXITED(st) ? "exit" : "signal",
                WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    free(c->cmd);
}
