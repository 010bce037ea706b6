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
constexpr int64_t NC = 8;   // panels per L2 block

float *alloc_aligned(size_t n) {
    void *p = nullptr;
    if (posix_memalign(&p, 64, std::max<size_t>(n, 1) * sizeof(float)) != 0) throw std::bad_alloc();
    return (float *)p;
}

#ifdef QUARRY_GEMM_AVX2
// Y tile [mr × 16] at c (row stride ldc) = X rows [mr × K] (stride ldx) · panel + bias.
template <int M>
inline void kernel(const float *x, int64_t ldx, const float *panel, int64_t K, const float *bias, float *c, int64_t ldc) {
    __m256 acc[M][2];
    const __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8);
    for (int i = 0; i < M; i++) {
        acc[i][0] = b0;
        acc[i][1] = b1;
    }
    const float *p = panel;
    for (int64_t k = 0; k < K; k++, p += NR) {
        const __m256 w0 = _mm256_load_ps(p), w1 = _mm256_load_ps(p + 8);
        for (int i = 0; i < M; i++) {
            const __m256 a = _mm256_broadcast_ss(x + i * ldx + k);
            acc[i][0] = _mm256_fmadd_ps(a, w0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(a, w1, acc[i][1]);
        }
    }
    for (int i = 0; i < M; i++) {
        _mm256_storeu_ps(c + i * ldc, acc[i][0]);
        _mm256_storeu_ps(c + i * ldc + 8, acc[i][1]);
    }
}
#endif

template <int M>
inline void kernel_ref(const float *x, int64_t ldx, const float *panel, int64_t K, const float *bias, float *c, int64_t ldc) {
    float acc[M][NR];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < NR; j++) acc[i][j] = bias[j];
    for (int64_t k = 0; k < K; k++)
        for (int i = 0; i < M; i++) {
            const float a = x[i * ldx + k];
            for (int j = 0; j < NR; j++) acc[i][j] += a * panel[k * NR + j];
        }
    for (int i = 0; i < M; i++) memcpy(c + i * ldc, acc[i], NR * sizeof(float));
}

template <int M>
inline void tile(const float *x, int64_t ldx, const float *panel, int64_t K, const float *bias, float *c, int64_t ldc) {
#ifdef QUARRY_GEMM_AVX2
    kernel<M>(x, ldx, panel, K, bias, c, ldc);
#else
    kernel_ref<M>(x, ldx, panel, K, bias, c, ldc);
#endif
}

void tile_rows(int64_t m, const float *x, int64_t ldx, const float *panel, int64_t K, const float *bias, float *c,
               int64_t ldc) {
    switch (m) {
        case 6: tile<6>(x, ldx, panel, K, bias, c, ldc); break;
        case 5: tile<5>(x, ldx, panel, K, bias, c, ldc); break;
        case 4: tile<4>(x, ldx, panel, K, bias, c, ldc); break;
        case 3: tile<3>(x, ldx, panel, K, bias, c, ldc); break;
        case 2: tile<2>(x, ldx, panel, K, bias, c, ldc); break;
        case 1: tile<1>(x, ldx, panel, K, bias, c, ldc); break;
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
    const int64_t panels = N / NR;
    for (int64_t p0 = 0; p0 < panels; p0 += NC) {
        const int64_t p1 = std::min(panels, p0 + NC);
        for (int64_t t = t0; t < t1; t += MR) {
            const int64_t m = std::min(MR, t1 - t);
            for (int64_t p = p0; p < p1; p++)
                tile_rows(m, x + t * ldx, ldx, w + p * K * NR, K, b + p * NR, y + t * ldy + p * NR, ldy);
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
