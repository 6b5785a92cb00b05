// cudaemu stands in for the CUDA toolkit's cuda_runtime.h: see cudaemu.h.
#include "cudaemu.h"
