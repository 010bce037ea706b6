/* Smoke test of the C API through the public header only:
 *   quarry-native-test MODEL.gguf  -> embeds/reranks two short sequences and checks the error paths. */
#include "quarry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int fails = 0;
#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); fails++; } } while (0)

int main(int argc, char **argv) {
    char err[512];
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
