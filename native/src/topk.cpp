// Exact top-k search over stored vectors: scores = Q·Xᵀ computed block by
// block and fused with bounded per-query heaps that keep the best row of each
// group (document), so the result is the exact top-k documents by their best
// passage. An allow bitset over groups (metadata filters, tombstones) is
// applied before scoring: disallowed rows are never computed, so a selective
// filter makes the search cheaper, never less exact.
//
// Scores: f32 and f16 rows give q·x in float; int8 rows (x ≈ scale·q8) are
// scored against the query quantized to int8 (per-query scale), binary rows
// (sign bits) by dim − 2·hamming — both approximate, meant to be rescored by
// the caller with full-precision vectors.
//
// Performance design (AVX2/FMA):
// - Rows are processed in blocks of a few hundred KB (L2-resident while every
//   query tile passes over them); threads take chunks of blocks from a shared
//   counter, so a core slowed down by another process does not leave the
//   other one idle at the end.
// - The micro-kernels compute a QN-query × RN-row tile of dot products with
//   QN·RN independent vector accumulators (no dependency chains on one
//   accumulator), reduced with horizontal adds four results at a time. One
//   query per call uses 1×8 tiles: the scan then streams rows at memory
//   bandwidth; many queries per call use 3×4 tiles (12 FMAs per 7 loads):
//   compute-bound, the block of rows reused from L2 by every query tile.
// - f16 rows are widened to f32 once per block when several queries share
//   them, else converted on the fly (memory-bound).
// - Heaps are consulted only for scores at or above the current k-th best,
//   found eight at a time with a vector compare.
#include "internal.h"
#include "vecdot.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>


namespace quarry {
namespace {

#ifndef U8_QN
#define U8_QN 3
#define U8_RN 4
#endif

struct Entry {
    float score;
    int64_t row;
    int64_t group;
};

// Ranking order: higher score first; among equal scores the smaller group.
inline bool better(const Entry &a, const Entry &b) { return a.score > b.score || (a.score == b.score && a.group < b.group); }

// The k best groups seen, one entry per group (when rows have groups; else
// every row is its own group and is seen once). Candidates at or above the
// threshold are appended to a buffer; when it fills up it is compacted to
// the k best (best row per group: higher score, then smaller row) and the
// threshold rises to the k-th best score: amortized O(1) per candidate,
// where a heap would sift on every one.
class TopK {
   public:
    TopK(int k, bool groups) : k_(k), cap_(std::max(2 * k, k + 64)), groups_(groups) {}
    float threshold() const { return th_; }
    void push(float s, int64_t row, int64_t group) {
        buf_.push_back({s, row, group});
        if ((int)buf_.size() >= cap_) compact();
    }
    // The k best (or fewer), best first.
    std::vector<Entry> sorted() {
        compact();
        std::vector<Entry> v = buf_;
        std::sort(v.begin(), v.end(), [](const Entry &a, const Entry &b) { return better(a, b); });
        return v;
    }
    // The k best (or fewer), unordered.
    const std::vector<Entry> &entries() {
        compact();
        return buf_;
    }

