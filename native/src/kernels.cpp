// CPU kernels used as ggml custom operators by the encoder graph:
//
//  - attention over padded sequences, reading Q, K and V straight from the
//    [hidden, tokens] outputs of the projections (head h of token t is the
//    slice [h*d, (h+1)*d) of row t) and writing the same layout, so no
//    permute/copy is needed around it. Each (sequence, head) pair is one task;
//    only the sequence's real tokens are computed (no mask, no padding work).
//    ggml's batched mul_mat would call llamafile's sgemm once per (head,
//    sequence) slice with two thread barriers each: thousands of barriers per
//    batch, costly on a busy machine.
//  - exact GELU 0.5·x·(1+erf(x/√2)) with a vectorized erf (max abs error
//    1.5e-7, Abramowitz & Stegun 7.1.26) instead of ggml's scalar erff.
#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define QUARRY_AVX2 1
#endif

namespace quarry {

namespace {

#ifdef QUARRY_AVX2
// exp(x) for x <= 0 (softmax arguments) and moderate positive x; Cephes-style
// range reduction with a degree-6 polynomial, ~1 ulp.
inline __m256 exp256(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.3762626647949f);
    const __m256 lo = _mm256_set1_ps(-87.3365447504f);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    const __m256 log2e = _mm256_set1_ps(1.44269504088896341f);
    __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    // x - fx*ln2 in two steps for accuracy
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500E-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
    const __m256 x2 = _mm256_mul_ps(x, x);
    y = _mm256_fmadd_ps(y, x2, _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline float hmax256(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

// Scalar erf with the same approximation as the vector path.
inline float erf_as(float x) {
    const float s = x < 0 ? -1.0f : 1.0f;
    x = std::fabs(x);
    const float t = 1.0f / (1.0f + 0.3275911f * x);
    const float y =
        1.0f - (((((1.061405429f * t - 1.453152027f) * t) + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) *
                   t * std::exp(-x * x);
    return s * y;
}

struct Scratch {
    std::vector<float> kt, s;
};

Scratch &scratch() {
    static thread_local Scratch sc;
    return sc;
}

// Softmax of row[0..n) in place (exponentials, unnormalized); returns 1/sum.
inline float softmax_row(float *row, int64_t n) {
#ifdef QUARRY_AVX2
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(row + j));
    float mx = hmax256(vmax);
    for (; j < n; j++) mx = std::max(mx, row[j]);
    const __m256 vm = _mm256_set1_ps(mx);
    __m256 vsum = _mm256_setzero_ps();
    j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(row + j), vm));
        _mm256_storeu_ps(row + j, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    float sum = hsum256(vsum);
#else
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; j++) mx = std::max(mx, row[j]);
    float sum = 0;
    int64_t j = 0;
#endif
    for (; j < n; j++) {
        row[j] = std::exp(row[j] - mx);
        sum += row[j];
    }
    return 1.0f / sum;
}

// One (sequence, head) pair: n real tokens, head size d.
void attend_one(const AttnArgs &a, int64_t b, int64_t h, const float *Q, const float *K, const float *V, float *O) {
    const int64_t n = a.len[b];
    const int64_t d = a.head_dim;
    const int64_t s0 = a.start[b];
    const float scale = a.scale;
    const int64_t rq = a.q_stride, rk = a.k_stride, rv = a.v_stride, ro = a.o_stride;
    const float *q0 = Q + s0 * rq + h * d;
    const float *k0 = K + s0 * rk + h * d;
    const float *v0 = V + s0 * rv + h * d;
    float *o0 = O + s0 * ro + h * d;

    Scratch &sc = scratch();
    const int64_t np = (n + 7) & ~int64_t(7);  // padded row length of S and K^T
    sc.kt.resize(d * np);
    // K^T: [d][np], zero-padded columns.
    for (int64_t k = 0; k < d; k++) {
        float *dst = sc.kt.data() + k * np;
        for (int64_t j = 0; j < n; j++) dst[j] = k0[j * rk + k];
        for (int64_t j = n; j < np; j++) dst[j] = 0.0f;
    }
    const float *kt = sc.kt.data();
    float *srow = sc.s.data();

    sc.s.resize(np * 2);
    srow = sc.s.data();
    float *srow2 = sc.s.data() + np;
#ifdef QUARRY_AVX2
    const __m256 vscale = _mm256_set1_ps(scale);
    // Rows are taken two at a time where possible: the K^T and V loads are
    // shared by both rows (half the loads per FMA).
    int64_t i = 0;
    if (d == 32) {
        for (; i + 2 <= n; i += 2) {
            const float *qa = q0 + i * rq, *qb = qa + rq;
            for (int64_t j0 = 0; j0 < np; j0 += 16) {
                const bool two = j0 + 16 <= np;
                __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
                for (int64_t k = 0; k < 32; k++) {
                    const float *kr = kt + k * np + j0;
                    const __m256 k0v = _mm256_loadu_ps(kr);
                    const __m256 k1v = two ? _mm256_loadu_ps(kr + 8) : _mm256_setzero_ps();
                    const __m256 x = _mm256_set1_ps(qa[k]), y = _mm256_set1_ps(qb[k]);
                    a0 = _mm256_fmadd_ps(x, k0v, a0);
                    a1 = _mm256_fmadd_ps(x, k1v, a1);
                    b0 = _mm256_fmadd_ps(y, k0v, b0);
                    b1 = _mm256_fmadd_ps(y, k1v, b1);
                }
                _mm256_storeu_ps(srow + j0, _mm256_mul_ps(a0, vscale));
                _mm256_storeu_ps(srow2 + j0, _mm256_mul_ps(b0, vscale));
                if (two) {
                    _mm256_storeu_ps(srow + j0 + 8, _mm256_mul_ps(a1, vscale));
                    _mm256_storeu_ps(srow2 + j0 + 8, _mm256_mul_ps(b1, vscale));
                }
            }
            const float inva = softmax_row(srow, n), invb = softmax_row(srow2, n);
            __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps(), c2 = _mm256_setzero_ps(), c3 = _mm256_setzero_ps();
            __m256 e0 = _mm256_setzero_ps(), e1 = _mm256_setzero_ps(), e2 = _mm256_setzero_ps(), e3 = _mm256_setzero_ps();
            for (int64_t jj = 0; jj < n; jj++) {
                const float *vj = v0 + jj * rv;
                const __m256 v0v = _mm256_loadu_ps(vj), v1v = _mm256_loadu_ps(vj + 8), v2v = _mm256_loadu_ps(vj + 16),
                             v3v = _mm256_loadu_ps(vj + 24);
                const __m256 pa = _mm256_set1_ps(srow[jj]), pb = _mm256_set1_ps(srow2[jj]);
                c0 = _mm256_fmadd_ps(pa, v0v, c0);
                c1 = _mm256_fmadd_ps(pa, v1v, c1);
                c2 = _mm256_fmadd_ps(pa, v2v, c2);
                c3 = _mm256_fmadd_ps(pa, v3v, c3);
                e0 = _mm256_fmadd_ps(pb, v0v, e0);
                e1 = _mm256_fmadd_ps(pb, v1v, e1);
                e2 = _mm256_fmadd_ps(pb, v2v, e2);
                e3 = _mm256_fmadd_ps(pb, v3v, e3);
            }
            float *oa = o0 + i * ro, *ob = oa + ro;
            const __m256 ia = _mm256_set1_ps(inva), ib = _mm256_set1_ps(invb);
            _mm256_storeu_ps(oa, _mm256_mul_ps(c0, ia));
            _mm256_storeu_ps(oa + 8, _mm256_mul_ps(c1, ia));
            _mm256_storeu_ps(oa + 16, _mm256_mul_ps(c2, ia));
            _mm256_storeu_ps(oa + 24, _mm256_mul_ps(c3, ia));
            _mm256_storeu_ps(ob, _mm256_mul_ps(e0, ib));
            _mm256_storeu_ps(ob + 8, _mm256_mul_ps(e1, ib));
            _mm256_storeu_ps(ob + 16, _mm256_mul_ps(e2, ib));
            _mm256_storeu_ps(ob + 24, _mm256_mul_ps(e3, ib));
        }
    }
    for (; i < n; i++) {
        const float *qi = q0 + i * rq;
        float *oi = o0 + i * ro;
        for (int64_t j0 = 0; j0 < np; j0 += 8) {
            __m256 acc = _mm256_setzero_ps();
            for (int64_t k = 0; k < d; k++) acc = _mm256_fmadd_ps(_mm256_set1_ps(qi[k]), _mm256_loadu_ps(kt + k * np + j0), acc);
            _mm256_storeu_ps(srow + j0, _mm256_mul_ps(acc, vscale));
        }
        const float inv = softmax_row(srow, n);
        if (d % 8 == 0) {
            for (int64_t v = 0; v < d; v += 8) {
                __m256 acc = _mm256_setzero_ps();
                for (int64_t jj = 0; jj < n; jj++) acc = _mm256_fmadd_ps(_mm256_set1_ps(srow[jj]), _mm256_loadu_ps(v0 + jj * rv + v), acc);
                _mm256_storeu_ps(oi + v, _mm256_mul_ps(acc, _mm256_set1_ps(inv)));
            }
            continue;
        }
        for (int64_t k = 0; k < d; k++) oi[k] = 0.0f;
        for (int64_t jj = 0; jj < n; jj++) {
            const float p = srow[jj];
            const float *vj = v0 + jj * rv;
            for (int64_t k = 0; k < d; k++) oi[k] += p * vj[k];
        }
        for (int64_t k = 0; k < d; k++) oi[k] *= inv;
    }
#else
    for (int64_t i = 0; i < n; i++) {
        const float *qi = q0 + i * rq;
        float *oi = o0 + i * ro;
        for (int64_t jj = 0; jj < n; jj++) {
            float acc = 0;
            for (int64_t k = 0; k < d; k++) acc += qi[k] * kt[k * np + jj];
            srow[jj] = acc * scale;
        }
        const float inv = softmax_row(srow, n);
        for (int64_t k = 0; k < d; k++) oi[k] = 0.0f;
        for (int64_t jj = 0; jj < n; jj++) {
            const float p = srow[jj];
            const float *vj = v0 + jj * rv;
            for (int64_t k = 0; k < d; k++) oi[k] += p * vj[k];
        }
        for (int64_t k = 0; k < d; k++) oi[k] *= inv;
    }
#endif
}

}  // namespace

void attention_op(ggml_tensor *dst, const ggml_tensor *q, const ggml_tensor *k, const ggml_tensor *v, int ith, int nth,
                  void *userdata) {
    AttnArgs a = *(const AttnArgs *)userdata;
    a.q_stride = q->nb[1] / sizeof(float);
    a.k_stride = k->nb[1] / sizeof(float);
    a.v_stride = v->nb[1] / sizeof(float);
    a.o_stride = dst->nb[1] / sizeof(float);
    const int64_t tasks = a.B * a.n_head;
    for (int64_t t = ith; t < tasks; t += nth) {
        const int64_t b = t / a.n_head, h = t % a.n_head;
        attend_one(a, b, h, (const float *)q->data, (const float *)k->data, (const float *)v->data, (float *)dst->data);
    }
}

void mean_pool_op(ggml_tensor *dst, int ith, int nth, void *userdata) {
    const PoolArgs &p = *(const PoolArgs *)userdata;
    const ggml_tensor *x = dst->src[0];
    const int64_t H = x->ne[0];
    for (int64_t b = ith; b < p.B; b += nth) {
        float *o = (float *)((char *)dst->data + b * dst->nb[1]);
        std::vector<double> acc(H, 0.0);
        for (int64_t t = p.start[b]; t < p.start[b] + p.len[b]; t++) {
            const float *r = (const float *)((const char *)x->data + t * x->nb[1]);
            for (int64_t j = 0; j < H; j++) acc[j] += r[j];
        }
        for (int64_t j = 0; j < H; j++) o[j] = (float)(acc[j] / p.len[b]);
    }
}

void add_norm_op(ggml_tensor *dst, int ith, int nth, void *userdata) {
    const NormArgs &na = *(const NormArgs *)userdata;
    const ggml_tensor *a = dst->src[0], *b = dst->src[1];
    const int64_t H = a->ne[0], rows = ggml_nrows(a);
    const int64_t per = (rows + nth - 1) / nth;
    const int64_t r0 = ith * per, r1 = std::min(rows, r0 + per);
    for (int64_t r = r0; r < r1; r++) {
        const float *x = (const float *)((const char *)a->data + r * a->nb[1]);
        const float *y = b ? (const float *)((const char *)b->data + r * b->nb[1]) : nullptr;
        float *o = (float *)((char *)dst->data + r * dst->nb[1]);
        double sum = 0;
        for (int64_t j = 0; j < H; j++) {
            const float v = y ? x[j] + y[j] : x[j];
            o[j] = v;
            sum += v;
        }
        const float mean = (float)(sum / H);
        double ss = 0;
        for (int64_t j = 0; j < H; j++) {
            const float c = o[j] - mean;
            o[j] = c;
            ss += (double)c * c;
        }
        const float inv = (float)(1.0 / std::sqrt(ss / H + na.eps));
        for (int64_t j = 0; j < H; j++) o[j] = o[j] * inv * na.w[j] + na.b[j];
    }
}

float gelu_erf(float x) { return 0.5f * x * (1.0f + erf_as(x * 0.70710678118654752f)); }

#ifdef QUARRY_AVX2
__m256 gelu256(__m256 xv) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), rs2 = _mm256_set1_ps(0.70710678118654752f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 z = _mm256_mul_ps(xv, rs2);
    const __m256 az = _mm256_andnot_ps(sign, z);
    const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), az, one));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    const __m256 e = exp256(_mm256_mul_ps(_mm256_xor_ps(az, sign), az));  // exp(-z^2)
    __m256 erf = _mm256_fnmadd_ps(p, e, one);                              // 1 - p*e
    erf = _mm256_or_ps(erf, _mm256_and_ps(z, sign));                        // copy sign of z
    return _mm256_mul_ps(_mm256_mul_ps(half, xv), _mm256_add_ps(one, erf));
}
#endif

