package store

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Vector segment files (seg-NNNNNN.qvec): a block container (container.go)
// with magic "QVEC". Rows are cut into blocks of BlockRows rows; block b is
// stored as up to four consecutive container blocks, in this order:
//
//	series 1 vectors  rows × RowBytes(dtype, dim)   shuffled by element size (f32, f16)
//	series 2 scales   rows × float32                int8 only; shuffled by 4
//	series 3 groups   rows × uint32 document ordinal delta-coded
//	series 4 rescore  rows × RowBytes(rescore, dim) only when the segment has rescore vectors
//
// so a reader can stream a segment one block at a time and needs only the
// block it is scanning in memory. See FORMAT.md for the byte layout.

const (
	segMagic = "QVEC"

	seriesVectors = 1
	seriesScales  = 2
	seriesGroups  = 3
	seriesRescore = 4

	// DefaultBlockRows is the rows per block of a segment: 1.5 MiB of 384-d
	// f32, 48 KiB of 384-d binary. Smaller blocks make rescoring (which
	// decodes whole rescore blocks to fetch a few rows) cheaper; larger ones
	// compress no better on float data (measured: TestBytesPerVector).
	DefaultBlockRows = 1024
	// DefaultLevel is the zstd level of vector segments and tombstones.
	// Level 1 compresses shuffled float blocks as well as level 3 or better
	// (f32: 0.841 vs 0.852 of raw) and 1.6× faster (measured: FORMAT.md).
	DefaultLevel = 1
	// maxSegBlockBytes bounds one decoded block of one series.
	maxSegBlockBytes = 256 << 20
)

// SegmentParams describe a segment to write. DType, Dim and Count are
// required; the rest have defaults.
type SegmentParams struct {
	DType DType
	Dim   int
	// Count is the total number of rows (passages) the segment will hold;
	// it is recorded in the header, which is written first.
	Count int
	// Rescore is the dtype of the full-precision copy kept for rescoring
	// (F16 or F32), or 0 for none. Int8 and Binary segments should keep one.
	Rescore DType
	// BlockRows is the rows per block; 0 means DefaultBlockRows.
	BlockRows int
	// Level is the zstd level; 0 means DefaultLevel, a negative level stores
	// every block uncompressed.
	Level int
	// NoShuffle disables byte shuffling of f32/f16 values and scales before
	// compression (on by default: shuffled f32/f16 blocks shrink to ~0.85
	// of raw, unshuffled ones to ~0.92).
	NoShuffle bool
	// MinSaving keeps a zstd frame only when it saves at least 1/MinSaving of
	// the block; otherwise the block is stored raw. 0 means 32 (3%); a
	// negative value keeps every frame.
	MinSaving int
	// FS is the file system the segment is written to; nil is OSFS.
	FS FS
}

func (p *SegmentParams) withDefaults() SegmentParams {
	q := *p
	if q.BlockRows == 0 {
		q.BlockRows = DefaultBlockRows
	}
	if q.Level == 0 {
		q.Level = DefaultLevel
	}
	if q.MinSaving == 0 {
		q.MinSaving = 32
	} else if q.MinSaving < 0 {
		q.MinSaving = 0
	}
	return q
}

// check validates the segment shape (shared by writer and reader).
func checkSegmentShape(dt, rescore DType, dim, count, blockRows int) error {
	rb := RowBytes(dt, dim)
	if rb == 0 {
		return fmt.Errorf("dtype %v, dim %d: need dtype f32/f16/int8/binary and dim in [1, %d]", dt, dim, MaxDim)
	}
	if rescore != 0 && rescore != F16 && rescore != F32 {
		return fmt.Errorf("rescore dtype %v (want f16, f32 or none)", rescore)
	}
	if count < 0 || count > math.MaxUint32 {
		return fmt.Errorf("count %d out of range [0, 2³²)", count)
	}
	widest := max(rb, RowBytes(rescore, dim), 4)
	if blockRows < 1 || blockRows > maxSegBlockBytes/widest {
		return fmt.Errorf("block rows %d out of range (a block holds at most %d bytes)", blockRows, maxSegBlockBytes)
	}
	return nil
}

