// Packed SGEMM for the encoder's dense layers on CPU: Y = X·Wᵀ + b with
// X [T tokens × K], W [N × K] (a PyTorch Linear weight = ggml's [K, N]).
//
// The weights are converted to f32 and packed once at load time into panels
// of 16 output features (K × 16 floats, contiguous), so the micro-kernel
// streams one panel while holding a 6 × 16 tile of Y in 12 AVX registers:
// per k it loads 2 vectors of W, broadcasts 6 values of X and issues 12
// FMAs — FMA-bound, the classic register blocking of BLIS/OpenBLAS. Blocks
// of 8 panels (128 features) stay in L2 while all token rows of a thread
// pass through. Threads split the token rows; there are no barriers inside.
// The bias is added in the same pass. f16 and q8_0 weights are packed as
// f32 too: quarry computes in f32 (no f16 rounding of activations).
#include "gemm.h"
#include "kernels.h"

#include <algorithm>
#include <cstring>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define QUARRY_GEMM_AVX2 1
#endif

namespace quarry {

namespace {
constexpr int64_t NR = 16;  // features per panel
constexpr int64_t MR = 6;   // token rows per tile
constexpr int64_t KC = 384; // K per chunk: one micro-panel (KC x 16 floats = 24 KB) stays in L1
constexpr int64_t MC = 144; // token rows per packed A block (MC x KC floats = 216 KB, in L2)

float *alloc_aligned(size_t n) {
    void *p = nullptr;
    if (posix_memalign(&p, 64, std::max<size_t>(n, 1) * sizeof(float)) != 0) throw std::bad_alloc();
    return (float *)p;
}

#ifdef QUARRY_GEMM_AVX2
// C tile [M × 16] (row stride ldc) (+)= packed A [kc][M] · panel [kc][16]; the first K chunk
// starts from the bias, later chunks accumulate onto C.
// Accumulators are named variables, not an array: GCC otherwise keeps an
// array of vectors on the stack and stores it on every iteration.
template <int M>
inline void kernel(const float *a, const float *panel, int64_t kc, const float *bias, bool first, bool gelu, float *c,
                   int64_t ldc) {
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
#define QLOAD(i, v0, v1)                                            \
    if constexpr (M > i) {                                          \
        v0 = first ? _mm256_loadu_ps(bias) : _mm256_loadu_ps(c + i * ldc);     \
        v1 = first ? _mm256_loadu_ps(bias + 8) : _mm256_loadu_ps(c + i * ldc + 8); \
    }
    QLOAD(0, c00, c01) QLOAD(1, c10, c11) QLOAD(2, c20, c21) QLOAD(3, c30, c31) QLOAD(4, c40, c41) QLOAD(5, c50, c51)
#undef QLOAD
    const float *p = panel;
    for (int64_t k = 0; k < kc; k++, p += NR, a += M) {
        const __m256 w0 = _mm256_load_ps(p), w1 = _mm256_load_ps(p + 8);
        __m256 x;
#define QFMA(i, v0, v1)                        \
    if constexpr (M > i) {                     \
        x = _mm256_broadcast_ss(a + i);        \
        v0 = _mm256_fmadd_ps(x, w0, v0);       \
        v1 = _mm256_fmadd_ps(x, w1, v1);       \
    }
        QFMA(0, c00, c01) QFMA(1, c10, c11) QFMA(2, c20, c21) QFMA(3, c30, c31) QFMA(4, c40, c41) QFMA(5, c50, c51)
#undef QFMA
    }
#define QSTORE(i, v0, v1)                                          \
    if constexpr (M > i) {                                         \
        _mm256_storeu_ps(c + i * ldc, gelu ? gelu256(v0) : v0);     \
        _mm256_storeu_ps(c + i * ldc + 8, gelu ? gelu256(v1) : v1); \
    }
    QSTORE(0, c00, c01) QSTORE(1, c10, c11) QSTORE(2, c20, c21) QSTORE(3, c30, c31) QSTORE(4, c40, c41) QSTORE(5, c50, c51)
#undef QSTORE
}
#endif

template <int M>
inline void kernel_ref(const float *a, const float *panel, int64_t kc, const float *bias, bool first, bool gelu, float *c,
                       int64_t ldc) {
    float acc[M][NR];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < NR; j++) acc[i][j] = first ? bias[j] : c[i * ldc + j];
    for (int64_t k = 0; k < kc; k++)
        for (int i = 0; i < M; i++) {
            const float x = a[k * M + i];
            for (int j = 0; j < NR; j++) acc[i][j] += x * panel[k * NR + j];
        }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < NR; j++) c[i * ldc + j] = gelu ? gelu_erf(acc[i][j]) : acc[i][j];
}