   private:
    void compact() {
        if (groups_ && buf_.size() > 1) {
            std::sort(buf_.begin(), buf_.end(), [](const Entry &a, const Entry &b) {
                return a.group < b.group || (a.group == b.group && (a.score > b.score || (a.score == b.score && a.row < b.row)));
            });
            size_t w = 1;
            for (size_t i = 1; i < buf_.size(); i++)
                if (buf_[i].group != buf_[w - 1].group) buf_[w++] = buf_[i];
            buf_.resize(w);
        }
        if ((int)buf_.size() > k_) {
            std::nth_element(buf_.begin(), buf_.begin() + (k_ - 1), buf_.end(),
                             [](const Entry &a, const Entry &b) { return better(a, b); });
            buf_.resize(k_);
        }
        if ((int)buf_.size() == k_) {
            float m = buf_[0].score;
            for (const Entry &e : buf_) m = std::min(m, e.score);
            th_ = m;
        }
    }
    int k_, cap_;
    bool groups_;
    float th_ = -INFINITY;
    std::vector<Entry> buf_;
};

// Aligned scratch of T.
template <typename T>
struct Buf {
    T *p = nullptr;
    size_t n = 0;
    void resize(size_t m) {
        if (m <= n) return;
        std::free(p);
        p = (T *)std::aligned_alloc(64, (m * sizeof(T) + 63) / 64 * 64);
        if (!p) throw std::bad_alloc();
        n = m;
    }
    ~Buf() { std::free(p); }
};

struct Search {
    const quarry_vectors *x;
    int64_t row_bytes;
    int32_t dim, nq, k;
    const float *q;              // nq x dim (f32), as given
    std::vector<int8_t> q8;      // int8 queries in [-63, 63] (padded to dim8)
    std::vector<uint8_t> qu8;    // the same + 64 (many queries per call)
    std::vector<float> q8scale;  // per query
    std::vector<uint64_t> qbin;  // binary queries, words per query
    int64_t words = 0;           // binary: u64 words per row (rounded up)
    int64_t dim8 = 0;            // int8: dim rounded up to 32
    int32_t block = 256;         // rows per block
    bool simd = false;           // the AVX2 kernels apply (dimension multiple of 8 / 32)
};


// ---- scalar scores (odd dimensions, non-AVX2 builds, tails) ----
float score_scalar(const Search &S, int32_t qi, int64_t r) {
    const quarry_vectors *x = S.x;
    const int64_t d = S.dim;
    const char *row = (const char *)x->data + r * S.row_bytes;
    switch (x->dtype) {
        case QUARRY_VEC_F32: {
            const float *a = S.q + (int64_t)qi * d, *b = (const float *)row;
            float s = 0;
            for (int64_t j = 0; j < d; j++) s += a[j] * b[j];
            return s;
        }
        case QUARRY_VEC_F16: {
            const float *a = S.q + (int64_t)qi * d;
            const uint16_t *b = (const uint16_t *)row;
            float s = 0;
            for (int64_t j = 0; j < d; j++) s += a[j] * f16_to_f32(b[j]);
            return s;
        }
        case QUARRY_VEC_I8: {
            const int8_t *a = S.q8.data() + (int64_t)qi * S.dim8, *b = (const int8_t *)row;
            int32_t s = 0;
            for (int64_t j = 0; j < d; j++) s += (int32_t)a[j] * b[j];
            return (float)s * S.q8scale[qi] * x->scales[r];
        }
        case QUARRY_VEC_BIN: {
            const uint64_t *a = S.qbin.data() + (int64_t)qi * S.words;
            const uint8_t *b = (const uint8_t *)row;
            const int64_t nb = S.row_bytes;
            int64_t ham = 0, w = 0;
            for (; (w + 1) * 8 <= nb; w++) {
                uint64_t v;
                memcpy(&v, b + w * 8, 8);
                ham += __builtin_popcountll(v ^ a[w]);
            }
            if (w * 8 < nb) {
                uint64_t v = 0;
                memcpy(&v, b + w * 8, nb - w * 8);
                ham += __builtin_popcountll(v ^ a[w]);
            }
            return (float)(d - 2 * ham);
        }
    }
    return 0;
}

#ifdef QUARRY_TOPK_AVX2
// The same for many queries: the queries are stored offset to unsigned
// (u = q + 64 ∈ [1, 127]), so maddubs(u, x) needs no sign fix-up per
// query × row pair (pairs sum to at most 2·127·128 < 2^15), and
// Σ u·x − 64·Σ x = Σ q·x exactly (rowsum[b] = Σ x of row b).
template <int QN, int RN>
inline void u8_tile(const uint8_t *const *q, const char *const *rows, const int32_t *rowsum, int64_t d, int32_t *out,
                    int64_t ld) {
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
            for (int a = 0; a < QN; a++)
                acc[a][b] = _mm256_add_epi32(acc[a][b], _mm256_madd_epi16(_mm256_maddubs_epi16(qv[a], xv), ones));
        }
    }
    int32_t tmp[QN][(RN + 3) / 4 * 4];
    for (int a = 0; a < QN; a++) store_sums_i<RN>(acc[a], tmp[a]);
    for (int a = 0; a < QN; a++)
        for (int b = 0; b < RN; b++) out[a * ld + b] = tmp[a][b] - 64 * rowsum[b];
}