// SegmentWriter writes a segment file block by block; rows are appended in
// order with Append and the file appears, complete, on Commit.
type SegmentWriter struct {
	cw      *containerWriter
	p       SegmentParams
	rb, rrb int
	first   uint32
	last    uint32

	vec    []byte
	scales []float32
	groups []uint32
	resc   []byte
	tmp    []byte
	n      int // rows in the pending block
	rows   int // rows appended in total
	block  int
	err    error
}

// NewSegmentWriter creates path (which must not exist) for a segment shaped
// by p.
func NewSegmentWriter(path string, p SegmentParams) (*SegmentWriter, error) {
	p = p.withDefaults()
	if err := checkSegmentShape(p.DType, p.Rescore, p.Dim, p.Count, p.BlockRows); err != nil {
		return nil, fmt.Errorf("write segment %s: %w", path, err)
	}
	var h [headerSize]byte
	h[8], h[9] = byte(p.DType), byte(p.Rescore)
	binary.LittleEndian.PutUint32(h[12:], uint32(p.Dim))
	binary.LittleEndian.PutUint64(h[16:], uint64(p.Count))
	binary.LittleEndian.PutUint32(h[24:], uint32(p.BlockRows))
	binary.LittleEndian.PutUint32(h[28:], uint32((p.Count+p.BlockRows-1)/p.BlockRows))
	cw, err := newContainerWriter(p.FS, path, segMagic, &h, compressOpts{level: p.Level, minSaving: p.MinSaving})
	if err != nil {
		return nil, fmt.Errorf("write segment: %w", err)
	}
	w := &SegmentWriter{cw: cw, p: p, rb: RowBytes(p.DType, p.Dim)}
	blk := min(p.BlockRows, p.Count)
	w.vec = make([]byte, 0, blk*w.rb)
	w.groups = make([]uint32, 0, blk)
	if p.DType == Int8 {
		w.scales = make([]float32, 0, blk)
	}
	if p.Rescore != 0 {
		w.rrb = RowBytes(p.Rescore, p.Dim)
		w.resc = make([]byte, 0, blk*w.rrb)
	}
	return w, nil
}

// Append adds vecs.N rows: the vectors, the document ordinal of each row
// (groups, non-decreasing across the whole segment: a document's passages
// are consecutive rows) and, when the segment keeps them, the rescore
// vectors of the same rows. Values are validated (Vectors.Validate).
func (w *SegmentWriter) Append(vecs Vectors, groups []uint32, rescore *Vectors) error {
	if w.err != nil {
		return w.err
	}
	if err := w.append(vecs, groups, rescore); err != nil {
		w.err = fmt.Errorf("write segment %s: rows %d..%d: %w", w.cw.af.path, w.rows, w.rows+vecs.N, err)
		w.cw.abort()
		return w.err
	}
	return nil
}