void gelu_erf_op(ggml_tensor *dst, const ggml_tensor *a, int ith, int nth, void *) {
    const int64_t n0 = a->ne[0];
    const int64_t rows = ggml_nrows(a);
    const int64_t per = (rows + nth - 1) / nth;
    const int64_t r0 = ith * per, r1 = std::min(rows, r0 + per);
    for (int64_t r = r0; r < r1; r++) {
        const float *x = (const float *)((const char *)a->data + r * a->nb[1]);
        float *y = (float *)((char *)dst->data + r * dst->nb[1]);
        int64_t i = 0;
#ifdef QUARRY_AVX2
        for (; i + 8 <= n0; i += 8) _mm256_storeu_ps(y + i, gelu256(_mm256_loadu_ps(x + i)));
#endif
        for (; i < n0; i++) y[i] = gelu_erf(x[i]);
    }
}

namespace {
constexpr int64_t kDecoderBlock = 128;  // vocabulary rows per block: 128 x K floats stay in L2
constexpr int64_t kDecoderRows = 96;    // token rows per GEMM call (a multiple of kPackRows)
static_assert(kDecoderRows % kPackRows == 0, "decoder row chunks must start on packed tiles");

float *alloc_floats(size_t n) {
    void *p = nullptr;
    if (posix_memalign(&p, 64, std::max<size_t>(n, 1) * sizeof(float)) != 0) throw std::bad_alloc();
    memset(p, 0, std::max<size_t>(n, 1) * sizeof(float));
    return (float *)p;
}
}  // namespace

