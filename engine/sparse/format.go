package sparse

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/quarry-search/quarry/engine/store"
)

// The inverted index file of one segment (docs/sparse.md).
const (
	fileMagic   = "QSPRSIDX"
	footerMagic = "QSPE"
	version     = 1
	headerSize  = 32
	footerSize  = 40
	// MaxVocab bounds the dimensions of the vectors a file may hold.
	MaxVocab = 1 << 24
)

func crc32c(b []byte) uint32 { return store.CRC32C(b) }

// FileKey is the key of a segment's SPLADE postings file in
// store.Segment.Files.
const FileKey = "sparse"

// The postings file of segment id is store.FileName(filePrefix, id, fileExt).
const (
	filePrefix = "sparse"
	fileExt    = "qsp"
)

// FileName is the inverted index file of segment id: "sparse-000001.qsp".
func FileName(id uint64) string { return store.FileName(filePrefix, id, fileExt) }

// ErrCorrupt is store.ErrCorrupt, which every error about a damaged file
// matches (errors.Is). Kept for callers of the package's former own
// sentinel.
var ErrCorrupt = store.ErrCorrupt

// CorruptError is store.CorruptError: the one corruption error of every
// index file, naming the file and the damaged part. Kept as an alias for
// callers of the package's former own type.
type CorruptError = store.CorruptError

// corrupt reports damage in the part where of the file at path.
func corrupt(path, where, format string, args ...any) error {
	e := store.Corruptf(path, where, format, args...)
	e.Remedy = "rebuild the index"
	return e
}

// Info describes a written file.
type Info struct {
	Rows     int   // passages (vectors)
	Terms    int   // distinct dimensions with postings
	Postings int64 // active dimensions of all rows together
}

// Encode builds the file's bytes for rows vectors of vocab dimensions;
// groups[i] is row i's document ordinal (non-decreasing).
func Encode(vocab int, groups []uint32, vecs []Vec) ([]byte, Info, error) {
	var info Info
	if vocab < 1 || vocab > MaxVocab {
		return nil, info, fmt.Errorf("sparse: vocabulary of %d (want 1..%d)", vocab, MaxVocab)
	}
	if len(groups) != len(vecs) {
		return nil, info, fmt.Errorf("sparse: %d groups for %d vectors", len(groups), len(vecs))
	}
	if len(vecs) > math.MaxUint32 {
		return nil, info, fmt.Errorf("sparse: %d vectors", len(vecs))
	}
	// Rows section: document ordinals, the first absolute, then deltas.
	var rows []byte
	for i, g := range groups {
		if i > 0 && g < groups[i-1] {
			return nil, info, fmt.Errorf("sparse: group of row %d (%d) is below the previous (%d)", i, g, groups[i-1])
		}
		d := g
		if i > 0 {
			d = g - groups[i-1]
		}
		rows = binary.AppendUvarint(rows, uint64(d))
	}
	// Invert: postings per term, rows ascending.
	counts := make([]int, vocab)
	for i, v := range vecs {
		if err := v.Check(vocab); err != nil {
			return nil, info, fmt.Errorf("sparse: vector %d: %w", i, err)
		}
		for _, id := range v.IDs {
			counts[id]++
		}
		info.Postings += int64(v.Len())
	}
	offs := make([]int, vocab+1)
	for t := 0; t < vocab; t++ {
		offs[t+1] = offs[t] + counts[t]
		if counts[t] > 0 {
			info.Terms++
		}
	}
	prow := make([]uint32, info.Postings)
	pw := make([]float32, info.Postings)
	next := append([]int(nil), offs[:vocab]...)
	for r, v := range vecs {
		for j, id := range v.IDs {
			prow[next[id]], pw[next[id]] = uint32(r), v.Weights[j]
			next[id]++
		}
	}
	var terms []byte
	prev := -1
	for t := 0; t < vocab; t++ {
		if counts[t] == 0 {
			continue
		}
		terms = binary.AppendUvarint(terms, uint64(t-prev-1))
		terms = binary.AppendUvarint(terms, uint64(counts[t]))
		pr := -1
		for p := offs[t]; p < offs[t+1]; p++ {
			terms = binary.AppendUvarint(terms, uint64(int(prow[p])-pr-1))
			pr = int(prow[p])
		}
		for p := offs[t]; p < offs[t+1]; p++ {
			terms = binary.LittleEndian.AppendUint32(terms, math.Float32bits(pw[p]))
		}
		prev = t
	}
	info.Rows = len(vecs)

	out := make([]byte, headerSize, headerSize+len(rows)+len(terms)+footerSize)
	copy(out, fileMagic)
	binary.LittleEndian.PutUint32(out[8:], version)
	binary.LittleEndian.PutUint32(out[12:], 0)
	binary.LittleEndian.PutUint32(out[16:], uint32(vocab))
	binary.LittleEndian.PutUint32(out[20:], uint32(len(vecs)))
	binary.LittleEndian.PutUint32(out[24:], uint32(info.Terms))
	binary.LittleEndian.PutUint32(out[28:], crc32c(out[:28]))
	out = append(out, rows...)
	out = append(out, terms...)
	var f [footerSize]byte
	binary.LittleEndian.PutUint64(f[0:], uint64(len(rows)))
	binary.LittleEndian.PutUint64(f[8:], uint64(len(terms)))
	binary.LittleEndian.PutUint64(f[16:], uint64(info.Postings))
	binary.LittleEndian.PutUint32(f[24:], crc32c(rows))
	binary.LittleEndian.PutUint32(f[28:], crc32c(terms))
	binary.LittleEndian.PutUint32(f[32:], crc32c(f[:32]))
	copy(f[36:], footerMagic)
	return append(out, f[:]...), info, nil
}

