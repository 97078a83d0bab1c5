// A single-thread float32 matrix product for products whose B operand is reused many times (a Linear layer's
// weights, one attention head's keys and values): B is packed once into panels of 16 columns, and each block of
// rows runs a 6x16 register tile over it (12 ymm accumulators, one broadcast of A per row and two loads of B per
// step of K). oneDNN's gemm, which vqrt calls per fixed block of rows, packs B again on every call.
//
// Rounding: like the blocked gemms PyTorch calls (MKL, oneDNN), K is summed in blocks: within a block the products
// are added in order in one float32 accumulator, and the block sums are added in order to the running sum in C.
// Each element's operations depend only on its row of A and column of B, never on m, on where its row falls in a
// tile, or on the thread, so the results are the same bits whatever the batch and thread count.
#include "vqrt_gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))
#define ROWS 6
/// K per pass over all panels (a multiple of the K block).
#define CHUNK (4 * VQRT_GEMM_K_BLOCK)

int vqrt_gemm_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

size_t vqrt_gemm_packed_count(long k, long n) {
    return (size_t)((n + VQRT_GEMM_PANEL - 1) / VQRT_GEMM_PANEL) * VQRT_GEMM_PANEL * (size_t)k;
}

void vqrt_gemm_pack_b(const float *b, long k_stride, long n_stride, long k, long n, float *packed) {
    long panels = (n + VQRT_GEMM_PANEL - 1) / VQRT_GEMM_PANEL;
    for (long p = 0; p < panels; p++) {
        float *dst = packed + p * VQRT_GEMM_PANEL * k;
        for (long kk = 0; kk < k; kk++) {
            for (long j = 0; j < VQRT_GEMM_PANEL; j++) {
                long col = p * VQRT_GEMM_PANEL + j;
                dst[kk * VQRT_GEMM_PANEL + j] = col < n ? b[kk * k_stride + col * n_stride] : 0.0f;
            }
        }
    }
}

/// What a tile does with its block's sums once the products of one K block are done.
typedef struct {
    float *t; long ldt;        // running sums of the earlier K blocks (C itself unless C's old values must survive)
    float *c; long ldc;
    long columns;              // valid columns of this panel (16 but at the right edge)
    int first, last;           // first K block: no running sum yet; last: finish into C
    float alpha; const float *bias; int accumulate;
} Epilogue;

/// The epilogue of one row's 16 sums, in the order the header states: running sum + block sum, then (last block)
/// · alpha, + bias, + C's old value.
TARGET static inline __attribute__((always_inline))
void finish_row(__m256 x0, __m256 x1, float *t, float *c, const Epilogue *e) {
    if (e->columns == VQRT_GEMM_PANEL) {
        if (!e->first) {
            x0 = _mm256_add_ps(_mm256_loadu_ps(t), x0);
            x1 = _mm256_add_ps(_mm256_loadu_ps(t + 8), x1);
        }
        if (!e->last) {
            _mm256_storeu_ps(t, x0);
            _mm256_storeu_ps(t + 8, x1);
            return;
        }
        __m256 alpha = _mm256_set1_ps(e->alpha);
        x0 = _mm256_mul_ps(x0, alpha);
        x1 = _mm256_mul_ps(x1, alpha);
        if (e->bias) {
            x0 = _mm256_add_ps(x0, _mm256_loadu_ps(e->bias));
            x1 = _mm256_add_ps(x1, _mm256_loadu_ps(e->bias + 8));
        }
        if (e->accumulate) {
            x0 = _mm256_add_ps(x0, _mm256_loadu_ps(c));
            x1 = _mm256_add_ps(x1, _mm256_loadu_ps(c + 8));
        }
        _mm256_storeu_ps(c, x0);
        _mm256_storeu_ps(c + 8, x1);
        return;
    }
    // Right edge: the same operations one float at a time (separate statements: nothing is contracted to an FMA).
    float sums[VQRT_GEMM_PANEL];
    _mm256_storeu_ps(sums, x0);
    _mm256_storeu_ps(sums + 8, x1);
    for (long j = 0; j < e->columns; j++) {
        float v = sums[j];
        if (!e->first) v = t[j] + v;
        if (!e->last) { t[j] = v; continue; }
        v = v * e->alpha;
        if (e->bias) v = v + e->bias[j];
        if (e->accumulate) v = v + c[j];
        c[j] = v;
    }
}

/// One tile: 6 rows of packed A (K steps of 6 floats) times one 16-column panel of B over `kc` steps of K, then
/// the epilogue of its first `rows` rows (rows past the end of A were packed as zeros and are not stored).
TARGET static void tile(int rows, long kc, const float *a, const float *b, const Epilogue *e) {
    __m256 s0[ROWS], s1[ROWS];
#pragma clang loop unroll(full)
    for (int i = 0; i < ROWS; i++) { s0[i] = _mm256_setzero_ps(); s1[i] = _mm256_setzero_ps(); }
#pragma clang loop unroll_count(4)
    for (long p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(b + p * VQRT_GEMM_PANEL), b1 = _mm256_loadu_ps(b + p * VQRT_GEMM_PANEL + 8);
#pragma clang loop unroll(full)
        for (int i = 0; i < ROWS; i++) {
            __m256 ai = _mm256_broadcast_ss(a + p * ROWS + i);
            s0[i] = _mm256_fmadd_ps(ai, b0, s0[i]);
            s1[i] = _mm256_fmadd_ps(ai, b1, s1[i]);
        }
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < ROWS; i++) {
        if (i < rows) finish_row(s0[i], s1[i], e->t + i * e->ldt, e->c + i * e->ldc, e);
    }
}

