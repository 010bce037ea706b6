//go:build cgo && !quarry_nonative

package bindings

/*
#include <stdlib.h>
#include "quarry.h"

// Weak, as in bindings.go (each cgo file is its own C translation unit): the
// package links without the native libraries, and linkErr guards every call.
#pragma weak quarry_hnsw_build
#pragma weak quarry_hnsw_search
#pragma weak quarry_hnsw_serialized_size
#pragma weak quarry_hnsw_serialize
#pragma weak quarry_hnsw_load
#pragma weak quarry_hnsw_get_stats
#pragma weak quarry_hnsw_free
*/
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// HNSW is an approximate-search graph over the rows of a Vectors (the
// native core's quarry_hnsw). It holds neighbour lists only: the vectors are
// passed again to Search (the same N and Dim; the type may differ, e.g. an
// f16 or int8 copy of the rows the graph was built from).
//
// An *HNSW is safe for concurrent searches. Close frees the native graph,
// waits for searches in flight and is idempotent; there is no finalizer, so
// callers close what they build or load. Calls after Close return ErrClosed.
type HNSW struct {
	mu    sync.RWMutex
	p     *C.quarry_hnsw
	stats HNSWStats
}

// cVectors describes x to C. The caller keeps pin until the call returns:
// the struct holds pointers into x's Go slices (cgo forbids storing Go
// pointers in C memory, so it lives on the Go side, its targets pinned).
func cVectors(x *Vectors, pin *runtime.Pinner) C.quarry_vectors {
	var cv C.quarry_vectors
	cv.dtype = C.int32_t(x.Type)
	cv.dim = C.int32_t(x.Dim)
	cv.n = C.int64_t(x.N)
	if len(x.Data) > 0 {
		pin.Pin(&x.Data[0])
		cv.data = unsafe.Pointer(&x.Data[0])
	}
	if len(x.Scales) > 0 {
		pin.Pin(&x.Scales[0])
		cv.scales = (*C.float)(unsafe.Pointer(&x.Scales[0]))
	}
	if len(x.Groups) > 0 {
		pin.Pin(&x.Groups[0])
		cv.groups = (*C.uint32_t)(unsafe.Pointer(&x.Groups[0]))
	}
	if x.Allow != nil {
		if len(x.Allow) == 0 {
			x.Allow = []uint64{0}
		}
		pin.Pin(&x.Allow[0])
		cv.allow = (*C.uint64_t)(unsafe.Pointer(&x.Allow[0]))
		cv.n_allow_bits = C.int64_t(x.AllowBits)
	}
	return cv
}

func hnswCheckType(x *Vectors) error {
	if x.Type != VecF32 && x.Type != VecF16 && x.Type != VecInt8 {
		return fmt.Errorf("vector type %d: HNSW graphs are over f32, f16 or int8 rows", x.Type)
	}
	return nil
}

// BuildHNSW builds the graph of x's rows (x.Groups and x.Allow are ignored).
// Canceling ctx stops the build between insertions; the error then matches
// ctx.Err() with errors.Is.
func BuildHNSW(ctx context.Context, x *Vectors, p HNSWParams) (*HNSW, error) {
	if linkErr != nil {
		return nil, linkErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("hnsw build: %w", err)
	}
	if err := x.check(); err != nil {
		return nil, &Error{Op: "hnsw build", Code: CodeArg, Msg: err.Error()}
	}
	if err := hnswCheckType(x); err != nil {
		return nil, &Error{Op: "hnsw build", Code: CodeArg, Msg: err.Error()}
	}
	if p.M < 0 || p.EfConstruction < 0 || p.Threads < 0 || p.M > 1<<20 || p.EfConstruction > 1<<20 || p.Threads > 1<<20 {
		return nil, &Error{Op: "hnsw build", Code: CodeArg, Msg: fmt.Sprintf("invalid parameters %+v", p)}
	}
	// The cancel flag lives in C memory: the native threads read it while
	// the watcher below sets it.
	flag := (*C.int32_t)(C.calloc(1, C.size_t(unsafe.Sizeof(C.int32_t(0)))))
	if flag == nil {
		return nil, &Error{Op: "hnsw build", Code: CodeCompute, Msg: "out of memory"}
	}
	defer C.free(unsafe.Pointer(flag))
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-ctx.Done():
			atomic.StoreInt32((*int32)(unsafe.Pointer(flag)), 1)
		case <-done:
		}
	}()
	cp := C.quarry_hnsw_params{
		m:               C.int32_t(p.M),
		ef_construction: C.int32_t(p.EfConstruction),
		n_threads:       C.int32_t(p.Threads),
		seed:            C.uint64_t(p.Seed),
		cancel:          flag,
	}
	var pin runtime.Pinner
	cv := cVectors(x, &pin)
	buf := make([]C.char, errLen)
	var h *C.quarry_hnsw
	rc := C.quarry_hnsw_build(&cv, &cp, &h, &buf[0], errLen)
	pin.Unpin()
	runtime.KeepAlive(x)
	close(done)
	<-watched // the flag is freed only once the watcher is done with it
	if rc == C.QUARRY_ERR_CANCELED {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("hnsw build: %w", err)
		}
	}
	if rc != 0 {
		return nil, &Error{Op: "hnsw build", Code: int(rc), Msg: cerr(buf)}
	}
	return newHNSW(h), nil
}

