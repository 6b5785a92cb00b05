/* Writes that never leave a half-written file in place of a good one:
 * everything goes to a temporary name in the same directory, is fsync'd,
 * and is renamed into place only when complete. */
#ifndef PIC_ATOMIC_H
#define PIC_ATOMIC_H

#include <stdio.h>

typedef struct {
    char *path; /* the final name */
    char *tmp;  /* the temporary name, beside it */
    FILE *fp;
} pic_atomic_file;

/* Opens a temporary file beside path for writing; dies on failure. A path
 * that exists and is not a regular file (a device, a pipe) is written
 * directly, since it cannot be replaced by a rename; one that names a
 * descriptor of this process (/dev/stdout, /dev/fd/N) is written through
 * a duplicate of it. */
FILE *pic_atomic_open(pic_atomic_file *a, const char *path);
/* Dies, naming path, unless pic_atomic_open can take it: a folder cannot
 * be, nor a file in a folder that is not there or cannot be written (its
 * temporary is made and removed). For a program to call before its work,
 * so that the work does not end in the failure. */
void pic_atomic_check(const char *path);
/* Flushes, fsyncs, closes and renames into place (then fsyncs the
 * directory). Returns 0, or -1 with errno set and the temporary removed. */
int pic_atomic_commit(pic_atomic_file *a);
/* Closes and removes the temporary. */
void pic_atomic_abort(pic_atomic_file *a);

/* Whole directories (checkpoints): pic_atomic_dir_begin creates and returns a
 * fresh temporary directory beside final (malloc'd). Write into it, then
 * pic_atomic_dir_commit fsyncs its files and renames it to final. If final
 * exists it is first moved aside and removed only after the new one is in
 * place, so at every instant one complete directory exists under one of the
 * two names. Returns 0 or -1 with errno set. */
char *pic_atomic_dir_begin(const char *final);
int pic_atomic_dir_commit(const char *tmp, const char *final);
/* Dies, naming final, unless it may take a checkpoint: absent, an empty
 * directory, or a directory holding config.json (a checkpoint, replaced
 * whole). Anything else (a file, a device, a folder of other things) the
 * commit would move aside and delete; also unless a temporary can be made
 * beside it (made and removed: its folder is there and writable).
 * pic_atomic_dir_begin and _commit check too; a program calls this before its
 * work, so that a long run does not end in the refusal. A trailing '/' is
 * ignored ("ck/" is ck). */
void pic_atomic_dir_check(const char *final);
/* Cleans up after a writer of final that was killed (kill -9, power loss)
 * and is no longer running: removes its temporary directories, and when it
 * died between the two renames, so that final is missing, puts the previous
 * directory back under final. pic_atomic_dir_begin calls it; a program that
 * reads a checkpoint that may be replaced in place calls it first. */
void pic_atomic_dir_recover(const char *final);
/* Removes the temporary directory (the caller still frees tmp). */
void pic_atomic_dir_abort(const char *tmp);
/* A program that dies (pic_die, exit) before committing leaves no temporary
 * behind: uncommitted temporaries are removed at exit. */
/* Dies of sig (its default action) after unlinking the temporary files
 * not yet committed: the handler of SIGINT, SIGTERM, SIGHUP and SIGPIPE
 * from the first write on, unless the program ignores or catches them
 * (stop.h calls it for a second signal). Async-signal-safe. */
_Noreturn void pic_atomic_die_of(int sig);
/* Removes a directory tree (for aborts and cleanup); returns 0 or -1. */
int pic_rmtree(const char *path);

/* Writes a whole buffer to path atomically; returns 0 or -1 with errno set. */
int pic_write_file_atomic(const char *path, const void *data, size_t n);

#endif
