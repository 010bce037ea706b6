package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/quarry-search/quarry/engine/ann"
	"github.com/quarry-search/quarry/engine/lexical"
	"github.com/quarry-search/quarry/engine/meta"
	"github.com/quarry-search/quarry/engine/search"
	"github.com/quarry-search/quarry/engine/sparse"
	"github.com/quarry-search/quarry/engine/store"
)

// snapshot is everything a search reads, for one committed generation:
// published once, never modified, reference-counted so that a commit,
// compaction or Close never frees what an in-flight search still reads. A
// search takes one snapshot (Index.acquire) and never locks again.
type snapshot struct {
	refs atomic.Int64 // 1 for the Index while current, +1 per reader

	man        *store.Manifest // this generation's manifest (never modified)
	dir        string
	segs       []*segment // by ordinal; shared with neighbouring generations
	tomb       store.Tombstones
	live       meta.Bitmap // ordinals stored and not deleted
	bits       int         // ordinals [0, bits) exist in this generation
	an         lexical.Analyzer
	bm25Fields string // the index's default BM25 field mode
	sparse     bool

	meta   *metaState
	facets facetCache // Index.Facets of this generation

	// What only searches read (vectors, BM25, SPLADE postings) is loaded on
	// first use, so a writer that only adds or deletes never reads it.
	readyOnce sync.Once
	readyErr  error
	lex       *lexical.Index // BM25 over the segments, statistics over live documents
}

// metaState is a generation's metadata table (filters and sort), built on
// first use. The table is append-only and shared along a chain of
// generations that only added documents: a generation's table may hold
// ordinals of later ones, which its live bitmap masks out.
type metaState struct {
	once  sync.Once
	table *meta.Table
	err   error

	base *metaState // the previous generation's state, to extend (nil: build from scratch)
	from int        // first segment not in base's table
	segs []*segment
}

// segment is a segment of the index, shared by every snapshot that has it
// and closed when the last of them is released. Its doc store is open from
// the start; its search data (vectors, BM25, SPLADE) is read on first use.
type segment struct {
	refs atomic.Int64
	meta store.Segment
	docs *store.DocReader

	loadOnce sync.Once
	loadErr  error
	vecs     search.Vectors
	rescore  *search.Vectors
	groups   []uint32
	first    []uint32 // first row of each passage group, by ordinal - DocOrdStart (segment-local passage index)
	lex      *lexical.Segment
	sp       *sparse.Segment // SPLADE postings (sparse indexes)

	// A segment with a graph file searches the rows that file holds
	// (mapped, see engine/ann); its graph is loaded into the native core on
	// the first search that uses it. A damaged graph file fails those
	// searches with an error naming it, while exact searches still answer
	// from the segment's vector file.
	annf      *ann.File
	trav      search.Vectors  // the graph's int8 traversal rows
	travResc  *search.Vectors // and the full-precision rows its candidates are rescored with
	graphOnce sync.Once
	graphErr  error
	hnsw      *search.HNSW
}

// rowTypes is what a segment's stored rows must be: the index's dtype,
// rescore dtype and dimension.
type rowTypes struct {
	dtype, rescore store.DType
	dim            int
}

// graph is the segment's HNSW graph, loaded once (nil when it has none or
// exact is asked for). It is called after load.
func (seg *segment) graph(dir string, exact bool) (*search.HNSW, error) {
	ref, ok := seg.meta.Files[annFile]
	if exact || !ok {
		return nil, nil
	}
	seg.graphOnce.Do(func() {
		path := filepath.Join(dir, ref.Name)
		if seg.annf == nil {
			seg.graphErr = fmt.Errorf("search index %s: graph file %s is not open", dir, path)
			return
		}
		g, err := seg.annf.Graph(path)
		if err != nil {
			seg.graphErr = fmt.Errorf("search index %s: %w (search with exact to scan past it)", dir, err)
			return
		}
		seg.hnsw = g
	})
	return seg.hnsw, seg.graphErr
}

