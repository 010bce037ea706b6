package lexical

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"sort"

	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/store"
)

// Doc is one document to index. Ord is its global ordinal.
type Doc struct {
	Ord   uint32
	Title string
	Text  string
}

// SegmentInfo describes the content of a segment file. The manifest's
// reference to a written file (name, size, CRC-32C) is the store.FileRef
// that BuildSegment and CopyFiltered return beside it.
type SegmentInfo struct {
	Start    uint32 // first ordinal; the segment covers [Start, Start+Docs)
	Docs     int
	Terms    int    // distinct terms
	Postings int    // (term, document) pairs
	Analyzer string // analyzer name
}

// analyzeChunk is how many documents are analyzed in parallel before their
// terms are merged into the postings; it bounds the memory of a build.
const analyzeChunk = 2048

// docTerms is one analyzed document: its distinct terms with their
// frequencies, and its field lengths.
type docTerms struct {
	terms []termFreq
	dl    [2]uint32
}

type termFreq struct {
	term string
	tf   [2]uint32 // title, text
}

// postingsBuilder collects one term's postings while a segment is built.
type postingsBuilder struct {
	term string
	df   [nStats]uint32
	last int64
	buf  []byte
}

// EncodeSegment analyzes docs with an and returns the segment file's bytes.
// docs must have consecutive ordinals (docs[i].Ord == docs[0].Ord+i) and
// must not be empty (an error wrapping store.ErrNoDocuments). Analysis runs
// on GOMAXPROCS goroutines.
func EncodeSegment(ctx context.Context, docs []Doc, an Analyzer) ([]byte, SegmentInfo, error) {
	if !an.valid() {
		return nil, SegmentInfo{}, fmt.Errorf("lexical: encode segment: zero Analyzer")
	}
	if len(docs) == 0 {
		return nil, SegmentInfo{}, fmt.Errorf("lexical: encode segment: %w", store.ErrNoDocuments)
	}
	start := docs[0].Ord
	if uint64(start)+uint64(len(docs)) > maxU32+1 {
		return nil, SegmentInfo{}, fmt.Errorf("lexical: encode segment: %d documents from ordinal %d overflow uint32", len(docs), start)
	}
	for i, d := range docs {
		if d.Ord != start+uint32(i) {
			return nil, SegmentInfo{}, fmt.Errorf("lexical: encode segment: docs[%d].Ord = %d, want %d (ordinals must be consecutive)", i, d.Ord, start+uint32(i))
		}
	}

	n := len(docs)
	dl := make([]byte, 0, 2*n)
	var stats segStats
	ids := make(map[string]int32)
	var terms []*postingsBuilder
	entries := 0
	analyzed := make([]docTerms, analyzeChunk)

	for lo := 0; lo < n; lo += analyzeChunk {
		if err := ctx.Err(); err != nil {
			return nil, SegmentInfo{}, fmt.Errorf("lexical: encode segment: %w", err)
		}
		hi := min(lo+analyzeChunk, n)
		analyzeParallel(docs[lo:hi], an, analyzed[:hi-lo])
		for i := lo; i < hi; i++ {
			dt := &analyzed[i-lo]
			ord := int64(docs[i].Ord)
			dl = stats.addDoc(dl, dt.dl)
			for _, tf := range dt.terms {
				id, ok := ids[tf.term]
				if !ok {
					id = int32(len(terms))
					ids[tf.term] = id
					terms = append(terms, &postingsBuilder{term: tf.term, last: int64(start) - 1})
				}
				terms[id].add(ord, tf.tf[fTitle], tf.tf[fText])
				entries++
			}
			*dt = docTerms{}
		}
	}
	sort.Slice(terms, func(i, j int) bool { return terms[i].term < terms[j].term })
	data := encodeFile(an.name, start, n, &stats, terms, dl, entries)
	return data, SegmentInfo{Start: start, Docs: n, Terms: len(terms), Postings: entries, Analyzer: an.name}, nil
}

// encodeFile lays out a segment file: the meta section from the analyzer
// name, the ordinal range [start, start+n), the statistics and the counts;
// the dictionary and postings from terms (sorted, none without postings);
// doclens as given (n uvarint pairs). EncodeSegment and CopyFiltered both
// write through it, so a filtered copy and a fresh build of the same
// documents are the same bytes.
func encodeFile(analyzer string, start uint32, n int, stats *segStats, terms []*postingsBuilder, dl []byte, entries int) []byte {
	var dict, postings []byte
	prev := ""
	for _, p := range terms {
		shared := commonPrefix(prev, p.term)
		dict = binary.AppendUvarint(dict, uint64(shared))
		dict = binary.AppendUvarint(dict, uint64(len(p.term)-shared))
		dict = append(dict, p.term[shared:]...)
		for f := range nStats {
			dict = binary.AppendUvarint(dict, uint64(p.df[f]))
		}
		dict = binary.AppendUvarint(dict, uint64(len(p.buf)))
		postings = append(postings, p.buf...)
		prev = p.term
	}

	var meta []byte
	meta = binary.AppendUvarint(meta, uint64(len(analyzer)))
	meta = append(meta, analyzer...)
	meta = binary.AppendUvarint(meta, uint64(start))
	meta = binary.AppendUvarint(meta, uint64(n))
	meta = binary.AppendUvarint(meta, uint64(len(terms)))
	meta = binary.AppendUvarint(meta, uint64(entries))
	for f := range nStats {
		meta = binary.AppendUvarint(meta, stats.docCount[f])
		meta = binary.AppendUvarint(meta, stats.sumTF[f])
	}
	return assemble([numSections][]byte{secMeta: meta, secDict: dict, secPostings: postings, secDocLens: dl})
}