#ifdef U8_TWO
// 6-bit queries (u = q + 32 ∈ [1, 63]): two steps summed in int16
// (|pair| ≤ 2·63·128 = 16128, two of them < 2^15) before widening.
template <int QN, int RN>
inline void u6_tile(const uint8_t *const *q, const char *const *rows, const int32_t *rowsum, int64_t d, int32_t *out,
                    int64_t ld) {
    __m256i acc[QN][RN];
    for (int a = 0; a < QN; a++)
        for (int b = 0; b < RN; b++) acc[a][b] = _mm256_setzero_si256();
    const int8_t *r[RN];
    for (int b = 0; b < RN; b++) r[b] = (const int8_t *)rows[b];
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t j = 0; j < d; j += 64) {
        __m256i q0[QN], q1[QN];
        for (int a = 0; a < QN; a++) {
            q0[a] = _mm256_loadu_si256((const __m256i *)(q[a] + j));
            q1[a] = _mm256_loadu_si256((const __m256i *)(q[a] + j + 32));
        }
        for (int b = 0; b < RN; b++) {
            const __m256i x0 = _mm256_loadu_si256((const __m256i *)(r[b] + j));
            const __m256i x1 = _mm256_loadu_si256((const __m256i *)(r[b] + j + 32));
            for (int a = 0; a < QN; a++)
                acc[a][b] = _mm256_add_epi32(acc[a][b], _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(q0[a], x0), _mm256_maddubs_epi16(q1[a], x1)), ones));
        }
    }
    int32_t tmp[QN][(RN + 3) / 4 * 4];
    for (int a = 0; a < QN; a++) store_sums_i<RN>(acc[a], tmp[a]);
    for (int a = 0; a < QN; a++)
        for (int b = 0; b < RN; b++) out[a * ld + b] = tmp[a][b] - 32 * rowsum[b];
}
#define u8_tile u6_tile
#endif

// Σ x of each int8 row (d % 32 == 0).
inline int32_t i8_rowsum(const int8_t *x, int64_t d) {
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    __m256i acc = _mm256_setzero_si256();
    for (int64_t j = 0; j < d; j += 32)
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, _mm256_loadu_si256((const __m256i *)(x + j))), ones16));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}
#endif

// Hamming distances of QN binary queries to RN rows of nb bytes (words =
// ceil(nb/8) u64 per query, the last one zero-padded).
template <int QN, int RN>
inline void bin_tile(const uint64_t *const *q, const char *const *rows, int64_t nb, int32_t *out, int64_t ld) {
    int64_t acc[QN][RN] = {};
    int64_t w = 0;
    for (; (w + 1) * 8 <= nb; w++) {
        for (int b = 0; b < RN; b++) {
            uint64_t v;
            memcpy(&v, rows[b] + w * 8, 8);
            for (int a = 0; a < QN; a++) acc[a][b] += __builtin_popcountll(v ^ q[a][w]);
        }
    }
    if (w * 8 < nb) {
        for (int b = 0; b < RN; b++) {
            uint64_t v = 0;
            memcpy(&v, rows[b] + w * 8, nb - w * 8);
            for (int a = 0; a < QN; a++) acc[a][b] += __builtin_popcountll(v ^ q[a][w]);
        }
    }
    for (int a = 0; a < QN; a++)
        for (int b = 0; b < RN; b++) out[a * ld + b] = (int32_t)acc[a][b];
}

