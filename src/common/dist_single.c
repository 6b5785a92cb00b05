/* The job of one process (dist.h): built when MPI is not (`make MPI=0`, or
 * no mpicc), so that every program links and runs without it. Sums and
 * gathers over one rank leave the data as it is. */
#include "common/dist.h"

#include <stdlib.h>

#include "common/cli.h"
#include "common/dist_launch.h"

/* Started by a launcher as one of several ranks, this build would train
 * alone and write the same outputs as its siblings: refuse. */
void pic_dist_init(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", NULL};
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 1)
            pic_die("started as one of %s ranks (%s), but built without MPI: rebuild with MPI (make MPI=1)", v,
                    vars[i]);
    }
    /* srun's tasks: under --mpi=pmix (a rank, no size) they are one job's
     * ranks, which this build cannot be; with no MPI plugin at all a
     * warning, since tasks may be meant to run alone (pic-rollout --shard
     * $SLURM_PROCID/N) */
    const char *n = NULL;
    if (pic_launch_srun_tasks(&n) > 1) {
        if (pic_launch_mpi())
            pic_die("started as one of %s ranks (SLURM_STEP_NUM_TASKS), but built without MPI: rebuild with MPI "
                    "(make MPI=1)",
                    n);
        pic_warn("started by srun as one of %s tasks (SLURM_STEP_NUM_TASKS), and built without MPI: this task "
                 "runs alone; for one job over the tasks rebuild with MPI (make MPI=1)",
                 n);
    }
}
void pic_dist_finish(void) {}
int pic_dist_rank(void) { return 0; }
int pic_dist_size(void) { return 1; }
int pic_dist_threads(void) { return 0; }
int pic_dist_local_rank(void) { return 0; }
void pic_dist_sum_double(double *x, size_t n) { (void)x, (void)n; }
void pic_dist_reduce_float(float *x, size_t n, int root) { (void)x, (void)n, (void)root; }
void pic_dist_reduce_scatter_float(float *x, const size_t *counts) { (void)x, (void)counts; }
void pic_dist_allgather_float(float *x, const size_t *counts) { (void)x, (void)counts; }
void pic_dist_broadcast(void *buf, size_t n, int root) { (void)buf, (void)n, (void)root; }
/* With one rank there is no one to talk to: a caller that tries is wrong. */
void pic_dist_send(const void *buf, size_t n, int to) {
    (void)buf, (void)n;
    pic_die("pic_dist_send to rank %d: this build runs one process (no MPI)", to);
}
void pic_dist_recv(void *buf, size_t n, int from) {
    (void)buf, (void)n;
    pic_die("pic_dist_recv from rank %d: this build runs one process (no MPI)", from);
}
void pic_dist_barrier(void) {}
double pic_dist_comm_seconds(void) { return 0; }
double pic_dist_wait_seconds(void) { return 0; }
