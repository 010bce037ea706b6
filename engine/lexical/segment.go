package lexical

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"github.com/quarry-search/quarry/engine/store"
)

// segment is one parsed, fully validated segment file, held in memory.
type segment struct {
	path     string
	analyzer string
	start    uint32 // first ordinal
	n        uint32 // documents: ordinals [start, start+n)
	stats    segStats
	dl       [2][]uint32 // title and text length of each document, by ord-start
	postings []byte
	terms    []segTerm // sorted by term
	entries  uint64    // postings entries over all terms
}

// segTerm is one dictionary entry: the term, its document frequencies in
// this segment (title, text, any) and its postings list's extent.
type segTerm struct {
	term string
	df   [nStats]uint32
	off  int
	size int
}

// end is one past the segment's last ordinal.
func (s *segment) end() uint64 { return uint64(s.start) + uint64(s.n) }

// readSegment reads and validates the segment file at path.
func readSegment(path string) (*segment, error) { return readSegmentFS(store.OS(), path) }

// readSegmentFS is readSegment on the file system fsys.
func readSegmentFS(fsys store.FS, path string) (*segment, error) {
	data, err := store.ReadFileFS(fsys, path)
	if err != nil {
		return nil, fmt.Errorf("lexical: read segment: %w", err)
	}
	return parseSegment(path, data)
}

