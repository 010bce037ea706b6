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
};

// ggml custom op: dst [N, T] = Linear(src[0] [K, T]); userdata is the PackedLinear.
void linear_op(ggml_tensor *dst, int ith, int nth, void *userdata);

}  // namespace quarry
