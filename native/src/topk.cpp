// Exact top-k search over stored vectors: scores = Q·Xᵀ computed block by
// block (corpus rows split across threads, a register-blocked SIMD kernel
// over query × row tiles) and fused with bounded per-query heaps that keep
// the best row of each group (document), so the result is the exact top-k
// documents by their best passage. An allow bitset over groups (metadata
// filters, tombstones) is applied before scoring: disallowed rows are never
// computed, so a selective filter makes the search cheaper, never less exact.
//
// Scores: f32 and f16 rows give q·x in float; int8 rows (x ≈ scale·q8) are
// scored against the query quantized to int8 (per-query scale), binary rows
// (sign bits) by dim − 2·hamming — both approximate, meant to be rescored by
// the caller with full-precision vectors.
#include "internal.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define QUARRY_TOPK_AVX2 1
#endif

namespace quarry {
namespace {

struct Entry {
    float score;
    int64_t row;
    int64_t group;
};

// A bounded min-heap of the k best groups seen, one entry per group.
class TopK {
   public:
    explicit TopK(int k) : k_(k) { h_.reserve(k); }
    float threshold() const { return (int)h_.size() < k_ ? -INFINITY : h_[0].score; }
    void push(float s, int64_t row, int64_t group) {
        if ((int)h_.size() == k_ && !(s > h_[0].score)) return;
        for (size_t i = 0; i < h_.size(); i++) {
            if (h_[i].group == group) {
                if (s > h_[i].score || (s == h_[i].score && row < h_[i].row)) {
                    h_[i].score = s;
                    h_[i].row = row;
                    sift_down(i);
                }
                return;
            }
        }
        if ((int)h_.size() < k_) {
            h_.push_back({s, row, group});
            sift_up(h_.size() - 1);
        } else {
            h_[0] = {s, row, group};
            sift_down(0);
        }
    }
    // Sorted best first; ties by group ascending.
    std::vector<Entry> sorted() const {
        std::vector<Entry> v = h_;
        std::sort(v.begin(), v.end(), [](const Entry &a, const Entry &b) {
            return a.score > b.score || (a.score == b.score && a.group < b.group);
        });
        return v;
    }
    const std::vector<Entry> &entries() const { return h_; }

   private:
    static bool less(const Entry &a, const Entry &b) {
        // min-heap order: the worst entry on top; among equal scores the larger group is worse
        return a.score < b.score || (a.score == b.score && a.group > b.group);
    }
    void sift_up(size_t i) {
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!less(h_[i], h_[p])) break;
            std::swap(h_[i], h_[p]);
            i = p;
        }
    }
    void sift_down(size_t i) {
        for (;;) {
            size_t l = 2 * i + 1, r = l + 1, m = i;
            if (l < h_.size() && less(h_[l], h_[m])) m = l;
            if (r < h_.size() && less(h_[r], h_[m])) m = r;
            if (m == i) return;
            std::swap(h_[i], h_[m]);
            i = m;
        }
    }
    int k_;
    std::vector<Entry> h_;
};

constexpr int QB = 3;  // queries per tile
constexpr int RB = 4;  // rows per tile

struct Search {
    const quarry_vectors *x;
    int64_t row_bytes;
    int32_t dim, nq, k;
    const float *q;              // nq x dim (f32)
    std::vector<int8_t> q8;      // int8 queries (padded to dim8)
    std::vector<float> q8scale;  // per query
    std::vector<uint64_t> qbin;  // binary queries, words per query
    int64_t words;               // binary: u64 words per row (rounded up)
    int64_t dim8;                // int8: dim rounded up to 32
};

inline bool allowed(const quarry_vectors *x, int64_t g) {
    if (!x->allow) return true;
    if (g < 0 || g >= x->n_allow_bits) return false;
    return (x->allow[g >> 6] >> (g & 63)) & 1;
}

inline int64_t group_of(const quarry_vectors *x, int64_t r) { return x->groups ? (int64_t)x->groups[r] : r; }