template <int M>
inline void tile(const float *a, const float *panel, int64_t kc, const float *bias, bool first, bool gelu, float *c,
                 int64_t ldc) {
#ifdef QUARRY_GEMM_AVX2
    kernel<M>(a, panel, kc, bias, first, gelu, c, ldc);
#else
    kernel_ref<M>(a, panel, kc, bias, first, gelu, c, ldc);
#endif
}

void tile_rows(int64_t m, const float *a, const float *panel, int64_t kc, const float *bias, bool first, bool gelu,
               float *c, int64_t ldc) {
    switch (m) {
        case 6: tile<6>(a, panel, kc, bias, first, gelu, c, ldc); break;
        case 5: tile<5>(a, panel, kc, bias, first, gelu, c, ldc); break;
        case 4: tile<4>(a, panel, kc, bias, first, gelu, c, ldc); break;
        case 3: tile<3>(a, panel, kc, bias, first, gelu, c, ldc); break;
        case 2: tile<2>(a, panel, kc, bias, first, gelu, c, ldc); break;
        case 1: tile<1>(a, panel, kc, bias, first, gelu, c, ldc); break;
    }
}

// Packs rows [t0, t0+mc) × columns [k0, k0+kc) of X into tiles of MR rows:
// tile r holds kc groups of m values (m = rows in the tile), k-major.
void pack_a(const float *x, int64_t ldx, int64_t t0, int64_t mc, int64_t k0, int64_t kc, float *dst) {
    for (int64_t r = 0; r < mc; r += MR) {
        const int64_t m = std::min(MR, mc - r);
        const float *src = x + (t0 + r) * ldx + k0;
        if (m == MR) {
            const float *s0 = src, *s1 = src + ldx, *s2 = src + 2 * ldx, *s3 = src + 3 * ldx, *s4 = src + 4 * ldx,
                        *s5 = src + 5 * ldx;
            for (int64_t k = 0; k < kc; k++, dst += MR) {
                dst[0] = s0[k];
                dst[1] = s1[k];
                dst[2] = s2[k];
                dst[3] = s3[k];
                dst[4] = s4[k];
                dst[5] = s5[k];
            }
            continue;
        }
        for (int64_t k = 0; k < kc; k++)
            for (int64_t i = 0; i < m; i++) *dst++ = src[i * ldx + k];
    }
}
}  // namespace

PackedLinear::~PackedLinear() { free(w); free(b); }

bool PackedLinear::supported(const ggml_tensor *weight) {
    if (weight->ne[1] % NR != 0 || weight->ne[2] != 1 || weight->ne[3] != 1) return false;
    if (weight->type == GGML_TYPE_F32) return true;
    const ggml_type_traits *tr = ggml_get_type_traits(weight->type);
    return tr && tr->to_float;
}