// openGraphFile maps the segment's graph file and searches its rows; a
// damaged file is remembered as the graph's error (graph searches fail
// with it) and false returned, so the rows are read from the vector file.
func (seg *segment) openGraphFile(dir, name string, rt rowTypes) bool {
	path := filepath.Join(dir, name)
	f, err := ann.Open(path)
	if err == nil {
		if err = f.CheckSegment(path, seg.meta, rt.dtype, rt.rescore, rt.dim); err != nil {
			f.Close()
		}
	}
	if err != nil {
		seg.graphOnce.Do(func() {
			seg.graphErr = fmt.Errorf("search index %s: %w (search with exact to scan past it)", dir, err)
		})
		return false
	}
	seg.annf = f
	seg.groups, seg.trav = f.Groups, ann.Rows(&f.Vectors, f.Groups)
	if f.Rescore != nil {
		r := ann.Rows(f.Rescore, f.Groups)
		seg.travResc = &r
	}
	if rt.dtype == store.Int8 {
		seg.vecs, seg.rescore = seg.trav, seg.travResc
	} else {
		seg.vecs = *seg.travResc // an f16/f32 index's own rows (CheckSegment: present)
	}
	return true
}

func (s *segment) ref() { s.refs.Add(1) }

func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		s.docs.Close()
		if s.hnsw != nil {
			s.hnsw.Close()
		}
		if s.annf != nil {
			s.annf.Close()
		}
	}
}

func (s *snapshot) tryRef() bool {
	for {
		n := s.refs.Load()
		if n <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (s *snapshot) release() {
	if s.refs.Add(-1) == 0 {
		for _, seg := range s.segs {
			seg.release()
		}
	}
}

// newSnapshot builds the snapshot of man. Segments of prev with the same
// ID are shared (their files are immutable); the others are read from dir.
// added, when not nil, says that man only appended segments to prev's
// generation, so prev's metadata table can be extended instead of rebuilt.
func newSnapshot(dir string, man *store.Manifest, prev *snapshot, extendMeta *bool, cache *store.BlockCache) (*snapshot, error) {
	an, err := lexical.AnalyzerByName(orDefault(man.Settings[settingAnalyzer], "en"))
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", dir, err)
	}
	s := &snapshot{man: man, dir: dir, an: an, bits: int(man.NextDocOrd()), sparse: man.Settings["sparse"] != "",
		bm25Fields: orDefault(man.Settings[settingBM25Fields], "combined")}
	s.refs.Store(1)
	if man.Tombstones != nil {
		if s.tomb, err = store.ReadTombstones(filepath.Join(dir, man.Tombstones.Name)); err != nil {
			return nil, fmt.Errorf("open index %s: %w", dir, err)
		}
	}
	old := map[uint64]*segment{}
	if prev != nil {
		for _, seg := range prev.segs {
			old[seg.meta.ID] = seg
		}
	}
	fail := func(err error) (*snapshot, error) {
		for _, seg := range s.segs {
			seg.release()
		}
		return nil, err
	}
	for _, sm := range man.Segments {
		seg := old[sm.ID]
		if seg != nil && seg.meta.Vectors == sm.Vectors && seg.meta.Docs == sm.Docs && seg.meta.Files[annFile] == sm.Files[annFile] {
			seg.ref()
		} else {
			if seg, err = openSegment(dir, sm, cache); err != nil {
				return fail(err)
			}
		}
		s.segs = append(s.segs, seg)
	}
	s.live = meta.NewBitmap(s.bits)
	for _, seg := range s.segs {
		for o := seg.meta.DocOrdStart; o < seg.meta.DocOrdEnd; o++ {
			s.live.Set(o)
		}
	}
	for _, o := range s.tomb.Ords() {
		if int(o) < s.bits {
			s.live.Unset(o)
		}
	}
	s.meta = &metaState{segs: s.segs}
	if prev != nil && extendMeta != nil && *extendMeta {
		s.meta.base, s.meta.from = prev.meta, len(prev.segs)
	}
	return s, nil
}

// openSegment opens a segment's doc store; its search data waits for load.
func openSegment(dir string, s store.Segment, cache *store.BlockCache) (*segment, error) {
	docs, err := store.OpenDocs(filepath.Join(dir, s.Docs.Name))
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", dir, err)
	}
	docs.SetCache(cache)
	seg := &segment{meta: s, docs: docs}
	seg.refs.Store(1)
	return seg, nil
}

