package lexical

import (
	"fmt"
	"math"

	"github.com/quarry-search/quarry/engine/store"
)

// FileKey is the key of a segment's lexical file in store.Segment.Files.
const FileKey = "lexical"

// The lexical file of segment id is FileName(filePrefix, id, fileExt).
const (
	filePrefix = "lex"
	fileExt    = "bm25"
)

// SegmentFileName is the name of segment number seq's lexical file:
// "lex-000042.bm25".
func SegmentFileName(seq uint64) string { return store.FileName(filePrefix, seq, fileExt) }

// FileKind declares the lexical file to a store.Registry: key FileKey, named
// lex-NNNNNN.bm25, one entry per document of the segment (store.HoldsDocs),
// verified by parsing it completely (every CRC and every structural
// invariant, as Open does), copied on compaction by CopyFiltered.
func FileKind() store.FileKind {
	return store.FileKind{
		Key: FileKey, Prefix: filePrefix, Ext: fileExt, Holds: store.HoldsDocs,
		Verify: verifyFS, CopyFiltered: copyKindFS,
	}
}

// verifyFS is the kind's Verify on the file system fsys.
func verifyFS(fsys store.FS, path string) (store.CopyStats, error) {
	s, err := readSegmentFS(fsys, path)
	if err != nil {
		return store.CopyStats{}, err
	}
	return store.CopyStats{Docs: int64(s.n), FirstOrd: s.start, LastOrd: s.start + s.n - 1}, nil
}

// copyKindFS is the kind's CopyFiltered on the file system fsys.
func copyKindFS(fsys store.FS, dst, src string, remap store.Remap) (store.FileRef, store.CopyStats, error) {
	ref, info, err := CopyFilteredFS(fsys, dst, src, remap)
	if err != nil {
		return store.FileRef{}, store.CopyStats{}, err
	}
	return ref, store.CopyStats{Docs: int64(info.Docs), FirstOrd: info.Start, LastOrd: info.Start + uint32(info.Docs) - 1}, nil
}

// CopyFiltered writes to dst the lexical segment src without the documents
// that remap drops, the kept ones under their new ordinals: the compaction
// of a segment. Nothing is re-analysed: the postings of the kept documents
// are copied with their term frequencies, their document lengths are kept
// as stored (the lengths of the original analysis), and every statistic
// derived from them is recomputed (df per field, docCount and sumTF per
// field); terms left without postings are dropped. The result is the file
// that EncodeSegment makes of the kept documents under their new ordinals,
// byte for byte, so BM25 scores of the kept documents do not change beyond
// what the smaller collection statistics imply.
//
// The kept documents must get consecutive ordinals (as
// store.Tombstones.Renumber gives when it renumbers the whole index; a
// lexical segment has no gaps); anything else is an error. When remap keeps
// no document, nothing is written and the error wraps store.ErrNoDocuments.
// dst is published through store.AtomicFile and never replaces a file; src
// is validated completely first (damage is a *store.CorruptError naming it).
func CopyFiltered(dst, src string, remap store.Remap) (store.FileRef, SegmentInfo, error) {
	return CopyFilteredFS(store.OS(), dst, src, remap)
}

// CopyFilteredFS is CopyFiltered on the file system fsys (nil: the
// operating system's).
func CopyFilteredFS(fsys store.FS, dst, src string, remap store.Remap) (store.FileRef, SegmentInfo, error) {
	s, err := readSegmentFS(fsys, src)
	if err != nil {
		return store.FileRef{}, SegmentInfo{}, fmt.Errorf("lexical: copy: %w", err)
	}
	data, info, err := s.filtered(remap)
	if err != nil {
		return store.FileRef{}, SegmentInfo{}, fmt.Errorf("lexical: copy %s: %w", src, err)
	}
	ref, err := store.WriteFileAtomicFS(fsys, dst, data)
	if err != nil {
		return store.FileRef{}, SegmentInfo{}, fmt.Errorf("lexical: copy %s: %w", src, err)
	}
	return ref, info, nil
}

// dropped marks a document that a filtered copy leaves out.
const dropped = math.MaxUint32

// filtered encodes s without the documents remap drops (see CopyFiltered).
func (s *segment) filtered(remap store.Remap) ([]byte, SegmentInfo, error) {
	// pos[i] is the new position (new ordinal − start) of document
	// s.start+i, or dropped. A segment has fewer than 2^32 documents, so a
	// position never equals dropped.
	pos := make([]uint32, s.n)
	var start, kept uint32
	for i := range s.n {
		ord := s.start + i
		no, ok := remap(ord)
		if !ok {
			pos[i] = dropped
			continue
		}
		if kept == 0 {
			start = no
		} else if uint64(no) != uint64(start)+uint64(kept) {
			return nil, SegmentInfo{}, fmt.Errorf("remap gives the kept ordinal %d the new ordinal %d, want %d: the kept documents of a lexical segment must get consecutive ordinals (as Tombstones.Renumber gives)",
				ord, no, uint64(start)+uint64(kept))
		}
		pos[i] = kept
		kept++
	}
	if kept == 0 {
		return nil, SegmentInfo{}, fmt.Errorf("every document of [%d, %d) is dropped: %w", s.start, s.end(), store.ErrNoDocuments)
	}

	var stats segStats
	dl := make([]byte, 0, 2*int(kept))
	for i := range s.n {
		if pos[i] != dropped {
			dl = stats.addDoc(dl, [2]uint32{s.dl[fTitle][i], s.dl[fText][i]})
		}
	}
	terms := make([]*postingsBuilder, 0, len(s.terms))
	entries := 0
	var p *postingsBuilder
	for j := range s.terms {
		t := &s.terms[j]
		if p == nil {
			p = &postingsBuilder{}
		}
		*p = postingsBuilder{term: t.term, last: int64(start) - 1, buf: p.buf[:0]}
		s.eachPosting(t, func(ord int64, tfTitle, tfText uint32) {
			if k := pos[ord-int64(s.start)]; k != dropped {
				p.add(int64(start)+int64(k), tfTitle, tfText)
			}
		})
		if p.df[fAny] > 0 {
			entries += int(p.df[fAny])
			terms = append(terms, p)
			p = nil
		}
	}
	data := encodeFile(s.analyzer, start, int(kept), &stats, terms, dl, entries)
	return data, SegmentInfo{Start: start, Docs: int(kept), Terms: len(terms), Postings: entries, Analyzer: s.analyzer}, nil
}
