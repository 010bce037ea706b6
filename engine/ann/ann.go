// Package ann keeps one HNSW graph per immutable segment: the graph file
// (hnsw-NNNNNN.qhnsw), its declaration to the store's segment-file
// registry, and building it from a segment's stored vectors.
//
// The graph holds neighbour lists only. Searches traverse the segment's
// stored rows (f32, f16 or int8, decoded in memory) and, for int8, rescore
// the candidates with the segment's full-precision copy (search.SearchHNSW).
// A graph is derived from its segment's vectors: it is built before the
// segment's manifest commit, verified with the segment, and on compaction
// rebuilt over the compacted vector file (a graph's edges between surviving
// rows alone can leave survivors unreachable, so it is never filtered).
//
// File layout (little-endian):
//
//	 0  magic "QHNSWSEG"
//	 8  u32 version (1)
//	12  u8 dtype of the traversed rows (store.DType), 3 zero bytes
//	16  u32 dim
//	20  u32 M
//	24  u32 ef_construction
//	28  u32 first document ordinal, 32 u32 last document ordinal
//	36  u32 zero
//	40  u64 rows (passages), 48 u64 documents
//	56  u64 length of the graph blob
//	64  u32 CRC-32C of bytes 0..63, u32 zero
//	72  graph blob (the native core's serialization, itself checksummed)
//	    u32 CRC-32C of the blob, "QHNE"
package ann

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/quarry-search/quarry/engine/search"
	"github.com/quarry-search/quarry/engine/store"
)

// FileKey is the key of a segment's graph in store.Segment.Files.
const FileKey = "hnsw"

const (
	filePrefix  = "hnsw"
	fileExt     = "qhnsw"
	magic       = "QHNSWSEG"
	endMagic    = "QHNE"
	version     = 1
	headerSize  = 72
	trailerSize = 8
)

// FileName is the graph file of segment id: "hnsw-000001.qhnsw".
func FileName(id uint64) string { return store.FileName(filePrefix, id, fileExt) }

// Header describes a graph file: the rows it was built over and how.
type Header struct {
	DType             store.DType // of the traversed rows
	Dim               int
	M, EfConstruction int
	Rows, Docs        int64
	FirstOrd, LastOrd uint32 // document ordinals of the first and last row
	blob              int64
}

// MaxEf is the largest beam width of a graph search.
const MaxEf = search.MaxEf

// Params are the build parameters of an index's graphs.
type Params = search.HNSWParams

// Rows is a segment's stored vectors as the search kernels read them.
func Rows(v *store.Vectors, groups []uint32) search.Vectors {
	return search.Vectors{Type: search.VecType(v.DType - 1), Dim: v.Dim, N: v.N, Data: v.Data, Scales: v.Scales, Groups: groups}
}

// Build builds the graph over v's rows (groups: their document ordinals,
// non-decreasing) and writes it to path through an atomic file, returning
// the file's reference and the graph (the caller closes it). Canceling ctx
// stops the build; nothing is left at path then.
func Build(ctx context.Context, fsys store.FS, path string, v *store.Vectors, groups []uint32, p Params) (store.FileRef, *search.HNSW, error) {
	if v.N == 0 || len(groups) != v.N {
		return store.FileRef{}, nil, fmt.Errorf("hnsw graph %s: %d rows, %d groups: %w", path, v.N, len(groups), store.ErrNoDocuments)
	}
	rows := Rows(v, groups)
	g, err := search.BuildHNSW(ctx, &rows, p)
	if err != nil {
		return store.FileRef{}, nil, fmt.Errorf("hnsw graph %s: %w", path, err)
	}
	blob, err := g.MarshalBinary()
	if err != nil {
		g.Close()
		return store.FileRef{}, nil, fmt.Errorf("hnsw graph %s: %w", path, err)
	}
	st := g.Stats()
	cs := store.GroupStats(groups)
	h := Header{DType: v.DType, Dim: v.Dim, M: st.M, EfConstruction: st.EfConstruction, Rows: int64(v.N), Docs: cs.Docs, FirstOrd: cs.FirstOrd, LastOrd: cs.LastOrd}
	ref, err := store.WriteFileAtomicFS(fsys, path, encode(h, blob))
	if err != nil {
		g.Close()
		return store.FileRef{}, nil, fmt.Errorf("hnsw graph: %w", err)
	}
	return ref, g, nil
}

