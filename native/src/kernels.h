// CPU kernels run as ggml custom operators (see kernels.cpp).
#pragma once

#include "ggml.h"
#include "gemm.h"

#include <cstdint>
#include <memory>
#include <vector>

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

// The SPLADE decoder: vocabulary logits = tok_embd · h + bias (the MLM
// decoder, tied to the token embeddings), packed for the GEMM in blocks of
// `block` vocabulary rows (each block a PackedLinear of N = block outputs, the
// last one zero-padded to a multiple of 16).
struct SparseDecoder {
    int64_t V = 0, K = 0;
    int64_t block = 0;
    std::vector<std::unique_ptr<PackedLinear>> blocks;
    bool ready() const { return !blocks.empty(); }
};

// Packs tok_embd ([K, V] in ggml order: row v = the embedding of token v; any
// type ggml can convert to float) and bias (V floats) into d.
void pack_decoder(SparseDecoder &d, const ggml_tensor *tok_embd, const float *bias);

// SPLADE activations.
enum SparseActivation : int32_t {
    SPARSE_ACT_RELU = 0,       // log(1 + relu(x)) (sentence-transformers' "relu")
    SPARSE_ACT_LOG1P_RELU = 1, // log(1 + log(1 + relu(x))) ("log1p_relu")
};

// Arguments of splade_pool_op; must outlive the graph computation.
struct SpladeArgs {
    int64_t B = 0;
    const int32_t *row_seq = nullptr;  // per token row of src[0]: its sequence (0..B-1), or -1 (padding)
    const SparseDecoder *dec = nullptr;
    int32_t activation = SPARSE_ACT_RELU;
};

// dst [K, T] = src[0] [K, T] packed for PackedLinear::run_packed (pack_rows),
// once for all the decoder's vocabulary blocks. Threads split the rows.
void splade_pack_op(ggml_tensor *dst, int ith, int nth, void *userdata);

// dst[V, B] = for each sequence b and vocabulary entry v: act(max over the
// sequence's rows t of (tok_embd[v] · src[0][t] + bias[v])), src[0] [K, T]
// the MLM head's transformed hidden states, packed once by splade_pack_op
// (not again for each of the ~240 blocks). Fused: the logits are computed for
// one block of vocabulary rows and up to 96 token rows at a time (rows of
// consecutive sequences together, so short sequences still fill the GEMM's
// tiles) and reduced into each sequence's running maximum at once, so the
// V × T logit matrix never exists (act is monotonic, so it is applied to the
// maximum). Threads split the vocabulary blocks.
void splade_pool_op(ggml_tensor *dst, int ith, int nth, void *userdata);

}  // namespace quarry
