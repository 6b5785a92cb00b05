/* Temporary name, fsync, rename: a reader never sees half a file. */
#include "atomic.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* The directory holding path, for fsync after a rename. */
static int fsync_parent(const char *path) {
    char *copy = pic_strdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    free(copy);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Temporaries not yet committed, removed if the program dies (pic_die exits
 * through exit(), so atexit runs): a failed run leaves no litter. */
enum { MAX_PENDING = 64 };
static char *pending[MAX_PENDING];

static void remove_pending(void) {
    for (int i = 0; i < MAX_PENDING; i++)
        if (pending[i]) pic_rmtree(pending[i]);
}

/* Killed by a signal (Ctrl-C, kill, a closed terminal), the program leaves
 * through no atexit: a temporary file stayed behind beside its output. The
 * handler unlinks the pending temporaries (unlink is async-signal-safe; a
 * directory's unlink fails, and pic_atomic_dir_recover finds it later),
 * then dies of the same signal, so the exit status says what happened. */
void pic_atomic_die_of(int sig) {
    int saved = errno;
    for (int i = 0; i < MAX_PENDING; i++) {
        const char *p = pending[i];
        if (p) unlink(p);
    }
    errno = saved;
    signal(sig, SIG_DFL);
    raise(sig);
    /* in sig's handler sig is blocked: unblocked, it is delivered now */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    _exit(128 + sig);
}

static void catch_fatal_signals(void) {
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        struct sigaction old, sa = {0};
        /* a signal the caller ignores (nohup's SIGHUP) stays ignored */
        if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL) continue;
        sa.sa_handler = pic_atomic_die_of;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

static void track(char *tmp) {
    static bool registered;
    if (!registered) atexit(remove_pending), catch_fatal_signals(), registered = true;
    for (int i = 0; i < MAX_PENDING; i++)
        if (!pending[i]) {
            pending[i] = tmp;
            return;
        }
}

static void untrack(const char *tmp) {
    for (int i = 0; i < MAX_PENDING; i++)
        if (pending[i] == tmp) pending[i] = NULL;
}

/* Where the symbolic link path leads, followed to its end (a dangling
 * link's last target, relative to the link's folder, as open() would
 * create it); malloc'd. */
static char *link_target(const char *path) {
    char *p = pic_strdup(path);
    for (int hops = 0; hops < 40; hops++) {
        struct stat st;
        if (lstat(p, &st) != 0 || !S_ISLNK(st.st_mode)) return p;
        char buf[4096];
        ssize_t n = readlink(p, buf, sizeof buf - 1);
        if (n < 0) return p;
        buf[n] = '\0';
        char *dir = pic_strdup(p), *next = buf[0] == '/' ? pic_strdup(buf) : pic_asprintf("%s/%s", dirname(dir), buf);
        free(dir);
        free(p);
        p = next;
    }
    return p; /* a loop: the rename will say so */
}

/* Whether the directory holding path is this process's descriptor table
 * (/proc/PID/fd, or a thread's /proc/PID/task/TID/fd), which /dev/fd,
 * /proc/self/fd and /proc/thread-self/fd lead to. */
static bool in_own_fd_dir(const char *path) {
    char *copy = pic_strdup(path), *dir = realpath(dirname(copy), NULL);
    free(copy);
    if (!dir) return false;
    char own[64];
    int n = snprintf(own, sizeof own, "/proc/%ld/", (long)getpid());
    const char *rest = strncmp(dir, own, (size_t)n) ? NULL : dir + n;
    bool yes = rest && (!strcmp(rest, "fd") || (!strncmp(rest, "task/", 5) && strchr(rest + 5, '/') &&
                                                 !strcmp(strchr(rest + 5, '/'), "/fd")));
    free(dir);
    return yes;
}

/* The descriptor path names when it, or a link on its way, is an entry
 * of this process's descriptor table (/dev/stdout, /dev/fd/N,
 * /proc/self/fd/N, a process substitution's /dev/fd/63); -1 when none.
 * Such an entry's link reads "pipe:[ID]" for a pipe, where no temporary
 * can be made, and a rename over the file it shows would replace what the
 * shell wrote there before (>> log) and leave its later writes in the
 * replaced file. */
static int own_fd(const char *path) {
    char *p = pic_strdup(path);
    int fd = -1;
    for (int hops = 0; hops < 40 && fd < 0; hops++) {
        const char *base = strrchr(p, '/') ? strrchr(p, '/') + 1 : p;
        if (*base && strlen(base) < 10 && strspn(base, "0123456789") == strlen(base) && in_own_fd_dir(p)) {
            fd = atoi(base);
            break;
        }
        struct stat st;
        char buf[4096];
        ssize_t n;
        if (lstat(p, &st) != 0 || !S_ISLNK(st.st_mode) || (n = readlink(p, buf, sizeof buf - 1)) < 0) break;
        buf[n] = '\0';
        char *dir = pic_strdup(p), *next = buf[0] == '/' ? pic_strdup(buf) : pic_asprintf("%s/%s", dirname(dir), buf);
        free(dir);
        free(p);
        p = next;
    }
    free(p);
    return fd;
}

FILE *pic_atomic_open(pic_atomic_file *a, const char *path) {
    /* A descriptor of this process is written through a duplicate, as
     * bash redirects to /dev/stdout and /dev/fd/N: where the shell's own
     * writes go, at its offset. */
    int own = own_fd(path);
    if (own >= 0) {
        a->path = pic_strdup(path);
        a->tmp = NULL;
        int dupped = dup(own);
        if (dupped < 0 || !(a->fp = fdopen(dupped, "wb"))) pic_die("%s: %s", path, strerror(errno));
        return a->fp;
    }
    /* -o through a symbolic link writes the file it points to, as a plain
     * open would: renaming onto the link would replace the link itself. */
    struct stat st;
    a->path = lstat(path, &st) == 0 && S_ISLNK(st.st_mode) ? link_target(path) : pic_strdup(path);
    path = a->path;
    a->tmp = NULL;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        /* A device or a pipe cannot be replaced by renaming: write to it. */
        a->fp = fopen(path, "wb");
        if (!a->fp) pic_die("%s: %s", path, strerror(errno));
        return a->fp;
    }
    a->tmp = pic_asprintf("%s.tmp.XXXXXX", path);
    int fd = mkstemp(a->tmp);
    if (fd < 0) pic_die("%s: cannot create a temporary file beside it: %s", path, strerror(errno));
    track(a->tmp);
    /* mkstemp makes 0600; an output file should get the usual umask mode. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    a->fp = fdopen(fd, "wb");
    if (!a->fp) pic_die("%s: %s", a->tmp, strerror(errno));
    return a->fp;
}

void pic_atomic_check(const char *path) {
    pic_atomic_file a;
    struct stat st;
    /* a folder: pic_atomic_open's fopen fails on it; a device or a pipe is
     * written directly, and opening a FIFO would wait for its reader */
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) pic_die("%s: %s", path, strerror(EISDIR));
    if (stat(path, &st) == 0) return;
    pic_atomic_open(&a, path);
    pic_atomic_abort(&a);
}

