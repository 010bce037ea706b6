// Dot-product kernels and row decoding shared by the exact scan (topk.cpp)
// and the HNSW graph (hnsw.cpp), so that both score a row identically:
// f32 rows as they are, f16 rows widened to f32, int8 rows as integer dot
// products against an int8 query, times the query's and the row's scale.
// Not part of the C API.
#pragma once

#include "internal.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define QUARRY_TOPK_AVX2 1
#endif

namespace quarry {

inline bool allowed(const quarry_vectors *x, int64_t g) {
    if (!x->allow) return true;
    if (g < 0 || g >= x->n_allow_bits) return false;
    return (x->allow[g >> 6] >> (g & 63)) & 1;
}

inline int64_t group_of(const quarry_vectors *x, int64_t r) { return x->groups ? (int64_t)x->groups[r] : r; }

inline float f16_to_f32(uint16_t h) { return ggml_fp16_to_fp32(h); }

// Quantizes one query of dim floats to int8 as the exact scan does (values in
// [-63, 63], scale max|q|/63; [-31, 31] when built with U8_TWO) into out[0,
// dim); returns the scale (q ≈ scale·out).
inline float quantize_query_i8(const float *qi, int32_t dim, int8_t *out) {
    float amax = 0;
    for (int32_t j = 0; j < dim; j++) amax = std::max(amax, std::fabs(qi[j]));
#ifdef U8_TWO
    const float sc = amax > 0 ? amax / 31.0f : 1.0f;
#else
    const float sc = amax > 0 ? amax / 63.0f : 1.0f;
#endif
    for (int32_t j = 0; j < dim; j++) out[j] = (int8_t)std::lrintf(qi[j] / sc);
    return sc;
}

#ifdef QUARRY_TOPK_AVX2
// Sums of four vectors each, as one 4-float vector [Σa, Σb, Σc, Σd].
inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    const __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);
    const __m256 abcd = _mm256_hadd_ps(ab, cd);
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}
inline __m128i hsum4i(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_hadd_epi32(a, b), cd = _mm256_hadd_epi32(c, d);
    const __m256i abcd = _mm256_hadd_epi32(ab, cd);
    return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

// Stores the RN sums of acc[0..RN) to out[0..RN) (out has room for RN
// rounded up to a multiple of 4).
template <int RN>
inline void store_sums(const __m256 *acc, float *out) {
    for (int b = 0; b < RN; b += 4)
        _mm_storeu_ps(out + b, hsum4(acc[b], acc[std::min(b + 1, RN - 1)], acc[std::min(b + 2, RN - 1)], acc[std::min(b + 3, RN - 1)]));
}
template <int RN>
inline void store_sums_i(const __m256i *acc, int32_t *out) {
    for (int b = 0; b < RN; b += 4)
        _mm_storeu_si128((__m128i *)(out + b),
                         hsum4i(acc[b], acc[std::min(b + 1, RN - 1)], acc[std::min(b + 2, RN - 1)], acc[std::min(b + 3, RN - 1)]));
}

// Eight elements of a row from element j on, as floats: f32 rows as they
// are, f16 rows widened.
template <bool F16>
inline __m256 load_row8(const char *row, int64_t j) {
    if (F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + j)));
    return _mm256_loadu_ps((const float *)row + j);
}

// out[a*ld + b] = q[a] · rows[b] over d elements (d % 8 == 0) of f32 rows,
// or of f16 rows widened on the fly (F16).
template <bool F16, int QN, int RN>
inline void float_tile(const float *const *q, const char *const *rows, int64_t d, float *out, int64_t ld) {
    __m256 acc[QN][RN];
    for (int a = 0; a < QN; a++)
        for (int b = 0; b < RN; b++) acc[a][b] = _mm256_setzero_ps();
    for (int64_t j = 0; j < d; j += 8) {
        __m256 qv[QN];
        for (int a = 0; a < QN; a++) qv[a] = _mm256_loadu_ps(q[a] + j);
        for (int b = 0; b < RN; b++) {
            const __m256 xv = load_row8<F16>(rows[b], j);
            for (int a = 0; a < QN; a++) acc[a][b] = _mm256_fmadd_ps(qv[a], xv, acc[a][b]);
        }
    }
    float tmp[QN][(RN + 3) / 4 * 4];
    for (int a = 0; a < QN; a++) store_sums<RN>(acc[a], tmp[a]);
    for (int a = 0; a < QN; a++)
        for (int b = 0; b < RN; b++) out[a * ld + b] = tmp[a][b];
}

// Integer dot products of int8 queries (|q| ≤ 63) and int8 rows over d
// bytes (d % 32 == 0), for one or two queries: |x|·sign(q, x) keeps
// maddubs' unsigned operand non-negative.
template <int QN, int RN>
inline void i8_tile(const int8_t *const *q, const char *const *rows, int64_t d, int32_t *out, int64_t ld) {
    __m256i acc[QN][RN];
    for (int a = 0; a < QN; a++)
        for (int b = 0; b < RN; b++) acc[a][b] = _mm256_setzero_si256();
    const int8_t *r[RN];
    for (int b = 0; b < RN; b++) r[b] = (const int8_t *)rows[b];
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t j = 0; j < d; j += 32) {
        __m256i qv[QN];
        for (int a = 0; a < QN; a++) qv[a] = _mm256_loadu_si256((const __m256i *)(q[a] + j));
        for (int b = 0; b < RN; b++) {
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(r[b] + j));
            const __m256i ax = _mm256_sign_epi8(xv, xv);
            for (int a = 0; a < QN; a++) {
                const __m256i p = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(qv[a], xv));
                acc[a][b] = _mm256_add_epi32(acc[a][b], _mm256_madd_epi16(p, ones));
            }
        }
    }
    int32_t tmp[QN][(RN + 3) / 4 * 4];
    for (int a = 0; a < QN; a++) store_sums_i<RN>(acc[a], tmp[a]);
    for (int a = 0; a < QN; a++)
        for (int b = 0; b < RN; b++) out[a * ld + b] = tmp[a][b];
}
#endif  // QUARRY_TOPK_AVX2

}  // namespace quarry
