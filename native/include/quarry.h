/*
 * quarry.h — the native core of quarry: BERT bi-encoders and cross-encoders
 * from GGUF files, run by quarry's own batched ggml graph (or, as a second
 * implementation, by llama.cpp), plus the kernels the search engine needs.
 *
 * Conventions
 *  - Opaque handles; every function that can fail takes `char *err, size_t
 *    err_len` and writes a NUL-terminated message there on failure (the
 *    buffer may be NULL). There is no global "last error".
 *  - Outputs are allocated by the caller. Nothing allocated here is handed
 *    back except the model handle, freed by quarry_model_free.
 *  - No C++ exception crosses this boundary; invalid arguments are reported,
 *    never asserted.
 *  - Tokenization is the caller's (quarry tokenizes in Go, exactly as Hugging
 *    Face does). Sequences are passed as token ids and token types, packed
 *    back to back; seq_start holds n_seq+1 offsets into them.
 *  - A quarry_model may be used from several threads at once: each call takes
 *    one of params.n_workers compute contexts (waiting while all are busy).
 */
#ifndef QUARRY_H
#define QUARRY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QUARRY_API_VERSION 3 /* 3: quarry_hnsw_*; 2: quarry_sparse, SPLADE pooling, sparse-encoder kind */

/* Return codes. */
#define QUARRY_OK 0
#define QUARRY_ERR_ARG -1      /* invalid argument */
#define QUARRY_ERR_MODEL -2    /* the model cannot do this (e.g. rerank on a bi-encoder) */
#define QUARRY_ERR_COMPUTE -3  /* allocation or computation failed */
#define QUARRY_ERR_CANCELED -4 /* stopped by the caller (quarry_hnsw_params.cancel) */
#define QUARRY_ERR_CORRUPT -5  /* serialized data is damaged or not what it claims to be */

/* Pooling, numbered as llama.cpp's llama_pooling_type. */
#define QUARRY_POOLING_FROM_MODEL -1
#define QUARRY_POOLING_NONE 0
#define QUARRY_POOLING_MEAN 1
#define QUARRY_POOLING_CLS 2
#define QUARRY_POOLING_LAST 3
#define QUARRY_POOLING_RANK 4
/* quarry's own (outside llama.cpp's numbering): SPLADE, the maximum over the
 * tokens of log(1 + relu(MLM logits)). In GGUF: bert.pooling_type 0 (none)
 * and quarry.pooling "splade" (docs/gguf.md). */
#define QUARRY_POOLING_SPLADE 16

/* Model kinds. */
#define QUARRY_KIND_BI_ENCODER 1
#define QUARRY_KIND_CROSS_ENCODER 2
#define QUARRY_KIND_SPARSE_ENCODER 3 /* SPLADE: quarry_sparse */

/* Implementations of the encoder. */
#define QUARRY_IMPL_GRAPH 0 /* quarry's own batched ggml graph (default, fast) */
#define QUARRY_IMPL_LLAMA 1 /* llama.cpp's llama_encode, one sequence per call, token types through input embeddings */

/* GELU form used by QUARRY_IMPL_GRAPH. */
#define QUARRY_GELU_ERF 0  /* exact, as Hugging Face BERT */
#define QUARRY_GELU_TANH 1 /* tanh approximation, as llama.cpp's BERT graph */

typedef struct quarry_model quarry_model;

typedef struct quarry_model_params {
    int32_t n_threads;        /* compute threads per worker; 0 = number of CPU cores */
    int32_t n_workers;        /* concurrent compute contexts; 0 = 1 */
    int32_t n_gpu_layers;     /* reserved for the GPU build; ignored on CPU */
    int32_t max_batch_tokens; /* padded tokens per graph evaluation; 0 = default (4096) */
    int32_t pooling;          /* QUARRY_POOLING_*; QUARRY_POOLING_FROM_MODEL = the GGUF's */
    int32_t impl;             /* QUARRY_IMPL_* */
    int32_t gelu;             /* QUARRY_GELU_* (graph implementation only) */
} quarry_model_params;

typedef struct quarry_model_info {
    char arch[32];        /* general.architecture, e.g. "bert" */
    int32_t kind;         /* QUARRY_KIND_* */
    int32_t pooling;      /* effective pooling */
    int32_t n_embd;       /* hidden size = embedding dimension */
    int32_t n_layer;
    int32_t n_head;
    int32_t n_ff;
    int32_t n_vocab;
    int32_t n_ctx_train;  /* max positions: longer inputs are truncated */
    int32_t n_token_types;
    int32_t n_cls_out;    /* outputs per sequence of quarry_rerank (0 for bi-encoders) */
    int32_t weight_type;  /* ggml type of the layer weights (0 F32, 1 F16, 8 Q8_0, ...) */
    int32_t impl;
    int32_t n_threads;
    int64_t n_params;
    int64_t n_tensors;
    int64_t weight_bytes;
} quarry_model_info;

