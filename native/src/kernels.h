// CPU kernels run as ggml custom operators (see kernels.cpp).
#pragma once

#include "ggml.h"

#include <cstdint>

namespace quarry {

// Arguments of attention_op; must outlive the graph computation.
struct AttnArgs {
    int64_t B = 0, n_head = 0, head_dim = 0;
    float scale = 1.0f;
    const int32_t *start = nullptr;  // B first token rows (sequences packed back to back, no padding)
    const int32_t *len = nullptr;    // B lengths
    // filled from the tensors by the op
    int64_t q_stride = 0, k_stride = 0, v_stride = 0, o_stride = 0;
};

// dst[H, T] = softmax(Q Kᵀ · scale) V per (sequence, head); Q, K, V are [H, T] with the
// sequences packed back to back.
void attention_op(ggml_tensor *dst, const ggml_tensor *q, const ggml_tensor *k, const ggml_tensor *v, int ith, int nth,
                  void *userdata);

// dst = LayerNorm(src[0] + src[1]) · w + b per row (src[1] may be absent);
// userdata is a NormArgs (weights on the host).
struct NormArgs {
    const float *w = nullptr, *b = nullptr;
    float eps = 1e-12f;
};
void add_norm_op(ggml_tensor *dst, int ith, int nth, void *userdata);

// dst[H, B] = mean of each sequence's rows of src[0] [H, T]; userdata is a PoolArgs.
struct PoolArgs {
    int64_t B = 0;
    const int32_t *start = nullptr, *len = nullptr;
};
void mean_pool_op(ggml_tensor *dst, int ith, int nth, void *userdata);

// Exact GELU 0.5·x·(1+erf(x/√2)) (erf to 1.5e-7), scalar and, with AVX2, 8 lanes.
float gelu_erf(float x);
#if defined(__AVX2__) && defined(__FMA__)
}  // namespace quarry
#include <immintrin.h>
namespace quarry {
__m256 gelu256(__m256 x);
#endif

// dst = 0.5·x·(1+erf(x/√2)).
void gelu_erf_op(ggml_tensor *dst, const ggml_tensor *a, int ith, int nth, void *userdata);

}  // namespace quarry
