// quarry's own BERT encoder graph on ggml.
//
// Why not llama_decode: llama.cpp attends every token of a call to every token
// in its KV cache and masks other sequences out afterwards, so a batch of many
// sequences costs attention over the square of all their tokens. Here the
// sequences of a batch are padded to one length L (they are sorted by length
// first, so padding is small), the dense layers run as one matmul over all
// B*L tokens, and attention is a batched matmul over [head_dim, L, heads, B]
// with a padding mask: PyTorch's shape of work with ggml's kernels. Token
// types, exact GELU and pooling (mean / CLS / last / rank head) are in the
// graph.
#include "internal.h"
#include "kernels.h"

#include "ggml-cpu.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <thread>

namespace quarry {

namespace {

constexpr int kMaxNodes = 8192;

struct GgufCloser {
    void operator()(gguf_context *g) const { gguf_free(g); }
};

int64_t key_int(gguf_context *g, const std::string &key, bool required, int64_t def = 0) {
    int64_t id = gguf_find_key(g, key.c_str());
    if (id < 0) {
        if (required) fail(QUARRY_ERR_ARG, "metadata key %s is missing", key.c_str());
        return def;
    }
    switch (gguf_get_kv_type(g, id)) {
        case GGUF_TYPE_UINT8: return gguf_get_val_u8(g, id);
        case GGUF_TYPE_INT8: return gguf_get_val_i8(g, id);
        case GGUF_TYPE_UINT16: return gguf_get_val_u16(g, id);
        case GGUF_TYPE_INT16: return gguf_get_val_i16(g, id);
        case GGUF_TYPE_UINT32: return gguf_get_val_u32(g, id);
        case GGUF_TYPE_INT32: return gguf_get_val_i32(g, id);
        case GGUF_TYPE_UINT64: return (int64_t)gguf_get_val_u64(g, id);
        case GGUF_TYPE_INT64: return gguf_get_val_i64(g, id);
        default: fail(QUARRY_ERR_ARG, "metadata key %s is not an integer", key.c_str());
    }
}

float key_float(gguf_context *g, const std::string &key, float def) {
    int64_t id = gguf_find_key(g, key.c_str());
    if (id < 0) return def;
    switch (gguf_get_kv_type(g, id)) {
        case GGUF_TYPE_FLOAT32: return gguf_get_val_f32(g, id);
        case GGUF_TYPE_FLOAT64: return (float)gguf_get_val_f64(g, id);
        default: fail(QUARRY_ERR_ARG, "metadata key %s is not a float", key.c_str());
    }
}

std::string shape_str(const ggml_tensor *t) {
    char b[96];
    snprintf(b, sizeof b, "[%lld, %lld, %lld, %lld]", (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
             (long long)t->ne[3]);
    return b;
}

ggml_tensor *get(ggml_context *ctx, const std::string &name, bool required, int64_t ne0, int64_t ne1 = 1) {
    ggml_tensor *t = ggml_get_tensor(ctx, name.c_str());
    if (!t) {
        if (required) fail(QUARRY_ERR_ARG, "tensor %s is missing", name.c_str());
        return nullptr;
    }
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1) {
        fail(QUARRY_ERR_ARG, "tensor %s has shape %s, want [%lld, %lld]", name.c_str(), shape_str(t).c_str(),
             (long long)ne0, (long long)ne1);
    }
    return t;
}

// A float32 array stored as metadata (quarry.mlm.*): its data and length, or
// nullptr when the key is absent.
const float *key_f32s(gguf_context *g, const std::string &key, int64_t want) {
    int64_t id = gguf_find_key(g, key.c_str());
    if (id < 0) return nullptr;
    if (gguf_get_kv_type(g, id) != GGUF_TYPE_ARRAY || gguf_get_arr_type(g, id) != GGUF_TYPE_FLOAT32)
        fail(QUARRY_ERR_ARG, "metadata key %s is not an array of float32", key.c_str());
    const int64_t n = (int64_t)gguf_get_arr_n(g, id);
    if (n != want) fail(QUARRY_ERR_ARG, "metadata key %s holds %lld values, want %lld", key.c_str(), (long long)n, (long long)want);
    const float *p = (const float *)gguf_get_arr_data(g, id);
    for (int64_t i = 0; i < n; i++)
        if (!std::isfinite(p[i])) fail(QUARRY_ERR_ARG, "metadata key %s holds the non-finite value %g at %lld", key.c_str(), p[i], (long long)i);
    return p;
}

std::string key_str(gguf_context *g, const std::string &key) {
    int64_t id = gguf_find_key(g, key.c_str());
    if (id < 0) return "";
    if (gguf_get_kv_type(g, id) != GGUF_TYPE_STRING) fail(QUARRY_ERR_ARG, "metadata key %s is not a string", key.c_str());
    return gguf_get_val_str(g, id);
}

}  // namespace

Weights::~Weights() {
    if (buf) ggml_backend_buffer_free(buf);
    if (ctx) ggml_free(ctx);
    if (mlm_buf) ggml_backend_buffer_free(mlm_buf);
    if (mlm_ctx) ggml_free(mlm_ctx);
}

void load_graph_model(quarry_model *m) {
    const char *path = m->path.c_str();
    FILE *fp = fopen(path, "rb");
    if (!fp) fail(QUARRY_ERR_ARG, "%s: cannot open: %s", path, strerror(errno));
    std::unique_ptr<FILE, int (*)(FILE *)> file(fp, fclose);
    char magic[4] = {0};
    if (fread(magic, 1, 4, fp) != 4 || memcmp(magic, "GGUF", 4) != 0) fail(QUARRY_ERR_ARG, "%s: not a GGUF file", path);
    fseeko(fp, 0, SEEK_END);
    const int64_t file_size = ftello(fp);

    auto w = std::make_unique<Weights>();
    gguf_init_params gp{};
    gp.no_alloc = true;
    gp.ctx = &w->ctx;
    std::unique_ptr<gguf_context, GgufCloser> g(gguf_init_from_file(path, gp));
    if (!g) fail(QUARRY_ERR_ARG, "%s: invalid or truncated GGUF file", path);

    Hparams &hp = m->hp;
    int64_t aid = gguf_find_key(g.get(), "general.architecture");
    if (aid < 0 || gguf_get_kv_type(g.get(), aid) != GGUF_TYPE_STRING)
        fail(QUARRY_ERR_ARG, "%s: general.architecture is missing", path);
    hp.arch = gguf_get_val_str(g.get(), aid);
    if (hp.arch != "bert")
        fail(QUARRY_ERR_ARG, "%s: architecture %s is not supported (quarry runs BERT encoders: bert)", path,
             hp.arch.c_str());
    const std::string a = hp.arch;
    hp.n_embd = (int32_t)key_int(g.get(), a + ".embedding_length", true);
    hp.n_layer = (int32_t)key_int(g.get(), a + ".block_count", true);
    hp.n_head = (int32_t)key_int(g.get(), a + ".attention.head_count", true);
    hp.n_ff = (int32_t)key_int(g.get(), a + ".feed_forward_length", true);
    hp.n_ctx_train = (int32_t)key_int(g.get(), a + ".context_length", true);
    hp.eps = key_float(g.get(), a + ".attention.layer_norm_epsilon", 1e-12f);
    hp.pooling_file = (int32_t)key_int(g.get(), a + ".pooling_type", false, -1);
    {
        int64_t id = gguf_find_key(g.get(), (a + ".attention.causal").c_str());
        if (id >= 0 && gguf_get_kv_type(g.get(), id) == GGUF_TYPE_BOOL && gguf_get_val_bool(g.get(), id))
            fail(QUARRY_ERR_ARG, "%s: causal attention is not a BERT encoder", path);
    }
    if (hp.n_embd <= 0 || hp.n_layer <= 0 || hp.n_head <= 0 || hp.n_ff <= 0 || hp.n_ctx_train <= 0 ||
        hp.n_embd > (1 << 16) || hp.n_layer > 1024 || hp.n_ff > (1 << 20) || hp.n_ctx_train > (1 << 20))
        fail(QUARRY_ERR_ARG, "%s: implausible hyper-parameters (embd %d, layers %d, heads %d, ff %d, ctx %d)", path,
             hp.n_embd, hp.n_layer, hp.n_head, hp.n_ff, hp.n_ctx_train);
    if (hp.n_embd % hp.n_head != 0)
        fail(QUARRY_ERR_ARG, "%s: %d heads do not divide the hidden size %d", path, hp.n_head, hp.n_embd);
    if (!(hp.eps > 0 && hp.eps < 1)) fail(QUARRY_ERR_ARG, "%s: layer_norm_epsilon %g is invalid", path, hp.eps);

    ggml_context *ctx = w->ctx;
    ggml_tensor *te = ggml_get_tensor(ctx, "token_embd.weight");
    if (!te) fail(QUARRY_ERR_ARG, "%s: tensor token_embd.weight is missing", path);
    hp.n_vocab = (int32_t)te->ne[1];
    const int64_t H = hp.n_embd;
    try {
        w->tok_embd = get(ctx, "token_embd.weight", true, H, hp.n_vocab);
        ggml_tensor *tt = ggml_get_tensor(ctx, "token_types.weight");
        hp.n_types = tt ? (int32_t)tt->ne[1] : 0;
        if (tt) w->type_embd = get(ctx, "token_types.weight", true, H, hp.n_types);
        w->pos_embd = get(ctx, "position_embd.weight", true, H, hp.n_ctx_train);
        w->tok_norm_w = get(ctx, "token_embd_norm.weight", true, H);
        w->tok_norm_b = get(ctx, "token_embd_norm.bias", true, H);
        w->layers.resize(hp.n_layer);
        for (int i = 0; i < hp.n_layer; i++) {
            Layer &l = w->layers[i];
            auto n = [i](const char *s) { return "blk." + std::to_string(i) + "." + s; };
            l.wqkv = get(ctx, n("attn_qkv.weight"), false, H, 3 * H);
            if (l.wqkv) {
                l.bqkv = get(ctx, n("attn_qkv.bias"), true, 3 * H);
            } else {
                l.wq = get(ctx, n("attn_q.weight"), true, H, H);
                l.bq = get(ctx, n("attn_q.bias"), true, H);
                l.wk = get(ctx, n("attn_k.weight"), true, H, H);
                l.bk = get(ctx, n("attn_k.bias"), true, H);
                l.wv = get(ctx, n("attn_v.weight"), true, H, H);
                l.bv = get(ctx, n("attn_v.bias"), true, H);
            }
            l.wo = get(ctx, n("attn_output.weight"), true, H, H);
            l.bo = get(ctx, n("attn_output.bias"), false, H);
            l.ln1_w = get(ctx, n("attn_output_norm.weight"), true, H);
            l.ln1_b = get(ctx, n("attn_output_norm.bias"), true, H);
            l.up_w = get(ctx, n("ffn_up.weight"), true, H, hp.n_ff);
            l.up_b = get(ctx, n("ffn_up.bias"), false, hp.n_ff);
            l.down_w = get(ctx, n("ffn_down.weight"), true, hp.n_ff, H);
            l.down_b = get(ctx, n("ffn_down.bias"), false, H);
            l.ln2_w = get(ctx, n("layer_output_norm.weight"), true, H);
            l.ln2_b = get(ctx, n("layer_output_norm.bias"), true, H);
        }
        w->cls_w = get(ctx, "cls.weight", false, H, H);
        if (w->cls_w) w->cls_b = get(ctx, "cls.bias", false, H);
        ggml_tensor *co = ggml_get_tensor(ctx, "cls.output.weight");
        if (co) {
            hp.n_cls_out = (int32_t)co->ne[1];
            w->cls_out_w = get(ctx, "cls.output.weight", true, H, hp.n_cls_out);
            w->cls_out_b = get(ctx, "cls.output.bias", false, hp.n_cls_out);
        }
        // SPLADE: quarry.pooling "splade" and the MLM head as f32 arrays.
        hp.pooling_name = key_str(g.get(), "quarry.pooling");
        if (!hp.pooling_name.empty() && hp.pooling_name != "splade")
            fail(QUARRY_ERR_ARG, "quarry.pooling %s is not supported (splade)", hp.pooling_name.c_str());
        const std::string act = key_str(g.get(), "quarry.sparse.activation");
        if (act.empty() || act == "relu")
            hp.sparse_act = SPARSE_ACT_RELU;
        else if (act == "log1p_relu")
            hp.sparse_act = SPARSE_ACT_LOG1P_RELU;
        else
            fail(QUARRY_ERR_ARG, "quarry.sparse.activation %s is not supported (relu or log1p_relu)", act.c_str());
        const float *dw = key_f32s(g.get(), "quarry.mlm.dense.weight", H * H);
        const float *db = key_f32s(g.get(), "quarry.mlm.dense.bias", H);
        const float *nw = key_f32s(g.get(), "quarry.mlm.norm.weight", H);
        const float *nb = key_f32s(g.get(), "quarry.mlm.norm.bias", H);
        const float *vb = key_f32s(g.get(), "quarry.mlm.bias", hp.n_vocab);
        const int n_head_keys = !!dw + !!db + !!nw + !!nb + !!vb;
        if (n_head_keys != 0 && n_head_keys != 5)
            fail(QUARRY_ERR_ARG, "the MLM head is incomplete: quarry.mlm.dense.weight, .dense.bias, .norm.weight, .norm.bias and quarry.mlm.bias go together");
        if (hp.pooling_name == "splade" && n_head_keys == 0)
            fail(QUARRY_ERR_ARG, "quarry.pooling is splade but the MLM head (quarry.mlm.*) is missing");
        if (n_head_keys == 5) {
            ggml_init_params ip{ggml_tensor_overhead() * 8, nullptr, true};
            w->mlm_ctx = ggml_init(ip);
            if (!w->mlm_ctx) fail(QUARRY_ERR_COMPUTE, "ggml_init failed");
            w->mlm_dense_w = ggml_new_tensor_2d(w->mlm_ctx, GGML_TYPE_F32, H, H);
            w->mlm_dense_b = ggml_new_tensor_1d(w->mlm_ctx, GGML_TYPE_F32, H);
            w->mlm_norm_w = ggml_new_tensor_1d(w->mlm_ctx, GGML_TYPE_F32, H);
            w->mlm_norm_b = ggml_new_tensor_1d(w->mlm_ctx, GGML_TYPE_F32, H);
            w->mlm_buf = ggml_backend_alloc_ctx_tensors_from_buft(w->mlm_ctx, ggml_backend_cpu_buffer_type());
            if (!w->mlm_buf) fail(QUARRY_ERR_COMPUTE, "cannot allocate the MLM head");
            // PyTorch's Linear weight [out, in] row-major is ggml's [in, out].
            memcpy(w->mlm_dense_w->data, dw, H * H * sizeof(float));
            memcpy(w->mlm_dense_b->data, db, H * sizeof(float));
            memcpy(w->mlm_norm_w->data, nw, H * sizeof(float));
            memcpy(w->mlm_norm_b->data, nb, H * sizeof(float));
            w->mlm_bias.assign(vb, vb + hp.n_vocab);
            w->mlm_norm.args.eps = hp.eps;
            w->mlm_norm.w.assign(nw, nw + H);
            w->mlm_norm.b.assign(nb, nb + H);
            w->n_params += H * H + 3 * H + hp.n_vocab;
            w->bytes += (H * H + 3 * H + hp.n_vocab) * (int64_t)sizeof(float);
        }
    } catch (const Error &e) {
        fail(e.code, "%s: %s", path, e.what());
    }
    // Norm weights and biases are used by ggml_add/ggml_mul, which need F32 here.
    for (ggml_tensor *t = ggml_get_first_tensor(ctx); t; t = ggml_get_next_tensor(ctx, t)) {
        const std::string nm = t->name;
        const bool vec = nm.size() > 5 && (nm.compare(nm.size() - 5, 5, ".bias") == 0 || nm.find("norm.weight") != std::string::npos);
        if (vec && t->type != GGML_TYPE_F32)
            fail(QUARRY_ERR_ARG, "%s: tensor %s is %s; norms and biases must be F32", path, t->name, ggml_type_name(t->type));
        // Every other weight is read as floats (get_rows, mul_mat, the packed GEMM): an integer or
        // F64 tensor would reach a ggml op that aborts on it ("binary_op: unsupported types").
        const ggml_type_traits *tr = ggml_get_type_traits(t->type);
        const bool floats = t->type == GGML_TYPE_F32 || t->type == GGML_TYPE_F16 || t->type == GGML_TYPE_BF16 ||
                            (ggml_is_quantized(t->type) && tr && tr->to_float);
        if (!floats)
            fail(QUARRY_ERR_ARG, "%s: tensor %s is %s; weights must be F32, F16, BF16 or a quantized type", path, t->name,
                 ggml_type_name(t->type));
    }
    w->weight_type = w->layers[0].wo->type;

    // Allocate every tensor in one CPU buffer and read the data section.
    w->buf = ggml_backend_alloc_ctx_tensors_from_buft(ctx, ggml_backend_cpu_buffer_type());
    if (!w->buf) fail(QUARRY_ERR_COMPUTE, "%s: cannot allocate the weights", path);
    ggml_backend_buffer_set_usage(w->buf, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    const int64_t data_off = (int64_t)gguf_get_data_offset(g.get());
    const int64_t n_t = gguf_get_n_tensors(g.get());
    for (int64_t i = 0; i < n_t; i++) {
        const char *name = gguf_get_tensor_name(g.get(), i);
        ggml_tensor *t = ggml_get_tensor(ctx, name);
        const int64_t off = data_off + (int64_t)gguf_get_tensor_offset(g.get(), i);
        const int64_t nb = (int64_t)ggml_nbytes(t);
        if (off < 0 || off + nb > file_size)
            fail(QUARRY_ERR_ARG, "%s: data of tensor %s ends at byte %lld beyond the file's %lld (truncated)", path,
                 name, (long long)(off + nb), (long long)file_size);
        if (fseeko(fp, off, SEEK_SET) != 0 || fread(t->data, 1, nb, fp) != (size_t)nb)
            fail(QUARRY_ERR_ARG, "%s: cannot read tensor %s", path, name);
        w->n_params += ggml_nelements(t);
        w->bytes += nb;
        w->n_tensors++;
    }
    // Host copies of the LayerNorm parameters for the fused add+norm kernel.
    auto norm = [&](ggml_tensor *wt, ggml_tensor *bt) {
        NormParams np;
        np.args.eps = hp.eps;
        np.w.assign((const float *)wt->data, (const float *)wt->data + wt->ne[0]);
        np.b.assign((const float *)bt->data, (const float *)bt->data + bt->ne[0]);
        return np;
    };
    w->tok_norm = norm(w->tok_norm_w, w->tok_norm_b);
    for (Layer &l : w->layers) {
        w->ln1.push_back(norm(l.ln1_w, l.ln1_b));
        w->ln2.push_back(norm(l.ln2_w, l.ln2_b));
    }
    for (NormParams *np : {&w->tok_norm, &w->mlm_norm}) np->args.w = np->w.data(), np->args.b = np->b.data();
    for (auto *v : {&w->ln1, &w->ln2})
        for (NormParams &np : *v) np.args.w = np.w.data(), np.args.b = np.b.data();
    // Pack the dense layers for the CPU GEMM (QUARRY_GGML_MATMUL=1 keeps ggml's mul_mat).
    if (!env_on("QUARRY_GGML_MATMUL")) {
        auto pack = [](ggml_tensor *wt, ggml_tensor *bt) -> std::unique_ptr<PackedLinear> {
            if (!wt || !PackedLinear::supported(wt)) return nullptr;
            auto p = std::make_unique<PackedLinear>();
            p->pack(wt, bt);
            return p;
        };
        for (Layer &l : w->layers) {
            if (!l.wqkv) {
                l.pq = pack(l.wq, l.bq);
                l.pk = pack(l.wk, l.bk);
                l.pv = pack(l.wv, l.bv);
            }
            l.po = pack(l.wo, l.bo);
            l.pup = pack(l.up_w, l.up_b);
            if (l.pup && m->params.gelu == QUARRY_GELU_ERF) l.pup->gelu = true;  // GELU fused into the GEMM
            l.pdown = pack(l.down_w, l.down_b);
        }
    }
    m->w = std::move(w);
}

void prepare_sparse_head(quarry_model *m) {
    Weights &w = *m->w;
    if (!w.has_mlm()) fail(QUARRY_ERR_ARG, "%s: SPLADE pooling needs the MLM head (quarry.mlm.*)", m->path.c_str());
    if (w.decoder.ready()) return;
    if (!env_on("QUARRY_GGML_MATMUL") && PackedLinear::supported(w.mlm_dense_w)) {
        w.pmlm = std::make_unique<PackedLinear>();
        w.pmlm->pack(w.mlm_dense_w, w.mlm_dense_b);
        if (m->params.gelu == QUARRY_GELU_ERF) w.pmlm->gelu = true;
    }
    const ggml_type_traits *tr = ggml_get_type_traits(w.tok_embd->type);
    if (w.tok_embd->type != GGML_TYPE_F32 && (!tr || !tr->to_float))
        fail(QUARRY_ERR_ARG, "%s: token embeddings of type %s cannot be used as the SPLADE decoder", m->path.c_str(),
             ggml_type_name(w.tok_embd->type));
    pack_decoder(w.decoder, w.tok_embd, w.mlm_bias.data());
}

std::unique_ptr<Worker> make_worker(quarry_model *m) {
    auto wk = std::make_unique<Worker>();
    wk->backend = ggml_backend_cpu_init();
    if (!wk->backend) fail(QUARRY_ERR_COMPUTE, "cannot initialise the CPU backend");
    ggml_backend_cpu_set_n_threads(wk->backend, m->params.n_threads);
    wk->galloc = ggml_gallocr_new(ggml_backend_get_default_buffer_type(wk->backend));
    if (!wk->galloc) fail(QUARRY_ERR_COMPUTE, "cannot create the graph allocator");
    wk->meta.resize(ggml_tensor_overhead() * kMaxNodes + ggml_graph_overhead_custom(kMaxNodes, false));
    return wk;
}

namespace {

struct GraphInputs {
    ggml_tensor *ids, *types, *pos, *mask, *pool, *rows;
};

// How the sequences of one graph evaluation are laid out.
//  packed (CPU kernels): the T real tokens back to back, no padding; attention
//    and pooling kernels take each sequence's start and length.
//  padded (ggml ops):   B sequences padded to L tokens; attention is a batched
//    matmul over [head_dim, L, heads, B] with a padding mask.
struct Layout {
    bool packed = true;
    int64_t B = 0, L = 0, T = 0;
    AttnArgs *attn = nullptr;
    PoolArgs *pool = nullptr;
    SpladeArgs *splade = nullptr;
};

const std::unique_ptr<PackedLinear> &nullptr_packed() {
    static const std::unique_ptr<PackedLinear> none;
    return none;
}

ggml_tensor *layer_norm(ggml_context *ctx, ggml_tensor *x, ggml_tensor *w, ggml_tensor *b, float eps) {
    x = ggml_norm(ctx, x, eps);
    x = ggml_mul(ctx, x, w);
    return ggml_add(ctx, x, b);
}

// LayerNorm(a + b) in one pass (own CPU kernel).
ggml_tensor *add_norm(ggml_context *ctx, ggml_tensor *a, ggml_tensor *b, const NormParams *np) {
    ggml_tensor *args[2] = {a, b};
    return ggml_custom_4d(ctx, GGML_TYPE_F32, a->ne[0], a->ne[1], 1, 1, args, b ? 2 : 1, add_norm_op, GGML_N_TASKS_MAX,
                          (void *)&np->args);
}

ggml_tensor *linear(ggml_context *ctx, ggml_tensor *x, ggml_tensor *w, ggml_tensor *b,
                    const std::unique_ptr<PackedLinear> &packed = nullptr_packed()) {
    if (packed) {
        ggml_tensor *args[1] = {x};
        return ggml_custom_4d(ctx, GGML_TYPE_F32, packed->N, x->ne[1], 1, 1, args, 1, linear_op, GGML_N_TASKS_MAX,
                              packed.get());
    }
    x = ggml_mul_mat(ctx, w, x);
    return b ? ggml_add(ctx, x, b) : x;
}

// Builds the encoder. Returns [n_embd, B] pooled embeddings, [n_cls_out, B]
// logits or [n_vocab, B] SPLADE weights.
ggml_tensor *build(quarry_model *m, ggml_context *ctx, ggml_cgraph *gf, const Layout &lay, Head head,
                   GraphInputs &in) {
    const Hparams &hp = m->hp;
    const Weights &w = *m->w;
    const int64_t H = hp.n_embd, NH = hp.n_head, HD = H / NH, T = lay.T, B = lay.B, L = lay.L;
    const bool tanh_gelu = m->params.gelu == QUARRY_GELU_TANH;
    const bool custom = lay.packed;  // own CPU kernels

    in = GraphInputs{};
    in.ids = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, T);
    ggml_set_input(in.ids);
    in.pos = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, custom ? T : L);
    ggml_set_input(in.pos);
    if (!custom) {
        in.mask = ggml_new_tensor_4d(ctx, GGML_TYPE_F32, L, L, 1, B);
        ggml_set_input(in.mask);
    }

    ggml_tensor *x = ggml_get_rows(ctx, w.tok_embd, in.ids);  // [H, T]
    if (w.type_embd) {
        in.types = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, T);
        ggml_set_input(in.types);
        x = ggml_add(ctx, x, ggml_get_rows(ctx, w.type_embd, in.types));
    }
    if (custom) {
        x = ggml_add(ctx, x, ggml_get_rows(ctx, w.pos_embd, in.pos));
    } else {
        x = ggml_reshape_3d(ctx, x, H, L, B);
        x = ggml_add(ctx, x, ggml_get_rows(ctx, w.pos_embd, in.pos));  // positions broadcast over sequences
        x = ggml_reshape_2d(ctx, x, H, T);
    }
    x = custom ? add_norm(ctx, x, nullptr, &w.tok_norm) : layer_norm(ctx, x, w.tok_norm_w, w.tok_norm_b, hp.eps);