/* Defaults: all cores, one worker, pooling from the model, own graph, erf GELU. */
quarry_model_params quarry_model_default_params(void);

/* Loads a GGUF model. Returns NULL and fills err on failure. */
quarry_model *quarry_model_load(const char *path, const quarry_model_params *params, char *err, size_t err_len);

/* Frees the model; NULL is ignored. Must not race with calls on the model. */
void quarry_model_free(quarry_model *model);

/* Fills *out. Returns QUARRY_OK or an error code. */
int quarry_model_get_info(const quarry_model *model, quarry_model_info *out);

/*
 * Embeds n_seq sequences. ids/types hold seq_start[n_seq] tokens; sequence i
 * is ids[seq_start[i] .. seq_start[i+1]). Sequences longer than n_ctx_train
 * are truncated (first n_ctx_train-1 tokens plus the last one, which keeps a
 * final [SEP]); *n_truncated (may be NULL) receives how many were.
 * out receives n_seq * n_embd floats, L2-normalized when normalize != 0.
 * Pooling NONE is not accepted here (use a pooled model or override).
 */
int quarry_embed(quarry_model *model, const int32_t *ids, const int32_t *types, const int32_t *seq_start,
                 int32_t n_seq, int32_t normalize, float *out, int32_t *n_truncated, char *err, size_t err_len);

/*
 * Scores n_seq (query, document) pair sequences with a cross-encoder (RANK
 * pooling). scores receives n_seq * n_cls_out raw logits.
 */
int quarry_rerank(quarry_model *model, const int32_t *ids, const int32_t *types, const int32_t *seq_start,
                  int32_t n_seq, float *scores, int32_t *n_truncated, char *err, size_t err_len);

/*
 * SPLADE sparse vectors of n_seq sequences (a model with SPLADE pooling,
 * kind QUARRY_KIND_SPARSE_ENCODER): weight[v] = max over the sequence's
 * tokens t of log(1 + relu(logit[t][v])) (log1p applied once more for the
 * "log1p_relu" activation), logits = the BERT MLM head (dense, GELU,
 * LayerNorm, decoder tied to the token embeddings, bias). Sequences are
 * packed and truncated as for quarry_embed.
 * For each sequence s, the k_tokens largest weights that are > 0, best first
 * (ties: lower token id first), go to out_ids[s*k_tokens ..] and
 * out_weights[s*k_tokens ..]; out_count[s] receives how many there are (the
 * remaining slots get id -1, weight 0). k_tokens is in [1, n_vocab]; n_vocab
 * returns every active dimension. The n_vocab x tokens logit matrix is never
 * materialized (the maximum is taken inside the decoder GEMM).
 */
int quarry_sparse(quarry_model *model, const int32_t *ids, const int32_t *types, const int32_t *seq_start,
                  int32_t n_seq, int32_t k_tokens, int32_t *out_ids, float *out_weights, int32_t *out_count,
                  int32_t *n_truncated, char *err, size_t err_len);

/*
 * Quantizes nrows rows of n_per_row floats to ggml type `type` with ggml's own
 * routine (e.g. 8 = Q8_0). dst must hold quarry_row_size(type, n_per_row) *
 * nrows bytes. Returns the bytes written, or a negative error code.
 */
int64_t quarry_quantize(int32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row, char *err,
                        size_t err_len);

/* Bytes of one row of n elements of ggml type `type`, or -1 if invalid. */
int64_t quarry_row_size(int32_t type, int64_t n);

/* ---- exact top-k search ---- */

/* Stored vector types (the same numbering as quarry's index format). */
#define QUARRY_VEC_F32 0 /* float32 */
#define QUARRY_VEC_F16 1 /* IEEE half */
#define QUARRY_VEC_I8 2  /* int8 with a per-row scale: x ≈ scale * q */
#define QUARRY_VEC_BIN 3 /* sign bits: dimension j is bit j%8 of byte j/8 (set when x > 0) */

typedef struct quarry_vectors {
    int32_t dtype;           /* QUARRY_VEC_* */
    int32_t dim;
    int64_t n;               /* rows */
    const void *data;        /* n rows of quarry_vec_row_bytes(dtype, dim) bytes (64-byte alignment is fastest) */
    const float *scales;     /* int8: n per-row scales; else NULL */
    const uint32_t *groups;  /* row -> group (document); NULL: each row is its own group (= row index) */
    const uint64_t *allow;   /* bitset over groups (bit g%64 of word g/64); NULL: all allowed */
    int64_t n_allow_bits;    /* groups at or beyond this are not allowed (when allow != NULL) */
} quarry_vectors;

/* Bytes of one stored row, or -1 for an invalid type or dim. */
int64_t quarry_vec_row_bytes(int32_t dtype, int32_t dim);

/*
 * Exact top-k groups by the best row score (dot product) for each of nq
 * queries (nq x dim floats). Outputs nq*k scores, rows (the best row of the
 * group) and groups (may be NULL), best first; unused slots get -inf / -1.
 * Ties break by group ascending. int8 and binary scores are approximate
 * (query quantized to int8 / sign bits): rescore the candidates.
 * n_threads 0 = all cores.
 */