// addDoc counts a document of title and text lengths dl in the statistics
// and appends its doclens entry to b.
func (s *segStats) addDoc(b []byte, dl [2]uint32) []byte {
	for f := range 2 {
		s.sumTF[f] += uint64(dl[f])
		if dl[f] > 0 {
			s.docCount[f]++
		}
	}
	if dl[fTitle] > 0 || dl[fText] > 0 {
		s.docCount[fAny]++
	}
	s.sumTF[fAny] = s.sumTF[fTitle] + s.sumTF[fText]
	b = binary.AppendUvarint(b, uint64(dl[fTitle]))
	return binary.AppendUvarint(b, uint64(dl[fText]))
}

// add appends one posting (ordinal ord, after the list's last) to p.
func (p *postingsBuilder) add(ord int64, tfTitle, tfText uint32) {
	p.buf = binary.AppendUvarint(p.buf, uint64(ord-p.last))
	p.last = ord
	code := uint64(tfText) << 1
	if tfTitle > 0 {
		p.buf = binary.AppendUvarint(p.buf, code|1)
		p.buf = binary.AppendUvarint(p.buf, uint64(tfTitle))
		p.df[fTitle]++
	} else {
		p.buf = binary.AppendUvarint(p.buf, code)
	}
	if tfText > 0 {
		p.df[fText]++
	}
	p.df[fAny]++
}

// BuildSegment encodes docs (see EncodeSegment) and publishes the file at
// path with store.WriteFileAtomic: a temporary file in the same directory,
// fsynced, published under path without ever replacing a file (an existing
// path is an error), then the directory fsynced. A reader sees either no
// file or the whole file. It returns the manifest's reference to the file
// (name, size, CRC-32C of the whole file) and what the file holds.
func BuildSegment(ctx context.Context, path string, docs []Doc, an Analyzer) (store.FileRef, SegmentInfo, error) {
	data, info, err := EncodeSegment(ctx, docs, an)
	if err != nil {
		return store.FileRef{}, SegmentInfo{}, fmt.Errorf("lexical: build %s: %w", path, err)
	}
	ref, err := store.WriteFileAtomic(path, data)
	if err != nil {
		return store.FileRef{}, SegmentInfo{}, fmt.Errorf("lexical: build: %w", err)
	}
	return ref, info, nil
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// analyzeParallel analyzes docs into out (same length) on up to GOMAXPROCS
// goroutines.
func analyzeParallel(docs []Doc, an Analyzer, out []docTerms) {
	workers := min(runtime.GOMAXPROCS(0), (len(docs)+63)/64)
	if workers <= 1 {
		w := newAnalyzeWorker(an)
		for i := range docs {
			out[i] = w.analyze(&docs[i])
		}
		return
	}
	var g errs.Group // a worker's panic is raised again here, not in a bare goroutine
	per := (len(docs) + workers - 1) / workers
	for lo := 0; lo < len(docs); lo += per {
		hi := min(lo+per, len(docs))
		g.Go(func() {
			w := newAnalyzeWorker(an)
			for i := lo; i < hi; i++ {
				out[i] = w.analyze(&docs[i])
			}
		})
	}
	g.Wait()
}

type analyzeWorker struct {
	an     Analyzer
	counts map[string]int // term -> index into cur
	cur    []termFreq
}

func newAnalyzeWorker(an Analyzer) *analyzeWorker {
	return &analyzeWorker{an: an, counts: make(map[string]int)}
}

func (w *analyzeWorker) analyze(d *Doc) docTerms {
	clear(w.counts)
	w.cur = w.cur[:0]
	var dt docTerms
	for f, text := range [2]string{d.Title, d.Text} {
		w.an.each(text, func(term []byte) {
			dt.dl[f]++
			if i, ok := w.counts[string(term)]; ok {
				w.cur[i].tf[f]++
				return
			}
			t := string(term)
			w.counts[t] = len(w.cur)
			tf := termFreq{term: t}
			tf.tf[f] = 1
			w.cur = append(w.cur, tf)
		})
	}
	dt.terms = append([]termFreq(nil), w.cur...)
	return dt
}