func newHNSW(p *C.quarry_hnsw) *HNSW {
	var cs C.quarry_hnsw_stats
	C.quarry_hnsw_get_stats(p, &cs)
	return &HNSW{p: p, stats: HNSWStats{
		N:              int64(cs.n),
		Dim:            int(cs.dim),
		M:              int(cs.m),
		EfConstruction: int(cs.ef_construction),
		MaxLevel:       int(cs.max_level),
		Entry:          int64(cs.entry),
		Edges:          int64(cs.edges),
		Bytes:          int64(cs.bytes),
	}}
}

// LoadHNSW reads a graph written by MarshalBinary. Everything in b is
// checked; a damaged buffer is an error with Code CodeCorrupt.
func LoadHNSW(b []byte) (*HNSW, error) {
	if linkErr != nil {
		return nil, linkErr
	}
	var ptr unsafe.Pointer
	if len(b) > 0 {
		ptr = unsafe.Pointer(&b[0])
	}
	buf := make([]C.char, errLen)
	var h *C.quarry_hnsw
	rc := C.quarry_hnsw_load(ptr, C.int64_t(len(b)), &h, &buf[0], errLen)
	runtime.KeepAlive(b)
	if rc != 0 {
		return nil, &Error{Op: "hnsw load", Code: int(rc), Msg: cerr(buf)}
	}
	return newHNSW(h), nil
}

// Stats describes the graph (the zero value after Close).
func (h *HNSW) Stats() HNSWStats {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.p == nil {
		return HNSWStats{}
	}
	return h.stats
}

// MarshalBinary serializes the graph (little-endian, CRC-32C checked).
func (h *HNSW) MarshalBinary() ([]byte, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.p == nil {
		return nil, ErrClosed
	}
	n := int64(C.quarry_hnsw_serialized_size(h.p))
	if n <= 0 {
		return nil, &Error{Op: "hnsw serialize", Code: CodeCompute, Msg: fmt.Sprintf("size %d", n)}
	}
	out := make([]byte, n)
	buf := make([]C.char, errLen)
	rc := C.quarry_hnsw_serialize(h.p, unsafe.Pointer(&out[0]), C.int64_t(n), &buf[0], errLen)
	if rc != 0 {
		return nil, &Error{Op: "hnsw serialize", Code: int(rc), Msg: cerr(buf)}
	}
	return out, nil
}

// Search returns, as TopK does, the k best groups of x for each of the nq
// queries (nq×Dim floats back to back): scores, best rows and groups, nq×k
// each, best first (unused slots: -Inf, -1), approximately. x must have the
// graph's N and Dim. ef is the beam width (ef < k means k); threads 0 = all
// cores. x.Allow filters as in TopK (disallowed rows are still traversed);
// with a small allowed fraction the search is TopK's exact scan.
func (h *HNSW) Search(queries []float32, nq int, x *Vectors, k, ef, threads int) ([]float32, []int64, []int64, error) {
	if linkErr != nil {
		return nil, nil, nil, linkErr
	}
	if err := x.check(); err != nil {
		return nil, nil, nil, &Error{Op: "hnsw search", Code: CodeArg, Msg: err.Error()}
	}
	if err := hnswCheckType(x); err != nil {
		return nil, nil, nil, &Error{Op: "hnsw search", Code: CodeArg, Msg: err.Error()}
	}
	if nq < 0 || len(queries) != nq*x.Dim {
		return nil, nil, nil, &Error{Op: "hnsw search", Code: CodeArg, Msg: fmt.Sprintf("%d query floats for %d queries of dim %d", len(queries), nq, x.Dim)}
	}
	if k <= 0 || k > MaxEf || ef > MaxEf || threads < 0 || threads > 1<<20 {
		return nil, nil, nil, &Error{Op: "hnsw search", Code: CodeArg, Msg: fmt.Sprintf("k = %d, ef = %d, threads = %d", k, ef, threads)}
	}
	if ef < k {
		ef = k
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.p == nil {
		return nil, nil, nil, ErrClosed
	}
	if int64(x.N) != h.stats.N || x.Dim != h.stats.Dim {
		return nil, nil, nil, &Error{Op: "hnsw search", Code: CodeArg, Msg: fmt.Sprintf("vectors are %d x %d, the graph was built over %d x %d", x.N, x.Dim, h.stats.N, h.stats.Dim)}
	}
	scores := make([]float32, nq*k)
	rows := make([]int64, nq*k)
	groups := make([]int64, nq*k)
	if nq == 0 {
		return scores, rows, groups, nil
	}
	var pin runtime.Pinner
	defer pin.Unpin()
	cv := cVectors(x, &pin)
	buf := make([]C.char, errLen)
	rc := C.quarry_hnsw_search(h.p, &cv, (*C.float)(unsafe.Pointer(&queries[0])), C.int32_t(nq), C.int32_t(k), C.int32_t(ef), C.int32_t(threads),
		(*C.float)(unsafe.Pointer(&scores[0])), (*C.int64_t)(unsafe.Pointer(&rows[0])), (*C.int64_t)(unsafe.Pointer(&groups[0])),
		&buf[0], errLen)
	runtime.KeepAlive(queries)
	runtime.KeepAlive(x)
	if rc != 0 {
		return nil, nil, nil, &Error{Op: "hnsw search", Code: int(rc), Msg: cerr(buf)}
	}
	return scores, rows, groups, nil
}

// Close frees the native graph. It waits for searches in flight and is
// idempotent.
func (h *HNSW) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.p != nil {
		C.quarry_hnsw_free(h.p)
		h.p = nil
	}
	return nil
}