void pack_decoder(SparseDecoder &d, const ggml_tensor *tok_embd, const float *bias) {
    const int64_t K = tok_embd->ne[0], V = tok_embd->ne[1];
    d.V = V;
    d.K = K;
    d.block = kDecoderBlock;
    d.blocks.clear();
    const ggml_type_traits *tr = ggml_get_type_traits(tok_embd->type);
    std::vector<float> row(K);
    for (int64_t v0 = 0; v0 < V; v0 += d.block) {
        const int64_t nv = std::min(d.block, V - v0);
        auto pl = std::make_unique<PackedLinear>();
        pl->K = K;
        pl->N = (nv + 15) / 16 * 16;
        pl->w = alloc_floats((size_t)pl->N * K);
        pl->b = alloc_floats((size_t)pl->N);
        for (int64_t j = 0; j < nv; j++) {
            const char *src = (const char *)tok_embd->data + (v0 + j) * tok_embd->nb[1];
            if (tok_embd->type == GGML_TYPE_F32)
                memcpy(row.data(), src, K * sizeof(float));
            else
                tr->to_float(src, row.data(), K);
            // Panel layout of PackedLinear: N/16 panels of K x 16 floats.
            float *panel = pl->w + (j / 16) * K * 16;
            for (int64_t k = 0; k < K; k++) panel[k * 16 + j % 16] = row[k];
            pl->b[j] = bias ? bias[v0 + j] : 0.0f;
        }
        d.blocks.push_back(std::move(pl));
    }
}