// ---- scalar dot products (tails and non-AVX2 builds) ----
inline float dot_f32(const float *a, const float *b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

float f16_to_f32(uint16_t h) { return ggml_fp16_to_fp32(h); }

// Scores tile: out[qi*RB + ri] for queries q0..q0+nqt and rows idx[0..nr).
void score_tile(const Search &S, int32_t q0, int nqt, const int64_t *idx, int nr, float *out) {
    const quarry_vectors *x = S.x;
    const int64_t d = S.dim;
    const char *base = (const char *)x->data;
    switch (x->dtype) {
        case QUARRY_VEC_F32: {
#ifdef QUARRY_TOPK_AVX2
            if (nqt == QB && nr == RB && d % 8 == 0) {
                __m256 acc[QB][RB];
                for (int a = 0; a < QB; a++)
                    for (int b = 0; b < RB; b++) acc[a][b] = _mm256_setzero_ps();
                const float *qs[QB], *rs[RB];
                for (int a = 0; a < QB; a++) qs[a] = S.q + (int64_t)(q0 + a) * d;
                for (int b = 0; b < RB; b++) rs[b] = (const float *)(base + idx[b] * S.row_bytes);
                for (int64_t j = 0; j < d; j += 8) {
                    __m256 qv[QB];
                    for (int a = 0; a < QB; a++) qv[a] = _mm256_loadu_ps(qs[a] + j);
                    for (int b = 0; b < RB; b++) {
                        const __m256 xv = _mm256_loadu_ps(rs[b] + j);
                        for (int a = 0; a < QB; a++) acc[a][b] = _mm256_fmadd_ps(qv[a], xv, acc[a][b]);
                    }
                }
                for (int a = 0; a < QB; a++)
                    for (int b = 0; b < RB; b++) {
                        __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[a][b]), _mm256_extractf128_ps(acc[a][b], 1));
                        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                        s = _mm_add_ss(s, _mm_movehdup_ps(s));
                        out[a * RB + b] = _mm_cvtss_f32(s);
                    }
                return;
            }
            if (d % 8 == 0) {
                for (int a = 0; a < nqt; a++)
                    for (int b = 0; b < nr; b++) {
                        const float *qa = S.q + (int64_t)(q0 + a) * d;
                        const float *rb = (const float *)(base + idx[b] * S.row_bytes);
                        __m256 acc = _mm256_setzero_ps();
                        for (int64_t j = 0; j < d; j += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(qa + j), _mm256_loadu_ps(rb + j), acc);
                        __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
                        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                        s = _mm_add_ss(s, _mm_movehdup_ps(s));
                        out[a * RB + b] = _mm_cvtss_f32(s);
                    }
                return;
            }
#endif
            for (int a = 0; a < nqt; a++)
                for (int b = 0; b < nr; b++)
                    out[a * RB + b] = dot_f32(S.q + (int64_t)(q0 + a) * d, (const float *)(base + idx[b] * S.row_bytes), d);
            return;
        }
        case QUARRY_VEC_F16: {
#ifdef QUARRY_TOPK_AVX2
            if (d % 8 == 0) {
                __m256 acc[QB][RB];
                for (int a = 0; a < QB; a++)
                    for (int b = 0; b < RB; b++) acc[a][b] = _mm256_setzero_ps();
                const float *qs[QB];
                const uint16_t *rs[RB];
                for (int a = 0; a < QB; a++) qs[a] = S.q + (int64_t)(q0 + std::min(a, nqt - 1)) * d;
                for (int b = 0; b < RB; b++) rs[b] = (const uint16_t *)(base + idx[std::min(b, nr - 1)] * S.row_bytes);
                for (int64_t j = 0; j < d; j += 8) {
                    __m256 qv[QB];
                    for (int a = 0; a < QB; a++) qv[a] = _mm256_loadu_ps(qs[a] + j);
                    for (int b = 0; b < RB; b++) {
                        const __m256 xv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(rs[b] + j)));
                        for (int a = 0; a < QB; a++) acc[a][b] = _mm256_fmadd_ps(qv[a], xv, acc[a][b]);
                    }
                }
                for (int a = 0; a < nqt; a++)
                    for (int b = 0; b < nr; b++) {
                        __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[a][b]), _mm256_extractf128_ps(acc[a][b], 1));
                        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                        s = _mm_add_ss(s, _mm_movehdup_ps(s));
                        out[a * RB + b] = _mm_cvtss_f32(s);
                    }
                return;
            }
