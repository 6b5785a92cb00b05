// cudaemu stands in for the CUDA toolkit's mma.h: see cudaemu.h.
#include "cudaemu.h"
