package lexical

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
)

// Doc is one document to index. Ord is its global ordinal.
type Doc struct {
	Ord   uint32
	Title string
	Text  string
}

// SegmentInfo describes a written segment file, for the manifest.
type SegmentInfo struct {
	Path     string // where it was written
	Size     int64  // bytes
	CRC32C   uint32 // CRC-32C (Castagnoli) of the whole file
	Start    uint32 // first ordinal; the segment covers [Start, Start+Docs)
	Docs     int
	Terms    int    // distinct terms
	Postings int    // (term, document) pairs
	Analyzer string // analyzer name
}

// SegmentFileName is the conventional name of segment number seq's lexical
// file: "lex-000042.bm25".
func SegmentFileName(seq uint64) string { return fmt.Sprintf("lex-%06d.bm25", seq) }

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
// must not be empty. Analysis runs on GOMAXPROCS goroutines.
func EncodeSegment(ctx context.Context, docs []Doc, an Analyzer) ([]byte, SegmentInfo, error) {
	if !an.valid() {
		return nil, SegmentInfo{}, fmt.Errorf("lexical: encode segment: zero Analyzer")
	}
	if len(docs) == 0 {
		return nil, SegmentInfo{}, fmt.Errorf("lexical: encode segment: no documents")
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
			dl = binary.AppendUvarint(dl, uint64(dt.dl[fTitle]))
			dl = binary.AppendUvarint(dl, uint64(dt.dl[fText]))
			for f := range 2 {
				stats.sumTF[f] += uint64(dt.dl[f])
				if dt.dl[f] > 0 {
					stats.docCount[f]++
				}
			}
			if dt.dl[fTitle]+dt.dl[fText] > 0 {
				stats.docCount[fAny]++
			}
			for _, tf := range dt.terms {
				id, ok := ids[tf.term]
				if !ok {
					id = int32(len(terms))
					ids[tf.term] = id
					terms = append(terms, &postingsBuilder{term: tf.term, last: int64(start) - 1})
				}
				p := terms[id]
				p.buf = binary.AppendUvarint(p.buf, uint64(ord-p.last))
				p.last = ord
				code := uint64(tf.tf[fText]) << 1
				if tf.tf[fTitle] > 0 {
					p.buf = binary.AppendUvarint(p.buf, code|1)
					p.buf = binary.AppendUvarint(p.buf, uint64(tf.tf[fTitle]))
					p.df[fTitle]++
				} else {
					p.buf = binary.AppendUvarint(p.buf, code)
				}
				if tf.tf[fText] > 0 {
					p.df[fText]++
				}
				p.df[fAny]++
				entries++
			}
			*dt = docTerms{}
		}
	}
	stats.sumTF[fAny] = stats.sumTF[fTitle] + stats.sumTF[fText]

	sort.Slice(terms, func(i, j int) bool { return terms[i].term < terms[j].term })
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
	meta = binary.AppendUvarint(meta, uint64(len(an.name)))
	meta = append(meta, an.name...)
	meta = binary.AppendUvarint(meta, uint64(start))
	meta = binary.AppendUvarint(meta, uint64(n))
	meta = binary.AppendUvarint(meta, uint64(len(terms)))
	meta = binary.AppendUvarint(meta, uint64(entries))
	for f := range nStats {
		meta = binary.AppendUvarint(meta, stats.docCount[f])
		meta = binary.AppendUvarint(meta, stats.sumTF[f])
	}

	data := assemble([numSections][]byte{secMeta: meta, secDict: dict, secPostings: postings, secDocLens: dl})
	return data, SegmentInfo{
		Size:     int64(len(data)),
		CRC32C:   crc32c(data),
		Start:    start,
		Docs:     n,
		Terms:    len(terms),
		Postings: entries,
		Analyzer: an.name,
	}, nil
}

// BuildSegment encodes docs (see EncodeSegment) and writes the file at path
// crash-safely: into a temporary file in the same directory, fsynced, then
// renamed over path, then the directory fsynced. A reader sees either no
// file or the whole file, never a partial one. If path exists it is
// replaced, which is only correct when no committed manifest references it:
// segment files are immutable once committed, and the caller (the store)
// owns their names.
func BuildSegment(ctx context.Context, path string, docs []Doc, an Analyzer) (SegmentInfo, error) {
	data, info, err := EncodeSegment(ctx, docs, an)
	if err != nil {
		return SegmentInfo{}, fmt.Errorf("lexical: build %s: %w", path, err)
	}
	if err := writeFileAtomic(path, data); err != nil {
		return SegmentInfo{}, fmt.Errorf("lexical: build %s: %w", path, err)
	}
	info.Path = path
	return info, nil
}

// writeFileAtomic writes data to path via temp file, fsync, rename and
// directory fsync.
func writeFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory for fsync: %w", err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
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
	var wg sync.WaitGroup
	per := (len(docs) + workers - 1) / workers
	for lo := 0; lo < len(docs); lo += per {
		hi := min(lo+per, len(docs))
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			w := newAnalyzeWorker(an)
			for i := lo; i < hi; i++ {
				out[i] = w.analyze(&docs[i])
			}
		}(lo, hi)
	}
	wg.Wait()
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
