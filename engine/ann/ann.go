// Package ann keeps one HNSW graph per immutable segment: the graph file
// (hnsw-NNNNNN.qhnsw), its declaration to the store's segment-file
// registry, and building it from a segment's stored vectors.
//
// The graph file holds the neighbour lists and, uncompressed and aligned
// for the search kernels, the rows a search reads: the traversed rows (int8
// with per-row scales: an int8 index's rows, or an f16/f32 index's rows
// quantized), the full-precision rows the best candidates are rescored with
// (an f16/f32 index's own rows, an int8 index's rescore copy) and the rows'
// document ordinals. The graph itself is built over the stored rows. Open
// maps the file read-only, so that searching a segment does not decode its
// zstd vector file into memory: the resident
// set holds the pages the searches touch, and the kernel can drop them
// again (an index larger than RAM answers, with page faults). The file is
// derived from its segment's vectors: it is built before the segment's
// manifest commit, verified with the segment, and on compaction rebuilt
// over the compacted vector file (a graph's edges between surviving rows
// alone can leave survivors unreachable, so it is never filtered).
//
// File layout (little-endian; sections start at multiples of 64 bytes):
//
//	  0  magic "QHNSWSEG"
//	  8  u32 version (2)
//	 12  u8 dtype of the traversed rows (store.DType; int8 as written), u8
//	     dtype of the full-precision rows (0: none), 2 zero bytes
//	 16  u32 dim
//	 20  u32 M
//	 24  u32 ef_construction
//	 28  u32 first document ordinal, 32 u32 last document ordinal
//	 36  u32 zero
//	 40  u64 rows (passages), 48 u64 documents
//	 56  u64 length of the graph blob (at 128)
//	 64  u64 offset of the row section, 72 u64 its length
//	 80  u32 CRC-32C of the graph blob, 84 u32 CRC-32C of the row section
//	 88  32 zero bytes
//	120  u32 CRC-32C of bytes 0..119, u32 zero
//	128  graph blob (the native core's serialization, itself checksummed)
//	     zero padding to the row section, which holds, each padded to 64:
//	     rows × row bytes; int8: rows × f32 scale; the full-precision rows
//	     (and their scales when int8); rows × u32 document ordinal
//	end  u32 zero, "QHNE"
package ann

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
	version     = 2
	headerSize  = 128
	trailerSize = 8
	align       = 64
)

// FileName is the graph file of segment id: "hnsw-000001.qhnsw".
func FileName(id uint64) string { return store.FileName(filePrefix, id, fileExt) }

// Header describes a graph file: the rows it was built over and how.
type Header struct {
	DType             store.DType // of the traversed rows (int8 as Build writes them)
	Rescore           store.DType // of the full-precision rows (0: none)
	Dim               int
	M, EfConstruction int
	Rows, Docs        int64
	FirstOrd, LastOrd uint32 // document ordinals of the first and last row
	blob              int64
	rowsOff, rowsLen  int64
	blobCRC, rowsCRC  uint32
}

// MaxEf is the largest beam width of a graph search.
const MaxEf = search.MaxEf

// The largest M (the native core's limit) and ef_construction of a graph.
const (
	MaxM              = 128
	MaxEfConstruction = 4096
)

// Params are the build parameters of an index's graphs.
type Params = search.HNSWParams

// Rows is a segment's stored vectors as the search kernels read them.
func Rows(v *store.Vectors, groups []uint32) search.Vectors {
	return search.Vectors{Type: search.VecType(v.DType - 1), Dim: v.Dim, N: v.N, Data: v.Data, Scales: v.Scales, Groups: groups}
}

func pad(n int64) int64 { return (n + align - 1) / align * align }

// section is the layout of a row section: each part's offset within it.
type section struct {
	data, scales, resc, rescScales, groups, end int64
}

