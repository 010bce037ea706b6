// Internal declarations of the quarry native core. Not part of the C API.
#pragma once

#include "quarry.h"

#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "gguf.h"
#include "gemm.h"
#include "kernels.h"

#include <condition_variable>
#include <new>
#include <type_traits>
#include <cstdarg>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

struct llama_context;
struct llama_model;

namespace quarry {

// Error carries a message and a C API return code across internal calls; it
// never leaves the C API functions (they catch everything).
struct Error : std::runtime_error {
    int code;
    Error(int c, const std::string &m) : std::runtime_error(m), code(c) {}
};

[[noreturn]] void fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void write_err(char *err, size_t err_len, const char *msg);

// guarded runs the body of a C entry point: an exception becomes its code
// and message in the caller's buffer, so none crosses the C boundary. A body
// returning int gives the result; a void body gives QUARRY_OK.
template <class F>
int guarded(char *err, size_t err_len, F &&f) {
    try {
        if constexpr (std::is_void_v<std::invoke_result_t<F &>>) {
            f();
            return QUARRY_OK;
        } else {
            return f();
        }
    } catch (const Error &e) {
        write_err(err, err_len, e.what());
        return e.code;
    } catch (const std::bad_alloc &) {
        write_err(err, err_len, "out of memory");
        return QUARRY_ERR_COMPUTE;
    } catch (const std::exception &e) {
        write_err(err, err_len, e.what());
        return QUARRY_ERR_COMPUTE;
    } catch (...) {
        write_err(err, err_len, "unknown error");
        return QUARRY_ERR_COMPUTE;
    }
}

// Hyper-parameters of a BERT encoder, read from the GGUF.
struct Hparams {
    std::string arch;
    int32_t n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_ff = 0, n_ctx_train = 0, n_types = 0;
    int32_t n_cls_out = 0;
    int32_t pooling_file = -1; // pooling stored in the GGUF, -1 if absent
    std::string pooling_name;  // quarry.pooling ("splade"), "" if absent
    int32_t sparse_act = 0;    // SparseActivation of a SPLADE head (quarry.sparse.activation)
    float eps = 1e-12f;
};

struct Layer {
    ggml_tensor *wq = nullptr, *bq = nullptr, *wk = nullptr, *bk = nullptr, *wv = nullptr, *bv = nullptr;
    ggml_tensor *wqkv = nullptr, *bqkv = nullptr;
    ggml_tensor *wo = nullptr, *bo = nullptr;
    ggml_tensor *ln1_w = nullptr, *ln1_b = nullptr;
    ggml_tensor *up_w = nullptr, *up_b = nullptr, *down_w = nullptr, *down_b = nullptr;
    ggml_tensor *ln2_w = nullptr, *ln2_b = nullptr;
    // CPU: the dense layers packed for quarry's own GEMM (gemm.cpp); null when not packable.
    std::unique_ptr<PackedLinear> pq, pk, pv, po, pup, pdown;
};

// Host copies of a LayerNorm's parameters for the fused CPU kernel.
struct NormParams {
    std::vector<float> w, b;
    NormArgs args;  // points into w and b (set once they are final)
};

// Weights of the model, resident in one backend buffer.
struct Weights {
    ggml_context *ctx = nullptr;
    ggml_backend_buffer_t buf = nullptr;
    ggml_tensor *tok_embd = nullptr, *type_embd = nullptr, *pos_embd = nullptr;
    ggml_tensor *tok_norm_w = nullptr, *tok_norm_b = nullptr;
    std::vector<Layer> layers;
    std::vector<NormParams> ln1, ln2;  // per layer, for add_norm_op (CPU)
    NormParams tok_norm;
    ggml_tensor *cls_w = nullptr, *cls_b = nullptr, *cls_out_w = nullptr, *cls_out_b = nullptr;
    // SPLADE head (BERT's MLM head, stored as quarry.mlm.* f32 metadata arrays
    // so that llama.cpp, which refuses tensors it does not know, still loads
    // the file): transform dense + GELU + LayerNorm; the decoder is tok_embd.
    ggml_context *mlm_ctx = nullptr;
    ggml_backend_buffer_t mlm_buf = nullptr;
    ggml_tensor *mlm_dense_w = nullptr, *mlm_dense_b = nullptr, *mlm_norm_w = nullptr, *mlm_norm_b = nullptr;
    std::vector<float> mlm_bias;  // n_vocab decoder biases
    std::unique_ptr<PackedLinear> pmlm;  // the transform dense, packed (GELU fused) when possible
    NormParams mlm_norm;
    SparseDecoder decoder;  // packed tok_embd + mlm_bias, made when the model runs SPLADE pooling
    bool has_mlm() const { return mlm_dense_w != nullptr; }
    int32_t weight_type = 0;
    int64_t n_params = 0, n_tensors = 0, bytes = 0;
    ~Weights();
};

// One compute context: a backend instance (own thread pool) and a graph allocator.
struct Worker {
    ggml_backend_t backend = nullptr;
    ggml_gallocr_t galloc = nullptr;
    std::vector<uint8_t> meta; // memory for graph metadata (tensor structs, not data)
    // llama.cpp implementation
    ::llama_context *lctx = nullptr;
    ~Worker();
};

struct Model;

// Implementation interface: evaluates one batch of sequences.
struct Batch {
    const int32_t *ids, *types;
    const int32_t *start; // n+1 offsets (already truncated lengths are given by len)
    std::vector<int32_t> idx, len; // sequences of this batch (indices into the call) and their lengths
};

}  // namespace quarry

