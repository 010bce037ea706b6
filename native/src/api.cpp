// The C API of quarry.h: argument checks, error reporting, worker pool.
#include "internal.h"

#include "ggml-cpu.h"
#include "llama.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace quarry {

void fail(int code, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    throw Error(code, buf);
}

void write_err(char *err, size_t err_len, const char *msg) {
    if (!err || err_len == 0) return;
    snprintf(err, err_len, "%s", msg);
}

namespace {

void log_cb(enum ggml_log_level level, const char *text, void *) {
    static const bool on = getenv("QUARRY_LOG") != nullptr;
    if (on) fputs(text, stderr);
    (void)level;
}

std::once_flag g_log_once;

// Takes a worker from the pool for the duration of a call.
struct Lease {
    quarry_model *m;
    Worker *w;
    explicit Lease(quarry_model *m_) : m(m_) {
        std::unique_lock<std::mutex> lk(m->mu);
        m->cv.wait(lk, [&] { return !m->idle.empty(); });
        w = m->idle.back();
        m->idle.pop_back();
    }
    ~Lease() {
        {
            std::lock_guard<std::mutex> lk(m->mu);
            m->idle.push_back(w);
        }
        m->cv.notify_one();
    }
};


// Checks the packed sequences and computes their (possibly truncated)
// lengths. Truncated sequences are rewritten into `copy` (first max-1 tokens
// plus the original last token); ids/types then point there.
void check_seqs(quarry_model *m, const int32_t *&ids, const int32_t *&types, const int32_t *seq_start, int32_t n_seq,
                std::vector<int32_t> &start, std::vector<int32_t> &len, std::vector<int32_t> &copy_ids,
                std::vector<int32_t> &copy_types, int32_t *n_truncated) {
    if (n_seq < 0) fail(QUARRY_ERR_ARG, "n_seq is negative (%d)", n_seq);
    if (n_seq == 0) return;
    if (!ids || !seq_start) fail(QUARRY_ERR_ARG, "ids and seq_start must not be NULL");
    const int32_t max_len = m->hp.n_ctx_train;
    const int32_t n_vocab = m->hp.n_vocab;
    const int32_t n_types = std::max<int32_t>(m->hp.n_types, 1);
    if (seq_start[0] < 0) fail(QUARRY_ERR_ARG, "seq_start[0] is negative (%d)", seq_start[0]);
    start.resize(n_seq);
    len.resize(n_seq);
    int32_t truncated = 0;
    for (int32_t i = 0; i < n_seq; i++) {
        const int32_t a = seq_start[i], b = seq_start[i + 1];
        if (b < a) fail(QUARRY_ERR_ARG, "seq_start is not increasing at sequence %d (%d > %d)", i, a, b);
        if (b == a) fail(QUARRY_ERR_ARG, "sequence %d is empty", i);
        for (int32_t t = a; t < b; t++) {
            if (ids[t] < 0 || ids[t] >= n_vocab)
                fail(QUARRY_ERR_ARG, "sequence %d: token id %d at position %d is outside the vocabulary of %d", i,
                     ids[t], t - a, n_vocab);
            if (types && (types[t] < 0 || types[t] >= n_types))
                fail(QUARRY_ERR_ARG, "sequence %d: token type %d at position %d is outside [0, %d)", i, types[t],
                     t - a, n_types);
        }
        start[i] = a;
        len[i] = b - a;
        if (len[i] > max_len) truncated++;
    }
    if (n_truncated) *n_truncated = truncated;
    if (truncated == 0) return;
    // Rewrite: each sequence is copied, truncated ones cut to max_len.
    copy_ids.clear();
    copy_types.clear();
    for (int32_t i = 0; i < n_seq; i++) {
        const int32_t a = start[i], l = len[i];
        const int32_t keep = std::min(l, max_len);
        start[i] = (int32_t)copy_ids.size();
        for (int32_t t = 0; t < keep; t++) {
            const int32_t src = (l > max_len && t == keep - 1) ? a + l - 1 : a + t;
            copy_ids.push_back(ids[src]);
            copy_types.push_back(types ? types[src] : 0);
        }
        len[i] = keep;
    }
    ids = copy_ids.data();
    types = copy_types.data();
}

void check_finite(const float *out, int32_t n_seq, int64_t n_out) {
    for (int32_t s = 0; s < n_seq; s++)
        for (int64_t j = 0; j < n_out; j++)
            if (!std::isfinite(out[s * n_out + j]))
                fail(QUARRY_ERR_COMPUTE, "sequence %d: the model produced a non-finite value", s);
}

int run(quarry_model *m, const int32_t *ids, const int32_t *types, const int32_t *seq_start, int32_t n_seq,
        bool rerank, int32_t normalize, float *out, int32_t *n_truncated, char *err, size_t err_len) {
    if (n_truncated) *n_truncated = 0;
    return guarded(err, err_len, [&] {
        if (!m) fail(QUARRY_ERR_ARG, "model is NULL");
        if (n_seq > 0 && !out) fail(QUARRY_ERR_ARG, "output buffer is NULL");
        if (rerank) {
            if (!m->w->cls_out_w)
                fail(QUARRY_ERR_MODEL,
                     "this model is a bi-encoder (no classifier head cls.output.weight): rerank needs a cross-encoder");
        } else {
            if (m->pooling == QUARRY_POOLING_NONE)
                fail(QUARRY_ERR_MODEL, "pooling is none: embed needs mean, cls or last pooling");
            if (m->pooling == QUARRY_POOLING_RANK)
                fail(QUARRY_ERR_MODEL, "this model is a cross-encoder (rank pooling): use rerank, not embed");
            if (m->pooling == QUARRY_POOLING_SPLADE)
                fail(QUARRY_ERR_MODEL, "this model is a sparse encoder (SPLADE pooling): use quarry_sparse, not embed");
        }
        std::vector<int32_t> start, len, cid, cty;
        check_seqs(m, ids, types, seq_start, n_seq, start, len, cid, cty, n_truncated);
        if (n_seq == 0) return;
        const int64_t n_out = rerank ? m->hp.n_cls_out : m->hp.n_embd;
        {
            Lease lease(m);
            if (m->params.impl == QUARRY_IMPL_LLAMA)
                llama_run(m, lease.w, ids, types, start, len, rerank, out);
            else
                graph_run(m, lease.w, ids, types, start, len, rerank ? Head::Rerank : Head::Embed, out);
        }
        check_finite(out, n_seq, n_out);
        if (!rerank && normalize) {
            for (int32_t s = 0; s < n_seq; s++) {
                float *v = out + s * n_out;
                double ss = 0;
                for (int64_t j = 0; j < n_out; j++) ss += (double)v[j] * v[j];
                if (ss <= 0) fail(QUARRY_ERR_COMPUTE, "sequence %d: the embedding is all zeros", s);
                const double inv = 1.0 / std::sqrt(ss);
                for (int64_t j = 0; j < n_out; j++) v[j] = (float)(v[j] * inv);
            }
        }
    });
}

int run_sparse(quarry_model *m, const int32_t *ids, const int32_t *types, const int32_t *seq_start, int32_t n_seq,
               int32_t k, int32_t *out_ids, float *out_weights, int32_t *out_count, int32_t *n_truncated, char *err,
               size_t err_len) {
    if (n_truncated) *n_truncated = 0;
    return guarded(err, err_len, [&] {
        if (!m) fail(QUARRY_ERR_ARG, "model is NULL");
        if (m->pooling != QUARRY_POOLING_SPLADE)
            fail(QUARRY_ERR_MODEL, "this model is not a sparse encoder (pooling %s): sparse vectors need a SPLADE model (a BERT MLM head with quarry.pooling splade)",
                 m->pooling == QUARRY_POOLING_RANK ? "rank" : m->pooling == QUARRY_POOLING_MEAN ? "mean"
                 : m->pooling == QUARRY_POOLING_CLS ? "cls" : m->pooling == QUARRY_POOLING_LAST ? "last" : "none");
        if (m->params.impl != QUARRY_IMPL_GRAPH)
            fail(QUARRY_ERR_MODEL, "the SPLADE head runs in quarry's own graph only (impl graph), not llama.cpp's");
        if (k < 1 || k > m->hp.n_vocab) fail(QUARRY_ERR_ARG, "k_tokens %d is outside [1, %d]", k, m->hp.n_vocab);
        if (n_seq > 0 && (!out_ids || !out_weights || !out_count)) fail(QUARRY_ERR_ARG, "output buffers must not be NULL");
        std::vector<int32_t> start, len, cid, cty;
        check_seqs(m, ids, types, seq_start, n_seq, start, len, cid, cty, n_truncated);
        if (n_seq == 0) return;
        SparseOut sp;
        sp.k = k;
        sp.ids = out_ids;
        sp.weights = out_weights;
        sp.count = out_count;
        Lease lease(m);
        graph_run(m, lease.w, ids, types, start, len, Head::Sparse, nullptr, &sp);
    });
}

}  // namespace

