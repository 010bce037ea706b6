/* Smoke test of the C API through the public header only:
 *   quarry-native-test             -> HNSW graphs (build, search against quarry_topk, a filter, serialize,
 *                                     load, damage) and the load error path
 *   quarry-native-test MODEL.gguf  -> also embeds/reranks two short sequences and checks the error paths. */
#include "quarry.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int fails = 0;
#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); fails++; } } while (0)

/* HNSW: 2,000 random 16-d rows; the graph's top-10 against the exact scan's,
 * a filter (no disallowed row returned), serialize -> load answers the same,
 * a flipped byte is QUARRY_ERR_CORRUPT. */
static void test_hnsw(void) {
    enum { N = 2000, D = 16, Q = 20, K = 10 };
    static float x[N * D], q[Q * D], es[Q * K], gs[Q * K], ls[Q * K];
    static int64_t er[Q * K], gr[Q * K], lr[Q * K];
    char err[512];
    uint64_t z = 12345;
    for (int i = 0; i < N * D + Q * D; i++) {
        z = z * 6364136223846793005ULL + 1442695040888963407ULL;
        float v = (float)((z >> 40) & 0xffff) / 65536.0f - 0.5f;
        if (i < N * D) x[i] = v; else q[i - N * D] = v;
    }
    setenv("QUARRY_HNSW_GRAPH_WORK", "0", 1); /* 2,000 rows: exercise the graph, not the cheaper scan */
    quarry_vectors xv = {QUARRY_VEC_F32, D, N, x, NULL, NULL, NULL, 0};
    quarry_hnsw_params hp = {8, 64, 1, 7, NULL};
    quarry_hnsw *h = NULL;
    CHECK(quarry_hnsw_build(&xv, &hp, &h, err, sizeof err) == QUARRY_OK && h, "hnsw build: %s", err);
    if (!h) return;
    CHECK(quarry_topk(q, Q, &xv, K, 1, es, er, NULL, err, sizeof err) == QUARRY_OK, "topk: %s", err);
    CHECK(quarry_hnsw_search(h, &xv, q, Q, K, 64, 1, gs, gr, NULL, err, sizeof err) == QUARRY_OK, "hnsw search: %s", err);
    int hit = 0;
    for (int i = 0; i < Q; i++)
        for (int a = 0; a < K; a++)
            for (int b = 0; b < K; b++) hit += gr[i * K + a] == er[i * K + b];
    printf("hnsw: recall@%d %.3f over %d queries\n", K, (double)hit / (Q * K), Q);
    CHECK(hit >= Q * K * 9 / 10, "hnsw recall@10 %.3f", (double)hit / (Q * K));
    static uint64_t allow[(N + 63) / 64];
    for (int r = 0; r < N; r += 3) allow[r / 64] |= 1ULL << (r % 64);
    quarry_vectors fv = xv;
    fv.allow = allow, fv.n_allow_bits = N;
    CHECK(quarry_hnsw_search(h, &fv, q, Q, K, 64, 1, gs, gr, NULL, err, sizeof err) == QUARRY_OK, "filtered: %s", err);
    for (int i = 0; i < Q * K; i++) CHECK(gr[i] < 0 || gr[i] % 3 == 0, "filtered search returned row %lld", (long long)gr[i]);
    CHECK(quarry_hnsw_search(h, &xv, q, Q, K, 64, 1, gs, gr, NULL, err, sizeof err) == QUARRY_OK, "search: %s", err);
    int64_t len = quarry_hnsw_serialized_size(h);
    unsigned char *buf = malloc((size_t)len);
    CHECK(quarry_hnsw_serialize(h, buf, len, err, sizeof err) == QUARRY_OK, "serialize: %s", err);
    quarry_hnsw *l = NULL;
    CHECK(quarry_hnsw_load(buf, len, &l, err, sizeof err) == QUARRY_OK && l, "load: %s", err);
    if (l) {
        CHECK(quarry_hnsw_search(l, &xv, q, Q, K, 64, 1, ls, lr, NULL, err, sizeof err) == QUARRY_OK, "loaded search: %s", err);
        for (int i = 0; i < Q * K; i++) CHECK(lr[i] == gr[i], "loaded graph answers row %lld, built %lld", (long long)lr[i], (long long)gr[i]);
        quarry_hnsw_free(l);
    }
    buf[len / 2] ^= 0x20;
    l = NULL;
    CHECK(quarry_hnsw_load(buf, len, &l, err, sizeof err) == QUARRY_ERR_CORRUPT && !l, "damaged graph loaded");
    printf("hnsw damaged: %s\n", err);
    free(buf);
    quarry_hnsw_free(h);
    quarry_hnsw_free(NULL);
    unsetenv("QUARRY_HNSW_GRAPH_WORK");
}

int main(int argc, char **argv) {
    char err[512];
    test_hnsw();
    quarry_model_params p = quarry_model_default_params();
    CHECK(quarry_model_load("/nonexistent.gguf", &p, err, sizeof err) == NULL, "missing file loaded");
    printf("missing file: %s\n", err);
    if (argc < 2) return fails ? 1 : 0;
    quarry_model *m = quarry_model_load(argv[1], &p, err, sizeof err);
    if (!m) { fprintf(stderr, "load: %s\n", err); return 1; }
    quarry_model_info info;
    CHECK(quarry_model_get_info(m, &info) == QUARRY_OK, "info");
    printf("arch=%s kind=%d pooling=%d dim=%d layers=%d vocab=%d ctx=%d cls_out=%d type=%d\n", info.arch, info.kind,
           info.pooling, info.n_embd, info.n_layer, info.n_vocab, info.n_ctx_train, info.n_cls_out, info.weight_type);
    int32_t ids[] = {101, 7592, 2088, 102, 101, 2023, 2003, 1037, 3231, 102};
    int32_t types[] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 1};
    int32_t start[] = {0, 4, 10};
    int n_out = info.kind == QUARRY_KIND_CROSS_ENCODER ? info.n_cls_out : info.n_embd;
    float *out = calloc(2 * n_out, sizeof(float));
    int32_t ntr = -1;
    int rc = info.kind == QUARRY_KIND_CROSS_ENCODER
                 ? quarry_rerank(m, ids, types, start, 2, out, &ntr, err, sizeof err)
                 : quarry_embed(m, ids, types, start, 2, 1, out, &ntr, err, sizeof err);
    CHECK(rc == QUARRY_OK, "run: %s", err);
    printf("out[0][:4] = %f %f %f %f  truncated=%d\n", out[0], out[1 % n_out], out[2 % n_out], out[3 % n_out], ntr);
    int32_t bad[] = {101, 999999, 102};
    int32_t bstart[] = {0, 3};
    rc = quarry_embed(m, bad, NULL, bstart, 1, 1, out, NULL, err, sizeof err);
    CHECK(rc != QUARRY_OK, "bad id accepted");
    printf("bad id: %s\n", err);
    free(out);
    quarry_model_free(m);
    quarry_model_free(NULL);
    return fails ? 1 : 0;
}