// WriteFile writes the inverted index of vecs to path with
// store.WriteFileAtomic: a temporary file in the same directory, fsynced,
// published under path (never replacing a file: an existing path is an
// error) and the directory fsynced. It returns the reference a manifest
// records (size and CRC-32C of the whole file).
func WriteFile(path string, vocab int, groups []uint32, vecs []Vec) (store.FileRef, Info, error) {
	return WriteFileFS(store.OS(), path, vocab, groups, vecs)
}

// WriteFileFS is WriteFile on the file system fsys (nil: the operating
// system's).
func WriteFileFS(fsys store.FS, path string, vocab int, groups []uint32, vecs []Vec) (store.FileRef, Info, error) {
	data, info, err := Encode(vocab, groups, vecs)
	if err != nil {
		return store.FileRef{}, info, fmt.Errorf("write %s: %w", path, err)
	}
	ref, err := store.WriteFileAtomicFS(fsys, path, data)
	if err != nil {
		return store.FileRef{}, info, fmt.Errorf("sparse: %w", err)
	}
	return ref, info, nil
}

// Segment is one file's inverted index in memory: postings by term in
// compressed-sparse-row form.
type Segment struct {
	Vocab   int
	Groups  []uint32  // document ordinal of each row (non-decreasing)
	offs    []uint32  // Vocab+1: postings of term t are [offs[t], offs[t+1])
	rows    []uint32  // row of each posting, ascending within a term
	weights []float32 // weight of each posting
}

// Rows is the number of vectors.
func (s *Segment) Rows() int { return len(s.Groups) }

// Postings is the number of stored weights (active dimensions of all rows).
func (s *Segment) Postings() int64 { return int64(len(s.rows)) }

// ReadFile reads and verifies a file.
func ReadFile(path string) (*Segment, error) { return ReadFileFS(store.OS(), path) }