    const float scale = 1.0f / sqrtf((float)HD);
    for (int il = 0; il < hp.n_layer; il++) {
        const Layer &l = w.layers[il];
        ggml_tensor *q, *k, *v;
        if (l.wqkv) {
            ggml_tensor *qkv = linear(ctx, x, l.wqkv, l.bqkv);  // [3H, T]
            q = ggml_view_2d(ctx, qkv, H, T, qkv->nb[1], 0);
            k = ggml_view_2d(ctx, qkv, H, T, qkv->nb[1], H * ggml_element_size(qkv));
            v = ggml_view_2d(ctx, qkv, H, T, qkv->nb[1], 2 * H * ggml_element_size(qkv));
            if (!custom) {
                q = ggml_cont(ctx, q);
                k = ggml_cont(ctx, k);
                v = ggml_cont(ctx, v);
            }
        } else {
            q = linear(ctx, x, l.wq, l.bq, custom ? l.pq : nullptr_packed());
            k = linear(ctx, x, l.wk, l.bk, custom ? l.pk : nullptr_packed());
            v = linear(ctx, x, l.wv, l.bv, custom ? l.pv : nullptr_packed());
        }
        ggml_tensor *attn;
        if (custom) {
            attn = ggml_map_custom3(ctx, q, k, v, attention_op, GGML_N_TASKS_MAX, lay.attn);
        } else {
            // [HD, NH, L, B] -> [HD, L, NH, B], contiguous for the batched matmul
            q = ggml_cont(ctx, ggml_permute(ctx, ggml_reshape_4d(ctx, q, HD, NH, L, B), 0, 2, 1, 3));
            k = ggml_cont(ctx, ggml_permute(ctx, ggml_reshape_4d(ctx, k, HD, NH, L, B), 0, 2, 1, 3));
            // V transposed per head: [L, HD, NH, B]
            v = ggml_cont(ctx, ggml_permute(ctx, ggml_reshape_4d(ctx, v, HD, NH, L, B), 1, 2, 0, 3));
            ggml_tensor *kq = ggml_mul_mat(ctx, k, q);  // [L_k, L_q, NH, B]
            kq = ggml_soft_max_ext(ctx, kq, in.mask, scale, 0.0f);
            ggml_tensor *kqv = ggml_mul_mat(ctx, v, kq);               // [HD, L_q, NH, B]
            kqv = ggml_cont(ctx, ggml_permute(ctx, kqv, 0, 2, 1, 3));  // [HD, NH, L, B]
            attn = ggml_reshape_2d(ctx, kqv, H, T);
        }

        attn = linear(ctx, attn, l.wo, l.bo, custom ? l.po : nullptr_packed());
        x = custom ? add_norm(ctx, attn, x, &w.ln1[il]) : layer_norm(ctx, ggml_add(ctx, attn, x), l.ln1_w, l.ln1_b, hp.eps);

        ggml_tensor *ff = linear(ctx, x, l.up_w, l.up_b, custom ? l.pup : nullptr_packed());
        if (custom && l.pup && l.pup->gelu) {
            // already applied by the GEMM's epilogue
        } else if (tanh_gelu)
            ff = ggml_gelu(ctx, ff);
        else
            ff = custom ? ggml_map_custom1(ctx, ff, gelu_erf_op, GGML_N_TASKS_MAX, nullptr) : ggml_gelu_erf(ctx, ff);
        ff = linear(ctx, ff, l.down_w, l.down_b, custom ? l.pdown : nullptr_packed());
        x = custom ? add_norm(ctx, ff, x, &w.ln2[il]) : layer_norm(ctx, ggml_add(ctx, ff, x), l.ln2_w, l.ln2_b, hp.eps);
    }

