// cudaemu stands in for the CUDA toolkit's cuda_pipeline.h: see cudaemu.h.
#include "cudaemu.h"
