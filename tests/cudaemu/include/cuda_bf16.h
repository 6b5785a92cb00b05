// cudaemu stands in for the CUDA toolkit's cuda_bf16.h: see cudaemu.h.
#include "cudaemu.h"
