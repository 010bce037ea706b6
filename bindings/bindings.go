//go:build cgo && !quarry_nonative

package bindings

/*
#cgo CFLAGS: -I${SRCDIR}/../native/include
#include <stdlib.h>
#include "quarry.h"

// Every function of the C API is a weak reference: this package compiles and
// links without the native libraries, and a function nothing defined has the
// address NULL. The libraries (and an anchor that references every function
// strongly, so that the linker takes them from the archives) come from
// another package of the program: internal/nativelink in this repository,
// the file quarry_native.go written by cmd/quarry-native in an application.
// nativeapi's test checks that this list names every function of quarry.h.
#pragma weak quarry_model_default_params
#pragma weak quarry_model_load
#pragma weak quarry_model_free
#pragma weak quarry_model_get_info
#pragma weak quarry_embed
#pragma weak quarry_rerank
#pragma weak quarry_sparse
#pragma weak quarry_quantize
#pragma weak quarry_row_size
#pragma weak quarry_vec_row_bytes
#pragma weak quarry_topk
#pragma weak quarry_system_info
#pragma weak quarry_hnsw_build
#pragma weak quarry_hnsw_search
#pragma weak quarry_hnsw_serialized_size
#pragma weak quarry_hnsw_serialize
#pragma weak quarry_hnsw_load
#pragma weak quarry_hnsw_get_stats
#pragma weak quarry_hnsw_free

// The quarry version quarry_native.go was generated for ("" or absent in
// this repository's own builds).
extern const char quarry_native_module[] __attribute__((weak));

// 1 when every function of the C API is defined, 0 when none is, -1 when
// only some are (libraries of another version).
static int quarry_linked(void) {
	void *f[] = {
		(void *)quarry_model_default_params, (void *)quarry_model_load, (void *)quarry_model_free,
		(void *)quarry_model_get_info, (void *)quarry_embed, (void *)quarry_rerank, (void *)quarry_sparse,
		(void *)quarry_quantize, (void *)quarry_row_size, (void *)quarry_vec_row_bytes, (void *)quarry_topk,
		(void *)quarry_system_info, (void *)quarry_hnsw_build, (void *)quarry_hnsw_search,
		(void *)quarry_hnsw_serialized_size, (void *)quarry_hnsw_serialize, (void *)quarry_hnsw_load,
		(void *)quarry_hnsw_get_stats, (void *)quarry_hnsw_free,
	};
	int n = 0;
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) n += f[i] != NULL;
	return n == 0 ? 0 : n == (int)(sizeof f / sizeof f[0]) ? 1 : -1;
}

static const char *quarry_linked_module(void) { return quarry_native_module ? quarry_native_module : ""; }
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

const errLen = 1024

// linkErr is nil when the native core is linked into this program, else the
// error every entry point returns (never calling a NULL function).
var linkErr = checkLinked(int(C.quarry_linked()), C.GoString(C.quarry_linked_module()))

// Available reports whether the native core is linked into this program. It
// is set once, at initialization; with cgo but without the native libraries
// (an application that has not run cmd/quarry-native) it is false and every
// function returns ErrNotLinked.
var Available = linkErr == nil

// Model is a loaded GGUF model.
type Model struct {
	mu   sync.RWMutex
	p    *C.quarry_model
	info Info
	path string
}

func cerr(buf []C.char) string { return C.GoString(&buf[0]) }

// Load loads the GGUF model at path.
func Load(path string, p Params) (*Model, error) {
	if linkErr != nil {
		return nil, linkErr
	}
	cp := C.quarry_model_default_params()
	cp.n_threads = C.int32_t(p.Threads)
	cp.n_workers = C.int32_t(p.Workers)
	cp.max_batch_tokens = C.int32_t(p.MaxBatchTokens)
	cp.pooling = C.int32_t(p.Pooling)
	cp.impl = C.int32_t(p.Impl)
	cp.gelu = C.int32_t(p.GELU)
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	buf := make([]C.char, errLen)
	h := C.quarry_model_load(cpath, &cp, &buf[0], errLen)
	if h == nil {
		return nil, &Error{Op: "load " + path, Code: CodeArg, Msg: cerr(buf)}
	}
	var ci C.quarry_model_info
	C.quarry_model_get_info(h, &ci)
	m := &Model{p: h, path: path, info: Info{
		Arch:        C.GoString(&ci.arch[0]),
		Kind:        Kind(ci.kind),
		Pooling:     Pooling(ci.pooling),
		Dim:         int(ci.n_embd),
		Layers:      int(ci.n_layer),
		Heads:       int(ci.n_head),
		FFN:         int(ci.n_ff),
		Vocab:       int(ci.n_vocab),
		MaxTokens:   int(ci.n_ctx_train),
		TokenTypes:  int(ci.n_token_types),
		NumLabels:   int(ci.n_cls_out),
		WeightType:  int(ci.weight_type),
		Impl:        Impl(ci.impl),
		Threads:     int(ci.n_threads),
		Params:      int64(ci.n_params),
		Tensors:     int64(ci.n_tensors),
		WeightBytes: int64(ci.weight_bytes),
	}}
	return m, nil
}

// Info returns the model's description.
func (m *Model) Info() Info { return m.info }

// Path returns the file the model was loaded from.
func (m *Model) Path() string { return m.path }

// Close frees the native model. It waits for calls in flight and is idempotent.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p != nil {
		C.quarry_model_free(m.p)
		m.p = nil
	}
	return nil
}

func checkPacked(ids, types, seqStart []int32) (int, error) {
	if len(seqStart) == 0 {
		return 0, nil
	}
	n := len(seqStart) - 1
	if n < 0 {
		return 0, fmt.Errorf("seqStart is empty")
	}
	if int(seqStart[0]) < 0 || int(seqStart[n]) > len(ids) {
		return 0, fmt.Errorf("seqStart spans [%d, %d) but there are %d ids", seqStart[0], seqStart[n], len(ids))
	}
	if types != nil && len(types) != len(ids) {
		return 0, fmt.Errorf("%d token types for %d ids", len(types), len(ids))
	}
	for i := 0; i < n; i++ {
		if seqStart[i+1] < seqStart[i] {
			return 0, fmt.Errorf("seqStart decreases at sequence %d", i)
		}
	}
	return n, nil
}

func ptr32(a []int32) *C.int32_t {
	if len(a) == 0 {
		return nil
	}
	return (*C.int32_t)(unsafe.Pointer(&a[0]))
}

// Embed encodes packed sequences: sequence i is ids[seqStart[i]:seqStart[i+1]]
// (types alike; nil types = all 0). It returns len(seqStart)-1 vectors of
// Info().Dim floats back to back, and how many inputs were truncated.
func (m *Model) Embed(ids, types, seqStart []int32, normalize bool) ([]float32, int, error) {
	n, err := checkPacked(ids, types, seqStart)
	if err != nil {
		return nil, 0, &Error{Op: "embed", Code: CodeArg, Msg: err.Error()}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.p == nil {
		return nil, 0, ErrClosed
	}
	if n == 0 {
		return nil, 0, nil
	}
	out := make([]float32, n*m.info.Dim)
	var ntr C.int32_t
	buf := make([]C.char, errLen)
	norm := C.int32_t(0)
	if normalize {
		norm = 1
	}
	rc := C.quarry_embed(m.p, ptr32(ids), ptr32(types), ptr32(seqStart), C.int32_t(n), norm,
		(*C.float)(unsafe.Pointer(&out[0])), &ntr, &buf[0], errLen)
	runtime.KeepAlive(ids)
	runtime.KeepAlive(types)
	runtime.KeepAlive(seqStart)
	if rc != 0 {
		return nil, 0, &Error{Op: "embed", Code: int(rc), Msg: cerr(buf)}
	}
	return out, int(ntr), nil
}

// Rerank scores packed pair sequences with a cross-encoder: NumLabels raw
// logits per sequence, back to back.
func (m *Model) Rerank(ids, types, seqStart []int32) ([]float32, int, error) {
	n, err := checkPacked(ids, types, seqStart)
	if err != nil {
		return nil, 0, &Error{Op: "rerank", Code: CodeArg, Msg: err.Error()}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.p == nil {
		return nil, 0, ErrClosed
	}
	if m.info.NumLabels == 0 {
		return nil, 0, &Error{Op: "rerank", Code: CodeModel, Msg: "this model is a bi-encoder (no classifier head): rerank needs a cross-encoder"}
	}
	if n == 0 {
		return nil, 0, nil
	}
	out := make([]float32, n*m.info.NumLabels)
	var ntr C.int32_t
	buf := make([]C.char, errLen)
	rc := C.quarry_rerank(m.p, ptr32(ids), ptr32(types), ptr32(seqStart), C.int32_t(n),
		(*C.float)(unsafe.Pointer(&out[0])), &ntr, &buf[0], errLen)
	runtime.KeepAlive(ids)
	runtime.KeepAlive(types)
	runtime.KeepAlive(seqStart)
	if rc != 0 {
		return nil, 0, &Error{Op: "rerank", Code: int(rc), Msg: cerr(buf)}
	}
	return out, int(ntr), nil
}

// Sparse computes SPLADE vectors of packed sequences (a sparse-encoder
// model). For sequence i it returns up to k (token id, weight) pairs, the k
// largest weights that are > 0, best first (ties: lower id first):
// ids[i*k : i*k+counts[i]] and weights alike (the rest of each row of k is
// -1 / 0). k must be in [1, Info().Vocab]; Vocab returns every active entry.
func (m *Model) Sparse(ids, types, seqStart []int32, k int) (outIDs []int32, weights []float32, counts []int32, truncated int, err error) {
	n, err := checkPacked(ids, types, seqStart)
	if err != nil {
		return nil, nil, nil, 0, &Error{Op: "sparse", Code: CodeArg, Msg: err.Error()}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.p == nil {
		return nil, nil, nil, 0, ErrClosed
	}
	if k < 1 || k > m.info.Vocab {
		return nil, nil, nil, 0, &Error{Op: "sparse", Code: CodeArg, Msg: fmt.Sprintf("k %d is outside [1, %d]", k, m.info.Vocab)}
	}
	if n == 0 {
		return nil, nil, nil, 0, nil
	}
	outIDs = make([]int32, n*k)
	weights = make([]float32, n*k)
	counts = make([]int32, n)
	var ntr C.int32_t
	buf := make([]C.char, errLen)
	rc := C.quarry_sparse(m.p, ptr32(ids), ptr32(types), ptr32(seqStart), C.int32_t(n), C.int32_t(k),
		ptr32(outIDs), (*C.float)(unsafe.Pointer(&weights[0])), ptr32(counts), &ntr, &buf[0], errLen)
	runtime.KeepAlive(ids)
	runtime.KeepAlive(types)
	runtime.KeepAlive(seqStart)
	if rc != 0 {
		return nil, nil, nil, 0, &Error{Op: "sparse", Code: int(rc), Msg: cerr(buf)}
	}
	return outIDs, weights, counts, int(ntr), nil
}

// RowSize is the byte size of a row of n elements of ggml type t, or -1.
// It is -1 when the native core is not linked.
func RowSize(t int, n int64) int64 {
	if linkErr != nil {
		return -1
	}
	return int64(C.quarry_row_size(C.int32_t(t), C.int64_t(n)))
}

// Quantize converts rows×cols floats to ggml type t with ggml's own routine.
func Quantize(t int, src []float32, rows, cols int) ([]byte, error) {
	if linkErr != nil {
		return nil, linkErr
	}
	if rows < 0 || cols <= 0 || len(src) != rows*cols {
		return nil, fmt.Errorf("quantize: %d floats for %d x %d", len(src), rows, cols)
	}
	rs := RowSize(t, int64(cols))
	if rs < 0 {
		return nil, fmt.Errorf("quantize: type %d cannot hold rows of %d", t, cols)
	}
	dst := make([]byte, rs*int64(rows))
	if rows == 0 {
		return dst, nil
	}
	buf := make([]C.char, errLen)
	w := C.quarry_quantize(C.int32_t(t), (*C.float)(unsafe.Pointer(&src[0])), unsafe.Pointer(&dst[0]),
		C.int64_t(rows), C.int64_t(cols), &buf[0], errLen)
	runtime.KeepAlive(src)
	if w < 0 {
		return nil, &Error{Op: "quantize", Code: int(w), Msg: cerr(buf)}
	}
	return dst[:w], nil
}

// SystemInfo lists the CPU features the kernels were built with ("" when the
// native core is not linked).
func SystemInfo() string {
	if linkErr != nil {
		return ""
	}
	return C.GoString(C.quarry_system_info())
}

// TopK returns, for each of the nq queries (nq×Dim floats back to back), the
// k best groups of x by their best row's dot product: scores, best rows and
// groups, nq×k each, best first (unused slots: -Inf, -1). int8 and binary
// scores are approximate; rescore candidates with full precision.
func TopK(queries []float32, nq int, x *Vectors, k, threads int) ([]float32, []int64, []int64, error) {
	if linkErr != nil {
		return nil, nil, nil, linkErr
	}
	if err := x.check(); err != nil {
		return nil, nil, nil, &Error{Op: "topk", Code: CodeArg, Msg: err.Error()}
	}
	if nq < 0 || len(queries) != nq*x.Dim {
		return nil, nil, nil, &Error{Op: "topk", Code: CodeArg, Msg: fmt.Sprintf("%d query floats for %d queries of dim %d", len(queries), nq, x.Dim)}
	}
	if k <= 0 {
		return nil, nil, nil, &Error{Op: "topk", Code: CodeArg, Msg: fmt.Sprintf("k = %d", k)}
	}
	scores := make([]float32, nq*k)
	rows := make([]int64, nq*k)
	groups := make([]int64, nq*k)
	if nq == 0 {
		return scores, rows, groups, nil
	}
	// The C struct holds Go pointers only for the duration of the call
	// (pinned; see cVectors).
	var pin runtime.Pinner
	defer pin.Unpin()
	cv := cVectors(x, &pin)
	buf := make([]C.char, errLen)
	rc := C.quarry_topk((*C.float)(unsafe.Pointer(&queries[0])), C.int32_t(nq), &cv, C.int32_t(k), C.int32_t(threads),
		(*C.float)(unsafe.Pointer(&scores[0])), (*C.int64_t)(unsafe.Pointer(&rows[0])), (*C.int64_t)(unsafe.Pointer(&groups[0])),
		&buf[0], errLen)
	runtime.KeepAlive(queries)
	runtime.KeepAlive(x)
	if rc != 0 {
		return nil, nil, nil, &Error{Op: "topk", Code: int(rc), Msg: cerr(buf)}
	}
	return scores, rows, groups, nil
}

// nativeStamp is set by the Makefile (-ldflags -X) to a hash of the native
// libraries: Go's build cache does not see changes in the static libraries
// named by #cgo LDFLAGS, so the hash in the link flags forces a relink.
var nativeStamp string

// NativeStamp identifies the native libraries this binary was linked with.
func NativeStamp() string { return nativeStamp }
