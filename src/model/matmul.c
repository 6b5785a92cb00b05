#include <cblas.h>
#include <string.h>

#include "model/layers.h"
#include "model/parallel.h"

/* OpenBLAS runs single-threaded (pic_set_threads): its idle threads spun in
 * sched_yield while the pool ran attention and norms. Each product is split
 * over the pool instead, into blocks of rows of C whose bounds depend on the
 * shapes only, never on the thread count. An element of C then gets the
 * same bits as from one sgemm call over all rows (tests/unit/test_model.c)
 * when the blocks start where that call's row tiles start: a multiple of
 * 96 rows, which every x86 sgemm kernel's row unroll divides (8, 16, 24,
 * 32), and at least 2^20 multiply-adds a block, as OpenBLAS takes products
 * under about 10^6 to small-matrix kernels on some CPUs, which sum in
 * another order; the last block takes the rest. Columns are never split:
 * the kernels' column tiles do not line up so. A product of fewer rows
 * than two blocks is one call: single-threaded when small, so its bits do
 * not depend on the thread count either; with few rows but over 2^21
 * multiply-adds, on OpenBLAS's threads (its bits may then depend on their
 * number: a --fast decode step's products, the weight gradient of a layer
 * with fewer than 192 outputs). */
enum { SPLIT_ALIGN = 96 };

size_t pic_gemm_block_rows(size_t N, size_t K) {
    size_t nk = N * K > 0 ? N * K : 1;
    return ((1u << 20) / nk + SPLIT_ALIGN) / SPLIT_ALIGN * SPLIT_ALIGN;
}

bool pic_gemm_unsplit_threaded(size_t M, size_t N, size_t K) {
    return M / pic_gemm_block_rows(N, K) < 2 && (double)M * (double)N * (double)K >= 2.0 * (1u << 20);
}

typedef struct {
    CBLAS_TRANSPOSE ta, tb;
    size_t M, N, rows;
    int K, lda, ldb, ldc;
    const float *A, *B;
    float beta, *C;
} gemm_job;

static void gemm_blocks(void *ctx, size_t begin, size_t end, int tid) {
    (void)tid;
    const gemm_job *g = ctx;
    size_t n_blocks = g->M / g->rows;
    for (size_t b = begin; b < end; b++) { /* one call per block, whoever runs it */
        size_t lo = b * g->rows, hi = b + 1 == n_blocks ? g->M : lo + g->rows;
        const float *A = g->A + (g->ta == CblasNoTrans ? lo * (size_t)g->lda : lo);
        cblas_sgemm(CblasRowMajor, g->ta, g->tb, (int)(hi - lo), (int)g->N, g->K, 1.0f, A, g->lda, g->B, g->ldb,
                    g->beta, g->C + lo * (size_t)g->ldc, g->ldc);
    }
}

/* C[M, N] = op(A)[M, K] op(B)[K, N] + beta C, row-major, over the pool. */
static void sgemm_split(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, size_t M, size_t N, int K, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc) {
    gemm_job g = {ta, tb, M, N, pic_gemm_block_rows(N, (size_t)K), K, lda, ldb, ldc, A, B, beta, C};
    size_t n_blocks = M / g.rows;
    if (n_blocks < 2) {
        /* too few rows to split. Small (under two blocks' multiply-adds, tens
         * of microseconds): one call on this thread, as waking OpenBLAS's
         * own threads for it cost more (each then polls ~0.1 s on the pool's
         * cores). Few rows but more work (a --fast decode step's: 64 rows x
         * 256 x 688): OpenBLAS splits it over its threads its own way. */
        bool own = !pic_in_task() && pic_threads() > 1 && pic_gemm_unsplit_threaded(M, N, (size_t)K);
        if (own) openblas_set_num_threads(pic_threads());
        cblas_sgemm(CblasRowMajor, ta, tb, (int)M, (int)N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        if (own) openblas_set_num_threads(1);
        return;
    }
    pic_parallel_for(n_blocks, 1, gemm_blocks, &g);
}

void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, size_t N,
                    int IC, int OC, bool accumulate) {
    if (!N) return;
    float beta = accumulate ? 1.0f : 0.0f;
    /* The bias goes in first so the GEMM accumulates onto it in one pass. */
    if (bias) {
        for (size_t n = 0; n < N; n++) {
            float *o = out + n * OC;
            if (accumulate)
                for (int j = 0; j < OC; j++) o[j] += bias[j];
            else
                memcpy(o, bias, OC * sizeof(float));
        }
        beta = 1.0f;
    }
    sgemm_split(CblasNoTrans, CblasTrans, N, (size_t)OC, IC, inp, IC, weight, IC, beta, out, OC);
}

/* The gradient of nn.Linear: dinp += dout . W, dW += dout^T . inp (two
 * GEMMs), dbias += the column sums of dout. Everything accumulates, so
 * micro-batches and the tied lm_head / embedding add into one buffer. */
void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, size_t N, int IC, int OC) {
    if (!N) return;
    if (dinp) sgemm_split(CblasNoTrans, CblasNoTrans, N, (size_t)IC, OC, dout, OC, weight, IC, 1.0f, dinp, IC);
    if (dweight) sgemm_split(CblasTrans, CblasNoTrans, (size_t)OC, (size_t)IC, (int)N, dout, OC, inp, IC, 1.0f, dweight, IC);
    if (dbias)
        for (size_t n = 0; n < N; n++)
            for (int j = 0; j < OC; j++) dbias[j] += dout[n * OC + j];
}