#endif
            for (int a = 0; a < nqt; a++)
                for (int b = 0; b < nr; b++) {
                    const float *qa = S.q + (int64_t)(q0 + a) * d;
                    const uint16_t *rb = (const uint16_t *)(base + idx[b] * S.row_bytes);
                    float s = 0;
                    for (int64_t j = 0; j < d; j++) s += qa[j] * f16_to_f32(rb[j]);
                    out[a * RB + b] = s;
                }
            return;
        }
        case QUARRY_VEC_I8: {
#ifdef QUARRY_TOPK_AVX2
            if (d % 32 == 0) {
                __m256i acc[QB][RB];
                for (int a = 0; a < QB; a++)
                    for (int b = 0; b < RB; b++) acc[a][b] = _mm256_setzero_si256();
                const int8_t *qs[QB], *rs[RB];
                for (int a = 0; a < QB; a++) qs[a] = S.q8.data() + (int64_t)(q0 + std::min(a, nqt - 1)) * S.dim8;
                for (int b = 0; b < RB; b++) rs[b] = (const int8_t *)(base + idx[std::min(b, nr - 1)] * S.row_bytes);
                const __m256i ones = _mm256_set1_epi16(1);
                for (int64_t j = 0; j < d; j += 32) {
                    __m256i qv[QB];
                    for (int a = 0; a < QB; a++) qv[a] = _mm256_loadu_si256((const __m256i *)(qs[a] + j));
                    for (int b = 0; b < RB; b++) {
                        const __m256i xv = _mm256_loadu_si256((const __m256i *)(rs[b] + j));
                        const __m256i ax = _mm256_sign_epi8(xv, xv);
                        for (int a = 0; a < QB; a++) {
                            const __m256i sq = _mm256_sign_epi8(qv[a], xv);
                            acc[a][b] = _mm256_add_epi32(acc[a][b], _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sq), ones));
                        }
                    }
                }
                for (int a = 0; a < nqt; a++)
                    for (int b = 0; b < nr; b++) {
                        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc[a][b]), _mm256_extracti128_si256(acc[a][b], 1));
                        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
                        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
                        out[a * RB + b] = (float)_mm_cvtsi128_si32(s) * S.q8scale[q0 + a] * S.x->scales[idx[b]];
                    }
                return;
            }
#endif
            for (int a = 0; a < nqt; a++)
                for (int b = 0; b < nr; b++) {
                    const int8_t *qa = S.q8.data() + (int64_t)(q0 + a) * S.dim8;
                    const int8_t *rb = (const int8_t *)(base + idx[b] * S.row_bytes);
                    int32_t s = 0;
                    for (int64_t j = 0; j < d; j++) s += (int32_t)qa[j] * rb[j];
                    out[a * RB + b] = (float)s * S.q8scale[q0 + a] * S.x->scales[idx[b]];
                }
            return;
        }
        case QUARRY_VEC_BIN: {
            const int64_t nb = S.row_bytes;
            for (int a = 0; a < nqt; a++) {
                const uint64_t *qa = S.qbin.data() + (int64_t)(q0 + a) * S.words;
                for (int b = 0; b < nr; b++) {
                    const uint8_t *rb = (const uint8_t *)(base + idx[b] * S.row_bytes);
                    int64_t ham = 0;
                    int64_t w = 0;
                    for (; (w + 1) * 8 <= nb; w++) {
                        uint64_t v;
                        memcpy(&v, rb + w * 8, 8);
                        ham += __builtin_popcountll(v ^ qa[w]);
                    }
                    if (w * 8 < nb) {
                        uint64_t v = 0;
                        memcpy(&v, rb + w * 8, nb - w * 8);
                        ham += __builtin_popcountll(v ^ qa[w]);
                    }
                    out[a * RB + b] = (float)(d - 2 * ham);
                }
            }
            return;
        }
    }
}