    ggml_tensor *out = nullptr;
    const int pooling = head == Head::Rerank ? QUARRY_POOLING_RANK : m->pooling;
    if (head == Head::Sparse) {
        // MLM head transform: dense, GELU, LayerNorm; then the fused
        // decoder + log(1+relu) + max over each sequence's tokens.
        ggml_tensor *h = linear(ctx, x, w.mlm_dense_w, w.mlm_dense_b, custom ? w.pmlm : nullptr_packed());
        if (custom && w.pmlm && w.pmlm->gelu) {
            // GELU applied by the GEMM's epilogue
        } else if (tanh_gelu)
            h = ggml_gelu(ctx, h);
        else
            h = custom ? ggml_map_custom1(ctx, h, gelu_erf_op, GGML_N_TASKS_MAX, nullptr) : ggml_gelu_erf(ctx, h);
        h = custom ? add_norm(ctx, h, nullptr, &w.mlm_norm) : layer_norm(ctx, h, w.mlm_norm_w, w.mlm_norm_b, hp.eps);
        ggml_tensor *hargs[1] = {h};
        ggml_tensor *hp_packed = ggml_custom_4d(ctx, GGML_TYPE_F32, h->ne[0], h->ne[1], 1, 1, hargs, 1, splade_pack_op,
                                                GGML_N_TASKS_MAX, nullptr);
        ggml_tensor *args[1] = {hp_packed};
        out = ggml_custom_4d(ctx, GGML_TYPE_F32, hp.n_vocab, B, 1, 1, args, 1, splade_pool_op, GGML_N_TASKS_MAX, lay.splade);
    } else if (pooling == QUARRY_POOLING_MEAN) {
        if (custom) {
            ggml_tensor *args[1] = {x};
            out = ggml_custom_4d(ctx, GGML_TYPE_F32, H, B, 1, 1, args, 1, mean_pool_op, GGML_N_TASKS_MAX, lay.pool);
        } else {
            in.pool = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, L, 1, B);
            ggml_set_input(in.pool);
            ggml_tensor *xt = ggml_cont(ctx, ggml_permute(ctx, ggml_reshape_3d(ctx, x, H, L, B), 1, 0, 2, 3));  // [L, H, B]
            out = ggml_mul_mat(ctx, xt, in.pool);  // [H, 1, B]
            out = ggml_reshape_2d(ctx, out, H, B);
        }
    } else {
        // CLS, LAST and RANK take one row per sequence.
        in.rows = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, B);
        ggml_set_input(in.rows);
        out = ggml_get_rows(ctx, x, in.rows);  // [H, B]
        if (pooling == QUARRY_POOLING_RANK) {
            if (w.cls_w) out = ggml_tanh(ctx, linear(ctx, out, w.cls_w, w.cls_b));
            out = linear(ctx, out, w.cls_out_w, w.cls_out_b);  // [n_cls_out, B]
        }
    }
    ggml_set_output(out);
    ggml_build_forward_expand(gf, out);
    return out;
}

}  // namespace