void splade_pack_op(ggml_tensor *dst, int ith, int nth, void *) {
    const ggml_tensor *x = dst->src[0];
    const int64_t K = x->ne[0], T = x->ne[1];
    // Threads split the row tiles.
    const int64_t tiles = (T + kPackRows - 1) / kPackRows, per = (tiles + nth - 1) / nth;
    const int64_t r0 = std::min(T, ith * per * kPackRows), r1 = std::min(T, (ith + 1) * per * kPackRows);
    pack_rows((const float *)x->data, x->nb[1] / sizeof(float), T, K, r0, r1, (float *)dst->data);
}

void splade_pool_op(ggml_tensor *dst, int ith, int nth, void *userdata) {
    const SpladeArgs &a = *(const SpladeArgs *)userdata;
    const SparseDecoder &d = *a.dec;
    const ggml_tensor *x = dst->src[0];  // packed by splade_pack_op
    const int64_t T = x->ne[1];
    const float *XP = (const float *)x->data;
    static thread_local std::vector<float> y;
    const int64_t nblk = (int64_t)d.blocks.size();
    auto out_row = [&](int64_t b) { return (float *)((char *)dst->data + b * dst->nb[1]); };
    for (int64_t bi = ith; bi < nblk; bi += nth) {
        const PackedLinear &pl = *d.blocks[bi];
        const int64_t N = pl.N, v0 = bi * d.block, nv = std::min(d.block, d.V - v0);
        y.resize(kDecoderRows * N);
        // The output rows hold the running maxima of this block's columns.
        for (int64_t b = 0; b < a.B; b++) std::fill(out_row(b) + v0, out_row(b) + v0 + nv, -INFINITY);
        for (int64_t r0 = 0; r0 < T; r0 += kDecoderRows) {
            const int64_t rc = std::min(kDecoderRows, T - r0);
            pl.run_packed(XP, T, y.data(), N, r0, r0 + rc);
            for (int64_t r = 0; r < rc; r++) {
                const int32_t sq = a.row_seq[r0 + r];
                if (sq < 0) continue;
                float *o = out_row(sq) + v0;
                const float *yr = y.data() + r * N;
                // A NaN logit sticks (x != x), so the caller reports it.
                for (int64_t j = 0; j < nv; j++) o[j] = (yr[j] > o[j] || yr[j] != yr[j]) ? yr[j] : o[j];
            }
        }
        for (int64_t b = 0; b < a.B; b++) {
            float *o = out_row(b) + v0;
            for (int64_t j = 0; j < nv; j++) {
                const float m = o[j];
                // NaN stays NaN (reported by the caller); relu then log1p.
                float w = std::isnan(m) ? m : std::log1p(m > 0.0f ? m : 0.0f);
                if (a.activation == SPARSE_ACT_LOG1P_RELU) w = std::log1p(w);
                o[j] = w;
            }
        }
    }
}

}  // namespace quarry