func layout(dt, rdt store.DType, dim int, rows int64) section {
	var s section
	s.data = 0
	off := pad(rows * int64(store.RowBytes(dt, dim)))
	s.scales = off
	if dt == store.Int8 {
		off += pad(4 * rows)
	}
	s.resc = off
	if rdt != 0 {
		off += pad(rows * int64(store.RowBytes(rdt, dim)))
	}
	s.rescScales = off
	if rdt == store.Int8 {
		off += pad(4 * rows)
	}
	s.groups = off
	s.end = off + pad(4*rows)
	return s
}

// Build builds the graph over v's rows (groups: their document ordinals,
// non-decreasing; rescore: an int8 segment's rescore copy, or nil) and
// writes the graph file to path through an atomic file, returning the
// file's reference and the graph (the caller closes it). Searches traverse
// int8 rows: v itself when it is int8, else v quantized to int8 (from its
// stored values, so a rebuild from the vector file gives the same bytes);
// the full-precision rows kept beside them for rescoring are v (f16, f32)
// or rescore (int8). Canceling ctx stops the build; nothing is left at path
// then.
func Build(ctx context.Context, fsys store.FS, path string, v *store.Vectors, groups []uint32, rescore *store.Vectors, p Params) (store.FileRef, *search.HNSW, error) {
	if v.N == 0 || len(groups) != v.N {
		return store.FileRef{}, nil, fmt.Errorf("hnsw graph %s: %d rows, %d groups: %w", path, v.N, len(groups), store.ErrNoDocuments)
	}
	trav, full := v, rescore
	if v.DType != store.Int8 {
		t, err := toInt8(v)
		if err != nil {
			return store.FileRef{}, nil, fmt.Errorf("hnsw graph %s: %w", path, err)
		}
		trav, full = t, v
	}
	if full != nil && (full.N != v.N || full.Dim != v.Dim) {
		return store.FileRef{}, nil, fmt.Errorf("hnsw graph %s: rescore copy of %d rows of dimension %d for %d rows of dimension %d", path, full.N, full.Dim, v.N, v.Dim)
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
	h := Header{DType: store.Int8, Dim: v.Dim, M: st.M, EfConstruction: st.EfConstruction, Rows: int64(v.N), Docs: cs.Docs, FirstOrd: cs.FirstOrd, LastOrd: cs.LastOrd}
	ref, err := write(fsys, path, h, blob, trav, groups, full)
	if err != nil {
		g.Close()
		return store.FileRef{}, nil, fmt.Errorf("hnsw graph: %w", err)
	}
	return ref, g, nil
}

// toInt8 quantizes v's rows (their stored values, widened) to int8 as an
// int8 index stores them, a block of rows at a time.
func toInt8(v *store.Vectors) (*store.Vectors, error) {
	out, err := store.NewVectors(store.Int8, v.Dim, v.N)
	if err != nil {
		return nil, err
	}
	const block = 4096
	buf := make([][]float32, 0, block)
	rb := out.RowBytes()
	for i := 0; i < v.N; i += block {
		buf = buf[:0]
		for r := i; r < min(i+block, v.N); r++ {
			buf = append(buf, v.Row(r))
		}
		q, err := store.Quantize(store.Int8, v.Dim, buf)
		if err != nil {
			return nil, fmt.Errorf("int8 traversal rows from row %d: %w", i, err)
		}
		copy(out.Data[i*rb:], q.Data)
		copy(out.Scales[i:], q.Scales)
	}
	return &out, nil
}

// parts is the row section's content in order, each part padded to 64.
func parts(v *store.Vectors, groups []uint32, rescore *store.Vectors) [][]byte {
	ps := [][]byte{v.Data}
	if v.DType == store.Int8 {
		ps = append(ps, store.AppendFloat32s(nil, v.Scales))
	}
	if rescore != nil {
		ps = append(ps, rescore.Data)
		if rescore.DType == store.Int8 {
			ps = append(ps, store.AppendFloat32s(nil, rescore.Scales))
		}
	}
	return append(ps, store.AppendUint32s(nil, groups))
}

var zeros [align]byte

func write(fsys store.FS, path string, h Header, blob []byte, v *store.Vectors, groups []uint32, rescore *store.Vectors) (store.FileRef, error) {
	if rescore != nil {
		h.Rescore = rescore.DType
	}
	h.blob = int64(len(blob))
	h.blobCRC = store.CRC32C(blob)
	h.rowsOff = pad(headerSize + h.blob)
	ps := parts(v, groups, rescore)
	for _, p := range ps {
		h.rowsCRC = store.UpdateCRC32C(h.rowsCRC, p)
		n := pad(int64(len(p))) - int64(len(p))
		h.rowsCRC = store.UpdateCRC32C(h.rowsCRC, zeros[:n])
		h.rowsLen += int64(len(p)) + n
	}
	if want := layout(h.DType, h.Rescore, h.Dim, h.Rows).end; h.rowsLen != want {
		return store.FileRef{}, fmt.Errorf("%s: row section of %d bytes, layout says %d", path, h.rowsLen, want)
	}
	a, err := store.CreateAtomicFS(fsys, path)
	if err != nil {
		return store.FileRef{}, err
	}
	w := func(b []byte) {
		if err == nil {
			_, err = a.Write(b)
		}
	}
	w(encodeHeader(h))
	w(blob)
	w(zeros[:h.rowsOff-headerSize-h.blob])
	for _, p := range ps {
		w(p)
		w(zeros[:pad(int64(len(p)))-int64(len(p))])
	}
	w([]byte{0, 0, 0, 0})
	w([]byte(endMagic))
	if err != nil {
		a.Abort()
		return store.FileRef{}, err
	}
	return a.Commit()
}

func encodeHeader(h Header) []byte {
	b := make([]byte, headerSize)
	copy(b, magic)
	le := binary.LittleEndian
	le.PutUint32(b[8:], version)
	b[12], b[13] = byte(h.DType), byte(h.Rescore)
	le.PutUint32(b[16:], uint32(h.Dim))
	le.PutUint32(b[20:], uint32(h.M))
	le.PutUint32(b[24:], uint32(h.EfConstruction))
	le.PutUint32(b[28:], h.FirstOrd)
	le.PutUint32(b[32:], h.LastOrd)
	le.PutUint64(b[40:], uint64(h.Rows))
	le.PutUint64(b[48:], uint64(h.Docs))
	le.PutUint64(b[56:], uint64(h.blob))
	le.PutUint64(b[64:], uint64(h.rowsOff))
	le.PutUint64(b[72:], uint64(h.rowsLen))
	le.PutUint32(b[80:], h.blobCRC)
	le.PutUint32(b[84:], h.rowsCRC)
	le.PutUint32(b[120:], store.CRC32C(b[:120]))
	return b
}

func corrupt(path, where, format string, args ...any) error {
	e := store.Corruptf(path, where, format, args...)
	e.Remedy = "rebuild the graph (quarry compact rebuilds every graph) or search with --exact"
	return e
}

// parseHeader checks the header's checksum and fields and that the file's
// size (total) fits the layout they declare.
func parseHeader(path string, b []byte, total int64) (Header, error) {
	var h Header
	le := binary.LittleEndian
	switch {
	case total < headerSize+trailerSize || len(b) < headerSize:
		return h, corrupt(path, "header", "%d bytes, shorter than a graph file's header and trailer", total)
	case string(b[:8]) != magic:
		return h, corrupt(path, "header", "magic %q, want %q (not a quarry HNSW graph)", b[:8], magic)
	case le.Uint32(b[8:]) != version:
		return h, corrupt(path, "header", "version %d; this quarry reads version %d", le.Uint32(b[8:]), version)
	case le.Uint32(b[120:]) != store.CRC32C(b[:120]):
		return h, corrupt(path, "header", "CRC-32C %08x, stored %08x", store.CRC32C(b[:120]), le.Uint32(b[120:]))
	}
	for _, z := range [][2]int{{14, 16}, {36, 40}, {88, 120}, {124, 128}} {
		for _, c := range b[z[0]:z[1]] {
			if c != 0 {
				return h, corrupt(path, "header", "reserved bytes %d..%d are not zero", z[0], z[1]-1)
			}
		}
	}
	h = Header{DType: store.DType(b[12]), Rescore: store.DType(b[13]), Dim: int(le.Uint32(b[16:])), M: int(le.Uint32(b[20:])), EfConstruction: int(le.Uint32(b[24:])),
		FirstOrd: le.Uint32(b[28:]), LastOrd: le.Uint32(b[32:]), Rows: int64(le.Uint64(b[40:])), Docs: int64(le.Uint64(b[48:])), blob: int64(le.Uint64(b[56:])),
		rowsOff: int64(le.Uint64(b[64:])), rowsLen: int64(le.Uint64(b[72:])), blobCRC: le.Uint32(b[80:]), rowsCRC: le.Uint32(b[84:])}
	traversable := func(d store.DType) bool { return d == store.F32 || d == store.F16 || d == store.Int8 }
	switch {
	case !traversable(h.DType):
		return h, corrupt(path, "header", "row type %d: graphs traverse f32, f16 or int8 rows", h.DType)
	case h.Rescore != 0 && !traversable(h.Rescore):
		return h, corrupt(path, "header", "rescore copy type %d: want f32, f16 or int8", h.Rescore)
	case h.Dim < 1 || h.Dim > store.MaxDim:
		return h, corrupt(path, "header", "dimension %d", h.Dim)
	case h.Rows < 1 || h.Rows > total || h.Docs < 1 || h.Docs > h.Rows || h.LastOrd < h.FirstOrd || int64(h.LastOrd-h.FirstOrd) < h.Docs-1:
		return h, corrupt(path, "header", "%d rows of %d documents, ordinals %d..%d", h.Rows, h.Docs, h.FirstOrd, h.LastOrd)
	case h.blob < 0 || h.blob > total || h.rowsOff != pad(headerSize+h.blob):
		return h, corrupt(path, "header", "graph of %d bytes and row section at %d do not fit a file of %d bytes", h.blob, h.rowsOff, total)
	case h.rowsLen != layout(h.DType, h.Rescore, h.Dim, h.Rows).end:
		return h, corrupt(path, "header", "row section of %d bytes; %d %s rows of dimension %d (rescore type %d) take %d", h.rowsLen, h.Rows, h.DType, h.Dim, h.Rescore, layout(h.DType, h.Rescore, h.Dim, h.Rows).end)
	case h.rowsOff+h.rowsLen+trailerSize != total:
		return h, corrupt(path, "header", "the sections end at %d; the file has %d bytes", h.rowsOff+h.rowsLen+trailerSize, total)
	}
	return h, nil
}

// File is an opened graph file: its header, the rows a search reads (in
// the file's memory: a mapping, or the bytes Parse was given) and the graph
// blob, loaded into the native core by Graph.
type File struct {
	Header
	Vectors store.Vectors  // the traversed rows (int8)
	Rescore *store.Vectors // the full-precision rows: an f16/f32 index's own, an int8 index's rescore copy (nil: none)
	Groups  []uint32       // document ordinal of each row, non-decreasing
	blob    []byte
	m       *store.Mapping
}

// Close releases the file's memory (unmaps it). The vectors and groups must
// not be used after it. Idempotent.
func (f *File) Close() error {
	if f.m != nil {
		return f.m.Close()
	}
	return nil
}

// Parse checks a whole graph file held in b (framing, checksums, the row
// section's structure) in pure Go and returns it, its rows pointing into b.
// The graph blob is checked again, structurally, by Graph.
func Parse(path string, b []byte) (*File, error) {
	h, err := parseHeader(path, b, int64(len(b)))
	if err != nil {
		return nil, err
	}
	return parseBody(path, b, h, func(off, n int64) (uint32, error) { return store.CRC32C(b[off : off+n]), nil })
}

func parseBody(path string, b []byte, h Header, crc func(off, n int64) (uint32, error)) (*File, error) {
	if t := b[len(b)-trailerSize:]; string(t[4:]) != endMagic || t[0]|t[1]|t[2]|t[3] != 0 {
		return nil, corrupt(path, "trailer", "% x, want 00 00 00 00 %q", t, endMagic)
	}
	for _, z := range b[headerSize+h.blob : h.rowsOff] {
		if z != 0 {
			return nil, corrupt(path, "graph", "padding after the graph is not zero")
		}
	}
	if c, err := crc(headerSize, h.blob); err != nil {
		return nil, err
	} else if c != h.blobCRC {
		return nil, corrupt(path, "graph", "CRC-32C %08x, stored %08x", c, h.blobCRC)
	}
	if c, err := crc(h.rowsOff, h.rowsLen); err != nil {
		return nil, err
	} else if c != h.rowsCRC {
		return nil, corrupt(path, "rows", "CRC-32C %08x, stored %08x", c, h.rowsCRC)
	}
	l := layout(h.DType, h.Rescore, h.Dim, h.Rows)
	sec := b[h.rowsOff : h.rowsOff+h.rowsLen]
	n := int(h.Rows)
	f := &File{Header: h, blob: b[headerSize : headerSize+h.blob]}
	f.Vectors = store.Vectors{DType: h.DType, Dim: h.Dim, N: n, Data: sec[l.data : l.data+int64(n*store.RowBytes(h.DType, h.Dim))]}
	if h.DType == store.Int8 {
		f.Vectors.Scales = store.Float32sInPlace(sec[l.scales : l.scales+4*h.Rows])
	}
	if h.Rescore != 0 {
		r := store.Vectors{DType: h.Rescore, Dim: h.Dim, N: n, Data: sec[l.resc : l.resc+int64(n*store.RowBytes(h.Rescore, h.Dim))]}
		if h.Rescore == store.Int8 {
			r.Scales = store.Float32sInPlace(sec[l.rescScales : l.rescScales+4*h.Rows])
		}
		f.Rescore = &r
	}
	f.Groups = store.Uint32sInPlace(sec[l.groups : l.groups+4*h.Rows])
	gs := f.Groups
	for i := 1; i < len(gs); i++ {
		if gs[i] < gs[i-1] {
			return nil, corrupt(path, "rows", "document ordinal of row %d is %d, below row %d's %d", i, gs[i], i-1, gs[i-1])
		}
	}
	if cs := store.GroupStats(gs); cs.FirstOrd != h.FirstOrd || cs.LastOrd != h.LastOrd || cs.Docs != h.Docs {
		return nil, corrupt(path, "rows", "%d documents, ordinals %d..%d; the header says %d, %d..%d", cs.Docs, cs.FirstOrd, cs.LastOrd, h.Docs, h.FirstOrd, h.LastOrd)
	}
	return f, nil
}

// Open maps the graph file at path and checks it as Parse does; the
// checksums are computed by reading the file, so that only the searches'
// pages enter the resident set. Damage is a *store.CorruptError naming
// path. The caller closes the file.
func Open(path string) (*File, error) {
	m, err := store.MapFile(path)
	if err != nil {
		return nil, fmt.Errorf("hnsw graph: %w", err)
	}
	b := m.Bytes()
	h, err := parseHeader(path, b, int64(len(b)))
	if err != nil {
		m.Close()
		return nil, err
	}
	fd, err := store.OS().Open(path)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("hnsw graph: %w", err)
	}
	defer fd.Close()
	buf := make([]byte, 1<<20)
	f, err := parseBody(path, b, h, func(off, n int64) (uint32, error) {
		var c uint32
		for n > 0 {
			k := min(n, int64(len(buf)))
			if _, err := io.ReadFull(io.NewSectionReader(fd, off, k), buf[:k]); err != nil {
				return 0, fmt.Errorf("hnsw graph %s: %w", path, err)
			}
			c = store.UpdateCRC32C(c, buf[:k])
			off, n = off+k, n-k
		}
		return c, nil
	})
	if err != nil {
		m.Close()
		return nil, err
	}
	f.m = m
	return f, nil
}