// load reads the segment's search data once: vectors (and the rescore
// copy; from the graph file where the segment has one), the BM25 segment
// and the SPLADE postings, each fully verified.
func (seg *segment) load(dir string, rt rowTypes) error {
	seg.loadOnce.Do(func() { seg.loadErr = seg.read(dir, rt) })
	return seg.loadErr
}

func (seg *segment) read(dir string, rt rowTypes) error {
	s := seg.meta
	ref, hasGraph := s.Files[annFile]
	if !hasGraph || !seg.openGraphFile(dir, ref.Name, rt) {
		data, err := store.ReadSegment(filepath.Join(dir, s.Vectors.Name))
		if err != nil {
			return fmt.Errorf("open index %s: %w", dir, err)
		}
		seg.groups, seg.vecs = data.Groups, ann.Rows(&data.Vectors, data.Groups)
		if data.Rescore != nil {
			r := ann.Rows(data.Rescore, data.Groups)
			seg.rescore = &r
		}
	}
	seg.first = firstRows(seg.groups, s.DocOrdStart, s.DocOrdEnd)
	if ref, ok := s.Files[lexicalFile]; ok {
		var err error
		if seg.lex, err = lexical.ReadSegment(filepath.Join(dir, ref.Name)); err != nil {
			return fmt.Errorf("open index %s: %w", dir, err)
		}
	}
	if ref, ok := s.Files[sparseFile]; ok {
		path := filepath.Join(dir, ref.Name)
		sp, err := sparse.ReadFile(path)
		if err == nil && (int64(sp.Rows()) != s.NumPassages || sp.Rows() > 0 && (sp.Groups[0] < s.DocOrdStart || sp.Groups[sp.Rows()-1] >= s.DocOrdEnd)) {
			err = store.Corruptf(path, "rows (against the manifest)", "%d rows; segment %d has %d passages of documents [%d, %d)", sp.Rows(), s.ID, s.NumPassages, s.DocOrdStart, s.DocOrdEnd)
		}
		if err != nil {
			return fmt.Errorf("open index %s: %w", dir, err)
		}
		seg.sp = sp
	}
	return nil
}

// ready loads what searches read (once): every segment's search data and
// the BM25 index over them with this generation's deletions.
func (s *snapshot) ready() error {
	s.readyOnce.Do(func() {
		var lexSegs []*lexical.Segment
		for _, seg := range s.segs {
			if err := seg.load(s.dir, rowTypes{s.man.DType, s.man.Rescore, s.man.Model.Dim}); err != nil {
				s.readyErr = err
				return
			}
			if seg.lex != nil {
				lexSegs = append(lexSegs, seg.lex)
			}
		}
		if len(lexSegs) > 0 {
			lex, err := lexical.NewIndex(lexSegs)
			if err != nil {
				s.readyErr = fmt.Errorf("open index %s: %w", s.dir, err)
				return
			}
			s.lex = lex.WithDeleted(s.tomb.Ords())
		}
	})
	return s.readyErr
}

// firstRows is, for each ordinal of [start, end), the row of its first
// passage (rows are grouped by ordinal, ascending).
func firstRows(groups []uint32, start, end uint32) []uint32 {
	out := make([]uint32, end-start)
	r := 0
	for o := start; o < end; o++ {
		for r < len(groups) && groups[r] < o {
			r++
		}
		out[o-start] = uint32(r)
	}
	return out
}

