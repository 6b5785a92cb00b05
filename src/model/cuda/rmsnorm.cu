// The CUDA twin of rmsnorm.c: the sum of squares in float (the CPU's is
// double: for a row of C elements the float sum is within ~C^0.5 ulp, far
// inside the 1e-5 the twins are held to), then x * rstd * weight with the
// CPU's rounding order (weight * (x * r)).
#include "model/cuda/layers.cuh"

namespace pic_cuda {

// The threads a row: a power of two from a warp to the block, about four
// elements each. A decode step's norm is one row, whose latency is its
// threads' rounds of loads: a warp took C / 32 of them (28 at 896, 112 at
// 3584). Fixed by C alone, so that a row's sums and their order never
// depend on the batch.
static int norm_lanes(int C) {
    int L = 32;
    while (L < 256 && 4 * L < C) L *= 2;
    return L;
}

// 256 threads, L a row: each thread's elements i = lane + L j summed in
// order, the warp's by shuffles (a butterfly), then the row's warps in order.
template <typename T>
__global__ void __launch_bounds__(256)
    rmsnorm_kernel(T *out, float *rstd, const T *inp, const T *weight, size_t N, int C, float eps, int L) {
    pdl_begin();
    __shared__ float warp_ss[8];
    size_t row = (size_t)blockIdx.x * (256 / L) + threadIdx.x / L;
    int lane = threadIdx.x % L;
    const T *x = inp + row * C;
    float ss = 0;
    if (row < N)
        for (int i = lane; i < C; i += L) {
            float v = to_f(x[i]);
            ss += v * v;
        }
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    if (L > 32) { // every thread reaches the barrier, rows past N too
        if (threadIdx.x % 32 == 0) warp_ss[threadIdx.x / 32] = ss;
        __syncthreads();
        const float *w = warp_ss + threadIdx.x / L * (L / 32);
        ss = w[0];
        for (int j = 1; j < L / 32; j++) ss += w[j];
    }
    if (row >= N) return;
    float r = 1.0f / sqrtf(ss / C + eps);
    if (rstd && lane == 0) rstd[row] = r;
    T *y = out + row * C; // may be x: each thread reads its own elements before writing them
    for (int i = lane; i < C; i += L) y[i] = from_f<T>(to_f(weight[i]) * (to_f(x[i]) * r));
}

template <typename T>
cudaError_t rmsnorm_forward(T *out, float *rstd, const T *inp, const T *weight, size_t N, int C, float eps,
                            cudaStream_t s) {
    if (!N) return cudaSuccess;
    int L = norm_lanes(C);
    return launch_pdl(rmsnorm_kernel<T>, blocks_for(N, 256 / L), 256, 0, s, out, rstd, inp, weight, N, C, eps, L);
}

template cudaError_t rmsnorm_forward<float>(float *, float *, const float *, const float *, size_t, int, float,
                                            cudaStream_t);
template cudaError_t rmsnorm_forward<bf16>(bf16 *, float *, const bf16 *, const bf16 *, size_t, int, float,
                                           cudaStream_t);

}  // namespace pic_cuda

namespace pic_cuda {

// With y = w * x * r: dx = r * (w * dy) - x * r^3 / C * sum(w * dy * x), one warp per row.
template <typename T, typename G>
__global__ void rmsnorm_backward_kernel(G *dinp, const G *dout, const T *inp, const T *weight, const float *rstd,
                                        size_t N, int C) {
    size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= N) return;
    const T *x = inp + row * C;
    const G *dy = dout + row * C;
    G *dx = dinp + row * C;
    float dot = 0, r = rstd[row];
    for (int i = lane; i < C; i += 32) dot += to_f(weight[i]) * to_f(dy[i]) * to_f(x[i]);
    for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
    float k = dot * r * r * r / C;
    // dx + (...) as the CPU's dx[i] += ...: dx is the residual stream's
    // gradient, which the two terms' near cancellation should not round twice
    for (int i = lane; i < C; i += 32) dx[i] = from_f<G>(to_f(dx[i]) + (r * (to_f(weight[i]) * to_f(dy[i])) - to_f(x[i]) * k));
}

// partial[chunk, c] = sum over the chunk's rows of dy * (x * r), gridDim.y chunks
template <typename T, typename G>
__global__ void rmsnorm_dweight_kernel(float *partial, const G *dout, const T *inp, const float *rstd, size_t N,
                                       int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    size_t per = (N + gridDim.y - 1) / gridDim.y, n0 = blockIdx.y * per, n1 = n0 + per < N ? n0 + per : N;
    float acc = 0;
    for (size_t n = n0; n < n1; n++) acc += to_f(dout[n * C + c]) * (to_f(inp[n * C + c]) * rstd[n]);
    partial[(size_t)blockIdx.y * C + c] = acc;
}

template <typename T, typename G>
cudaError_t rmsnorm_backward(G *dinp, float *dweight, const G *dout, const T *inp, const T *weight,
                             const float *rstd, size_t N, int C, float *scratch, int chunks, cudaStream_t s) {
    if (!N) return cudaSuccess;
    rmsnorm_backward_kernel<<<blocks_for(N, 8), 256, 0, s>>>(dinp, dout, inp, weight, rstd, N, C);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess || !dweight) return e;
    rmsnorm_dweight_kernel<<<dim3(blocks_for((size_t)C, 128), chunks), 128, 0, s>>>(scratch, dout, inp, rstd, N, C);
    e = cudaGetLastError();
    return e != cudaSuccess ? e : sum_partials(dweight, scratch, chunks, C, s);
}

#define RMS_BW(T, G)                                                                                              \
    template cudaError_t rmsnorm_backward<T, G>(G *, float *, const G *, const T *, const T *, const float *, size_t, \
                                                int, float *, int, cudaStream_t);
RMS_BW(float, float)
RMS_BW(bf16, float)
RMS_BW(bf16, bf16)
#undef RMS_BW

}  // namespace pic_cuda
