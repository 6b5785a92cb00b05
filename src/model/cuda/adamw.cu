// The CUDA twin of src/model/adamw.c: torch's AdamW in float32 with the
// scalars (bias corrections, step size) in double on the host, one fused
// kernel over the contiguous fp32 master buffer (the parameters' layout),
// and the global gradient norm for clipping, reduced in a fixed order.
#include <math.h>

#include "model/cuda/layers.cuh"

namespace pic_cuda {

// Block b sums the squares of its contiguous chunk in double (each thread
// strided, then a fixed tree), the partials ascending in one thread.
__global__ void norm_partials_kernel(double *part, const float *g, size_t n) {
    __shared__ double sh[256];
    size_t per = (n + NORM_BLOCKS - 1) / NORM_BLOCKS, a = (size_t)blockIdx.x * per, e = a + per < n ? a + per : n;
    double acc = 0;
    for (size_t i = a + threadIdx.x; i < e; i += 256) acc += (double)g[i] * g[i];
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int w = 128; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (!threadIdx.x) part[blockIdx.x] = sh[0];
}

__global__ void norm_final_kernel(double *ss, const double *part) {
    double s = 0;
    for (int b = 0; b < NORM_BLOCKS; b++) s += part[b];
    *ss = s;
}

// The sum of squares (the norm's square: across ranks these add up).
cudaError_t grad_sumsq(double *ss, const float *g, size_t n, double *scratch, cudaStream_t s) {
    norm_partials_kernel<<<NORM_BLOCKS, 256, 0, s>>>(scratch, g, n);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    norm_final_kernel<<<1, 1, 0, s>>>(ss, scratch);
    return cudaGetLastError();
}

__global__ void scale_kernel(float *g, size_t n, float coef) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) g[i] *= coef;
}

cudaError_t scale(float *g, size_t n, float coef, cudaStream_t s) {
    if (!n) return cudaSuccess;
    scale_kernel<<<blocks_for(n, 256), 256, 0, s>>>(g, n, coef);
    return cudaGetLastError();
}

// The CPU's loop body, element by element (__fmul_rn / __fadd_rn keep
// nvcc from fusing what the CPU rounds separately).
template <typename T>
__global__ void adamw_kernel(float *param, const float *grad, float *m, float *v, size_t n, float decay, float w1,
                             float b2, float w2, float step_size, float bc2_sqrt, float eps, T *weights) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float g = grad[i], p = __fmul_rn(param[i], decay);
    float mi = __fadd_rn(m[i], __fmul_rn(w1, __fsub_rn(g, m[i])));
    float vi = __fadd_rn(__fmul_rn(v[i], b2), __fmul_rn(__fmul_rn(w2, g), g));
    float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2_sqrt), eps);
    p = __fadd_rn(p, __fmul_rn(-step_size, __fdiv_rn(mi, denom)));
    m[i] = mi, v[i] = vi, param[i] = p;
    if (weights) weights[i] = from_f<T>(p);
}

template <typename T>
cudaError_t pic_adamw_step(float *param, const float *grad, float *m, float *v, size_t n, double lr, double beta1,
                           double beta2, double eps, double weight_decay, long t, T *weights, cudaStream_t s) {
    if (!n) return cudaSuccess;
    float decay = (float)(1.0 - lr * weight_decay);
    float w1 = (float)(1.0 - beta1), b2 = (float)beta2, w2 = (float)(1.0 - beta2);
    double bc1 = 1.0 - pow(beta1, (double)t), bc2 = 1.0 - pow(beta2, (double)t);
    adamw_kernel<T><<<blocks_for(n, 256), 256, 0, s>>>(param, grad, m, v, n, decay, w1, b2, w2, (float)(lr / bc1),
                                                      (float)sqrt(bc2), (float)eps, weights);
    return cudaGetLastError();
}

template cudaError_t pic_adamw_step<float>(float *, const float *, float *, float *, size_t, double, double, double,
                                           double, double, long, float *, cudaStream_t);
template cudaError_t pic_adamw_step<bf16>(float *, const float *, float *, float *, size_t, double, double, double,
                                          double, double, long, bf16 *, cudaStream_t);

}  // namespace pic_cuda

// ---- the C entry points (entry.h) -----------------------------------------

#include "model/cuda/entry.h"
#include "model/cuda/model.cuh"

