// The warp's tensor-core instructions by their PTX names: ldmatrix (four
// 8 x 8 tiles of 16-bit elements from shared memory, straight into mma's
// operand layout) and mma.sync m16n8k16 (bf16 in, float accumulate).
// Unlike wmma, whose fragment layout is the GPU's secret, these registers'
// rows and columns are documented (PTX ISA, "Matrix Fragments for
// mma.m16n8k16"), so a kernel can work on an accumulator's elements by row
// where wmma needs a round trip through shared memory. Lane l = 4 g + t
// holds, of a 16 x 8 accumulator, rows g and g + 8 at columns 2t and 2t + 1;
// two 16 x 8 accumulators side by side are, packed to bf16, the A operand
// of the next product (flash attention's P, never leaving registers).
// tests/cudaemu implements the same layouts on the CPU.
#ifndef PIC_MODEL_CUDA_MMA_CUH
#define PIC_MODEL_CUDA_MMA_CUH

#include <stdint.h>
#include <cuda_bf16.h>

namespace pic_cuda {

// Four 8 x 8 matrices of bf16: lane 8 i + j gives row j of matrix i (16
// bytes, aligned to 16); r[i] is matrix i's (g, 2t), (g, 2t + 1): with A's
// four matrices as (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15),
// (rows 8-15, k 8-15), r is mma's A; with B's rows n and columns k, r[0..1]
// are its b0, b1.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void *row) {
#ifdef __CUDA_ARCH_EMU__
    emu::ldmatrix_x4(r, row, false);
#else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"((uint32_t)__cvta_generic_to_shared(row)));
#endif
}

// The same, each matrix transposed: r[i] is matrix i's (2t, g), (2t + 1, g).
// B stored as rows k of columns n (V's keys of head dimensions) loads so.
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void *row) {
#ifdef __CUDA_ARCH_EMU__
    emu::ldmatrix_x4(r, row, true);
#else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"((uint32_t)__cvta_generic_to_shared(row)));
#endif
}

// d = a b + d: a 16 x 16 bf16 (a[0] (g, 2t..), a[1] (g + 8, 2t..), a[2]
// (g, 8 + 2t..), a[3] (g + 8, 8 + 2t..)), b 16 x 8 bf16 (b0 (2t.., g), b1
// (8 + 2t.., g)), d 16 x 8 float (d[0], d[1] at (g, 2t), (g, 2t + 1); d[2],
// d[3] at row g + 8). Each element's products in one fixed order: the same
// inputs give the same bits, whatever the other rows hold.
__device__ __forceinline__ void mma_bf16_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#ifdef __CUDA_ARCH_EMU__
    emu::mma_bf16_16816(d, a, b0, b1);
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

// Two floats as a register of two bf16, lo in the low half (an A or B operand's pair).
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    return (uint32_t)__bfloat16_as_ushort(__float2bfloat16_rn(lo)) |
           (uint32_t)__bfloat16_as_ushort(__float2bfloat16_rn(hi)) << 16;
}

}  // namespace pic_cuda

#endif