func (w *SegmentWriter) append(vecs Vectors, groups []uint32, rescore *Vectors) error {
	if vecs.DType != w.p.DType || vecs.Dim != w.p.Dim {
		return fmt.Errorf("vectors are %v×%d, segment is %v×%d", vecs.DType, vecs.Dim, w.p.DType, w.p.Dim)
	}
	if err := vecs.Validate(); err != nil {
		return err
	}
	if len(groups) != vecs.N {
		return fmt.Errorf("%d groups for %d vectors", len(groups), vecs.N)
	}
	if w.rows+vecs.N > w.p.Count {
		return fmt.Errorf("more rows than the declared count %d", w.p.Count)
	}
	for i, g := range groups {
		if (w.rows > 0 || i > 0) && g < w.last {
			return fmt.Errorf("group of row %d is %d, after %d: groups must be non-decreasing", w.rows+i, g, w.last)
		}
		if w.rows == 0 && i == 0 {
			w.first = g
		}
		w.last = g
	}
	if (rescore != nil) != (w.p.Rescore != 0) {
		return fmt.Errorf("rescore vectors given: %v, segment keeps them: %v", rescore != nil, w.p.Rescore != 0)
	}
	if rescore != nil {
		if rescore.DType != w.p.Rescore || rescore.Dim != w.p.Dim || rescore.N != vecs.N {
			return fmt.Errorf("rescore vectors are %d×%v×%d, want %d×%v×%d", rescore.N, rescore.DType, rescore.Dim, vecs.N, w.p.Rescore, w.p.Dim)
		}
		if err := rescore.Validate(); err != nil {
			return fmt.Errorf("rescore %w", err)
		}
	}
	for i := 0; i < vecs.N; {
		k := min(vecs.N-i, w.p.BlockRows-w.n)
		w.vec = append(w.vec, vecs.Data[i*w.rb:(i+k)*w.rb]...)
		if w.scales != nil {
			w.scales = append(w.scales, vecs.Scales[i:i+k]...)
		}
		w.groups = append(w.groups, groups[i:i+k]...)
		if rescore != nil {
			w.resc = append(w.resc, rescore.Data[i*w.rrb:(i+k)*w.rrb]...)
		}
		w.n += k
		w.rows += k
		i += k
		if w.n == w.p.BlockRows {
			if err := w.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush writes the pending block.
func (w *SegmentWriter) flush() error {
	b, rows := uint32(w.block), uint32(w.n)
	shuf := func(d DType) (uint8, uint8) {
		if w.p.NoShuffle || d.elemSize() == 1 {
			return filterNone, 0
		}
		return filterShuffle, uint8(d.elemSize())
	}
	f, prm := shuf(w.p.DType)
	if err := w.cw.add(seriesVectors, w.vec, f, prm, b, rows); err != nil {
		return fmt.Errorf("block %d vectors: %w", b, err)
	}
	if w.scales != nil {
		w.tmp = AppendFloat32s(w.tmp[:0], w.scales)
		f, prm := shuf(F32)
		if err := w.cw.add(seriesScales, w.tmp, f, prm, b, rows); err != nil {
			return fmt.Errorf("block %d scales: %w", b, err)
		}
	}
	w.tmp = AppendUint32s(w.tmp[:0], w.groups)
	if err := w.cw.add(seriesGroups, w.tmp, filterDelta32, 0, b, rows); err != nil {
		return fmt.Errorf("block %d groups: %w", b, err)
	}
	if w.resc != nil {
		f, prm := shuf(w.p.Rescore)
		if err := w.cw.add(seriesRescore, w.resc, f, prm, b, rows); err != nil {
			return fmt.Errorf("block %d rescore: %w", b, err)
		}
	}
	w.vec, w.groups, w.n = w.vec[:0], w.groups[:0], 0
	if w.scales != nil {
		w.scales = w.scales[:0]
	}
	if w.resc != nil {
		w.resc = w.resc[:0]
	}
	w.block++
	return nil
}

// Commit writes the last block, the footer and the trailer, and publishes
// the file (fsync, no-clobber rename, fsync of the directory). Exactly
// Count rows must have been appended.
func (w *SegmentWriter) Commit() (FileRef, error) {
	if w.err != nil {
		return FileRef{}, w.err
	}
	path := w.cw.af.path
	if w.rows != w.p.Count {
		w.cw.abort()
		w.err = fmt.Errorf("write segment %s: %d rows appended, header declares %d", path, w.rows, w.p.Count)
		return FileRef{}, w.err
	}
	if w.n > 0 {
		if err := w.flush(); err != nil {
			w.cw.abort()
			w.err = fmt.Errorf("write segment %s: %w", path, err)
			return FileRef{}, w.err
		}
	}
	var meta [footerMetaLen]byte
	binary.LittleEndian.PutUint32(meta[0:], w.first)
	binary.LittleEndian.PutUint32(meta[4:], w.last)
	ref, err := w.cw.finish(&meta)
	if err != nil {
		w.err = fmt.Errorf("write segment: %w", err)
		return FileRef{}, w.err
	}
	w.err = fmt.Errorf("write segment %s: already committed", path)
	return ref, nil
}

// Abort discards the unfinished file.
func (w *SegmentWriter) Abort() error {
	if w.err != nil {
		return nil
	}
	w.err = fmt.Errorf("write segment %s: aborted", w.cw.af.path)
	return w.cw.abort()
}

// WriteSegment writes vecs (with one document ordinal per row in groups, and
// rescore vectors or nil) to a new segment file at path with default
// parameters and returns its FileRef. The file is written to a temporary
// name, fsynced and renamed; an existing path is never replaced.
func WriteSegment(path string, vecs Vectors, groups []uint32, rescore *Vectors) (FileRef, error) {
	p := SegmentParams{DType: vecs.DType, Dim: vecs.Dim, Count: vecs.N}
	if rescore != nil {
		p.Rescore = rescore.DType
	}
	return WriteSegmentParams(path, p, vecs, groups, rescore)
}

// WriteSegmentParams is WriteSegment with explicit parameters (block rows,
// zstd level, shuffling); p.Count must equal vecs.N.
func WriteSegmentParams(path string, p SegmentParams, vecs Vectors, groups []uint32, rescore *Vectors) (FileRef, error) {
	w, err := NewSegmentWriter(path, p)
	if err != nil {
		return FileRef{}, err
	}
	if err := w.Append(vecs, groups, rescore); err != nil {
		return FileRef{}, err
	}
	return w.Commit()
}

// AppendFloat32s appends f to b as little-endian float32s.
func AppendFloat32s(b []byte, f []float32) []byte {
	for _, v := range f {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// AppendUint32s appends u to b as little-endian uint32s.
func AppendUint32s(b []byte, u []uint32) []byte {
	for _, v := range u {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

// SegmentInfo describes a segment file (from its header and footer).
type SegmentInfo struct {
	DType     DType
	Dim       int
	Count     int   // rows (passages)
	Rescore   DType // 0 when the segment keeps no rescore vectors
	BlockRows int
	NumBlocks int
	// FirstGroup and LastGroup are the document ordinals of the first and
	// last rows (0 when Count is 0).
	FirstGroup, LastGroup uint32
}

// SegmentReader reads a segment one block at a time (for searching segments
// larger than memory). It verifies the header, footer and trailer when
// opened and each block's CRC-32C when read. It is safe for concurrent use.
type SegmentReader struct {
	c      *containerReader
	info   SegmentInfo
	per    int // container entries per block
	closer io.Closer
}

// OpenSegment opens a segment file for block-by-block reading.
func OpenSegment(path string) (*SegmentReader, error) { return OpenSegmentFS(OSFS{}, path) }

// OpenSegmentFS is OpenSegment on the file system fsys (nil: OSFS).
func OpenSegmentFS(fsys FS, path string) (*SegmentReader, error) {
	f, err := orOS(fsys).Open(path)
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open segment: %w", err)
	}
	r, err := NewSegmentReader(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// NewSegmentReader reads a segment of size bytes from r; name is used in
// errors. Close does not close r.
func NewSegmentReader(r io.ReaderAt, size int64, name string) (*SegmentReader, error) {
	c, err := openContainer(r, size, name, segMagic, "vector segment")
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	s := &SegmentReader{c: c}
	if err := s.parse(); err != nil {
		c.close()
		return nil, fmt.Errorf("open segment: %w", err)
	}
	return s, nil
}

func (s *SegmentReader) parse() error {
	h, path := &s.c.header, s.c.path
	bad := func(format string, args ...any) error { return corrupt(path, "header", format, args...) }
	for _, b := range append(h[10:12:12], h[32:60]...) {
		if b != 0 {
			return bad("reserved bytes are not zero")
		}
	}
	in := SegmentInfo{
		DType:     DType(h[8]),
		Rescore:   DType(h[9]),
		Dim:       int(binary.LittleEndian.Uint32(h[12:])),
		BlockRows: int(binary.LittleEndian.Uint32(h[24:])),
		NumBlocks: int(binary.LittleEndian.Uint32(h[28:])),
	}
	count := binary.LittleEndian.Uint64(h[16:])
	if count > math.MaxUint32 {
		return bad("count %d out of range", count)
	}
	in.Count = int(count)
	if err := checkSegmentShape(in.DType, in.Rescore, in.Dim, in.Count, in.BlockRows); err != nil {
		return bad("%v", err)
	}
	if in.NumBlocks != (in.Count+in.BlockRows-1)/in.BlockRows {
		return bad("%d blocks for %d rows of %d per block", in.NumBlocks, in.Count, in.BlockRows)
	}
	m := s.c.meta
	in.FirstGroup = binary.LittleEndian.Uint32(m[0:])
	in.LastGroup = binary.LittleEndian.Uint32(m[4:])
	for _, b := range m[8:] {
		if b != 0 {
			return corrupt(path, "footer", "reserved metadata bytes are not zero")
		}
	}
	if in.FirstGroup > in.LastGroup || in.Count == 0 && in.LastGroup != 0 {
		return corrupt(path, "footer", "group range %d..%d is invalid for %d rows", in.FirstGroup, in.LastGroup, in.Count)
	}
	s.per = 2
	if in.DType == Int8 {
		s.per++
	}
	if in.Rescore != 0 {
		s.per++
	}
	if len(s.c.entries) != in.NumBlocks*s.per {
		return corrupt(path, "footer", "%d entries, want %d (%d blocks × %d series)", len(s.c.entries), in.NumBlocks*s.per, in.NumBlocks, s.per)
	}
	s.info = in
	for b := 0; b < in.NumBlocks; b++ {
		start, end := s.BlockRange(b)
		rows := end - start
		for k := 0; k < s.per; k++ {
			e := &s.c.entries[b*s.per+k]
			series := s.seriesAt(k)
			if e.series != series || int(e.aux0) != b || int(e.aux1) != rows || int(e.raw) != rows*s.seriesRowBytes(series) {
				return corrupt(path, fmt.Sprintf("footer entry %d", b*s.per+k),
					"series %d, block %d, %d rows, %d bytes; want series %d, block %d, %d rows, %d bytes",
					e.series, e.aux0, e.aux1, e.raw, series, b, rows, rows*s.seriesRowBytes(series))
			}
		}
	}
	return nil
}

// seriesAt is the series of the k-th entry of every block.
func (s *SegmentReader) seriesAt(k int) uint8 {
	if s.info.DType == Int8 {
		return [...]uint8{seriesVectors, seriesScales, seriesGroups, seriesRescore}[k]
	}
	return [...]uint8{seriesVectors, seriesGroups, seriesRescore}[k]
}

func (s *SegmentReader) entryIndex(b int, series uint8) int {
	for k := 0; k < s.per; k++ {
		if s.seriesAt(k) == series {
			return b*s.per + k
		}
	}
	return -1
}

func (s *SegmentReader) seriesRowBytes(series uint8) int {
	switch series {
	case seriesVectors:
		return RowBytes(s.info.DType, s.info.Dim)
	case seriesRescore:
		return RowBytes(s.info.Rescore, s.info.Dim)
	}
	return 4
}

var seriesNames = [...]string{seriesVectors: "vectors", seriesScales: "int8 scales", seriesGroups: "groups", seriesRescore: "rescore vectors"}

func (s *SegmentReader) where(b int, series uint8) string {
	start, end := s.BlockRange(b)
	return fmt.Sprintf("block %d (%s, rows %d-%d)", b, seriesNames[series], start, end-1)
}

// Info describes the segment.
func (s *SegmentReader) Info() SegmentInfo { return s.info }

// BlockRange returns the rows [start, end) of block b.
func (s *SegmentReader) BlockRange(b int) (start, end int) {
	start = b * s.info.BlockRows
	return start, min(start+s.info.BlockRows, s.info.Count)
}

// Block is one decoded block of a segment. Its buffers are reused by the
// next ReadBlock into the same Block; use one Block per goroutine.
type Block struct {
	Index   int     // block number
	Start   int     // segment row of the block's first row
	Vectors Vectors // the block's rows (64-byte aligned Data)
	Groups  []uint32
	buf     blockBuf
	tmp     []byte
}

// ReadBlock decodes block b's vectors (and int8 scales) and groups into dst.
func (s *SegmentReader) ReadBlock(b int, dst *Block) error {
	if b < 0 || b >= s.info.NumBlocks {
		return fmt.Errorf("read segment %s: block %d out of range [0, %d)", s.c.path, b, s.info.NumBlocks)
	}
	start, end := s.BlockRange(b)
	n := end - start
	rb := RowBytes(s.info.DType, s.info.Dim)
	dst.Index, dst.Start = b, start
	v := &dst.Vectors
	v.DType, v.Dim, v.N = s.info.DType, s.info.Dim, n
	v.Data = reuseAligned(v.Data, n*rb)
	if err := s.c.readBlock(s.entryIndex(b, seriesVectors), v.Data, &dst.buf, func() string { return s.where(b, seriesVectors) }); err != nil {
		return fmt.Errorf("read segment: %w", err)
	}
	var err error
	if s.info.DType == Int8 {
		if v.Scales, err = s.readScales(b, v.Scales[:0], &dst.buf, &dst.tmp); err != nil {
			return err
		}
	} else {
		v.Scales = nil
	}
	dst.Groups, err = s.readGroups(b, dst.Groups[:0], &dst.buf, &dst.tmp)
	return err
}

// ReadGroups appends block b's document ordinals to dst.
func (s *SegmentReader) ReadGroups(b int, dst []uint32) ([]uint32, error) {
	if b < 0 || b >= s.info.NumBlocks {
		return nil, fmt.Errorf("read segment %s: block %d out of range [0, %d)", s.c.path, b, s.info.NumBlocks)
	}
	var buf blockBuf
	var tmp []byte
	return s.readGroups(b, dst, &buf, &tmp)
}

func (s *SegmentReader) readScales(b int, dst []float32, buf *blockBuf, tmp *[]byte) ([]float32, error) {
	start, end := s.BlockRange(b)
	*tmp = growBytes(*tmp, 4*(end-start))
	if err := s.c.readBlock(s.entryIndex(b, seriesScales), *tmp, buf, func() string { return s.where(b, seriesScales) }); err != nil {
		return nil, fmt.Errorf("read segment: %w", err)
	}
	for i := 0; i < end-start; i++ {
		f := math.Float32frombits(binary.LittleEndian.Uint32((*tmp)[4*i:]))
		if !(f > 0) || math.IsInf(float64(f), 0) {
			return nil, fmt.Errorf("read segment: %w", corrupt(s.c.path, s.where(b, seriesScales), "scale of row %d is %g (want finite, positive)", start+i, f))
		}
		dst = append(dst, f)
	}
	return dst, nil
}

func (s *SegmentReader) readGroups(b int, dst []uint32, buf *blockBuf, tmp *[]byte) ([]uint32, error) {
	start, end := s.BlockRange(b)
	*tmp = growBytes(*tmp, 4*(end-start))
	if err := s.c.readBlock(s.entryIndex(b, seriesGroups), *tmp, buf, func() string { return s.where(b, seriesGroups) }); err != nil {
		return nil, fmt.Errorf("read segment: %w", err)
	}
	prev := s.info.FirstGroup
	for i := 0; i < end-start; i++ {
		g := binary.LittleEndian.Uint32((*tmp)[4*i:])
		if g < prev || g > s.info.LastGroup || start+i == 0 && g != s.info.FirstGroup || start+i == s.info.Count-1 && g != s.info.LastGroup {
			return nil, fmt.Errorf("read segment: %w", corrupt(s.c.path, s.where(b, seriesGroups),
				"group %d of row %d breaks the non-decreasing order within %d..%d", g, start+i, s.info.FirstGroup, s.info.LastGroup))
		}
		prev = g
		dst = append(dst, g)
	}
	return dst, nil
}

// ReadRescore decodes block b's rescore vectors into dst (reusing its Data
// when large enough and aligned).
func (s *SegmentReader) ReadRescore(b int, dst *Vectors) error {
	if s.info.Rescore == 0 {
		return fmt.Errorf("read segment %s: the segment keeps no rescore vectors", s.c.path)
	}
	if b < 0 || b >= s.info.NumBlocks {
		return fmt.Errorf("read segment %s: block %d out of range [0, %d)", s.c.path, b, s.info.NumBlocks)
	}
	start, end := s.BlockRange(b)
	n := end - start
	dst.DType, dst.Dim, dst.N, dst.Scales = s.info.Rescore, s.info.Dim, n, nil
	dst.Data = reuseAligned(dst.Data, n*RowBytes(s.info.Rescore, s.info.Dim))
	var buf blockBuf
	if err := s.c.readBlock(s.entryIndex(b, seriesRescore), dst.Data, &buf, func() string { return s.where(b, seriesRescore) }); err != nil {
		return fmt.Errorf("read segment: %w", err)
	}
	return nil
}

// SegmentData is a whole segment decoded into memory by ReadSegment.
type SegmentData struct {
	Info    SegmentInfo
	Vectors Vectors  // Count rows, 64-byte aligned Data
	Groups  []uint32 // document ordinal of each row, non-decreasing
	Rescore *Vectors // nil when the segment keeps none
}

// ReadAll decodes every block into memory.
func (s *SegmentReader) ReadAll() (*SegmentData, error) {
	in := s.info
	vecs, err := NewVectors(in.DType, in.Dim, in.Count)
	if err != nil {
		return nil, fmt.Errorf("read segment %s: %w", s.c.path, err)
	}
	d := &SegmentData{Info: in, Vectors: vecs, Groups: make([]uint32, 0, in.Count)}
	if in.Rescore != 0 {
		r, err := NewVectors(in.Rescore, in.Dim, in.Count)
		if err != nil {
			return nil, fmt.Errorf("read segment %s: %w", s.c.path, err)
		}
		d.Rescore = &r
	}
	if in.DType == Int8 {
		d.Vectors.Scales = d.Vectors.Scales[:0]
	}
	rb, rrb := RowBytes(in.DType, in.Dim), RowBytes(in.Rescore, in.Dim)
	var buf blockBuf
	var tmp []byte
	for b := 0; b < in.NumBlocks; b++ {
		start, end := s.BlockRange(b)
		if err := s.c.readBlock(s.entryIndex(b, seriesVectors), d.Vectors.Data[start*rb:end*rb], &buf, func() string { return s.where(b, seriesVectors) }); err != nil {
			return nil, fmt.Errorf("read segment: %w", err)
		}
		if in.DType == Int8 {
			if d.Vectors.Scales, err = s.readScales(b, d.Vectors.Scales, &buf, &tmp); err != nil {
				return nil, err
			}
		}
		if d.Groups, err = s.readGroups(b, d.Groups, &buf, &tmp); err != nil {
			return nil, err
		}
		if d.Rescore != nil {
			if err := s.c.readBlock(s.entryIndex(b, seriesRescore), d.Rescore.Data[start*rrb:end*rrb], &buf, func() string { return s.where(b, seriesRescore) }); err != nil {
				return nil, fmt.Errorf("read segment: %w", err)
			}
		}
	}
	return d, nil
}

// Close releases the reader (and the file, when opened by OpenSegment).
func (s *SegmentReader) Close() error {
	s.c.close()
	if s.closer != nil {
		err := s.closer.Close()
		s.closer = nil
		if err != nil {
			return fmt.Errorf("close segment %s: %w", s.c.path, err)
		}
	}
	return nil
}

// ReadSegment reads and verifies a whole segment file: header, footer,
// trailer and every block's CRC-32C, block layout, int8 scales and group
// order. Any damage is an error naming the file and the block (errors.Is
// ErrCorrupt).
func ReadSegment(path string) (*SegmentData, error) { return ReadSegmentFS(OSFS{}, path) }

// ReadSegmentFS is ReadSegment on the file system fsys (nil: OSFS).
func ReadSegmentFS(fsys FS, path string) (*SegmentData, error) {
	r, err := OpenSegmentFS(fsys, path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.ReadAll()
}
