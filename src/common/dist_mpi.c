/* The job over MPI (dist.h). Large buffers go in pieces of at most 2^30
 * bytes, since MPI counts are ints (and some MPI builds mishandle a
 * collective past 2 GiB). */
#include "common/dist.h"

#include <limits.h>
#include <mpi.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/dist_launch.h"
#include "common/progress.h"

static int rank_, size_ = 1, local_rank, local_size = 1;
static bool joined, finished;
static double comm_s, wait_s;
static char prog_name[256];

#define PIECE ((size_t)1 << 30)

/* A rank that leaves without pic_dist_finish has failed (its message is on
 * stderr by now): take the whole job down rather than leave the others
 * blocked in a collective it will never join. */
static void abort_job(int status, void *unused) {
    (void)unused;
    if (joined && !finished) MPI_Abort(MPI_COMM_WORLD, status ? status : PIC_EXIT_FAIL);
}

/* Errors inside MPI are failures of the job, reported and fatal. */
static void check(int rc, const char *what) {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    pic_die("%s: %s", what, msg);
}

/* A process started without a launcher is a job of one and never starts
 * MPI: a singleton MPI_Init costs a runtime daemon and half a second. */
void pic_dist_init(int *argc, char ***argv) {
    if (!pic_launch_mpi()) {
        /* srun without an MPI plugin (a site's MpiDefault=none): each task
         * runs alone, as its siblings do. A warning, not a refusal: tasks
         * meant to run alone (pic-rollout --shard $SLURM_PROCID/N) are a
         * sound use of srun, and pic-update's copies all write one result */
        const char *n = NULL;
        if (pic_launch_srun_tasks(&n) > 1)
            pic_warn("started by srun as one of %s tasks (SLURM_STEP_NUM_TASKS), but without MPI's process "
                     "management (no PMIx or PMI variable): this task runs alone; for one job over the tasks "
                     "give srun --mpi=pmix (or --mpi=pmi2), as the site's MPI needs",
                     n);
        return;
    }
    int provided;
    check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init");
    joined = true;
    on_exit(abort_job, NULL); /* glibc: sees the exit status, which the abort passes on */
    /* errors come back as codes and go through pic_die, with the rank named */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    /* the ranks on this machine: those that share its memory */
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
        MPI_Comm_rank(local, &local_rank);
        MPI_Comm_size(local, &local_size);
        MPI_Comm_free(&local);
    }
    if (size_ > 1) {
        snprintf(prog_name, sizeof prog_name, "%s[%d/%d]", pic_prog, rank_, size_);
        pic_prog = prog_name;
    }
}

void pic_dist_finish(void) {
    if (!joined || finished) return;
    pic_dist_barrier();
    finished = true;
    MPI_Finalize();
}

int pic_dist_rank(void) { return rank_; }
int pic_dist_size(void) { return size_; }

int pic_dist_local_rank(void) { return local_rank; }

/* No more than the CPUs the launcher bound this rank to: mpirun binds each
 * of 2 ranks to one core, srun a task to its --cpus-per-task. */
int pic_dist_threads(void) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (local_size <= 1 || cpus < 1) return 0;
    long share = cpus / local_size > 1 ? cpus / local_size : 1;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0 && CPU_COUNT(&set) < share)
        share = CPU_COUNT(&set);
    return (int)share;
}

static void reduce(float *x, size_t n, int root) {
    const size_t piece = PIECE / sizeof *x;
    for (size_t o = 0; o < n; o += piece) {
        size_t k = n - o < piece ? n - o : piece;
        if (rank_ == root)
            check(MPI_Reduce(MPI_IN_PLACE, x + o, (int)k, MPI_FLOAT, MPI_SUM, root, MPI_COMM_WORLD), "MPI_Reduce");
        else
            check(MPI_Reduce(x + o, NULL, (int)k, MPI_FLOAT, MPI_SUM, root, MPI_COMM_WORLD), "MPI_Reduce");
    }
}

void pic_dist_reduce_float(float *x, size_t n, int root) {
    if (size_ == 1) return;
    double t0 = pic_now();
    reduce(x, n, root);
    comm_s += pic_now() - t0;
}

/* A reduce to each block's owner: MPI_Reduce_scatter's counts are ints,
 * and so are its displacements' sums, which a 7B model's gradient passes.
 * The barrier first splits the time into waiting for the slowest rank and
 * the transfer itself (a barrier costs one latency; this is the step's
 * largest collective). */
void pic_dist_reduce_scatter_float(float *x, const size_t *counts) {
    if (size_ == 1) return;
    double tw = pic_now();
    pic_dist_barrier();
    double t0 = pic_now();
    wait_s += t0 - tw;
    size_t off = 0;
    for (int r = 0; r < size_; r++) {
        reduce(x + off, counts[r], r);
        off += counts[r];
    }
    comm_s += pic_now() - t0;
}

/* Every rank's vector, then the sum in rank order: the same bits on every
 * rank and in every run, whatever algorithm MPI picks. For the few numbers
 * of a step's statistics. */
void pic_dist_sum_double(double *x, size_t n) {
    if (size_ == 1 || n == 0) return;
    double t0 = pic_now();
    if (n > INT_MAX / (size_t)size_) pic_die("pic_dist_sum_double: %zu values is too many", n);
    double *all = pic_malloc(n * (size_t)size_ * sizeof *all);
    check(MPI_Allgather(x, (int)n, MPI_DOUBLE, all, (int)n, MPI_DOUBLE, MPI_COMM_WORLD), "MPI_Allgather");
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int r = 0; r < size_; r++) s += all[(size_t)r * n + i];
        x[i] = s;
    }
    free(all);
    comm_s += pic_now() - t0;
}

/* Each block goes out as a broadcast from its owner: the total may pass
 * INT_MAX, which MPI_Allgatherv's int displacements cannot address. */
void pic_dist_allgather_float(float *x, const size_t *counts) {
    if (size_ == 1) return;
    size_t off = 0;
    for (int r = 0; r < size_; r++) {
        pic_dist_broadcast(x + off, counts[r] * sizeof *x, r);
        off += counts[r];
    }
}

void pic_dist_broadcast(void *buf, size_t n, int root) {
    if (size_ == 1) return;
    double t0 = pic_now();
    for (size_t o = 0; o < n; o += PIECE) {
        size_t k = n - o < PIECE ? n - o : PIECE;
        check(MPI_Bcast((char *)buf + o, (int)k, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
    }
    comm_s += pic_now() - t0;
}

void pic_dist_send(const void *buf, size_t n, int to) {
    for (size_t o = 0; o < n; o += PIECE) {
        size_t k = n - o < PIECE ? n - o : PIECE;
        check(MPI_Send((const char *)buf + o, (int)k, MPI_BYTE, to, 0, MPI_COMM_WORLD), "MPI_Send");
    }
}

void pic_dist_recv(void *buf, size_t n, int from) {
    for (size_t o = 0; o < n; o += PIECE) {
        size_t k = n - o < PIECE ? n - o : PIECE;
        check(MPI_Recv((char *)buf + o, (int)k, MPI_BYTE, from, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
    }
}

void pic_dist_barrier(void) {
    if (size_ == 1) return;
    check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

double pic_dist_comm_seconds(void) { return comm_s; }
double pic_dist_wait_seconds(void) { return wait_s; }
