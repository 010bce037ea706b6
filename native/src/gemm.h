// Packed SGEMM for dense layers on CPU (see gemm.cpp).
#pragma once

#include "ggml.h"

#include <cstdint>

namespace quarry {

// A Linear layer's weight (N outputs × K inputs) and bias, packed as f32
// panels of 16 outputs for the micro-kernel.
struct PackedLinear {
    int64_t N = 0, K = 0;
    float *w = nullptr;  // N/16 panels of K × 16 floats, 64-byte aligned
    float *b = nullptr;  // N floats (zeros when the layer has no bias)
    bool gelu = false;   // apply exact GELU to the output (fused epilogue)
    PackedLinear() = default;
    PackedLinear(const PackedLinear &) = delete;
    PackedLinear &operator=(const PackedLinear &) = delete;
    ~PackedLinear();
    // Whether a ggml weight tensor can be packed (N a multiple of 16, a type ggml can read as float).
    static bool supported(const ggml_tensor *weight);
    // Packs weight ([K, N] in ggml order) and bias ([N], F32, may be NULL); data must be on the host.
    void pack(const ggml_tensor *weight, const ggml_tensor *bias);
    // y[t, :] = x[t, :] · Wᵀ + b for token rows [t0, t1).
    void run(const float *x, int64_t ldx, float *y, int64_t ldy, int64_t t0, int64_t t1) const;
    // The same over an X packed once by pack_rows (T rows of K = this->K):
    // y[t − t0, :] for rows [t0, t1); t0 a multiple of kPackRows, t1 one too or T.
    // For several PackedLinears over the same X (the SPLADE decoder's blocks).
    void run_packed(const float *xp, int64_t T, float *y, int64_t ldy, int64_t t0, int64_t t1) const;
};

// Row granularity of pack_rows/run_packed (the micro-kernel's tile rows).
constexpr int64_t kPackRows = 6;

// Packs the tiles of rows [r0, r1) of X (T rows × K, row stride ldx; r0 a
// multiple of kPackRows, r1 one too or T) into dst (T × K floats in all), the
// layout run_packed reads.
void pack_rows(const float *x, int64_t ldx, int64_t T, int64_t K, int64_t r0, int64_t r1, float *dst);

// ggml custom op: dst [N, T] = Linear(src[0] [K, T]); userdata is the PackedLinear.
void linear_op(ggml_tensor *dst, int ith, int nth, void *userdata);

}  // namespace quarry