// One thread's scan state: heaps for every query and block scratch.
class Scanner {
   public:
    Scanner(const Search &S) : S_(S), x_(S.x) {
        heaps_.reserve(S.nq);
        for (int32_t i = 0; i < S.nq; i++) heaps_.emplace_back(S.k, x_->groups != nullptr);
        const int B = S.block;
        idx_.resize(B + 8);
        ptr_.resize(B + 8);
        ld_ = B + 8;
        sc_.resize((size_t)4 * ld_);
        isc_.resize((size_t)4 * ld_);
        rowsum_.resize(B + 8);
        bscale_.resize(B + 8);
        if (x_->dtype == QUARRY_VEC_F16 && widen()) wide_.resize((size_t)B * S.dim);
    }
    std::vector<TopK> &heaps() { return heaps_; }

    // Scans rows [r0, r1).
    void scan(int64_t r0, int64_t r1) {
        const int64_t B = S_.block;
        for (int64_t b0 = r0; b0 < r1; b0 += B) {
            const int64_t b1 = std::min(r1, b0 + B);
            int n = 0;
            if (!x_->allow) {
                for (int64_t r = b0; r < b1; r++) idx_.p[n++] = r;
            } else if (!x_->groups) {
                for (int64_t r = b0; r < b1; r++)
                    if (allowed(x_, r)) idx_.p[n++] = r;
            } else {
                int64_t last = -1;
                bool ok = false;
                for (int64_t r = b0; r < b1; r++) {
                    const int64_t g = x_->groups[r];
                    if (g != last) {
                        last = g;
                        ok = allowed(x_, g);
                    }
                    if (ok) idx_.p[n++] = r;
                }
            }
            if (n > 0) block(n);
        }
    }

   private:
    bool widen() const { return S_.nq >= 4; }

    void block(int n) {
        const char *base = (const char *)x_->data;
        for (int i = 0; i < n; i++) ptr_.p[i] = base + idx_.p[i] * S_.row_bytes;
        for (int i = n; i < n + 8; i++) ptr_.p[i] = ptr_.p[n - 1];  // tiles past the end repeat the last row
#ifdef QUARRY_TOPK_AVX2
        if (S_.simd) {
            switch (x_->dtype) {
                case QUARRY_VEC_F32: return float_block<false>(ptr_.p, n);
                case QUARRY_VEC_F16:
                    if (widen()) {
                        const int64_t d = S_.dim;
                        for (int i = 0; i < n; i++) {
                            const uint16_t *src = (const uint16_t *)ptr_.p[i];
                            float *dst = wide_.p + (int64_t)i * d;
                            for (int64_t j = 0; j < d; j += 8)
                                _mm256_store_ps(dst + j, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + j))));
                        }
                        for (int i = 0; i < n + 8; i++) ptr_.p[i] = (const char *)(wide_.p + (int64_t)std::min(i, n - 1) * d);
                        return float_block<false>(ptr_.p, n);
                    }
                    return float_block<true>(ptr_.p, n);
                case QUARRY_VEC_I8: return int_block<false>(n);
                case QUARRY_VEC_BIN: return int_block<true>(n);
            }
        }
#endif
        if (x_->dtype == QUARRY_VEC_BIN) return int_block<true>(n);
        for (int32_t qi = 0; qi < S_.nq; qi++) {
            float *s = sc_.p;
            for (int i = 0; i < n; i++) s[i] = score_scalar(S_, qi, idx_.p[i]);
            filter(qi, s, n);
        }
    }

#ifdef QUARRY_TOPK_AVX2
    template <bool F16, int QN, int RN>
    void float_tiles(int32_t q0, const char *const *rows, int n) {
        const float *q[QN];
        for (int a = 0; a < QN; a++) q[a] = S_.q + (int64_t)(q0 + a) * S_.dim;
        for (int i = 0; i < n; i += RN) float_tile<F16, QN, RN>(q, rows + i, S_.dim, sc_.p + i, ld_);
        for (int a = 0; a < QN; a++) filter(q0 + a, sc_.p + a * ld_, n);
    }
    template <bool F16>
    void float_block(const char *const *rows, int n) {
        int32_t q0 = 0;
        while (q0 < S_.nq) {
            const int rem = S_.nq - q0;
            if (rem >= 3) {
                float_tiles<F16, 3, 4>(q0, rows, n);
                q0 += 3;
            } else if (rem == 2) {
                float_tiles<F16, 2, 6>(q0, rows, n);
                q0 += 2;
            } else {
                float_tiles<F16, 1, 8>(q0, rows, n);
                q0 += 1;
            }
        }
    }