static void atomic_free(pic_atomic_file *a) {
    untrack(a->tmp);
    free(a->path);
    free(a->tmp);
    *a = (pic_atomic_file){0};
}

int pic_atomic_commit(pic_atomic_file *a) {
    int rc = 0, saved = 0;
    if (fflush(a->fp) != 0 || ferror(a->fp)) rc = -1, saved = errno;
    if (rc == 0 && a->tmp && fsync(fileno(a->fp)) != 0) rc = -1, saved = errno;
    if (fclose(a->fp) != 0 && rc == 0) rc = -1, saved = errno;
    if (!a->tmp) {
        atomic_free(a);
        errno = saved;
        return rc;
    }
    if (rc == 0 && rename(a->tmp, a->path) != 0) rc = -1, saved = errno;
    if (rc == 0) fsync_parent(a->path);
    else unlink(a->tmp);
    atomic_free(a);
    errno = saved;
    return rc;
}

void pic_atomic_abort(pic_atomic_file *a) {
    if (a->fp) fclose(a->fp);
    if (a->tmp) unlink(a->tmp);
    atomic_free(a);
}

int pic_write_file_atomic(const char *path, const void *data, size_t n) {
    pic_atomic_file a;
    FILE *f = pic_atomic_open(&a, path);
    if (n && fwrite(data, 1, n, f) != n) {
        int saved = errno;
        pic_atomic_abort(&a);
        errno = saved;
        return -1;
    }
    return pic_atomic_commit(&a);
}

