package lexical

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/quarry-search/quarry/engine/store"
)

// File layout constants; FORMAT.md is the prose version.
const (
	fileMagic   = "QLEXBM25"
	footerMagic = "QLEXFOOT"
	// FormatVersion is the segment file version this package writes and reads.
	FormatVersion = 1

	headerSize  = 16 // magic[8], version u32, flags u32
	numSections = 4
	sectionRow  = 24 // offset u64, length u64, crc32c u32, reserved u32
	footerSize  = numSections*sectionRow + 4 + 4 + 8

	secMeta     = 0
	secDict     = 1
	secPostings = 2
	secDocLens  = 3
)

var sectionNames = [numSections]string{"meta", "dict", "postings", "doclens"}

func crc32c(b []byte) uint32 { return store.CRC32C(b) }

// corrupt reports damage in part of the file at path: "header", "footer",
// "file" or a section name (reported as "section NAME"). The error is a
// *store.CorruptError (errors.Is(err, store.ErrCorrupt)).
func corrupt(path, part, format string, args ...any) error {
	where := part
	switch part {
	case "header", "footer", "file":
	default:
		where = "section " + part
	}
	return store.Corruptf(path, where, format, args...)
}

// field indexes into per-field arrays: title, text, and "any" (the two
// together, as one field of title + " " + text).
const (
	fTitle = 0
	fText  = 1
	fAny   = 2
	nStats = 3
)

// segStats are the BM25 collection statistics of one segment. docCount[f]
// counts documents with at least one term in f (Lucene's docCount), sumTF[f]
// all terms in f (Lucene's sumTotalTermFreq).
type segStats struct {
	docCount [nStats]uint64
	sumTF    [nStats]uint64
}

// assemble lays out header, the four sections and the footer.
func assemble(sections [numSections][]byte) []byte {
	total := headerSize + footerSize
	for _, s := range sections {
		total += len(s)
	}
	out := make([]byte, 0, total)
	out = append(out, fileMagic...)
	out = binary.LittleEndian.AppendUint32(out, FormatVersion)
	out = binary.LittleEndian.AppendUint32(out, 0)
	var offs [numSections]uint64
	for i, s := range sections {
		offs[i] = uint64(len(out))
		out = append(out, s...)
	}
	footStart := len(out)
	for i, s := range sections {
		out = binary.LittleEndian.AppendUint64(out, offs[i])
		out = binary.LittleEndian.AppendUint64(out, uint64(len(s)))
		out = binary.LittleEndian.AppendUint32(out, crc32c(s))
		out = binary.LittleEndian.AppendUint32(out, 0)
	}
	out = binary.LittleEndian.AppendUint32(out, numSections)
	out = binary.LittleEndian.AppendUint32(out, crc32c(out[footStart:]))
	out = append(out, footerMagic...)
	return out
}

// splitSections checks header and footer and every section's CRC, and
// returns the section payloads (sub-slices of data).
func splitSections(path string, data []byte) ([numSections][]byte, error) {
	var secs [numSections][]byte
	if len(data) < headerSize+footerSize {
		return secs, corrupt(path, "file", "%d bytes, shorter than header and footer (%d)", len(data), headerSize+footerSize)
	}
	if string(data[:8]) != fileMagic {
		return secs, corrupt(path, "header", "bad magic %q (want %q)", data[:8], fileMagic)
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != FormatVersion {
		return secs, corrupt(path, "header", "unsupported version %d (this build reads %d)", v, FormatVersion)
	}
	if f := binary.LittleEndian.Uint32(data[12:]); f != 0 {
		return secs, corrupt(path, "header", "unknown flags %#x", f)
	}
	foot := data[len(data)-footerSize:]
	if string(foot[footerSize-8:]) != footerMagic {
		return secs, corrupt(path, "footer", "bad magic %q (want %q); truncated file?", foot[footerSize-8:], footerMagic)
	}
	table := foot[:numSections*sectionRow+4]
	if got, want := crc32c(table), binary.LittleEndian.Uint32(foot[numSections*sectionRow+4:]); got != want {
		return secs, corrupt(path, "footer", "CRC-32C mismatch (stored %08x, computed %08x)", want, got)
	}
	if n := binary.LittleEndian.Uint32(table[numSections*sectionRow:]); n != numSections {
		return secs, corrupt(path, "footer", "%d sections (want %d)", n, numSections)
	}
	next := uint64(headerSize)
	bodyEnd := uint64(len(data) - footerSize)
	for i := range numSections {
		row := table[i*sectionRow:]
		off := binary.LittleEndian.Uint64(row)
		n := binary.LittleEndian.Uint64(row[8:])
		sum := binary.LittleEndian.Uint32(row[16:])
		if r := binary.LittleEndian.Uint32(row[20:]); r != 0 {
			return secs, corrupt(path, sectionNames[i], "reserved footer field is %#x, not 0", r)
		}
		if off != next || n > bodyEnd-off {
			return secs, corrupt(path, sectionNames[i], "bad extent [%d, +%d) (expected to start at %d, body ends at %d)", off, n, next, bodyEnd)
		}
		s := data[off : off+n]
		if got := crc32c(s); got != sum {
			return secs, corrupt(path, sectionNames[i], "CRC-32C mismatch (stored %08x, computed %08x)", sum, got)
		}
		secs[i] = s
		next = off + n
	}
	if next != bodyEnd {
		return secs, corrupt(path, "file", "%d unaccounted bytes between the last section and the footer", bodyEnd-next)
	}
	return secs, nil
}

// sectionOffset is the file offset of section i of a file whose sections
// splitSections returned (they are contiguous from the header on).
func sectionOffset(secs *[numSections][]byte, i int) int {
	off := headerSize
	for _, s := range secs[:i] {
		off += len(s)
	}
	return off
}

// reader decodes uvarints from one section (or part of one: b starts at file
// offset base) and turns every overrun into a CorruptError naming that
// section and the file offset, and the term whose postings are read (when
// term is set).
type reader struct {
	path, section string
	b             []byte
	base          int
	pos           int
	term          *string
	err           error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		what := ""
		if r.term != nil {
			what = fmt.Sprintf("term %q: ", *r.term)
		}
		r.err = corrupt(r.path, r.section, "%sat byte %d of the file: %s", what, r.base+r.pos, fmt.Sprintf(format, args...))
	}
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.pos:])
	if n <= 0 {
		r.fail("bad or truncated varint (%s)", what)
		return 0
	}
	r.pos += n
	return v
}

// u32 reads a uvarint that must fit in a uint32 and be at most max.
func (r *reader) u32(what string, max uint64) uint32 {
	v := r.uvarint(what)
	if r.err == nil && v > max {
		r.fail("%s = %d, more than %d", what, v, max)
		return 0
	}
	return uint32(v)
}

func (r *reader) bytes(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.pos) {
		r.fail("%s: %d bytes past the end of the section", what, n)
		return nil
	}
	out := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return out
}

func (r *reader) done() bool { return r.pos == len(r.b) }

const maxU32 = math.MaxUint32