struct quarry_model {
    std::string path;
    quarry_model_params params{};
    quarry::Hparams hp;
    int32_t pooling = QUARRY_POOLING_MEAN;
    int32_t kind = QUARRY_KIND_BI_ENCODER;
    std::unique_ptr<quarry::Weights> w;

    // llama.cpp implementation
    ::llama_model *lmodel = nullptr;
    std::vector<float> tok_embd_f32;  // dequantized token embeddings (llama path input embeddings)
    std::vector<float> type_delta;    // n_types x n_embd: types[t] - types[0]

    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::unique_ptr<quarry::Worker>> workers;
    std::vector<quarry::Worker *> idle;

    ~quarry_model();
};

namespace quarry {

// Loads hyper-parameters and weights from the GGUF at m->path (graph path).
void load_graph_model(quarry_model *m);
// Prepares llama.cpp's model and token embeddings (llama path).
void load_llama_model(quarry_model *m);
void free_llama_model(quarry_model *m);

// Makes a worker for the model's implementation.
std::unique_ptr<Worker> make_worker(quarry_model *m);
std::unique_ptr<Worker> make_llama_worker(quarry_model *m);

// What a graph evaluation produces per sequence.
enum class Head { Embed, Rerank, Sparse };

// Caller-allocated outputs of a sparse (SPLADE) call: k (id, weight) slots per
// sequence, best first, and the number of slots used.
struct SparseOut {
    int32_t k = 0;
    int32_t *ids = nullptr;
    float *weights = nullptr;
    int32_t *count = nullptr;
};

// Runs the encoder over the sequences of one call and writes n_out floats per
// sequence: pooled embeddings (Embed) or logits (Rerank); or, for Sparse, the
// top-k SPLADE weights of each sequence into *sp.
void graph_run(quarry_model *m, Worker *wk, const int32_t *ids, const int32_t *types, const std::vector<int32_t> &start,
               const std::vector<int32_t> &len, Head head, float *out, const SparseOut *sp = nullptr);

// Packs the SPLADE head for the graph (the decoder is large: n_vocab x n_embd
// floats); called once the model's pooling is known to be SPLADE.
void prepare_sparse_head(quarry_model *m);
void llama_run(quarry_model *m, Worker *wk, const int32_t *ids, const int32_t *types, const std::vector<int32_t> &start,
               const std::vector<int32_t> &len, bool rerank, float *out);

// Whether an environment switch is set to something other than "" or "0".
inline bool env_on(const char *name) {
    const char *v = getenv(name);
    return v && *v && !(v[0] == '0' && v[1] == 0);
}

// Quiet ggml/llama logging unless QUARRY_LOG is set.
void init_logging();

}  // namespace quarry
