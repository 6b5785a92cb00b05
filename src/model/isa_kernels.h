/* The forward/backward pair of a file's row kernels (logits.c, swiglu.c),
 * compiled once per instruction set and chosen as matmul_bi's are (PIC_ISA,
 * else the CPU's best). The file defines
 *   VEC_INLINE void rows(bool halves, void *ctx, size_t begin, size_t end);
 *   VEC_INLINE void brows(bool halves, void *ctx, size_t begin, size_t end);
 * then writes ISA_ROW_KERNELS; kernels[pic_kernel_isa()].forward and
 * .backward are the pic_tasks to run. */
#ifndef PIC_MODEL_ISA_KERNELS_H
#define PIC_MODEL_ISA_KERNELS_H

#include "model/matmul_bi.h"
#include "model/parallel.h"
#include "model/vec.h"

#define ISA_ROW_KERNEL_PAIR(SUF, TARGET, HALVES)                                                               \
    TARGET static void rows_##SUF(void *ctx, size_t begin, size_t end, int tid) {                              \
        (void)tid;                                                                                             \
        rows(HALVES, ctx, begin, end);                                                                         \
    }                                                                                                          \
    TARGET static void brows_##SUF(void *ctx, size_t begin, size_t end, int tid) {                             \
        (void)tid;                                                                                             \
        brows(HALVES, ctx, begin, end);                                                                        \
    }

#if PIC_X86_KERNELS
#define ISA_ROW_TABLE_X86 [PIC_ISA_AVX512] = {rows_avx512, brows_avx512}, [PIC_ISA_AVX2] = {rows_avx2, brows_avx2},
#else
#define ISA_ROW_TABLE_X86
#endif

#define ISA_ROW_KERNELS                                                                                        \
    VEC_EACH_ISA(ISA_ROW_KERNEL_PAIR)                                                                          \
    static const struct {                                                                                      \
        pic_task forward, backward;                                                                            \
    } kernels[] = {ISA_ROW_TABLE_X86[PIC_ISA_SCALAR] = {rows_c, brows_c}};

#endif