void init_logging() {
    std::call_once(g_log_once, [] {
        ggml_log_set(log_cb, nullptr);
        llama_log_set(log_cb, nullptr);
    });
}

}  // namespace quarry

using namespace quarry;

quarry_model::~quarry_model() {
    workers.clear();
    free_llama_model(this);
}

extern "C" {

quarry_model_params quarry_model_default_params(void) {
    quarry_model_params p;
    memset(&p, 0, sizeof p);
    p.n_threads = 0;
    p.n_workers = 1;
    p.n_gpu_layers = 0;
    p.max_batch_tokens = 0;
    p.pooling = QUARRY_POOLING_FROM_MODEL;
    p.impl = QUARRY_IMPL_GRAPH;
    p.gelu = QUARRY_GELU_ERF;
    return p;
}

quarry_model *quarry_model_load(const char *path, const quarry_model_params *params, char *err, size_t err_len) {
    quarry_model *out = nullptr;
    guarded(err, err_len, [&] {
        init_logging();
        if (!path) fail(QUARRY_ERR_ARG, "path is NULL");
        auto m = std::make_unique<quarry_model>();
        m->path = path;
        m->params = params ? *params : quarry_model_default_params();
        quarry_model_params &p = m->params;
        if (p.n_threads < 0 || p.n_threads > 1024) fail(QUARRY_ERR_ARG, "n_threads %d is out of range", p.n_threads);
        if (p.n_threads == 0) p.n_threads = std::max(1u, std::thread::hardware_concurrency());
        if (p.n_workers < 0 || p.n_workers > 256) fail(QUARRY_ERR_ARG, "n_workers %d is out of range", p.n_workers);
        if (p.n_workers == 0) p.n_workers = 1;
        if (p.max_batch_tokens < 0) fail(QUARRY_ERR_ARG, "max_batch_tokens %d is negative", p.max_batch_tokens);
        if (p.max_batch_tokens == 0) p.max_batch_tokens = 4096;
        if (p.impl != QUARRY_IMPL_GRAPH && p.impl != QUARRY_IMPL_LLAMA) fail(QUARRY_ERR_ARG, "unknown impl %d", p.impl);
        if (p.gelu != QUARRY_GELU_ERF && p.gelu != QUARRY_GELU_TANH) fail(QUARRY_ERR_ARG, "unknown gelu %d", p.gelu);
        if ((p.pooling < QUARRY_POOLING_FROM_MODEL || p.pooling > QUARRY_POOLING_RANK) && p.pooling != QUARRY_POOLING_SPLADE)
            fail(QUARRY_ERR_ARG, "unknown pooling %d", p.pooling);

        load_graph_model(m.get());
        const Hparams &hp = m->hp;
        int32_t pooling = p.pooling;
        if (pooling == QUARRY_POOLING_FROM_MODEL) {
            pooling = hp.pooling_file;
            if (pooling > QUARRY_POOLING_RANK) fail(QUARRY_ERR_ARG, "%s: unknown pooling type %d in the file", path, pooling);
            if (hp.pooling_name == "splade") pooling = QUARRY_POOLING_SPLADE;
        }
        if (pooling < 0) pooling = m->w->cls_out_w ? QUARRY_POOLING_RANK : QUARRY_POOLING_MEAN;
        if (pooling == QUARRY_POOLING_RANK && !m->w->cls_out_w)
            fail(QUARRY_ERR_ARG, "%s: rank pooling needs the classifier head cls.output.weight", path);
        if (pooling == QUARRY_POOLING_SPLADE && !m->w->has_mlm())
            fail(QUARRY_ERR_ARG, "%s: SPLADE pooling needs the MLM head (quarry.mlm.*)", path);
        m->pooling = pooling;
        m->kind = pooling == QUARRY_POOLING_RANK     ? QUARRY_KIND_CROSS_ENCODER
                  : pooling == QUARRY_POOLING_SPLADE ? QUARRY_KIND_SPARSE_ENCODER
                                                     : QUARRY_KIND_BI_ENCODER;
        if (pooling == QUARRY_POOLING_SPLADE && p.impl != QUARRY_IMPL_GRAPH)
            fail(QUARRY_ERR_ARG, "%s: the SPLADE head runs in quarry's own graph (impl graph) only; llama.cpp's implementation can run this model's encoder with mean or cls pooling", path);
        if (pooling == QUARRY_POOLING_SPLADE) prepare_sparse_head(m.get());
        if (p.impl == QUARRY_IMPL_LLAMA) load_llama_model(m.get());
        for (int i = 0; i < p.n_workers; i++) {
            m->workers.push_back(p.impl == QUARRY_IMPL_LLAMA ? make_llama_worker(m.get()) : make_worker(m.get()));
            m->idle.push_back(m->workers.back().get());
        }
        out = m.release();
    });
    return out;
}

void quarry_model_free(quarry_model *model) { delete model; }

int quarry_model_get_info(const quarry_model *m, quarry_model_info *out) {
    if (!m || !out) return QUARRY_ERR_ARG;
    memset(out, 0, sizeof *out);
    snprintf(out->arch, sizeof out->arch, "%s", m->hp.arch.c_str());
    out->kind = m->kind;
    out->pooling = m->pooling;
    out->n_embd = m->hp.n_embd;
    out->n_layer = m->hp.n_layer;
    out->n_head = m->hp.n_head;
    out->n_ff = m->hp.n_ff;
    out->n_vocab = m->hp.n_vocab;
    out->n_ctx_train = m->hp.n_ctx_train;
    out->n_token_types = m->hp.n_types;
    out->n_cls_out = m->w->cls_out_w ? m->hp.n_cls_out : 0;
    out->weight_type = m->w->weight_type;
    out->impl = m->params.impl;
    out->n_threads = m->params.n_threads;
    out->n_params = m->w->n_params;
    out->n_tensors = m->w->n_tensors;
    out->weight_bytes = m->w->bytes;
    return QUARRY_OK;
}

int quarry_embed(quarry_model *model, const int32_t *ids, const int32_t *types, const int32_t *seq_start,
                 int32_t n_seq, int32_t normalize, float *out, int32_t *n_truncated, char *err, size_t err_len) {
    return run(model, ids, types, seq_start, n_seq, false, normalize, out, n_truncated, err, err_len);
}

int quarry_rerank(quarry_model *model, const int32_t *ids, const int32_t *types, const int32_t *seq_start,
                  int32_t n_seq, float *scores, int32_t *n_truncated, char *err, size_t err_len) {
    return run(model, ids, types, seq_start, n_seq, true, 0, scores, n_truncated, err, err_len);
}

int quarry_sparse(quarry_model *model, const int32_t *ids, const int32_t *types, const int32_t *seq_start,
                  int32_t n_seq, int32_t k_tokens, int32_t *out_ids, float *out_weights, int32_t *out_count,
                  int32_t *n_truncated, char *err, size_t err_len) {
    return run_sparse(model, ids, types, seq_start, n_seq, k_tokens, out_ids, out_weights, out_count, n_truncated, err,
                      err_len);
}

int64_t quarry_row_size(int32_t type, int64_t n) {
    if (type < 0 || type >= GGML_TYPE_COUNT || n < 0) return -1;
    const ggml_type_traits *tr = ggml_get_type_traits((ggml_type)type);
    if (!tr || tr->blck_size <= 0 || tr->type_size == 0 || n % tr->blck_size != 0) return -1;
    return (int64_t)ggml_row_size((ggml_type)type, n);
}

int64_t quarry_quantize(int32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row, char *err,
                        size_t err_len) {
    int64_t written = 0;
    int rc = guarded(err, err_len, [&] {
        if (!src || !dst) fail(QUARRY_ERR_ARG, "src and dst must not be NULL");
        if (nrows < 0 || n_per_row <= 0) fail(QUARRY_ERR_ARG, "invalid shape %lld x %lld", (long long)nrows, (long long)n_per_row);
        if (quarry_row_size(type, n_per_row) < 0)
            fail(QUARRY_ERR_ARG, "type %d cannot hold rows of %lld elements", type, (long long)n_per_row);
        if (ggml_quantize_requires_imatrix((ggml_type)type))
            fail(QUARRY_ERR_ARG, "type %s needs an importance matrix", ggml_type_name((ggml_type)type));
        init_logging();
        ggml_quantize_init((ggml_type)type);
        written = (int64_t)ggml_quantize_chunk((ggml_type)type, src, dst, 0, nrows, n_per_row, nullptr);
    });
    return rc == QUARRY_OK ? written : rc;
}

const char *quarry_system_info(void) {
    static std::string info = [] {
        std::string s;
        if (ggml_cpu_has_avx()) s += "AVX ";
        if (ggml_cpu_has_avx2()) s += "AVX2 ";
        if (ggml_cpu_has_fma()) s += "FMA ";
        if (ggml_cpu_has_f16c()) s += "F16C ";
        if (ggml_cpu_has_avx512()) s += "AVX512 ";
        if (ggml_cpu_has_avx512_vnni()) s += "AVX512_VNNI ";
        if (ggml_cpu_has_neon()) s += "NEON ";
        if (!s.empty()) s.pop_back();
        return s;
    }();
    return info.c_str();
}

}  // extern "C"
