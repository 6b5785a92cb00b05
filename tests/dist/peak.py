#!/usr/bin/env python3
"""peak.py PREFIX COMMAND...: runs COMMAND and writes its peak resident set
(kB, getrusage of the child) to PREFIX.RANK, RANK being the MPI rank that
mpirun gave this process (0 outside mpirun); exits with COMMAND's status.
Under `mpirun -np R peak.py ...` each rank's program is the child, which
takes its rank from the same environment."""
import os, resource, subprocess, sys

rc = subprocess.call(sys.argv[2:])
rank = os.environ.get("OMPI_COMM_WORLD_RANK", "0")
with open(f"{sys.argv[1]}.{rank}", "w") as f:
    f.write(f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\n")
sys.exit(rc)