/* Leftovers of a killed writer are named FINAL.tmp.PID.XXXXXX (the new
 * checkpoint, maybe half written) and FINAL.old.PID.XXXXXX (the previous one,
 * moved aside for the second rename). The PID tells a writer that is gone
 * from one still at work. */
static bool writer_gone(const char *suffix) {
    char *end;
    long pid = strtol(suffix, &end, 10);
    if (end == suffix || *end != '.' || pid <= 0) return false;
    if (kill((pid_t)pid, 0) != 0) return errno == ESRCH;
    /* A writer killed a moment ago is a zombie until its parent (or init)
     * reaps it, and kill() still finds it: a run resumed at once would
     * keep its leftovers. Its state in /proc says so (Linux; elsewhere it
     * counts as alive, and the leftovers go at a later write). */
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')'); /* the command name may hold spaces or ')' */
    return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

static bool is_dot_entry(const char *name) {
    return name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]));
}

/* final without trailing slashes (malloc'd): "ck/" would put the temporary
 * inside ck and then fail to rename ck into itself. NULL for a name that a
 * rename cannot replace ("/", ".", ".."). */
static char *dir_name_or_null(const char *final) {
    char *name = pic_strdup(final);
    size_t n = strlen(name);
    while (n > 1 && name[n - 1] == '/') name[--n] = '\0';
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) return free(name), NULL;
    return name;
}

/* The same, dying on such a name: it cannot take a checkpoint. */
static char *dir_name(const char *final) {
    char *name = dir_name_or_null(final);
    if (!name) pic_die("%s: not a name a checkpoint directory can take (a rename cannot replace it)", final);
    return name;
}

/* NULL if final may be replaced by a checkpoint, else why not. */
static const char *not_replaceable(const char *final) {
    struct stat st;
    if (stat(final, &st) != 0) return errno == ENOENT ? NULL : strerror(errno);
    if (!S_ISDIR(st.st_mode)) return "exists and is not a directory";
    char *cfg = pic_asprintf("%s/config.json", final);
    bool checkpoint = access(cfg, F_OK) == 0;
    free(cfg);
    if (checkpoint) return NULL;
    DIR *d = opendir(final);
    if (!d) return strerror(errno);
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d))) empty = is_dot_entry(e->d_name);
    closedir(d);
    return empty ? NULL : "is a directory with no config.json in it: not a checkpoint";
}

static void check_replaceable(const char *final) {
    char *name = dir_name(final);
    const char *why = not_replaceable(name);
    free(name);
    if (why)
        pic_die("%s: %s; pic writes a checkpoint only where there is none, or an empty directory, or a "
                "checkpoint (config.json) to replace", final, why);
}

/* A new temporary directory beside final (mode 0700), named for this
 * process as pic_atomic_dir_recover reads it; dies when it cannot be made. */
static char *make_tmp_dir(const char *final_arg) {
    char *final = dir_name(final_arg);
    char *tmp = pic_asprintf("%s.tmp.%ld.XXXXXX", final, (long)getpid());
    free(final);
    if (!mkdtemp(tmp)) pic_die("%s: cannot create a temporary directory beside it: %s", final_arg,
                               strerror(errno));
    return tmp;
}

void pic_atomic_dir_check(const char *final) {
    check_replaceable(final);
    /* the temporary made and removed, so that a folder that is not there or
     * not writable fails now, not after the work (pic-update --serve: after
     * a step that moved the weights, the last checkpoint kept without its
     * state could no longer get it) */
    char *tmp = make_tmp_dir(final);
    rmdir(tmp);
    free(tmp);
}