func encode(h Header, blob []byte) []byte {
	b := make([]byte, headerSize, headerSize+len(blob)+trailerSize)
	copy(b, magic)
	le := binary.LittleEndian
	le.PutUint32(b[8:], version)
	b[12] = byte(h.DType)
	le.PutUint32(b[16:], uint32(h.Dim))
	le.PutUint32(b[20:], uint32(h.M))
	le.PutUint32(b[24:], uint32(h.EfConstruction))
	le.PutUint32(b[28:], h.FirstOrd)
	le.PutUint32(b[32:], h.LastOrd)
	le.PutUint64(b[40:], uint64(h.Rows))
	le.PutUint64(b[48:], uint64(h.Docs))
	le.PutUint64(b[56:], uint64(len(blob)))
	le.PutUint32(b[64:], store.CRC32C(b[:64]))
	b = append(b, blob...)
	b = le.AppendUint32(b, store.CRC32C(blob))
	return append(b, endMagic...)
}

func corrupt(path, where, format string, args ...any) error {
	e := store.Corruptf(path, where, format, args...)
	e.Remedy = "rebuild the graph (quarry compact rebuilds every graph) or search with --exact"
	return e
}

// Parse checks a graph file's framing and checksums in pure Go and returns
// its header and the native graph blob (checked again, structurally, by
// Load).
func Parse(path string, b []byte) (Header, []byte, error) {
	var h Header
	le := binary.LittleEndian
	switch {
	case len(b) < headerSize+trailerSize:
		return h, nil, corrupt(path, "header", "%d bytes, shorter than a graph file's header and trailer", len(b))
	case string(b[:8]) != magic:
		return h, nil, corrupt(path, "header", "magic %q, want %q (not a quarry HNSW graph)", b[:8], magic)
	case le.Uint32(b[64:]) != store.CRC32C(b[:64]):
		return h, nil, corrupt(path, "header", "CRC-32C %08x, stored %08x", store.CRC32C(b[:64]), le.Uint32(b[64:]))
	case le.Uint32(b[68:]) != 0:
		return h, nil, corrupt(path, "header", "reserved bytes 68..71 are %08x, not zero", le.Uint32(b[68:]))
	case le.Uint32(b[8:]) != version:
		return h, nil, corrupt(path, "header", "version %d; this quarry reads version %d", le.Uint32(b[8:]), version)
	}
	h = Header{DType: store.DType(b[12]), Dim: int(le.Uint32(b[16:])), M: int(le.Uint32(b[20:])), EfConstruction: int(le.Uint32(b[24:])),
		FirstOrd: le.Uint32(b[28:]), LastOrd: le.Uint32(b[32:]), Rows: int64(le.Uint64(b[40:])), Docs: int64(le.Uint64(b[48:])), blob: int64(le.Uint64(b[56:]))}
	switch {
	case h.DType != store.F32 && h.DType != store.F16 && h.DType != store.Int8:
		return h, nil, corrupt(path, "header", "row type %d: graphs traverse f32, f16 or int8 rows", h.DType)
	case h.Dim < 1 || h.Dim > store.MaxDim:
		return h, nil, corrupt(path, "header", "dimension %d", h.Dim)
	case h.Rows < 1 || h.Docs < 1 || h.Docs > h.Rows || h.LastOrd < h.FirstOrd || int64(h.LastOrd-h.FirstOrd) < h.Docs-1:
		return h, nil, corrupt(path, "header", "%d rows of %d documents, ordinals %d..%d", h.Rows, h.Docs, h.FirstOrd, h.LastOrd)
	case h.blob != int64(len(b)-headerSize-trailerSize):
		return h, nil, corrupt(path, "header", "graph of %d bytes declared, the file has room for %d", h.blob, len(b)-headerSize-trailerSize)
	}
	blob := b[headerSize : headerSize+h.blob]
	t := b[headerSize+h.blob:]
	if string(t[4:]) != endMagic {
		return h, nil, corrupt(path, "trailer", "magic %q, want %q", t[4:], endMagic)
	}
	if c := store.CRC32C(blob); le.Uint32(t) != c {
		return h, nil, corrupt(path, "graph", "CRC-32C %08x, stored %08x", c, le.Uint32(t))
	}
	return h, blob, nil
}

