package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/ingest"
	"github.com/quarry-search/quarry/engine/meta"
	"github.com/quarry-search/quarry/engine/store"
)

// DocumentsOptions configure AddDocuments.
type DocumentsOptions struct {
	// SegmentPassages is how many passages make one segment; 0 = 8192
	// (ANNSegmentPassages for an index that builds graphs). All
	// the segments of a call are committed together.
	SegmentPassages int
	// Batch is the number of passages per encode call; 0 = 256.
	Batch int
	// MaxDocuments bounds the documents of one call (they are held in
	// memory until they are committed); 0 = DefaultMaxDocuments. More is an
	// errs.Limit error.
	MaxDocuments int
}

// DefaultMaxDocuments is the default DocumentsOptions.MaxDocuments.
const DefaultMaxDocuments = 100_000

// ErrNoDocuments is wrapped when AddDocuments is given an input without
// records (kind BadInput).
var ErrNoDocuments = errs.New(errs.BadInput, "the input holds no records")

// AddResult is what AddDocuments committed.
type AddResult struct {
	// Committed are the ids of the documents added, in input order.
	Committed []string
	// Generation is the generation that holds them.
	Generation uint64
	// Documents is the index's live documents after the commit.
	Documents int64
	// Stats: passages and tokens encoded, encode time, segments written.
	Stats AddStats
}