int quarry_topk(const float *queries, int32_t nq, const quarry_vectors *x, int32_t k, int32_t n_threads, float *scores,
                int64_t *rows, int64_t *groups, char *err, size_t err_len);

/* ---- approximate search: HNSW graphs ---- */

/*
 * A hierarchical navigable small-world graph over the rows of a
 * quarry_vectors (f32, f16 or int8). The graph holds only neighbour lists and
 * levels: the vectors stay the caller's and are passed again at search time
 * (the same n and dim; the type may differ, e.g. built from f32 and searched
 * over an f16 or int8 copy). Similarity is the dot product, scored exactly as
 * quarry_topk scores each type. A graph is immutable once built and may be
 * searched from several threads at once.
 */
typedef struct quarry_hnsw quarry_hnsw;

typedef struct quarry_hnsw_params {
    int32_t m;               /* neighbours per node on upper layers (2*m on layer 0), in [2, 128]; 0 = 16 */
    int32_t ef_construction; /* beam width while inserting; 0 = 200 (raised to m when smaller) */
    int32_t n_threads;       /* insertion threads; 0 = all cores */
    uint64_t seed;           /* levels come from it: n_threads = 1 and one seed give a byte-identical graph */
    const int32_t *cancel;   /* optional: when *cancel becomes nonzero (set atomically by another thread)
                                the build stops with QUARRY_ERR_CANCELED */
} quarry_hnsw_params;

typedef struct quarry_hnsw_stats {
    int64_t n;               /* rows */
    int32_t dim;
    int32_t m;               /* upper-layer degree (layer 0: 2*m) */
    int32_t ef_construction;
    int32_t max_level;       /* top layer (-1 for an empty graph) */
    int64_t entry;           /* entry point row (-1 for an empty graph) */
    int64_t edges;           /* directed edges over all layers */
    int64_t bytes;           /* memory held by the graph */
} quarry_hnsw_stats;

/*
 * Builds the graph of x's rows (inserted in row order; levels drawn from
 * params->seed, floor(-ln(U) / ln(m))). groups and allow of x are ignored.
 * n must be below 2^32 - 1. With n_threads > 1 the graph differs from the
 * single-threaded one only in the choice and order of neighbours (insertions
 * race), not in its levels. params may be NULL (all defaults).
 */
int quarry_hnsw_build(const quarry_vectors *x, const quarry_hnsw_params *params, quarry_hnsw **out, char *err,
                      size_t err_len);

/*
 * Approximate top-k groups, with the outputs and the contract of quarry_topk
 * (best row per group, best first, ties by group, -inf / -1 padding). x must
 * have the n and dim of the build. Disallowed rows (x->allow over groups) are
 * traversed but never returned; when the exact scan of the allowed rows is
 * cheaper (few rows, or few of them allowed: allowed fraction f of n rows with
 * f*n + 0.1*(1-f)*n < 64*ef/f), the search is that scan (quarry_topk) instead. ef is the
 * beam width (ef < k means k), at most 100000. n_threads 0 = all cores (over
 * queries). The environment variable QUARRY_HNSW_GRAPH_WORK replaces the 64
 * (0: always the graph).
 */
int quarry_hnsw_search(const quarry_hnsw *h, const quarry_vectors *x, const float *queries, int32_t nq, int32_t k,
                       int32_t ef, int32_t n_threads, float *scores, int64_t *rows, int64_t *groups, char *err,
                       size_t err_len);

/* Bytes quarry_hnsw_serialize writes (-1 for NULL). */
int64_t quarry_hnsw_serialized_size(const quarry_hnsw *h);

/* Writes the graph to buf (len >= quarry_hnsw_serialized_size): a
 * self-describing little-endian format with a CRC-32C trailer. */
int quarry_hnsw_serialize(const quarry_hnsw *h, void *buf, int64_t len, char *err, size_t err_len);

/* Reads a graph written by quarry_hnsw_serialize (buf is copied, not kept).
 * Everything is checked (magic, version, sizes, checksum, levels, every
 * neighbour id); damaged data gives QUARRY_ERR_CORRUPT, never a crash. */
int quarry_hnsw_load(const void *buf, int64_t len, quarry_hnsw **out, char *err, size_t err_len);

/* Fills *out. Returns QUARRY_OK or QUARRY_ERR_ARG. */
int quarry_hnsw_get_stats(const quarry_hnsw *h, quarry_hnsw_stats *out);

/* Frees the graph; NULL is ignored. Must not race with calls on it. */
void quarry_hnsw_free(quarry_hnsw *h);

/* A short description of the CPU features ggml was built with, e.g. "AVX2 FMA F16C". */
const char *quarry_system_info(void);

#ifdef __cplusplus
}
#endif

#endif /* QUARRY_H */
