//go:build cgo && !quarry_nonative

package nativelink

/*
#cgo LDFLAGS: -L${SRCDIR}/../../build/lib -Wl,--start-group -lquarry -lllama -lggml -lggml-cpu -lggml-base -Wl,--end-group -lstdc++ -lm -lpthread -ldl

// Strong references to every function of quarry's C API, so that the linker
// takes them from the static libraries (package bindings refers to them
// weakly). Only the addresses are used: the placeholder type is never called.
void quarry_embed(void);
void quarry_hnsw_build(void);
void quarry_hnsw_free(void);
void quarry_hnsw_get_stats(void);
void quarry_hnsw_load(void);
void quarry_hnsw_search(void);
void quarry_hnsw_serialize(void);
void quarry_hnsw_serialized_size(void);
void quarry_model_default_params(void);
void quarry_model_free(void);
void quarry_model_get_info(void);
void quarry_model_load(void);
void quarry_quantize(void);
void quarry_rerank(void);
void quarry_row_size(void);
void quarry_sparse(void);
void quarry_system_info(void);
void quarry_topk(void);
void quarry_vec_row_bytes(void);
__attribute__((used)) static void (*const quarry_native_anchor[])(void) = {
	quarry_embed,
	quarry_hnsw_build,
	quarry_hnsw_free,
	quarry_hnsw_get_stats,
	quarry_hnsw_load,
	quarry_hnsw_search,
	quarry_hnsw_serialize,
	quarry_hnsw_serialized_size,
	quarry_model_default_params,
	quarry_model_free,
	quarry_model_get_info,
	quarry_model_load,
	quarry_quantize,
	quarry_rerank,
	quarry_row_size,
	quarry_sparse,
	quarry_system_info,
	quarry_topk,
	quarry_vec_row_bytes,
};
*/
import "C"