// AddDocuments adds the documents of src, an input already in memory (an
// ingest.NewReader over a request body, say), as one atomic commit: every
// record is read and checked first, and if any is bad, nothing is written
// and the error is a *BadInputError with every bad record (the first
// maxBadKept of them, and the count): the reader's own (invalid JSON, a
// missing or mistyped field, an id repeated in the input; see
// ingest.NewBytesReader) and ids that the index already holds, with the
// message Add gives them; BadRecord.DuplicateID names the id of both kinds
// of duplicate. Then the documents are chunked and encoded as Add does,
// written as segments (SegmentPassages passages each) and committed in one
// new generation, durable when AddDocuments returns (the manifest is
// fsync'd, as every commit); the next search reads it.
//
// An input without records wraps ErrNoDocuments; a reader's final error
// (an errs.Limit of ingest.Options.MaxRecords, say) is returned as is, with
// nothing written. A reader made with SkipBad does not return its bad
// records, so they cannot stop the commit; its OnBad still sees them.
//
// It is a writer like Add, Delete and Compact: writes are serialized, and
// searches go on meanwhile on the previous snapshot. It records no input
// progress in the manifest (each call stands alone, there is nothing to
// resume), and leaves the progress of Add's file inputs as it is, so an
// interrupted Add still resumes where it stopped. On an index from Create
// that committed nothing yet, a rejected call leaves nothing on disk.
func (ix *Index) AddDocuments(ctx context.Context, src ingest.Reader, opts DocumentsOptions) (*AddResult, error) {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.closed.Load() {
		return nil, ErrClosed
	}
	if ix.lock == nil {
		return nil, fmt.Errorf("add documents: %w", ErrReadOnly)
	}
	if opts.SegmentPassages < 0 || opts.Batch < 0 || opts.MaxDocuments < 0 {
		return nil, errs.New(errs.BadInput, "add documents: segment passages %d, batch %d and max documents %d must not be negative", opts.SegmentPassages, opts.Batch, opts.MaxDocuments)
	}
	aopts := AddOptions{SegmentPassages: opts.SegmentPassages, Batch: opts.Batch}
	if aopts.SegmentPassages == 0 {
		aopts.SegmentPassages = defaultSegmentPassages(ix.manifest())
	}
	if aopts.Batch == 0 {
		aopts.Batch = 256
	}
	maxDocs := opts.MaxDocuments
	if maxDocs == 0 {
		maxDocs = DefaultMaxDocuments
	}
	enc, err := ix.Encoder()
	if err != nil {
		return nil, err
	}
	ids, err := ix.idMap()
	if err != nil {
		return nil, err
	}

	// Pass 1: read and check everything.
	var docs []ingest.Document
	bad := &badRecords{}
	wrap := func(err error) error { return fmt.Errorf("add documents: %w", err) }
	err = checkRecords(ctx, src.Next, ids, bad, wrap, func(doc *ingest.Document) error {
		if len(docs) == maxDocs {
			return errs.New(errs.Limit, "add documents: more than %d documents in one call (MaxDocuments)", maxDocs)
		}
		docs = append(docs, *doc)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if bad.count > 0 {
		return nil, &BadInputError{Count: bad.count, Records: bad.first}
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("add documents: %w", ErrNoDocuments)
	}

	// Pass 2: chunk, encode and write the segments; commit them at once.
	man := cloneManifest(ix.manifest())
	firstSeg := man.NextSegmentID
	st := &AddStats{}
	tok := enc.Tokenizer()
	window, overlap, titled := man.Chunking.Window, man.Chunking.Overlap, man.Chunking.Title
	nextOrd := man.NextDocOrd()
	fail := func(err error) (*AddResult, error) {
		ix.removeSegmentFiles(firstSeg, man.NextSegmentID)
		return nil, err
	}
	var p pending
	for i := range docs {
		p.add(tok, &docs[i], nextOrd, window, overlap, titled)
		nextOrd++
		if p.passages >= aopts.SegmentPassages || i == len(docs)-1 {
			if err := ix.writeSegment(ctx, enc, man, &p, st, aopts, func() {}); err != nil {
				return fail(err)
			}
			st.Segments++
			p = pending{}
		}
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := ix.commit(man, true); err != nil {
		// The commit may have reached the disk (a failure to load it after):
		// the segment files stay, for the next Open or GC to judge.
		return nil, err
	}
	res := &AddResult{Committed: make([]string, len(docs)), Generation: man.Generation, Stats: *st}
	ord := nextOrd - uint32(len(docs))
	for i, d := range docs {
		ids[d.ID] = ord + uint32(i)
		res.Committed[i] = d.ID
	}
	st.Docs = int64(len(docs))
	res.Stats.Docs, res.Stats.Done = st.Docs, true
	res.Documents = ix.cur.Load().liveDocs()
	return res, nil
}

// removeSegmentFiles removes every file of the segments [from, to) and of
// segment to, written but not committed (best effort: GC removes what
// stays).
func (ix *Index) removeSegmentFiles(from, to uint64) {
	for id := from; id <= to; id++ {
		for _, k := range ix.reg.Kinds() {
			os.Remove(filepath.Join(ix.dir, k.FileName(id)))
		}
	}
}

// DeleteResult is what DeleteDocuments did.
type DeleteResult struct {
	// Deleted are the ids deleted, in request order, each once.
	Deleted []string
	// Missing are the ids the index does not hold (never added, or deleted
	// already), in request order, each once.
	Missing []string
	// Generation is the index generation after the delete: the same as
	// before when nothing was deleted.
	Generation uint64
	// Documents is the index's live documents after the delete.
	Documents int64
}

// DeleteDocuments deletes documents by id, as Delete does (one atomic,
// durable commit of tombstones; nothing is committed when no id is held),
// and reports which ids were deleted and which were missing, which is not
// an error.
func (ix *Index) DeleteDocuments(ctx context.Context, ids []string) (*DeleteResult, error) {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	return ix.deleteIDs(ctx, ids)
}

// deleteIDs is DeleteDocuments; the caller holds ix.wmu.
func (ix *Index) deleteIDs(ctx context.Context, ids []string) (*DeleteResult, error) {
	if ix.closed.Load() {
		return nil, ErrClosed
	}
	if ix.lock == nil {
		return nil, fmt.Errorf("delete: %w", ErrReadOnly)
	}
	known, err := ix.findIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	res := &DeleteResult{}
	var ords []uint32
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		o, ok := known[id]
		if !ok {
			res.Missing = append(res.Missing, id)
			continue
		}
		ords = append(ords, o)
		res.Deleted = append(res.Deleted, id)
	}
	if len(ords) > 0 {
		cur := ix.cur.Load()
		man := cloneManifest(cur.man)
		tomb := cur.tomb.Add(ords...)
		ref, err := store.WriteTombstones(filepath.Join(ix.dir, store.TombstonesFileName(man.Generation+1)), tomb)
		if err != nil {
			return &DeleteResult{Missing: res.Missing}, err
		}
		man.Tombstones = &ref
		man.Counts.Deleted = int64(tomb.Len())
		if err := ix.commit(man, true); err != nil {
			return &DeleteResult{Missing: res.Missing}, err
		}
		if ix.ids != nil {
			for _, id := range res.Deleted {
				delete(ix.ids, id)
			}
		}
	}
	cur := ix.cur.Load()
	res.Generation, res.Documents = cur.man.Generation, cur.liveDocs()
	return res, nil
}

// DefaultFacetValues and MaxFacetValues bound the values Facets lists per
// field: 50 when not given, at most 10,000.
const (
	DefaultFacetValues = 50
	MaxFacetValues     = 10_000
)

// Facets describe the metadata fields of one generation's live documents.
type Facets struct {
	Generation uint64
	// Fields are meta.Table.Facets of the generation, by field name
	// (top-level fields and one level of nested ones, "config.model_type").
	Fields map[string]meta.Facet
}

// facetCache keeps a snapshot's facets for the last maxValues asked.
type facetCache struct {
	mu        sync.Mutex
	maxValues int
	f         *Facets
}

// Facets describes the metadata fields of the current generation's live
// documents (meta.Facet: type, documents, most frequent values, range,
// sortable), listing at most maxValues values a field (0 =
// DefaultFacetValues). It is computed once per generation (and maxValues)
// and shared: the result is read-only. The first call on a generation
// builds its metadata table if no search has (a pass over the doc stores).
func (ix *Index) Facets(maxValues int) (*Facets, error) {
	if maxValues == 0 {
		maxValues = DefaultFacetValues
	}
	if maxValues < 0 || maxValues > MaxFacetValues {
		return nil, errs.New(errs.Limit, "facets: %d values a field: want 1..%d", maxValues, MaxFacetValues)
	}
	s, err := ix.acquire()
	if err != nil {
		return nil, err
	}
	defer s.release()
	c := &s.facets
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f != nil && c.maxValues == maxValues {
		return c.f, nil
	}
	t, err := s.table()
	if err != nil {
		return nil, fmt.Errorf("facets: %w", err)
	}
	f := &Facets{Generation: s.man.Generation, Fields: t.Facets(s.live, maxValues)}
	c.f, c.maxValues = f, maxValues
	return f, nil
}

// Summary is the short description of an index that a list of indexes
// shows.
type Summary struct {
	Generation uint64 `json:"generation"`
	Documents  int64  `json:"documents"` // live documents
	Passages   int64  `json:"passages"`  // stored passages (deleted documents' included until Compact)
	Model      string `json:"model"`     // the model's name
	// Dim is the model's embedding dimension; for a SPLADE index, its
	// vocabulary (the dimension of its sparse vectors).
	Dim   int    `json:"dim"`
	DType string `json:"dtype"` // of the stored vectors
	// Modes are the retrieval modes the index can search: dense, bm25 and
	// hybrid, or sparse and bm25 for a SPLADE index.
	Modes    []Mode `json:"modes"`
	Sparse   bool   `json:"sparse"`
	Writable bool   `json:"writable"` // opened for writing (Add, Delete, AddDocuments)
}

// Summary describes the index (its current generation) in short.
func (ix *Index) Summary() Summary {
	s := ix.cur.Load()
	if s == nil {
		return Summary{}
	}
	m := s.man
	sum := Summary{Generation: m.Generation, Documents: s.liveDocs(), Passages: m.Counts.Passages,
		Model: m.Model.Name, Dim: m.Model.Dim, DType: m.DType.String(), Modes: s.modes(), Sparse: s.sparse, Writable: ix.opts.Writable}
	if s.sparse {
		sum.Dim, _ = strconv.Atoi(m.Settings["sparse.vocab"])
	}
	return sum
}

// Modes are the retrieval modes the index can search (see Summary).
func (ix *Index) Modes() []Mode {
	s := ix.cur.Load()
	if s == nil {
		return nil
	}
	return s.modes()
}

// liveDocs is the number of live documents of the generation.
func (s *snapshot) liveDocs() int64 { return s.man.Counts.Documents - int64(s.tomb.Len()) }

func (s *snapshot) modes() []Mode {
	if s.sparse {
		return []Mode{ModeSparse, ModeBM25}
	}
	return []Mode{ModeDense, ModeBM25, ModeHybrid}
}