void pic_atomic_dir_recover(const char *final_arg) {
    /* a model read from "." or "/" was never written by a rename: nothing to recover */
    char *final = dir_name_or_null(final_arg);
    if (!final) return;
    char *copy = pic_strdup(final), *copy2 = pic_strdup(final);
    const char *dir = dirname(copy), *base = basename(copy2);
    size_t nb = strlen(base);
    DIR *d = opendir(dir);
    if (!d) {
        free(copy), free(copy2), free(final);
        return;
    }
    struct stat st;
    bool have_final = stat(final, &st) == 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *name = e->d_name;
        if (strncmp(name, base, nb) || name[nb] != '.') continue;
        bool is_tmp = !strncmp(name + nb, ".tmp.", 5), is_old = !strncmp(name + nb, ".old.", 5);
        if ((!is_tmp && !is_old) || !writer_gone(name + nb + 5)) continue;
        char *path = pic_asprintf("%s/%s", dir, name);
        if (is_old && !have_final && rename(path, final) == 0) {
            /* killed between the renames: the previous checkpoint, whole */
            have_final = true;
            pic_warn("%s: restored from %s, left by a run that was killed", final, path);
            fsync_parent(final);
        } else {
            pic_rmtree(path);
        }
        free(path);
    }
    closedir(d);
    free(copy), free(copy2), free(final);
}

char *pic_atomic_dir_begin(const char *final_arg) {
    check_replaceable(final_arg);
    pic_atomic_dir_recover(final_arg);
    char *tmp = make_tmp_dir(final_arg);
    track(tmp);
    /* mkdtemp makes 0700; a checkpoint should get the usual umask mode. */
    mode_t mask = umask(0);
    umask(mask);
    chmod(tmp, 0777 & ~mask);
    return tmp;
}

/* fsync every regular file directly inside dir, then dir itself. */
static int fsync_dir_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (is_dot_entry(e->d_name)) continue;
        int fd = openat(dirfd(d), e->d_name, O_RDONLY);
        if (fd < 0 || fsync(fd) != 0) rc = -1;
        if (fd >= 0) close(fd);
    }
    if (fsync(dirfd(d)) != 0) rc = -1;
    closedir(d);
    return rc;
}

/* On failure the temporary stays tracked: the caller's pic_die removes it
 * (atexit), so a refused or failed commit leaves no litter. */
int pic_atomic_dir_commit(const char *tmp, const char *final_arg) {
    if (fsync_dir_files(tmp) != 0) return -1;
    char *final = dir_name(final_arg), *old = NULL;
    struct stat st;
    if (not_replaceable(final)) { /* it changed since pic_atomic_dir_begin */
        free(final);
        errno = EEXIST;
        return -1;
    }
    if (stat(final, &st) == 0) {
        /* rename(2) cannot replace a non-empty directory: move the old one
         * aside first; it is removed only once the new one is in place. */
        old = pic_asprintf("%s.old.%ld.XXXXXX", final, (long)getpid());
        if (!mkdtemp(old) || rmdir(old) != 0 || rename(final, old) != 0) {
            int saved = errno;
            free(old), free(final);
            errno = saved;
            return -1;
        }
        /* the test of recovery kills the writer at exactly this instant */
        const char *hook = getenv("PIC_TEST_ABORT_AT");
        if (hook && !strcmp(hook, "dir-commit-between-renames")) abort();
    }
    if (rename(tmp, final) != 0) {
        int saved = errno;
        if (old) rename(old, final);
        free(old), free(final);
        errno = saved;
        return -1;
    }
    untrack(tmp);
    fsync_parent(final);
    if (old) pic_rmtree(old);
    free(old), free(final);
    return 0;
}

void pic_atomic_dir_abort(const char *tmp) {
    untrack(tmp);
    pic_rmtree(tmp);
}

int pic_rmtree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) return unlink(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (is_dot_entry(e->d_name)) continue;
        char *child = pic_asprintf("%s/%s", path, e->d_name);
        if (pic_rmtree(child) != 0) rc = -1;
        free(child);
    }
    closedir(d);
    if (rmdir(path) != 0) rc = -1;
    return rc;
}