// parseSegment validates data completely (CRCs, then every field and every
// postings entry against the statistics and document lengths), so that
// searching a parsed segment cannot fail or read out of bounds. path is only
// used in error messages.
func parseSegment(path string, data []byte) (*segment, error) {
	secs, err := splitSections(path, data)
	if err != nil {
		return nil, err
	}
	s := &segment{path: path}

	// META
	m := &reader{path: path, section: "meta", b: secs[secMeta], base: sectionOffset(&secs, secMeta)}
	nameLen := m.uvarint("analyzer name length")
	if m.err == nil && nameLen > 64 {
		m.fail("analyzer name length %d, more than 64", nameLen)
	}
	s.analyzer = string(m.bytes(nameLen, "analyzer name"))
	s.start = m.u32("start ordinal", maxU32)
	s.n = m.u32("document count", maxU32-uint64(s.start))
	numTerms := m.uvarint("term count")
	s.entries = m.uvarint("postings count")
	for f := range nStats {
		s.stats.docCount[f] = uint64(m.u32("doc count", uint64(s.n)))
		s.stats.sumTF[f] = m.uvarint("term total")
	}
	if m.err != nil {
		return nil, m.err
	}
	if !m.done() {
		return nil, corrupt(path, "meta", "%d trailing bytes", len(m.b)-m.pos)
	}
	if s.n == 0 {
		return nil, corrupt(path, "meta", "segment has no documents")
	}
	if _, err := AnalyzerByName(s.analyzer); err != nil {
		return nil, corrupt(path, "meta", "unknown analyzer %q", s.analyzer)
	}
	if s.stats.sumTF[fAny] != s.stats.sumTF[fTitle]+s.stats.sumTF[fText] {
		return nil, corrupt(path, "meta", "term totals disagree: title %d + text %d != all %d",
			s.stats.sumTF[fTitle], s.stats.sumTF[fText], s.stats.sumTF[fAny])
	}
	// Every term and every postings entry takes at least one byte of its
	// section, which bounds the counts before anything is allocated.
	if numTerms > uint64(len(secs[secDict])) || s.entries > uint64(len(secs[secPostings])) {
		return nil, corrupt(path, "meta", "%d terms / %d postings do not fit in the dict (%d bytes) / postings (%d bytes) sections",
			numTerms, s.entries, len(secs[secDict]), len(secs[secPostings]))
	}
	if uint64(s.n)*2 > uint64(len(secs[secDocLens])) {
		return nil, corrupt(path, "meta", "%d documents do not fit in the doclens section (%d bytes)", s.n, len(secs[secDocLens]))
	}

	// DOCLENS
	d := &reader{path: path, section: "doclens", b: secs[secDocLens], base: sectionOffset(&secs, secDocLens)}
	s.dl[fTitle] = make([]uint32, s.n)
	s.dl[fText] = make([]uint32, s.n)
	var docCount [nStats]uint64
	var sumTF [nStats]uint64
	for i := range s.n {
		t := d.u32("title length", maxU32)
		x := d.u32("text length", maxU32)
		s.dl[fTitle][i], s.dl[fText][i] = t, x
		sumTF[fTitle] += uint64(t)
		sumTF[fText] += uint64(x)
		if t > 0 {
			docCount[fTitle]++
		}
		if x > 0 {
			docCount[fText]++
		}
		if t > 0 || x > 0 {
			docCount[fAny]++
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if !d.done() {
		return nil, corrupt(path, "doclens", "%d trailing bytes", len(d.b)-d.pos)
	}
	sumTF[fAny] = sumTF[fTitle] + sumTF[fText]
	if docCount != s.stats.docCount || sumTF != s.stats.sumTF {
		return nil, corrupt(path, "doclens", "document lengths give doc counts %v and term totals %v, meta says %v and %v",
			docCount, sumTF, s.stats.docCount, s.stats.sumTF)
	}

	// DICT
	r := &reader{path: path, section: "dict", b: secs[secDict], base: sectionOffset(&secs, secDict)}
	s.terms = make([]segTerm, 0, numTerms)
	var prev []byte
	off := 0
	var entries uint64
	for i := uint64(0); i < numTerms; i++ {
		shared := r.uvarint("shared prefix length")
		suffixLen := r.uvarint("suffix length")
		if r.err == nil && shared > uint64(len(prev)) {
			r.fail("term %d shares %d bytes with a %d-byte predecessor", i, shared, len(prev))
		}
		suffix := r.bytes(suffixLen, "term suffix")
		var t segTerm
		for f := range nStats {
			t.df[f] = r.u32("document frequency", uint64(s.n))
		}
		size := r.uvarint("postings size")
		if r.err != nil {
			return nil, r.err
		}
		term := make([]byte, 0, int(shared)+len(suffix))
		term = append(append(term, prev[:shared]...), suffix...)
		if len(term) == 0 {
			return nil, corrupt(path, "dict", "term %d is empty", i)
		}
		if i > 0 && bytes.Compare(prev, term) >= 0 {
			return nil, corrupt(path, "dict", "term %d (%q) is not after %q", i, term, prev)
		}
		if t.df[fAny] == 0 || t.df[fTitle] > t.df[fAny] || t.df[fText] > t.df[fAny] || uint64(t.df[fTitle])+uint64(t.df[fText]) < uint64(t.df[fAny]) {
			return nil, corrupt(path, "dict", "term %q: inconsistent document frequencies title %d, text %d, any %d", term, t.df[fTitle], t.df[fText], t.df[fAny])
		}
		if size > uint64(len(secs[secPostings])-off) {
			return nil, corrupt(path, "dict", "term %q: postings [%d, +%d) run past the postings section (%d bytes)", term, off, size, len(secs[secPostings]))
		}
		t.term = string(term)
		t.off, t.size = off, int(size)
		off += int(size)
		entries += uint64(t.df[fAny])
		s.terms = append(s.terms, t)
		prev = term
	}
	if !r.done() {
		return nil, corrupt(path, "dict", "%d trailing bytes", len(r.b)-r.pos)
	}
	if off != len(secs[secPostings]) {
		return nil, corrupt(path, "dict", "postings lists cover %d of %d bytes of the postings section", off, len(secs[secPostings]))
	}
	if entries != s.entries {
		return nil, corrupt(path, "dict", "document frequencies add up to %d postings, meta says %d", entries, s.entries)
	}

	// POSTINGS: every entry, checked against its term's frequencies and
	// against the document lengths (the term frequencies of a document must
	// add up to its length, field by field).
	s.postings = secs[secPostings]
	postingsBase := sectionOffset(&secs, secPostings)
	var seen [2][]uint32
	seen[fTitle] = make([]uint32, s.n)
	seen[fText] = make([]uint32, s.n)
	for j := range s.terms {
		t := &s.terms[j]
		p := &reader{path: path, section: "postings", b: s.postings[t.off : t.off+t.size], base: postingsBase + t.off, term: &t.term}
		prevOrd := int64(s.start) - 1
		var df [nStats]uint32
		for range t.df[fAny] {
			delta := p.uvarint("ordinal delta")
			code := p.uvarint("text frequency")
			var tfTitle uint64
			if code&1 != 0 {
				tfTitle = p.uvarint("title frequency")
			}
			tfText := code >> 1
			if p.err != nil {
				return nil, p.err
			}
			if delta == 0 || delta > s.end() || uint64(prevOrd+int64(delta)) >= s.end() {
				return nil, corrupt(path, "postings", "term %q: ordinal delta %d after %d leaves the segment [%d, %d) or does not increase", t.term, delta, prevOrd, s.start, s.end())
			}
			ord := prevOrd + int64(delta)
			if code&1 != 0 && tfTitle == 0 {
				return nil, corrupt(path, "postings", "term %q, ordinal %d: title flag set with frequency 0", t.term, ord)
			}
			if tfText == 0 && tfTitle == 0 {
				return nil, corrupt(path, "postings", "term %q, ordinal %d: frequency 0", t.term, ord)
			}
			i := ord - int64(s.start)
			if tfTitle > uint64(s.dl[fTitle][i]-seen[fTitle][i]) || tfText > uint64(s.dl[fText][i]-seen[fText][i]) {
				return nil, corrupt(path, "postings", "term %q, ordinal %d: frequencies exceed the document's length", t.term, ord)
			}
			seen[fTitle][i] += uint32(tfTitle)
			seen[fText][i] += uint32(tfText)
			if tfTitle > 0 {
				df[fTitle]++
			}
			if tfText > 0 {
				df[fText]++
			}
			df[fAny]++
			prevOrd = ord
		}
		if !p.done() {
			return nil, corrupt(path, "postings", "term %q: %d bytes left after %d entries", t.term, len(p.b)-p.pos, t.df[fAny])
		}
		if df != t.df {
			return nil, corrupt(path, "postings", "term %q: postings give document frequencies %v, dict says %v", t.term, df, t.df)
		}
	}
	for f := range 2 {
		for i := range seen[f] {
			if seen[f][i] != s.dl[f][i] {
				return nil, corrupt(path, "postings", "ordinal %d: %s term frequencies add up to %d, its length is %d",
					uint64(s.start)+uint64(i), []string{"title", "text"}[f], seen[f][i], s.dl[f][i])
			}
		}
	}
	return s, nil
}

// eachPosting calls fn for every entry of t's postings list in s, in
// ordinal order. s was validated when parsed, so decoding cannot fail.
func (s *segment) eachPosting(t *segTerm, fn func(ord int64, tfTitle, tfText uint32)) {
	b := s.postings[t.off : t.off+t.size]
	pos := 0
	ord := int64(s.start) - 1
	for range t.df[fAny] {
		delta, n := binary.Uvarint(b[pos:])
		pos += n
		code, n := binary.Uvarint(b[pos:])
		pos += n
		var tfTitle uint64
		if code&1 != 0 {
			tfTitle, n = binary.Uvarint(b[pos:])
			pos += n
		}
		ord += int64(delta)
		fn(ord, uint32(tfTitle), uint32(code>>1))
	}
}