void PackedLinear::pack(const ggml_tensor *weight, const ggml_tensor *bias) {
    K = weight->ne[0];
    N = weight->ne[1];
    w = alloc_aligned((size_t)N * K);
    b = alloc_aligned((size_t)N);
    std::vector<float> row(K);
    const ggml_type_traits *tr = ggml_get_type_traits(weight->type);
    for (int64_t n = 0; n < N; n++) {
        const char *src = (const char *)weight->data + n * weight->nb[1];
        if (weight->type == GGML_TYPE_F32)
            memcpy(row.data(), src, K * sizeof(float));
        else
            tr->to_float(src, row.data(), K);
        float *panel = w + (n / NR) * K * NR;
        for (int64_t k = 0; k < K; k++) panel[k * NR + n % NR] = row[k];
    }
    for (int64_t n = 0; n < N; n++) b[n] = bias ? ((const float *)bias->data)[n] : 0.0f;
}

void PackedLinear::run(const float *x, int64_t ldx, float *y, int64_t ldy, int64_t t0, int64_t t1) const {
    static thread_local std::vector<float> abuf;
    abuf.resize(MC * KC);
    const int64_t panels = N / NR;
    // A is packed once per (K chunk, row block) and reused by every panel:
    // the packed block (MC x KC floats) stays in L2 while W streams past it.
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
        const int64_t kc = std::min(KC, K - k0);
        for (int64_t m0 = t0; m0 < t1; m0 += MC) {
            const int64_t mc = std::min(MC, t1 - m0);
            pack_a(x, ldx, m0, mc, k0, kc, abuf.data());
            for (int64_t p = 0; p < panels; p++) {
                const float *panel = w + p * K * NR + k0 * NR;
                for (int64_t r = 0; r < mc; r += MR) {
                    const int64_t m = std::min(MR, mc - r);
                    tile_rows(m, abuf.data() + r * kc, panel, kc, b + p * NR, k0 == 0, gelu && k0 + kc == K,
                              y + (m0 + r) * ldy + p * NR, ldy);
                }
            }
        }
    }
}

// Packed X: per K chunk (KC columns, the last one shorter) a region of T × kc
// floats at T·k0, holding the rows in tiles of MR as pack_a lays them out
// (tile r at r·kc).
static_assert(kPackRows == MR, "kPackRows is the micro-kernel's tile height");

void pack_rows(const float *x, int64_t ldx, int64_t T, int64_t K, int64_t r0, int64_t r1, float *dst) {
    if (r0 >= r1) return;
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
        const int64_t kc = std::min(KC, K - k0);
        pack_a(x, ldx, r0, r1 - r0, k0, kc, dst + T * k0 + r0 * kc);
    }
}

void PackedLinear::run_packed(const float *xp, int64_t T, float *y, int64_t ldy, int64_t t0, int64_t t1) const {
    const int64_t panels = N / NR;
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
        const int64_t kc = std::min(KC, K - k0);
        const float *chunk = xp + T * k0;
        for (int64_t p = 0; p < panels; p++) {
            const float *panel = w + p * K * NR + k0 * NR;
            for (int64_t r = t0; r < t1; r += MR) {
                const int64_t m = std::min(MR, T - r);
                tile_rows(m, chunk + r * kc, panel, kc, b + p * NR, k0 == 0, gelu && k0 + kc == K,
                          y + (r - t0) * ldy + p * NR, ldy);
            }
        }
    }
}

void linear_op(ggml_tensor *dst, int ith, int nth, void *userdata) {
    const PackedLinear *pl = (const PackedLinear *)userdata;
    const ggml_tensor *x = dst->src[0];
    const int64_t T = x->ne[1];
    // Split token rows in multiples of MR so tiles stay full.
    const int64_t tiles = (T + MR - 1) / MR;
    const int64_t per = (tiles + nth - 1) / nth;
    const int64_t t0 = std::min(T, ith * per * MR), t1 = std::min(T, (ith + 1) * per * MR);
    if (t0 >= t1) return;
    pl->run((const float *)x->data, x->nb[1] / sizeof(float), (float *)dst->data, dst->nb[1] / sizeof(float), t0, t1);
}

}  // namespace quarry