// segmentOf is the segment holding ordinal ord (nil if none).
func (s *snapshot) segmentOf(ord uint32) *segment {
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].meta.DocOrdEnd > ord })
	if i == len(s.segs) || ord < s.segs[i].meta.DocOrdStart {
		return nil
	}
	return s.segs[i]
}

// doc fetches a stored document by ordinal.
func (s *snapshot) doc(ord uint32) (store.DocRecord, error) {
	seg := s.segmentOf(ord)
	if seg == nil {
		return store.DocRecord{}, fmt.Errorf("document ordinal %d is in no segment", ord)
	}
	return seg.docs.Get(ord)
}

// table is the generation's metadata table, built on first use.
func (s *snapshot) table() (*meta.Table, error) {
	return s.meta.get()
}

func (ms *metaState) get() (*meta.Table, error) {
	ms.once.Do(func() {
		t, from := (*meta.Table)(nil), 0
		if ms.base != nil {
			if bt, err := ms.base.get(); err == nil {
				t, from = bt, ms.from
			}
			ms.base = nil // no chain of old states kept alive
		}
		if t == nil {
			t = meta.NewTable()
		}
		for _, seg := range ms.segs[from:] {
			if t.Len() > int(seg.meta.DocOrdStart) {
				// Not an append-only successor after all: start over.
				t, from = meta.NewTable(), 0
				ms.table, ms.err = buildTable(t, ms.segs)
				return
			}
			if err := appendSegmentMeta(t, seg); err != nil {
				ms.err = err
				return
			}
		}
		ms.table = t
		ms.segs = nil
	})
	return ms.table, ms.err
}

func buildTable(t *meta.Table, segs []*segment) (*meta.Table, error) {
	for _, seg := range segs {
		if err := appendSegmentMeta(t, seg); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func appendSegmentMeta(t *meta.Table, seg *segment) error {
	for rec, err := range seg.docs.All() {
		if err != nil {
			return err
		}
		if err := appendMeta(t, rec); err != nil {
			return err
		}
	}
	return nil
}

// appendMeta adds a record's metadata at its ordinal; ordinals without a
// record (deleted before a compaction) get no values (the live bitmap
// excludes them anyway).
func appendMeta(t *meta.Table, rec store.DocRecord) error {
	for uint32(t.Len()) < rec.Ord {
		if _, err := t.Append(nil); err != nil {
			return err
		}
	}
	var md map[string]any
	if len(rec.Metadata) > 0 {
		dec := json.NewDecoder(bytes.NewReader(rec.Metadata))
		dec.UseNumber()
		if err := dec.Decode(&md); err != nil {
			return fmt.Errorf("document %q: metadata: %w", rec.ID, err)
		}
	}
	_, err := t.Append(md)
	return err
}

// sparseInfo summarizes the sparse vectors of the segments (nil for a dense
// index).
func (s *snapshot) sparseInfo() *SparseInfo {
	if !s.sparse || s.ready() != nil {
		return nil
	}
	si := &SparseInfo{}
	si.Vocab, _ = strconv.Atoi(s.man.Settings["sparse.vocab"])
	si.KTokens, _ = strconv.Atoi(s.man.Settings["sparse.k_tokens"])
	terms := map[int]bool{}
	var rows int
	minA, maxA := 0, 0
	for _, seg := range s.segs {
		if seg.sp == nil {
			continue
		}
		mn, mx, used := seg.sp.RowStats()
		if rows == 0 || mn < minA {
			minA = mn
		}
		maxA = max(maxA, mx)
		rows += seg.sp.Rows()
		si.Postings += seg.sp.Postings()
		for _, t := range used {
			terms[t] = true
		}
	}
	si.Terms = len(terms)
	si.Passages = sparse.FromCounts(rows, si.Postings, minA, maxA, si.Vocab)
	return si
}