// Read reads the graph file at path, checks it completely (framing,
// checksums, and with the native core every structural rule of the graph)
// and returns it (the caller closes it). Damage is a *store.CorruptError
// naming path.
func Read(fsys store.FS, path string) (Header, *search.HNSW, error) {
	b, err := store.ReadFileFS(fsys, path)
	if err != nil {
		return Header{}, nil, fmt.Errorf("hnsw graph: %w", err)
	}
	h, blob, err := Parse(path, b)
	if err != nil {
		return h, nil, err
	}
	g, err := search.LoadHNSW(blob)
	if err != nil {
		if errors.Is(err, search.ErrNoNative) {
			return h, nil, fmt.Errorf("hnsw graph %s: %w", path, err)
		}
		return h, nil, corrupt(path, "graph", "%v", err)
	}
	st := g.Stats()
	if st.N != h.Rows || st.Dim != h.Dim || st.M != h.M {
		g.Close()
		return h, nil, corrupt(path, "graph", "%d rows of dimension %d (M %d); the header says %d, %d (M %d)", st.N, st.Dim, st.M, h.Rows, h.Dim, h.M)
	}
	return h, g, nil
}

// Check verifies the header of a graph against the segment rows it is
// searched over.
func (h Header) Check(path string, v *store.Vectors, groups []uint32) error {
	if h.DType != v.DType || h.Dim != v.Dim || h.Rows != int64(v.N) || v.N == 0 || h.FirstOrd != groups[0] || h.LastOrd != groups[len(groups)-1] {
		return corrupt(path, "header (against the segment's vectors)", "built over %d %s rows of dimension %d (documents %d..%d); the segment has %d %s rows of dimension %d",
			h.Rows, h.DType, h.Dim, h.FirstOrd, h.LastOrd, v.N, v.DType, v.Dim)
	}
	return nil
}

func (h Header) stats() store.CopyStats {
	return store.CopyStats{Docs: h.Docs, Passages: h.Rows, FirstOrd: h.FirstOrd, LastOrd: h.LastOrd}
}

// FileKind declares the graph file to a store.Registry: key FileKey, one
// node per passage (store.HoldsPassages). Verify reads it completely (with
// the native core; without it, framing and checksums only). CopyFiltered
// rebuilds the graph over the compacted segment's vector file, which the
// registry has written before (the vectors kind comes first), with the
// source graph's M and ef_construction. Declare it after store.VectorsKind.
func FileKind() store.FileKind {
	return store.FileKind{Key: FileKey, Prefix: filePrefix, Ext: fileExt, Holds: store.HoldsPassages, Verify: verifyFS, CopyFiltered: rebuildFS}
}

func verifyFS(fsys store.FS, path string) (store.CopyStats, error) {
	h, g, err := Read(fsys, path)
	if errors.Is(err, search.ErrNoNative) {
		return h.stats(), nil // framing and checksums held; the graph's structure needs the native core
	}
	if err != nil {
		return store.CopyStats{}, err
	}
	g.Close()
	return h.stats(), nil
}

// segmentID is the id in a per-segment file name "<prefix>-<id>.<ext>".
func segmentID(path string) (uint64, error) {
	base := filepath.Base(path)
	_, rest, ok := strings.Cut(base, "-")
	num, _, ok2 := strings.Cut(rest, ".")
	id, err := strconv.ParseUint(num, 10, 64)
	if !ok || !ok2 || err != nil {
		return 0, fmt.Errorf("hnsw graph %s: not a per-segment file name", path)
	}
	return id, nil
}

func rebuildFS(fsys store.FS, dst, src string, _ store.Remap) (store.FileRef, store.CopyStats, error) {
	b, err := store.ReadFileFS(fsys, src)
	if err != nil {
		return store.FileRef{}, store.CopyStats{}, fmt.Errorf("hnsw graph: %w", err)
	}
	h, _, err := Parse(src, b)
	if err != nil {
		return store.FileRef{}, store.CopyStats{}, err
	}
	id, err := segmentID(dst)
	if err != nil {
		return store.FileRef{}, store.CopyStats{}, err
	}
	vpath := filepath.Join(filepath.Dir(dst), store.SegmentFileName(id))
	data, err := store.ReadSegmentFS(fsys, vpath)
	if err != nil {
		return store.FileRef{}, store.CopyStats{}, fmt.Errorf("rebuild hnsw graph %s over %s: %w", dst, vpath, err)
	}
	if data.Vectors.N == 0 {
		return store.FileRef{}, store.CopyStats{}, fmt.Errorf("rebuild hnsw graph %s: %w", dst, store.ErrNoDocuments)
	}
	ref, g, err := Build(context.Background(), fsys, dst, &data.Vectors, data.Groups, Params{M: h.M, EfConstruction: h.EfConstruction})
	if err != nil {
		return store.FileRef{}, store.CopyStats{}, err
	}
	g.Close()
	return ref, store.GroupStats(data.Groups), nil
}