// Graph loads the graph into the native core (every structural rule
// checked) and returns it; the caller closes it. Each call loads a new copy.
func (f *File) Graph(path string) (*search.HNSW, error) {
	g, err := search.LoadHNSW(f.blob)
	if err != nil {
		if errors.Is(err, search.ErrNoNative) {
			return nil, fmt.Errorf("hnsw graph %s: %w", path, err)
		}
		return nil, corrupt(path, "graph", "%v", err)
	}
	st := g.Stats()
	if st.N != f.Rows || st.Dim != f.Dim || st.M != f.M {
		g.Close()
		return nil, corrupt(path, "graph", "%d rows of dimension %d (M %d); the header says %d, %d (M %d)", st.N, st.Dim, st.M, f.Rows, f.Dim, f.M)
	}
	return g, nil
}

// Read reads the graph file at path through fsys, checks it completely
// (framing, checksums, and with the native core every structural rule of
// the graph) and returns its header and graph (the caller closes it).
func Read(fsys store.FS, path string) (Header, *search.HNSW, error) {
	b, err := store.ReadFileFS(fsys, path)
	if err != nil {
		return Header{}, nil, fmt.Errorf("hnsw graph: %w", err)
	}
	f, err := Parse(path, b)
	if err != nil {
		return Header{}, nil, err
	}
	g, err := f.Graph(path)
	return f.Header, g, err
}

