// cudaemu stands in for the CUDA toolkit's cuda_pipeline_primitives.h: see cudaemu.h.
#include "cudaemu.h"