extern "C" {
#include "model/adamw.h" // pic_clip_coef: the clip's factor, the CPU's
}

// The three work on this GPU's slice of the gradient (model.cuh's [lo, hi):
// the whole buffer with one rank), which is all a rank holds summed after
// the ranks' reduce-scatter.
extern "C" int pic_grad_sumsq_cuda(pic_model *m, double *ss, pic_err *err) {
    pic_cuda_model *cm = m->cuda;
    pic_cuda_train *tr = cm ? cm->train : NULL;
    if (!tr) return pic_err_set(err, "pic_grad_sumsq_cuda: no training state");
    pic_cuda::prof_mark(cm, pic_cuda::PROF_OPTIM);
    pic_cuda::prof_work(cm, pic_cuda::PROF_OPTIM, 0, 4.0 * (double)(tr->hi - tr->lo)); // the gradient read
    PIC_CU(pic_cuda::grad_sumsq(tr->norm, tr->grad + tr->lo, tr->hi - tr->lo, tr->norm_part, cm->s));
    PIC_CU(cudaMemcpyAsync(tr->h_norm, tr->norm, sizeof(double), cudaMemcpyDeviceToHost, cm->s));
    pic_cuda::prof_mark(cm, pic_cuda::PROF_HOST);
    PIC_CU(cudaStreamSynchronize(cm->s));
    *ss = *tr->h_norm;
    return 0;
}

extern "C" int pic_scale_grad_cuda(pic_model *m, double norm, double max_norm, pic_err *err) {
    pic_cuda_model *cm = m->cuda;
    pic_cuda_train *tr = cm ? cm->train : NULL;
    if (!tr) return pic_err_set(err, "pic_scale_grad_cuda: no training state");
    float coef = pic_clip_coef(norm, max_norm); // the CPU's own
    if (coef < 1) {
        pic_cuda::prof_mark(cm, pic_cuda::PROF_OPTIM);
        pic_cuda::prof_work(cm, pic_cuda::PROF_OPTIM, 0, 8.0 * (double)(tr->hi - tr->lo)); // read, written
        PIC_CU(pic_cuda::scale(tr->grad + tr->lo, tr->hi - tr->lo, coef, cm->s));
        pic_cuda::prof_mark(cm, pic_cuda::PROF_HOST);
    }
    return 0;
}

extern "C" int pic_clip_grad_norm_cuda(pic_model *m, double max_norm, double *norm, pic_err *err) {
    double ss;
    if (pic_grad_sumsq_cuda(m, &ss, err)) return -1;
    *norm = sqrt(ss);
    return pic_scale_grad_cuda(m, *norm, max_norm, err);
}

extern "C" int pic_adamw_step_cuda(pic_model *m, double lr, double beta1, double beta2, double eps,
                                   double weight_decay, long t, pic_err *err) {
    pic_cuda_model *cm = m->cuda;
    pic_cuda_train *tr = cm ? cm->train : NULL;
    if (!tr) return pic_err_set(err, "pic_adamw_step_cuda: no training state");
    size_t lo = tr->lo, n = tr->hi - tr->lo; // this GPU's slice (model.cuh)
    pic_cuda::prof_mark(cm, pic_cuda::PROF_OPTIM);
    // the gradient, master weights and moments in; the last three out (and in bf16 the weights' rounding)
    pic_cuda::prof_work(cm, pic_cuda::PROF_OPTIM, 0, (m->dtype == PIC_DTYPE_BF16 ? 30.0 : 28.0) * (double)n);
    // bf16: the master weights step, and the bf16 weights the products read are their rounding
    if (m->dtype == PIC_DTYPE_BF16)
        PIC_CU(pic_cuda::pic_adamw_step<pic_cuda::bf16>(tr->master, tr->grad + lo, tr->m, tr->v, n, lr, beta1, beta2,
                                                        eps, weight_decay, t, (pic_cuda::bf16 *)cm->params + lo,
                                                        cm->s));
    else
        PIC_CU(pic_cuda::pic_adamw_step<float>(tr->master + lo, tr->grad + lo, tr->m, tr->v, n, lr, beta1, beta2, eps,
                                               weight_decay, t, (float *)NULL, cm->s));
    pic_cuda::prof_mark(cm, pic_cuda::PROF_HOST);
    PIC_CU(cudaStreamSynchronize(cm->s));
    return 0;
}