// CheckSegment verifies the header of a graph against the manifest's
// segment it belongs to: its passages and documents, and the rows of an
// index of dtype dt (rescore: its rescore copy's dtype) and dimension dim:
// int8 traversal rows, and beside them dt's rows (f16, f32) or the rescore
// copy (int8).
func (h Header) CheckSegment(path string, s store.Segment, dt, rescore store.DType, dim int) error {
	full := dt
	if dt == store.Int8 {
		full = rescore
	}
	if h.DType != store.Int8 || h.Rescore != full || h.Dim != dim || h.Rows != s.NumPassages || h.Docs > s.NumDocs || h.FirstOrd < s.DocOrdStart || h.LastOrd >= s.DocOrdEnd {
		return corrupt(path, "header (against the manifest)", "%d %s rows of dimension %d (full-precision rows: type %d) of %d documents %d..%d; segment %d of a %s index has %d passages of dimension %d, documents [%d, %d), so int8 rows and type %d",
			h.Rows, h.DType, h.Dim, h.Rescore, h.Docs, h.FirstOrd, h.LastOrd, s.ID, dt, s.NumPassages, dim, s.DocOrdStart, s.DocOrdEnd, full)
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
	m, efc, err := buildParams(fsys, src)
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
	ref, g, err := Build(context.Background(), fsys, dst, &data.Vectors, data.Groups, data.Rescore, Params{M: m, EfConstruction: efc})
	if err != nil {
		return store.FileRef{}, store.CopyStats{}, err
	}
	g.Close()
	return ref, store.GroupStats(data.Groups), nil
}

// buildParams reads M and ef_construction from the header of the graph file
// at path: of this version, or of version 1 (whose graph files, which kept
// no rows, compaction rebuilds in this version).
func buildParams(fsys store.FS, path string) (m, efc int, err error) {
	f, err := fsys.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("hnsw graph: %w", err)
	}
	defer f.Close()
	b := make([]byte, headerSize)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, 0, fmt.Errorf("hnsw graph %s: %w", path, err)
	}
	b = b[:n]
	le := binary.LittleEndian
	ok := len(b) >= 72 && string(b[:8]) == magic
	if ok {
		switch le.Uint32(b[8:]) {
		case 1:
			ok = le.Uint32(b[64:]) == store.CRC32C(b[:64])
		case version:
			ok = len(b) == headerSize && le.Uint32(b[120:]) == store.CRC32C(b[:120])
		default:
			ok = false
		}
	}
	if !ok {
		return 0, 0, corrupt(path, "header", "not a readable graph header (magic, version 1 or %d, checksum)", version)
	}
	m, efc = int(le.Uint32(b[20:])), int(le.Uint32(b[24:]))
	if m < 2 || m > MaxM || efc < 1 || efc > MaxEfConstruction {
		return 0, 0, corrupt(path, "header", "M %d, ef_construction %d", m, efc)
	}
	return m, efc, nil
}