// ReadFileFS is ReadFile on the file system fsys (nil: the operating
// system's).
func ReadFileFS(fsys store.FS, path string) (*Segment, error) {
	data, err := store.ReadFileFS(fsys, path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse verifies and decodes a file's bytes (path names it in errors): magic,
// version, checksums of header, sections and footer, sizes, and every
// structural rule of the format (docs/sparse.md).
func Parse(path string, b []byte) (*Segment, error) {
	if len(b) < headerSize+footerSize {
		return nil, corrupt(path, "file", "%d bytes, shorter than header and footer (truncated)", len(b))
	}
	h := b[:headerSize]
	if string(h[:8]) != fileMagic {
		return nil, corrupt(path, "header", "magic %q, want %q", h[:8], fileMagic)
	}
	if got := crc32c(h[:28]); got != binary.LittleEndian.Uint32(h[28:]) {
		return nil, corrupt(path, "header", "CRC-32C %08x, recorded %08x", got, binary.LittleEndian.Uint32(h[28:]))
	}
	if v := binary.LittleEndian.Uint32(h[8:]); v != version {
		return nil, fmt.Errorf("%s: format version %d; this quarry reads version %d", path, v, version)
	}
	if fl := binary.LittleEndian.Uint32(h[12:]); fl != 0 {
		return nil, corrupt(path, "header", "flags %d (want 0)", fl)
	}
	vocab := int(binary.LittleEndian.Uint32(h[16:]))
	nrows := int(binary.LittleEndian.Uint32(h[20:]))
	nterms := int(binary.LittleEndian.Uint32(h[24:]))
	if vocab < 1 || vocab > MaxVocab || nterms > vocab {
		return nil, corrupt(path, "header", "vocabulary %d, terms %d", vocab, nterms)
	}
	f := b[len(b)-footerSize:]
	if string(f[36:]) != footerMagic {
		return nil, corrupt(path, "footer", "magic %q, want %q (truncated?)", f[36:], footerMagic)
	}
	if got := crc32c(f[:32]); got != binary.LittleEndian.Uint32(f[32:]) {
		return nil, corrupt(path, "footer", "CRC-32C %08x, recorded %08x", got, binary.LittleEndian.Uint32(f[32:]))
	}
	rowsLen, termsLen := binary.LittleEndian.Uint64(f[0:]), binary.LittleEndian.Uint64(f[8:])
	postings := binary.LittleEndian.Uint64(f[16:])
	if rowsLen > uint64(len(b)) || termsLen > uint64(len(b)) || headerSize+rowsLen+termsLen+footerSize != uint64(len(b)) {
		return nil, corrupt(path, "footer", "sections of %d and %d bytes do not fill the file of %d", rowsLen, termsLen, len(b))
	}
	rowsSec := b[headerSize : headerSize+rowsLen]
	termsSec := b[headerSize+rowsLen : headerSize+rowsLen+termsLen]
	if got := crc32c(rowsSec); got != binary.LittleEndian.Uint32(f[24:]) {
		return nil, corrupt(path, "rows section", "CRC-32C %08x, recorded %08x", got, binary.LittleEndian.Uint32(f[24:]))
	}
	if got := crc32c(termsSec); got != binary.LittleEndian.Uint32(f[28:]) {
		return nil, corrupt(path, "terms section", "CRC-32C %08x, recorded %08x", got, binary.LittleEndian.Uint32(f[28:]))
	}
	// Every posting takes at least 5 bytes (a varint and a float32).
	if postings > termsLen/5 || nrows > len(rowsSec) {
		return nil, corrupt(path, "footer", "%d postings and %d rows cannot fit their sections", postings, nrows)
	}
	s := &Segment{Vocab: vocab, Groups: make([]uint32, nrows), offs: make([]uint32, vocab+1),
		rows: make([]uint32, 0, postings), weights: make([]float32, 0, postings)}
	p := 0
	uv := func(sec []byte, what string) (uint64, error) {
		x, n := binary.Uvarint(sec[p:])
		if n <= 0 {
			return 0, corrupt(path, what, "bad varint at byte %d", p)
		}
		p += n
		return x, nil
	}
	var g uint64
	for i := 0; i < nrows; i++ {
		d, err := uv(rowsSec, "rows section")
		if err != nil {
			return nil, err
		}
		g += d
		if g > math.MaxUint32 {
			return nil, corrupt(path, "rows section", "document ordinal %d of row %d overflows", g, i)
		}
		s.Groups[i] = uint32(g)
	}
	if p != len(rowsSec) {
		return nil, corrupt(path, "rows section", "%d bytes after the last row", len(rowsSec)-p)
	}
	p = 0
	term := -1
	for n := 0; n < nterms; n++ {
		d, err := uv(termsSec, "terms section")
		if err != nil {
			return nil, err
		}
		if d >= uint64(vocab) || term+1+int(d) >= vocab {
			return nil, corrupt(path, "terms section", "term id beyond the vocabulary of %d", vocab)
		}
		nt := term + 1 + int(d)
		for t := term + 1; t <= nt; t++ {
			s.offs[t] = uint32(len(s.rows))
		}
		term = nt
		cnt, err := uv(termsSec, "terms section")
		if err != nil {
			return nil, err
		}
		if cnt == 0 || cnt > uint64(nrows) || uint64(len(s.rows))+cnt > postings {
			return nil, corrupt(path, "terms section", "term %d has %d postings (%d rows, %d postings in all)", term, cnt, nrows, postings)
		}
		r := -1
		for j := uint64(0); j < cnt; j++ {
			d, err := uv(termsSec, "terms section")
			if err != nil {
				return nil, err
			}
			if d >= uint64(nrows) || r+1+int(d) >= nrows {
				return nil, corrupt(path, "terms section", "term %d: row beyond the %d rows", term, nrows)
			}
			r += 1 + int(d)
			s.rows = append(s.rows, uint32(r))
		}
		if uint64(len(termsSec)-p) < 4*cnt {
			return nil, corrupt(path, "terms section", "term %d: weights cut short", term)
		}
		for j := uint64(0); j < cnt; j++ {
			w := math.Float32frombits(binary.LittleEndian.Uint32(termsSec[p:]))
			p += 4
			if !(w > 0) || math.IsInf(float64(w), 0) {
				return nil, corrupt(path, "terms section", "term %d has the weight %v (want finite and > 0)", term, w)
			}
			s.weights = append(s.weights, w)
		}
	}
	if p != len(termsSec) || uint64(len(s.rows)) != postings {
		return nil, corrupt(path, "terms section", "%d trailing bytes, %d postings decoded of %d", len(termsSec)-p, len(s.rows), postings)
	}
	for t := term + 1; t <= vocab; t++ {
		s.offs[t] = uint32(len(s.rows))
	}
	return s, nil
}

// Vecs rebuilds every row's vector (ids ascending).
func (s *Segment) Vecs() []Vec {
	vecs := make([]Vec, len(s.Groups))
	for t := 0; t < s.Vocab; t++ {
		for p := s.offs[t]; p < s.offs[t+1]; p++ {
			v := &vecs[s.rows[p]]
			v.IDs = append(v.IDs, int32(t))
			v.Weights = append(v.Weights, s.weights[p])
		}
	}
	return vecs
}

// CopyFiltered writes to dst the rows of src whose documents remap keeps,
// under their new ordinals (remap must keep the order): the compaction of a
// segment. Weights are copied bit for bit. When no row is kept the copy is
// a valid file of no rows. dst is never replaced; a damaged src is a
// *store.CorruptError naming it.
func CopyFiltered(dst, src string, remap store.Remap) (store.FileRef, Info, error) {
	ref, info, _, err := copyFiltered(store.OS(), dst, src, remap)
	return ref, info, err
}

// copyFiltered is CopyFiltered that also returns the kept rows' new groups.
func copyFiltered(fsys store.FS, dst, src string, remap store.Remap) (store.FileRef, Info, []uint32, error) {
	s, err := ReadFileFS(fsys, src)
	if err != nil {
		return store.FileRef{}, Info{}, nil, fmt.Errorf("sparse: copy: %w", err)
	}
	var groups []uint32
	var vecs []Vec
	for r, v := range s.Vecs() {
		if g, ok := remap(s.Groups[r]); ok {
			groups = append(groups, g)
			vecs = append(vecs, v)
		}
	}
	ref, info, err := WriteFileFS(fsys, dst, s.Vocab, groups, vecs)
	return ref, info, groups, err
}

// RowStats returns the fewest and most active dimensions of a row and the
// dimensions that have postings.
func (s *Segment) RowStats() (minActive, maxActive int, used []int) {
	counts := make([]int, len(s.Groups))
	for t := 0; t < s.Vocab; t++ {
		if s.offs[t+1] > s.offs[t] {
			used = append(used, t)
		}
	}
	for _, r := range s.rows {
		counts[r]++
	}
	for i, c := range counts {
		if i == 0 || c < minActive {
			minActive = c
		}
		maxActive = max(maxActive, c)
	}
	return minActive, maxActive, used
}
