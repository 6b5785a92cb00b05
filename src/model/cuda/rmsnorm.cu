// The CUDA twin of rmsnorm.c: one warp per row, the sum of squares in
// float (the CPU's is double: for a row of C elements the float sum is
// within ~C^0.5 ulp, far inside the 1e-5 the twins are held to), then
// x * rstd * weight with the CPU's rounding order (weight * (x * r)).
#include "model/cuda/layers.cuh"

namespace pic_cuda {

template <typename T>
__global__ void rmsnorm_kernel(T *out, float *rstd, const T *inp, const T *weight, size_t N, int C, float eps) {
    size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= N) return;
    const T *x = inp + row * C;
    float ss = 0;
    for (int i = lane; i < C; i += 32) {
        float v = to_f(x[i]);
        ss += v * v;
    }
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    float r = 1.0f / sqrtf(ss / C + eps);
    if (rstd && lane == 0) rstd[row] = r;
    T *y = out + row * C; // may be x: each lane reads its own elements before writing them
    for (int i = lane; i < C; i += 32) y[i] = from_f<T>(to_f(weight[i]) * (to_f(x[i]) * r));
}

template <typename T>
cudaError_t rmsnorm_forward(T *out, float *rstd, const T *inp, const T *weight, size_t N, int C, float eps,
                            cudaStream_t s) {
    if (!N) return cudaSuccess;
    rmsnorm_kernel<<<blocks_for(N, 8), 256, 0, s>>>(out, rstd, inp, weight, N, C, eps);
    return cudaGetLastError();
}

template cudaError_t rmsnorm_forward<float>(float *, float *, const float *, const float *, size_t, int, float,
                                            cudaStream_t);
template cudaError_t rmsnorm_forward<bf16>(bf16 *, float *, const bf16 *, const bf16 *, size_t, int, float,
                                           cudaStream_t);

}  // namespace pic_cuda
