/* The processes of one data-parallel job (docs/distributed.md): who this
 * process is among them and the few collective operations the programs
 * need. Two implementations behind this one interface: MPI (dist_mpi.c,
 * built when mpicc is found; `make MPI=0` leaves it out) and a single
 * process (dist_single.c), so that a program links and runs without MPI.
 *
 * Rank and size come from the launcher (mpirun, srun) through MPI_Init;
 * without MPI, or started without a launcher, they are 0 and 1. Every
 * collective must be called by every rank in the same order. A reduction's
 * result is the same on every rank. The sums of doubles are taken in rank
 * order, so a run repeats bit for bit with the same number of ranks. */
#ifndef PIC_DIST_H
#define PIC_DIST_H

#include <stdbool.h>
#include <stddef.h>

/* Joins the job: MPI_Init when built with MPI and started by a launcher;
 * a process started alone is rank 0 of 1 without MPI. After this, a process that
 * exits before pic_dist_finish (pic_die, a crash in a library's exit path)
 * ends every rank of the job: the message is printed first, then the job is
 * aborted, so that no rank waits forever on one that has gone. Messages of a
 * job of several ranks name the rank ("PROG[1/2]: ..."). */
void pic_dist_init(int *argc, char ***argv);
/* Leaves the job after a barrier, so that every rank has finished its part
 * (rank 0 has written the outputs) before any exits 0. */
void pic_dist_finish(void);

int pic_dist_rank(void);
int pic_dist_size(void);
/* The threads a rank uses when not told: the machine's CPUs shared among
 * the job's ranks on it, at most the CPUs it is bound to (0, all it may
 * run on, for a process alone). */
int pic_dist_threads(void);
/* This rank's index among the job's ranks on its machine (its GPU). */
int pic_dist_local_rank(void);

/* In-place sums over the ranks, summed in rank order: the same bits on
 * every rank (a step's statistics). */
void pic_dist_sum_double(double *x, size_t n);
/* In place on root: the sum over the ranks of x[0..n); the others' x as it was. */
void pic_dist_reduce_float(float *x, size_t n, int root);
/* x[counts[0] + ... + counts[R-1]] of floats: rank r's block (at the sum of
 * the counts before r) becomes the sum over the ranks of that block; the
 * rest of x keeps this rank's own values. Half an all-reduce's traffic, for
 * a buffer of which each rank uses only its block (ZeRO-1's gradient). */
void pic_dist_reduce_scatter_float(float *x, const size_t *counts);
/* x[counts[0] + ... + counts[R-1]] of floats: rank r's block (at the sum of
 * the counts before r) goes to every rank. */
void pic_dist_allgather_float(float *x, const size_t *counts);
/* n bytes of root's buf to every rank. */
void pic_dist_broadcast(void *buf, size_t n, int root);
/* Point to point, for gathering streams in order: n bytes to / from a rank. */
void pic_dist_send(const void *buf, size_t n, int to);
void pic_dist_recv(void *buf, size_t n, int from);
void pic_dist_barrier(void);

/* Seconds spent inside collectives since pic_dist_init, and apart from
 * those, waiting for the slowest rank to reach the gradient's reduce-scatter
 * (for the stats and bench/dist.sh). */
double pic_dist_comm_seconds(void);
double pic_dist_wait_seconds(void);

#endif