namespace {

// Writes the k best (weight > 0) entries of a SPLADE row, best first (ties:
// lower id first).
void top_sparse(const float *row, int64_t V, const SparseOut &sp, int64_t seq, std::vector<std::pair<float, int32_t>> &buf) {
    buf.clear();
    for (int64_t v = 0; v < V; v++) {
        const float x = row[v];
        if (!std::isfinite(x)) fail(QUARRY_ERR_COMPUTE, "sequence %lld: the model produced a non-finite value", (long long)seq);
        if (x > 0.0f) buf.emplace_back(x, (int32_t)v);
    }
    auto better = [](const std::pair<float, int32_t> &a, const std::pair<float, int32_t> &b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    const int64_t k = std::min<int64_t>(sp.k, (int64_t)buf.size());
    if ((int64_t)buf.size() > k) std::nth_element(buf.begin(), buf.begin() + k, buf.end(), better);
    std::sort(buf.begin(), buf.begin() + k, better);
    int32_t *oi = sp.ids + seq * sp.k;
    float *ow = sp.weights + seq * sp.k;
    for (int64_t j = 0; j < sp.k; j++) {
        oi[j] = j < k ? buf[j].second : -1;
        ow[j] = j < k ? buf[j].first : 0.0f;
    }
    sp.count[seq] = (int32_t)k;
}

}  // namespace

void graph_run(quarry_model *m, Worker *wk, const int32_t *ids, const int32_t *types, const std::vector<int32_t> &start,
               const std::vector<int32_t> &len, Head head, float *out, const SparseOut *sp) {
    const int32_t n = (int32_t)len.size();
    const bool rerank = head == Head::Rerank, sparse = head == Head::Sparse;
    const int64_t n_out = rerank ? m->hp.n_cls_out : sparse ? m->hp.n_vocab : m->hp.n_embd;
    const int pooling = rerank ? QUARRY_POOLING_RANK : m->pooling;
    // SPLADE outputs n_vocab floats per sequence: bound the sequences per
    // evaluation so that output stays below 64 MB.
    const int64_t max_seqs = sparse ? std::max<int64_t>(1, (int64_t(1) << 24) / std::max<int64_t>(1, n_out)) : INT32_MAX;
    std::vector<std::pair<float, int32_t>> topbuf;
    // CPU: own kernels over packed sequences; QUARRY_GGML_ATTN=1: ggml ops over padded ones.
    static const bool padded = env_on("QUARRY_GGML_ATTN");
    std::vector<int32_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return len[a] > len[b]; });

    const int64_t budget = m->params.max_batch_tokens;
    std::vector<int32_t> in_ids, in_types, in_pos, in_rows, seq_start, seq_len, row_seq;
    std::vector<float> in_mask, in_pool, res;
    for (int32_t i = 0; i < n;) {
        Layout lay;
        lay.packed = !padded;
        lay.L = len[order[i]];  // the longest of the batch (sorted descending)
        int64_t B = 0, T = 0;
        if (lay.packed) {
            while (i + B < n && B < max_seqs && (B == 0 || T + len[order[i + B]] <= budget)) T += len[order[i + B++]];
        } else {
            B = std::min<int64_t>(std::min<int64_t>(std::max<int64_t>(1, budget / lay.L), n - i), max_seqs);
            T = B * lay.L;
        }
        lay.B = B;
        lay.T = T;
        const int64_t L = lay.L;

        in_ids.assign(T, 0);
        in_types.assign(T, 0);
        in_pos.assign(lay.packed ? T : L, 0);
        in_rows.assign(B, 0);
        seq_start.resize(B);
        seq_len.resize(B);
        if (!lay.packed) {
            for (int64_t p = 0; p < L; p++) in_pos[p] = (int32_t)p;
            in_mask.assign(L * L * B, -INFINITY);
            if (pooling == QUARRY_POOLING_MEAN) in_pool.assign(L * B, 0.0f);
        }
        int64_t off = 0;
        for (int64_t b = 0; b < B; b++) {
            const int32_t s = order[i + b];
            const int32_t ln = len[s];
            const int64_t row0 = lay.packed ? off : b * L;
            const int32_t *sid = ids + start[s];
            const int32_t *sty = types ? types + start[s] : nullptr;
            for (int32_t t = 0; t < ln; t++) {
                in_ids[row0 + t] = sid[t];
                in_types[row0 + t] = sty ? sty[t] : 0;
                if (lay.packed) in_pos[row0 + t] = t;
            }
            seq_start[b] = (int32_t)row0;
            seq_len[b] = ln;
            if (!lay.packed) {
                float *mk = in_mask.data() + b * L * L;
                for (int64_t qi = 0; qi < L; qi++) std::fill(mk + qi * L, mk + qi * L + ln, 0.0f);
                if (pooling == QUARRY_POOLING_MEAN)
                    std::fill(in_pool.data() + b * L, in_pool.data() + b * L + ln, 1.0f / (float)ln);
            }
            in_rows[b] = (int32_t)(row0 + (pooling == QUARRY_POOLING_LAST ? ln - 1 : 0));
            off += ln;
        }
        AttnArgs attn;
        attn.B = B;
        attn.n_head = m->hp.n_head;
        attn.head_dim = m->hp.n_embd / m->hp.n_head;
        attn.scale = 1.0f / sqrtf((float)attn.head_dim);
        attn.start = seq_start.data();
        attn.len = seq_len.data();
        PoolArgs pool;
        pool.B = B;
        pool.start = seq_start.data();
        pool.len = seq_len.data();
        SpladeArgs splade;
        if (sparse) {
            row_seq.assign(T, -1);
            for (int64_t b = 0; b < B; b++)
                std::fill(row_seq.begin() + seq_start[b], row_seq.begin() + seq_start[b] + seq_len[b], (int32_t)b);
        }
        splade.B = B;
        splade.row_seq = row_seq.data();
        splade.dec = &m->w->decoder;
        splade.activation = m->hp.sparse_act;
        lay.attn = &attn;
        lay.pool = &pool;
        lay.splade = &splade;

        ggml_init_params ip{wk->meta.size(), wk->meta.data(), true};
        ggml_context *ctx = ggml_init(ip);
        if (!ctx) fail(QUARRY_ERR_COMPUTE, "ggml_init failed");
        std::unique_ptr<ggml_context, void (*)(ggml_context *)> ctx_guard(ctx, ggml_free);
        ggml_cgraph *gf = ggml_new_graph_custom(ctx, kMaxNodes, false);
        GraphInputs gin{};
        ggml_tensor *o = build(m, ctx, gf, lay, head, gin);
        if (!ggml_gallocr_alloc_graph(wk->galloc, gf))
            fail(QUARRY_ERR_COMPUTE, "cannot allocate the compute graph for %lld sequences, %lld tokens", (long long)B,
                 (long long)T);
        ggml_backend_tensor_set(gin.ids, in_ids.data(), 0, T * sizeof(int32_t));
        if (gin.types) ggml_backend_tensor_set(gin.types, in_types.data(), 0, T * sizeof(int32_t));
        ggml_backend_tensor_set(gin.pos, in_pos.data(), 0, in_pos.size() * sizeof(int32_t));
        if (gin.mask) ggml_backend_tensor_set(gin.mask, in_mask.data(), 0, in_mask.size() * sizeof(float));
        if (gin.pool) ggml_backend_tensor_set(gin.pool, in_pool.data(), 0, in_pool.size() * sizeof(float));
        if (gin.rows) ggml_backend_tensor_set(gin.rows, in_rows.data(), 0, B * sizeof(int32_t));
        if (ggml_backend_graph_compute(wk->backend, gf) != GGML_STATUS_SUCCESS)
            fail(QUARRY_ERR_COMPUTE, "graph computation failed");
        res.resize(n_out * B);
        ggml_backend_tensor_get(o, res.data(), 0, res.size() * sizeof(float));
        for (int64_t b = 0; b < B; b++) {
            if (sparse)
                top_sparse(res.data() + b * n_out, n_out, *sp, order[i + b], topbuf);
            else
                memcpy(out + (int64_t)order[i + b] * n_out, res.data() + b * n_out, n_out * sizeof(float));
        }
        i += (int32_t)B;
    }
}

}  // namespace quarry