#endif

    template <bool BIN, int QN, int RN, bool U8 = false>
    void int_tiles(int32_t q0, int n) {
        const char *const *rows = ptr_.p;
        if (BIN) {
            const uint64_t *q[QN];
            for (int a = 0; a < QN; a++) q[a] = S_.qbin.data() + (int64_t)(q0 + a) * S_.words;
            for (int i = 0; i < n; i += RN) bin_tile<QN, RN>(q, rows + i, S_.row_bytes, isc_.p + i, ld_);
            for (int a = 0; a < QN; a++) {
                const int32_t *h = isc_.p + a * ld_;
                float *s = sc_.p + a * ld_;
                for (int i = 0; i < n; i++) s[i] = (float)(S_.dim - 2 * h[i]);
            }
        } else {
#ifdef QUARRY_TOPK_AVX2
            if (U8) {
                const uint8_t *q[QN];
                for (int a = 0; a < QN; a++) q[a] = S_.qu8.data() + (int64_t)(q0 + a) * S_.dim8;
                for (int i = 0; i < n; i += RN) u8_tile<QN, RN>(q, rows + i, rowsum_.p + i, S_.dim, isc_.p + i, ld_);
            } else {
                const int8_t *q[QN];
                for (int a = 0; a < QN; a++) q[a] = S_.q8.data() + (int64_t)(q0 + a) * S_.dim8;
                for (int i = 0; i < n; i += RN) i8_tile<QN, RN>(q, rows + i, S_.dim, isc_.p + i, ld_);
            }
            // (float)v · query scale · row scale, in that order (as the Go kernel)
            const float *bs = bscale_.p;
            for (int a = 0; a < QN; a++) {
                const int32_t *v = isc_.p + a * ld_;
                float *s = sc_.p + a * ld_;
                const float qs = S_.q8scale[q0 + a];
                const __m256 qsv = _mm256_set1_ps(qs);
                int i = 0;
                for (; i + 8 <= n; i += 8)
                    _mm256_storeu_ps(s + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(v + i))), qsv),
                                                          _mm256_loadu_ps(bs + i)));
                for (; i < n; i++) s[i] = (float)v[i] * qs * bs[i];
            }
#endif
        }
        for (int a = 0; a < QN; a++) filter(q0 + a, sc_.p + a * ld_, n);
    }
    template <bool BIN>
    void int_block(int n) {
        int32_t q0 = 0;
        if (!BIN)
            for (int i = 0; i < n; i++) bscale_.p[i] = x_->scales[idx_.p[i]];
#ifdef QUARRY_TOPK_AVX2
        if (!BIN && S_.nq >= U8_QN) {
            for (int i = 0; i < n + 8; i++) rowsum_.p[i] = i8_rowsum((const int8_t *)ptr_.p[i], S_.dim);
            for (; S_.nq - q0 >= U8_QN; q0 += U8_QN) int_tiles<false, U8_QN, U8_RN, true>(q0, n);
        }
#endif
        while (q0 < S_.nq) {
            const int rem = S_.nq - q0;
            if (rem >= 2) {
                int_tiles<BIN, 2, 4>(q0, n);
                q0 += 2;
            } else {
                int_tiles<BIN, 1, 8>(q0, n);
                q0 += 1;
            }
        }
    }

    // Offers the block's scores of query qi to its heap: only those at or
    // above the current threshold reach the heap.
    void filter(int32_t qi, const float *s, int n) {
        TopK &h = heaps_[qi];
        float th = h.threshold();
        const bool groups = x_->groups != nullptr;
        int i = 0;
#ifdef QUARRY_TOPK_AVX2
        for (; i + 8 <= n; i += 8) {
            unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(s + i), _mm256_set1_ps(th), _CMP_GE_OQ));
            while (m) {
                const int b = __builtin_ctz(m);
                m &= m - 1;
                if (s[i + b] >= th) {
                    const int64_t r = idx_.p[i + b];
                    h.push(s[i + b], r, groups ? (int64_t)x_->groups[r] : r);
                    th = h.threshold();
                }
            }
        }
