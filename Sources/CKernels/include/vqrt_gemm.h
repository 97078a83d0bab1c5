// vqrt's own single-thread float32 matrix product with the B operand packed once (sgemm_packed.c).
#ifndef VQRT_GEMM_H
#define VQRT_GEMM_H

#include <stddef.h>

/// Columns per packed panel of B.
#define VQRT_GEMM_PANEL 16
/// K is summed in blocks of this many products (see sgemm_packed.c).
#define VQRT_GEMM_K_BLOCK 128

/// Whether this CPU runs the kernel (x86-64 with AVX2 and FMA).
int vqrt_gemm_available(void);

/// Floats a packed copy of a K×N matrix takes: N rounded up to whole panels, times K.
size_t vqrt_gemm_packed_count(long k, long n);

/// Packs B (element (k, n) at b[k·k_stride + n·n_stride]) into panels of 16 columns, each K rows of 16 floats,
/// zero past column N.
void vqrt_gemm_pack_b(const float *b, long k_stride, long n_stride, long k, long n, float *packed);

/// C = alpha·(A·B) (+ bias[n]) (+ C's previous contents when `accumulate`), for A m×k (rows `lda` floats apart,
/// columns contiguous), B packed by vqrt_gemm_pack_b, C m×n (rows `ldc` apart). Every element is the same sequence
/// of float32 operations whatever m, the row it sits in or the thread: products summed in order within K blocks,
/// block sums added in order, then the scale, the bias and the previous value. `work` holds
/// vqrt_gemm_work_count(m, n, k, accumulate) floats.
void vqrt_gemm_packed(long m, long n, long k, const float *a, long lda, const float *packed, float *c, long ldc,
                      float alpha, const float *bias, int accumulate, float *work);

/// Floats of working memory vqrt_gemm_packed needs: A packed in tiles of rows, and the running sums where C's old
/// values must be kept until the end.
size_t vqrt_gemm_work_count(long m, long n, long k, int accumulate);

#endif