/// A's rows in tiles of 6: tile r holds, for each step of K, the 6 rows' values (zeros past row m), so the
/// kernel reads one sequential stream of A instead of six strided ones.
static void pack_a(long m, long k, const float *a, long lda, float *packed) {
    for (long r = 0; r < m; r += ROWS) {
        float *dst = packed + r * k;
        for (long i = 0; i < ROWS; i++) {
            if (r + i < m) {
                const float *src = a + (r + i) * lda;
                for (long p = 0; p < k; p++) dst[p * ROWS + i] = src[p];
            } else {
                for (long p = 0; p < k; p++) dst[p * ROWS + i] = 0.0f;
            }
        }
    }
}

size_t vqrt_gemm_work_count(long m, long n, long k, int accumulate) {
    size_t a = (size_t)((m + ROWS - 1) / ROWS) * ROWS * (size_t)k;
    return a + (accumulate && k > VQRT_GEMM_K_BLOCK ? (size_t)m * (size_t)n : 0);
}

void vqrt_gemm_packed(long m, long n, long k, const float *a, long lda, const float *packed, float *c, long ldc,
                      float alpha, const float *bias, int accumulate, float *work) {
    if (k == 0) {   // an empty sum: zero, then the epilogue
        for (long i = 0; i < m; i++) {
            for (long j = 0; j < n; j++) {
                float v = 0.0f * alpha;
                if (bias) v = v + bias[j];
                if (accumulate) v = v + c[i * ldc + j];
                c[i * ldc + j] = v;
            }
        }
        return;
    }
    float *packed_a = work;
    pack_a(m, k, a, lda, packed_a);
    int separate = accumulate && k > VQRT_GEMM_K_BLOCK;
    float *t = separate ? work + (m + ROWS - 1) / ROWS * ROWS * k : c;
    long ldt = separate ? n : ldc;
    long panels = (n + VQRT_GEMM_PANEL - 1) / VQRT_GEMM_PANEL;
    // Loop order (any order that takes each element's K blocks in turn gives the same bits): chunks of K whose
    // columns of A (m x 512 floats, 128 KB for 64 rows) stay in L2 while every panel passes over them; within a
    // panel, the K blocks in turn, each block's 16-column slice of B (8 KB) in L1 while every row tile uses it, and
    // the panel's tile of C (m x 16) in L1 from one K block to the next.
    for (long chunk = 0; chunk < k; chunk += CHUNK) {
        long chunk_end = k - chunk < CHUNK ? k : chunk + CHUNK;
        for (long p = 0; p < panels; p++) {
            long col = p * VQRT_GEMM_PANEL, columns = n - col < VQRT_GEMM_PANEL ? n - col : VQRT_GEMM_PANEL;
            for (long k0 = chunk; k0 < chunk_end; k0 += VQRT_GEMM_K_BLOCK) {
                long kc = chunk_end - k0 < VQRT_GEMM_K_BLOCK ? chunk_end - k0 : VQRT_GEMM_K_BLOCK;
                const float *b = packed + col * k + k0 * VQRT_GEMM_PANEL;
                for (long i = 0; i < m; i += ROWS) {
                    int rows = m - i < ROWS ? (int)(m - i) : ROWS;
                    Epilogue e = {t + i * ldt + col, ldt, c + i * ldc + col, ldc, columns, k0 == 0, k0 + kc >= k,
                                  alpha, bias ? bias + col : 0, accumulate};
                    tile(rows, kc, packed_a + i * k + k0 * ROWS, b, &e);
                }
            }
        }
    }
}

#else   // not x86-64: callers use oneDNN

int vqrt_gemm_available(void) { return 0; }
size_t vqrt_gemm_packed_count(long k, long n) { (void)k; (void)n; return 0; }
size_t vqrt_gemm_work_count(long m, long n, long k, int accumulate) { (void)m; (void)n; (void)k; (void)accumulate; return 0; }
void vqrt_gemm_pack_b(const float *b, long k_stride, long n_stride, long k, long n, float *packed) {
    (void)b; (void)k_stride; (void)n_stride; (void)k; (void)n; (void)packed;
}
void vqrt_gemm_packed(long m, long n, long k, const float *a, long lda, const float *packed, float *c, long ldc,
                      float alpha, const float *bias, int accumulate, float *work) {
    (void)m; (void)n; (void)k; (void)a; (void)lda; (void)packed; (void)c; (void)ldc; (void)alpha; (void)bias;
    (void)accumulate; (void)work;
}

#endif
