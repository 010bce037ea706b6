// The second implementation of the encoder: llama.cpp's own BERT graph via
// llama_encode, one sequence per call (llama.cpp attends across all tokens of
// a call, so packing sequences only adds cost). Kept as a cross-check of the
// own graph and to measure against.
//
// llama.cpp's BERT graph ignores token types (it adds row 0 of
// token_types.weight to every token). We pass input embeddings instead of ids:
// tok_embd[id] + types[t] - types[0]; the graph then adds types[0] and the
// position embedding itself, which gives the token-typed sum Hugging Face
// computes. Its GELU is the tanh approximation, so results differ slightly
// from Hugging Face's erf GELU.
#include "internal.h"

#include "llama.h"

#include <cstring>
#include <mutex>

namespace quarry {

namespace {
std::once_flag g_llama_once;

std::vector<float> dequantize(const ggml_tensor *t) {
    std::vector<float> out(ggml_nelements(t));
    const int64_t rows = ggml_nrows(t), n = t->ne[0];
    if (t->type == GGML_TYPE_F32) {
        memcpy(out.data(), t->data, out.size() * sizeof(float));
        return out;
    }
    const ggml_type_traits *tr = ggml_get_type_traits(t->type);
    if (!tr->to_float) fail(QUARRY_ERR_ARG, "tensor %s of type %s cannot be read as float", t->name, ggml_type_name(t->type));
    for (int64_t r = 0; r < rows; r++) tr->to_float((const char *)t->data + r * t->nb[1], out.data() + r * n, n);
    return out;
}
}  // namespace

void load_llama_model(quarry_model *m) {
    std::call_once(g_llama_once, [] { llama_backend_init(); });
    const Weights &w = *m->w;
    if (w.type_embd && w.type_embd->type != GGML_TYPE_F32)
        fail(QUARRY_ERR_ARG, "%s: token_types.weight is %s; llama.cpp needs F32", m->path.c_str(),
             ggml_type_name(w.type_embd->type));
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.use_mmap = true;
    m->lmodel = llama_model_load_from_file(m->path.c_str(), mp);
    if (!m->lmodel) fail(QUARRY_ERR_ARG, "%s: llama.cpp could not load the model", m->path.c_str());
    m->tok_embd_f32 = dequantize(w.tok_embd);
    const int64_t H = m->hp.n_embd;
    const int32_t nt = std::max<int32_t>(m->hp.n_types, 1);
    m->type_delta.assign(nt * H, 0.0f);
    if (w.type_embd) {
        std::vector<float> te = dequantize(w.type_embd);
        for (int32_t t = 0; t < nt; t++)
            for (int64_t j = 0; j < H; j++) m->type_delta[t * H + j] = te[t * H + j] - te[j];
    }
}

Worker::~Worker() {
    if (lctx) llama_free(lctx);
    if (galloc) ggml_gallocr_free(galloc);
    if (backend) ggml_backend_free(backend);
}

void free_llama_model(quarry_model *m) {
    if (m->lmodel) llama_model_free(m->lmodel);
    m->lmodel = nullptr;
}

std::unique_ptr<Worker> make_llama_worker(quarry_model *m) {
    auto wk = std::make_unique<Worker>();
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = m->hp.n_ctx_train;
    cp.n_batch = m->hp.n_ctx_train;
    cp.n_ubatch = m->hp.n_ctx_train;
    cp.n_seq_max = 1;
    cp.n_threads = m->params.n_threads;
    cp.n_threads_batch = m->params.n_threads;
    cp.embeddings = true;
    cp.pooling_type = (enum llama_pooling_type)m->pooling;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;  // lowers accuracy on CPU
    cp.kv_unified = true;
    cp.no_perf = true;
    wk->lctx = llama_init_from_model(m->lmodel, cp);
    if (!wk->lctx) fail(QUARRY_ERR_COMPUTE, "llama.cpp could not create a context");
    return wk;
}

void llama_run(quarry_model *m, Worker *wk, const int32_t *ids, const int32_t *types, const std::vector<int32_t> &start,
               const std::vector<int32_t> &len, bool rerank, float *out) {
    const int64_t H = m->hp.n_embd;
    const int64_t n_out = rerank ? m->hp.n_cls_out : H;
    if ((rerank ? QUARRY_POOLING_RANK : m->pooling) != m->pooling)
        fail(QUARRY_ERR_MODEL, "the llama.cpp implementation reranks only with a model loaded with rank pooling");
    llama_batch batch = llama_batch_init(m->hp.n_ctx_train, (int32_t)H, 1);
    std::unique_ptr<llama_batch, void (*)(llama_batch *)> guard(&batch, [](llama_batch *b) { llama_batch_free(*b); });
    for (size_t s = 0; s < len.size(); s++) {
        const int32_t ln = len[s];
        for (int32_t t = 0; t < ln; t++) {
            const int32_t id = ids[start[s] + t];
            const int32_t ty = types ? types[start[s] + t] : 0;
            float *e = batch.embd + t * H;
            const float *te = m->tok_embd_f32.data() + (int64_t)id * H;
            const float *td = m->type_delta.data() + (int64_t)ty * H;
            for (int64_t j = 0; j < H; j++) e[j] = te[j] + td[j];
            batch.pos[t] = t;
            batch.n_seq_id[t] = 1;
            batch.seq_id[t][0] = 0;
            batch.logits[t] = 1;
        }
        batch.n_tokens = ln;
        int rc = llama_encode(wk->lctx, batch);
        if (rc != 0) fail(QUARRY_ERR_COMPUTE, "llama_encode failed (%d) on sequence %zu", rc, s);
        const float *e = llama_get_embeddings_seq(wk->lctx, 0);
        if (!e) fail(QUARRY_ERR_COMPUTE, "llama.cpp returned no pooled output for sequence %zu", s);
        memcpy(out + s * n_out, e, n_out * sizeof(float));
    }
}

}  // namespace quarry
