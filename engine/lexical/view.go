package lexical

import (
	"fmt"
	"slices"
)

// Segment is one parsed, fully validated segment file held in memory. A
// Segment is immutable: an engine that publishes one index snapshot per
// generation keeps each Segment and builds each generation's Index from
// them with NewIndex, without reading the files again.
type Segment struct{ s *segment }

// ReadSegment reads and validates the segment file at path.
func ReadSegment(path string) (*Segment, error) {
	s, err := readSegment(path)
	if err != nil {
		return nil, err
	}
	return &Segment{s: s}, nil
}

// Range is the segment's ordinals, [start, end).
func (s *Segment) Range() (start, end uint32) { return s.s.start, uint32(s.s.end()) }

// NewIndex is Open over segments already read. The segments must not
// overlap and must share one analyzer.
func NewIndex(segs []*Segment) (*Index, error) {
	ps := make([]*segment, len(segs))
	for i, s := range segs {
		ps[i] = s.s
	}
	ix, err := openParsed(ps)
	if err != nil {
		return nil, fmt.Errorf("lexical: open: %w", err)
	}
	return ix, nil
}

// WithDeleted returns a view of ix in which the documents with the given
// ordinals do not exist: they are never returned, and every BM25 statistic
// (N, average lengths, document frequencies) is computed over the other
// documents only — so scores do not change when a compaction later removes
// the deleted documents for good. ords need not be sorted; ordinals outside
// the segments are ignored. The view shares the postings with ix.
func (ix *Index) WithDeleted(ords []uint32) *Index {
	if len(ords) == 0 {
		return ix
	}
	v := &Index{an: ix.an, segs: ix.segs, terms: ix.terms, stats: ix.stats, maxN: ix.maxN}
	v.pool.New = ix.pool.New
	sorted := slices.Clone(ords)
	slices.Sort(sorted)
	for _, o := range slices.Compact(sorted) {
		s := ix.segmentOf(o)
		if s == nil {
			continue
		}
		w := o >> 6
		for uint32(len(v.del)) <= w {
			v.del = append(v.del, 0)
		}
		v.del[w] |= 1 << (o & 63)
		i := o - s.start
		tl, xl := uint64(s.dl[fTitle][i]), uint64(s.dl[fText][i])
		v.deleted++
		v.stats.sumTF[fTitle] -= tl
		v.stats.sumTF[fText] -= xl
		v.stats.sumTF[fAny] -= tl + xl
		if tl > 0 {
			v.stats.docCount[fTitle]--
		}
		if xl > 0 {
			v.stats.docCount[fText]--
		}
		if tl+xl > 0 {
			v.stats.docCount[fAny]--
		}
	}
	return v
}

// segmentOf is the segment holding ordinal o (nil if none).
func (ix *Index) segmentOf(o uint32) *segment {
	i, _ := slices.BinarySearchFunc(ix.segs, o, func(s *segment, o uint32) int {
		switch {
		case uint64(o) >= s.end():
			return -1
		case o < s.start:
			return 1
		}
		return 0
	})
	if i < len(ix.segs) && o >= ix.segs[i].start && uint64(o) < ix.segs[i].end() {
		return ix.segs[i]
	}
	return nil
}

// isDeleted reports whether ordinal o is deleted in this view.
func (ix *Index) isDeleted(o uint64) bool {
	w := o >> 6
	return w < uint64(len(ix.del)) && ix.del[w]&(1<<(o&63)) != 0
}

// liveDF is a term's document frequencies without the deleted documents:
// the stored ones when nothing is deleted, else counted from its postings.
func (ix *Index) liveDF(e *termEntry) [nStats]uint64 {
	if ix.deleted == 0 {
		return e.df
	}
	df := e.df
	for _, r := range e.refs {
		ix.segs[r.seg].eachPosting(r.t, func(ord int64, tfTitle, tfText uint32) {
			if !ix.isDeleted(uint64(ord)) {
				return
			}
			df[fAny]--
			if tfTitle > 0 {
				df[fTitle]--
			}
			if tfText > 0 {
				df[fText]--
			}
		})
	}
	return df
}