#endif
        for (; i < n; i++) {
            if (s[i] >= th) {
                const int64_t r = idx_.p[i];
                h.push(s[i], r, groups ? (int64_t)x_->groups[r] : r);
                th = h.threshold();
            }
        }
    }

    const Search &S_;
    const quarry_vectors *x_;
    std::vector<TopK> heaps_;
    Buf<int64_t> idx_;
    Buf<const char *> ptr_;
    Buf<float> sc_;
    Buf<int32_t> isc_;
    Buf<int32_t> rowsum_;
    Buf<float> bscale_;
    Buf<float> wide_;
    int64_t ld_;
};

}  // namespace
}  // namespace quarry

using namespace quarry;

extern "C" int64_t quarry_vec_row_bytes(int32_t dtype, int32_t dim) {
    if (dim <= 0) return -1;
    switch (dtype) {
        case QUARRY_VEC_F32: return 4LL * dim;
        case QUARRY_VEC_F16: return 2LL * dim;
        case QUARRY_VEC_I8: return dim;
        case QUARRY_VEC_BIN: return (dim + 7) / 8;
    }
    return -1;
}

extern "C" int quarry_topk(const float *queries, int32_t nq, const quarry_vectors *x, int32_t k, int32_t n_threads,
                           float *scores, int64_t *rows, int64_t *groups, char *err, size_t err_len) {
    return guarded(err, err_len, [&]() -> int {
        if (!x) fail(QUARRY_ERR_ARG, "vectors are NULL");
        if (nq < 0 || k <= 0 || k > 100000) fail(QUARRY_ERR_ARG, "invalid nq %d or k %d", nq, k);
        if (x->dim <= 0 || x->n < 0) fail(QUARRY_ERR_ARG, "invalid shape %lld x %d", (long long)x->n, x->dim);
        const int64_t rb = quarry_vec_row_bytes(x->dtype, x->dim);
        if (rb < 0) fail(QUARRY_ERR_ARG, "unknown vector type %d", x->dtype);
        if (x->n > 0 && !x->data) fail(QUARRY_ERR_ARG, "vector data is NULL");
        if (x->dtype == QUARRY_VEC_I8 && x->n > 0 && !x->scales) fail(QUARRY_ERR_ARG, "int8 vectors need scales");
        if (nq > 0 && (!queries || !scores || !rows)) fail(QUARRY_ERR_ARG, "queries and outputs must not be NULL");
        for (int64_t i = 0; i < (int64_t)nq * x->dim; i++)
            if (!std::isfinite(queries[i])) fail(QUARRY_ERR_ARG, "query %lld has a non-finite value", (long long)(i / x->dim));
        if (nq == 0) return QUARRY_OK;

        Search S;
        S.x = x;
        S.row_bytes = rb;
        S.dim = x->dim;
        S.nq = nq;
        S.k = k;
        S.q = queries;
#ifdef QUARRY_TOPK_AVX2
        S.simd = x->dtype == QUARRY_VEC_I8 ? x->dim % 32 == 0 : x->dim % 8 == 0;
#endif
        if (x->dtype == QUARRY_VEC_I8) {
            S.dim8 = (x->dim + 31) / 32 * 32;
            S.q8.assign((size_t)nq * S.dim8, 0);
            S.q8scale.resize(nq);
            for (int32_t i = 0; i < nq; i++)
                S.q8scale[i] = quantize_query_i8(queries + (int64_t)i * x->dim, x->dim, S.q8.data() + (size_t)i * S.dim8);
            if (nq >= U8_QN) {
                S.qu8.resize(S.q8.size());
#ifdef U8_TWO
                for (size_t j = 0; j < S.q8.size(); j++) S.qu8[j] = (uint8_t)(S.q8[j] + 32);
#else
                for (size_t j = 0; j < S.q8.size(); j++) S.qu8[j] = (uint8_t)(S.q8[j] + 64);
#endif
            }
        }
        if (x->dtype == QUARRY_VEC_BIN) {
            S.words = (rb + 7) / 8;
            S.qbin.assign((size_t)nq * S.words, 0);
            for (int32_t i = 0; i < nq; i++)
                for (int32_t j = 0; j < x->dim; j++)
                    if (queries[(int64_t)i * x->dim + j] > 0) S.qbin[(size_t)i * S.words + j / 64] |= 1ULL << (j % 64);
        }
        // Rows per block: ~192 KB of rows (as scanned: f16 widened to f32
        // when several queries share the block), so a block stays in L2
        // while every query tile passes over it.
        {
            int64_t eff = rb;
            if (x->dtype == QUARRY_VEC_F16 && nq >= 4) eff = 4LL * x->dim;
            int64_t b = (192 << 10) / std::max<int64_t>(1, eff);
            b = std::max<int64_t>(16, std::min<int64_t>(1024, b)) / 8 * 8;
            S.block = (int32_t)b;
        }

        int nt = n_threads > 0 ? n_threads : (int)std::max(1u, std::thread::hardware_concurrency());
        // Below this many rows per thread, threads cost more than they save.
        const int64_t min_rows = nq >= 8 ? 1024 : 4096;
        nt = (int)std::max<int64_t>(1, std::min<int64_t>(nt, x->n / min_rows));
        // Chunks taken from a shared counter: at least 8 per thread (load
        // balance), at most ~4 MB of rows each.
        int64_t chunk = std::max<int64_t>(S.block, std::min<int64_t>((4 << 20) / rb, (x->n + 8 * nt - 1) / (8 * nt)));
        chunk = (chunk + S.block - 1) / S.block * S.block;
        const int64_t nchunks = (x->n + chunk - 1) / chunk;
        std::vector<std::unique_ptr<Scanner>> per;
        for (int t = 0; t < nt; t++) per.emplace_back(new Scanner(S));
        std::atomic<int64_t> next{0};
        auto work = [&](Scanner *sc) {
            for (;;) {
                const int64_t c = next.fetch_add(1, std::memory_order_relaxed);
                if (c >= nchunks) return;
                sc->scan(c * chunk, std::min(x->n, (c + 1) * chunk));
            }
        };
        if (nt == 1) {
            work(per[0].get());
        } else {
            std::vector<std::thread> th;
            std::exception_ptr eptr;
            std::mutex emu;
            for (int t = 1; t < nt; t++)
                th.emplace_back([&, t] {
                    try {
                        work(per[t].get());
                    } catch (...) {
                        std::lock_guard<std::mutex> l(emu);
                        eptr = std::current_exception();
                    }
                });
            try {
                work(per[0].get());
            } catch (...) {
                std::lock_guard<std::mutex> l(emu);
                eptr = std::current_exception();
            }
            for (auto &t : th) t.join();
            if (eptr) std::rethrow_exception(eptr);
        }
        for (int32_t i = 0; i < nq; i++) {
            TopK merged(k, x->groups != nullptr);
            for (int t = 0; t < nt; t++)
                for (const Entry &e : per[t]->heaps()[i].entries()) merged.push(e.score, e.row, e.group);
            std::vector<Entry> best = merged.sorted();
            for (int32_t j = 0; j < k; j++) {
                const size_t o = (size_t)i * k + j;
                if (j < (int32_t)best.size()) {
                    scores[o] = best[j].score;
                    rows[o] = best[j].row;
                    if (groups) groups[o] = best[j].group;
                } else {
                    scores[o] = -INFINITY;
                    rows[o] = -1;
                    if (groups) groups[o] = -1;
                }
            }
        }
        return QUARRY_OK;
    });
}
