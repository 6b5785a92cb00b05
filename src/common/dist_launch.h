/* What the launcher's environment says of the job, read the same way by
 * both implementations of dist.h (dist_mpi.c, dist_single.c). */
#ifndef PIC_DIST_LAUNCH_H
#define PIC_DIST_LAUNCH_H

#include <stdbool.h>
#include <stdlib.h>

/* Set by an MPI launcher for each rank it starts: OpenMPI's mpirun and
 * prterun (OMPI_COMM_WORLD_SIZE), PMIx (PMIX_RANK: srun --mpi=pmix,
 * prterun) and PMI (PMI_RANK: srun --mpi=pmi2, MPICH's hydra). */
static inline bool pic_launch_mpi(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i])) return true;
    return false;
}

/* The tasks of the Slurm job step this process is one of, when no MPI
 * launcher says otherwise: srun sets SLURM_STEP_NUM_TASKS in each task it
 * starts (Slurm's env_array_for_step; a batch script's own environment has
 * none), with or without an MPI plugin, whose PMIx exports a rank but no
 * size. 0 when this is no task of srun's, or an MPI launcher started it
 * (OpenMPI's mpirun starts its daemons with srun, and their ranks inherit
 * the daemons' step: the launcher's own size is the one to read).
 * *value gets the variable's text. */
static inline long pic_launch_srun_tasks(const char **value) {
    const char *mpi_sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", NULL};
    for (int i = 0; mpi_sizes[i]; i++)
        if (getenv(mpi_sizes[i])) return 0;
    const char *v = getenv("SLURM_STEP_NUM_TASKS");
    if (!v) return 0;
    *value = v;
    return atol(v);
}

#endif