// Scans rows [r0, r1) for all queries into heaps (one per query).
void scan(const Search &S, int64_t r0, int64_t r1, std::vector<TopK> &heaps, const std::atomic<bool> *stop) {
    const quarry_vectors *x = S.x;
    constexpr int64_t kBlock = 256;  // rows per block: fits L2 with the queries
    std::vector<int64_t> idx;
    idx.reserve(kBlock);
    float tile[QB * RB];
    for (int64_t b0 = r0; b0 < r1; b0 += kBlock) {
        if (stop && stop->load(std::memory_order_relaxed)) return;
        const int64_t b1 = std::min(r1, b0 + kBlock);
        idx.clear();
        for (int64_t r = b0; r < b1; r++)
            if (allowed(x, group_of(x, r))) idx.push_back(r);
        if (idx.empty()) continue;
        const int n = (int)idx.size();
        for (int32_t q0 = 0; q0 < S.nq; q0 += QB) {
            const int nqt = std::min<int>(QB, S.nq - q0);
            for (int i = 0; i < n; i += RB) {
                const int nr = std::min(RB, n - i);
                score_tile(S, q0, nqt, idx.data() + i, nr, tile);
                for (int a = 0; a < nqt; a++) {
                    TopK &h = heaps[q0 + a];
                    const float th = h.threshold();
                    for (int b = 0; b < nr; b++) {
                        const float s = tile[a * RB + b];
                        if (s >= th) h.push(s, idx[i + b], group_of(x, idx[i + b]));
                    }
                }
            }
        }
    }
}

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
    try {
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

        Search S;
        S.x = x;
        S.row_bytes = rb;
        S.dim = x->dim;
        S.nq = nq;
        S.k = k;
        S.q = queries;
        if (x->dtype == QUARRY_VEC_I8) {
            S.dim8 = (x->dim + 31) / 32 * 32;
            S.q8.assign((size_t)nq * S.dim8, 0);
            S.q8scale.resize(nq);
            for (int32_t i = 0; i < nq; i++) {
                const float *qi = queries + (int64_t)i * x->dim;
                float amax = 0;
                for (int32_t j = 0; j < x->dim; j++) amax = std::max(amax, std::fabs(qi[j]));
                const float sc = amax > 0 ? amax / 127.0f : 1.0f;
                S.q8scale[i] = sc;
                for (int32_t j = 0; j < x->dim; j++) S.q8[(size_t)i * S.dim8 + j] = (int8_t)std::lrintf(qi[j] / sc);
            }
        }
        if (x->dtype == QUARRY_VEC_BIN) {
            S.words = (rb + 7) / 8;
            S.qbin.assign((size_t)nq * S.words, 0);
            for (int32_t i = 0; i < nq; i++)
                for (int32_t j = 0; j < x->dim; j++)
                    if (queries[(int64_t)i * x->dim + j] > 0) S.qbin[(size_t)i * S.words + j / 64] |= 1ULL << (j % 64);
        }

        int nt = n_threads > 0 ? n_threads : (int)std::max(1u, std::thread::hardware_concurrency());
        const int64_t min_rows = 4096;  // below this per thread, threads cost more than they save
        nt = (int)std::max<int64_t>(1, std::min<int64_t>(nt, x->n / min_rows));
        std::vector<std::vector<TopK>> per(nt, std::vector<TopK>(nq, TopK(k)));
        if (nt == 1) {
            scan(S, 0, x->n, per[0], nullptr);
        } else {
            std::vector<std::thread> th;
            const int64_t chunk = (x->n + nt - 1) / nt;
            for (int t = 0; t < nt; t++) {
                const int64_t r0 = t * chunk, r1 = std::min(x->n, r0 + chunk);
                th.emplace_back([&, t, r0, r1] { scan(S, r0, r1, per[t], nullptr); });
            }
            for (auto &t : th) t.join();
        }
        for (int32_t i = 0; i < nq; i++) {
            TopK merged(k);
            for (int t = 0; t < nt; t++)
                for (const Entry &e : per[t][i].entries()) merged.push(e.score, e.row, e.group);
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
    } catch (const Error &e) {
        write_err(err, err_len, e.what());
        return e.code;
    } catch (const std::exception &e) {
        write_err(err, err_len, e.what());
        return QUARRY_ERR_COMPUTE;
    }
}
