package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/quarry-search/quarry/engine/ann"
	"github.com/quarry-search/quarry/engine/chunk"
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/ingest"
	"github.com/quarry-search/quarry/engine/lexical"
	"github.com/quarry-search/quarry/engine/sparse"
	"github.com/quarry-search/quarry/engine/store"
	"github.com/quarry-search/quarry/engine/tokenize"
)

// AddOptions configure Add.
type AddOptions struct {
	// Input is a corpus path (JSONL file, BEIR folder, directory of text
	// files, Hub model-search folder); Ingest says how to read it.
	Input  string
	Ingest ingest.Options
	// SegmentPassages is how many passages make one committed segment (the
	// resume checkpoint interval and the bound on memory); 0 = 8192, or
	// ANNSegmentPassages for an index that builds graphs.
	SegmentPassages int
	// Batch is the number of passages per native encode call; 0 = 256.
	Batch int
	// Progress, when set, is called after every encode batch and commit.
	Progress func(Progress)
	// NoPrecheck skips the validation pass over the whole input that runs
	// before anything is committed (it finds bad records and duplicate ids
	// up front and counts the records for the ETA).
	NoPrecheck bool
}

// Progress reports an Add in flight.
type Progress struct {
	Records      int64 // input records consumed so far (including resumed and bad ones)
	Committed    int64 // input records committed (the resume point, including resumed ones)
	TotalRecords int64 // input records in all (0 if unknown)
	Resumed      int64 // records skipped because an earlier run committed them
	Docs         int64 // documents added in this run
	Passages     int64 // passages encoded in this run
	Tokens       int64 // word pieces encoded in this run
	Bad          int64 // bad records skipped
	Segments     int   // segments committed in this run
	Elapsed      time.Duration
	Done         bool
}

// AddStats summarize an Add.
type AddStats struct {
	Progress
	Truncated     int64               // passages cut to the model's max tokens (should stay 0: passages fit by construction)
	BadRecords    []*ingest.BadRecord // the first bad records (up to 20)
	AlreadyDone   bool                // the input had been indexed completely before
	EncodeSeconds float64             // time spent in the encoder
	GraphSeconds  float64             // time spent building HNSW graphs
	// Sparse: sparsity of the passages encoded in this run (SPLADE indexes).
	Sparse *sparse.Stats
}

// BadInputError is returned when the input has bad records and
// Ingest.SkipBad is off; nothing was committed.
type BadInputError struct {
	Count   int64
	Records []*ingest.BadRecord
}

// ErrorKind implements errs.Kinded: bad records are the caller's input.
func (e *BadInputError) ErrorKind() errs.Kind { return errs.BadInput }

func (e *BadInputError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d bad record(s) in the input; nothing was committed (fix them, or pass --skip-bad to index the rest):", e.Count)
	for _, r := range e.Records {
		fmt.Fprintf(&b, "\n  %s", r.Error())
	}
	if int64(len(e.Records)) < e.Count {
		fmt.Fprintf(&b, "\n  … and %d more", e.Count-int64(len(e.Records)))
	}
	return b.String()
}

const maxBadKept = 20

// pending is the segment being assembled.
type pending struct {
	docs     []store.DocRecord
	lex      []lexical.Doc
	texts    []string // passage texts (without prompt)
	groups   []uint32 // ordinal of each passage
	passages int
}

// Add indexes the documents of opts.Input that the index does not hold yet:
// a new input is read from the start, an input whose earlier run was
// interrupted resumes after its last committed segment (checked by the
// input's fingerprint), a completely indexed input is a no-op. Every
// SegmentPassages passages are encoded and committed atomically; a crash
// loses at most the segment in progress.
func (ix *Index) Add(ctx context.Context, opts AddOptions) (*AddStats, error) {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.closed.Load() {
		return nil, ErrClosed
	}
	if ix.lock == nil {
		return nil, fmt.Errorf("add: %w", ErrReadOnly)
	}
	if opts.SegmentPassages < 0 || opts.Batch < 0 {
		return nil, errs.New(errs.BadInput, "add: segment passages %d and batch %d must not be negative", opts.SegmentPassages, opts.Batch)
	}
	if opts.SegmentPassages == 0 {
		opts.SegmentPassages = defaultSegmentPassages(ix.manifest())
	}
	if opts.Batch == 0 {
		opts.Batch = 256
	}
	enc, err := ix.Encoder()
	if err != nil {
		return nil, err
	}
	ids, err := ix.idMap()
	if err != nil {
		return nil, err
	}
	var onBad func(*ingest.BadRecord)
	iop := opts.Ingest
	iop.OnBad = func(b *ingest.BadRecord) {
		if opts.Ingest.OnBad != nil {
			opts.Ingest.OnBad(b)
		}
		if onBad != nil && opts.Ingest.SkipBad {
			onBad(b)
		}
	}
	r, err := ingest.Open(opts.Input, iop)
	if err != nil {
		return nil, errs.Mark(errs.BadInput, err)
	}
	defer r.Close()
	abs, _ := filepath.Abs(opts.Input)
	fp := r.Fingerprint()
	st := &AddStats{}
	start := time.Now()

	man := cloneManifest(ix.manifest())
	inIdx := -1
	for i, in := range man.Inputs {
		if in.Fingerprint == fp {
			inIdx = i
		} else if in.Path == abs && !in.Done {
			return nil, errs.New(errs.Conflict, "add %s: the input changed since an interrupted run indexed %d of its records (fingerprint differs); restore it to resume, or delete the index and start over", opts.Input, in.Records)
		}
	}
	if inIdx >= 0 && man.Inputs[inIdx].Done {
		st.AlreadyDone = true
		st.Done = true
		return st, nil
	}
	if inIdx < 0 {
		fi, _ := os.Stat(opts.Input)
		in := store.InputProgress{Path: abs, Fingerprint: fp}
		if fi != nil {
			in.Size, in.ModTime = fi.Size(), fi.ModTime().UTC()
		}
		man.Inputs = append(man.Inputs, in)
		inIdx = len(man.Inputs) - 1
	}
	st.Resumed = man.Inputs[inIdx].Records
	st.Committed = st.Resumed

	report := func() {
		st.Elapsed = time.Since(start)
		if opts.Progress != nil {
			opts.Progress(st.Progress)
		}
	}
	addBad := func(b *ingest.BadRecord) {
		st.Bad++
		if len(st.BadRecords) < maxBadKept {
			st.BadRecords = append(st.BadRecords, b)
		}
	}
	onBad = addBad

	// Pass 1: validate everything before anything is committed.
	if !opts.NoPrecheck {
		total, bad, err := precheck(ctx, opts, st.Resumed, ids)
		if err != nil {
			return nil, err
		}
		st.TotalRecords = total
		if total == 0 {
			// /dev/null is refused as a device; an empty file is an error
			// too, not an empty index.
			return nil, errs.New(errs.BadInput, "add %s: the input holds no records", opts.Input)
		}
		if bad.count > 0 && !opts.Ingest.SkipBad {
			return nil, &BadInputError{Count: bad.count, Records: bad.first}
		}
	}

	// Pass 2: read, chunk, encode, commit.
	if err := r.Skip(st.Resumed); err != nil {
		return nil, fmt.Errorf("add %s: resume after record %d: %w", opts.Input, st.Resumed, err)
	}
	st.Records = st.Resumed
	tok := enc.Tokenizer()
	window, overlap, titled := man.Chunking.Window, man.Chunking.Overlap, man.Chunking.Title
	nextOrd := man.NextDocOrd()
	seen := map[string]bool{} // ids of the segment in progress (committed ones are in ids)
	var p pending
	flush := func(records int64, done bool) error {
		if p.passages == 0 && len(p.docs) == 0 {
			man.Inputs[inIdx].Records, man.Inputs[inIdx].Done = records, done
			if !done || ix.pending != nil {
				return nil // nothing to commit (a new index stays uncreated)
			}
			return ix.commit(man, true)
		}
		if err := ix.writeSegment(ctx, enc, man, &p, st, opts, report); err != nil {
			ix.removeSegmentFiles(man.NextSegmentID, man.NextSegmentID) // what it wrote of the segment
			return err
		}
		man.Inputs[inIdx].Records, man.Inputs[inIdx].Done = records, done
		if err := ix.commit(man, true); err != nil {
			return err
		}
		for _, d := range p.docs {
			ids[d.ID] = d.Ord
		}
		clear(seen)
		st.Segments++
		p = pending{}
		st.Committed = records
		report()
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		doc, err := r.Next()
		if err == io.EOF {
			break
		}
		st.Records = r.Records()
		var bad *ingest.BadRecord
		if errors.As(err, &bad) {
			if !opts.Ingest.SkipBad {
				return st, &BadInputError{Count: 1, Records: []*ingest.BadRecord{bad}}
			}
			continue // counted by OnBad
		}
		if err != nil {
			return st, errs.Mark(errs.BadInput, fmt.Errorf("add %s: %w", opts.Input, err))
		}
		if _, dup := ids[doc.ID]; dup || seen[doc.ID] {
			b := inIndex(&doc)
			if !opts.Ingest.SkipBad {
				return st, &BadInputError{Count: 1, Records: []*ingest.BadRecord{b}}
			}
			addBad(b)
			continue
		}
		seen[doc.ID] = true
		p.add(tok, &doc, nextOrd, window, overlap, titled)
		nextOrd++
		st.Docs++
		if p.passages >= opts.SegmentPassages {
			if err := flush(r.Records(), false); err != nil {
				return st, err
			}
		}
	}
	if err := flush(r.Records(), true); err != nil {
		return st, err
	}
	st.Records = r.Records()
	st.Done = true
	report()
	return st, nil
}

// badRecords counts bad records and keeps the first maxBadKept: a million
// bad lines cost a counter, not a million records in memory.
type badRecords struct {
	count int64
	first []*ingest.BadRecord
}

func (b *badRecords) add(r *ingest.BadRecord) {
	b.count++
	if len(b.first) < maxBadKept {
		b.first = append(b.first, r)
	}
}

// precheck reads the input once (from record `from`), counting bad records
// and ids that the index already holds (keeping the first maxBadKept), and
// counts the records.
func precheck(ctx context.Context, opts AddOptions, from int64, ids map[string]uint32) (int64, *badRecords, error) {
	iop := opts.Ingest
	iop.SkipBad = true
	bad := &badRecords{}
	iop.OnBad = bad.add
	r, err := ingest.Open(opts.Input, iop)
	if err != nil {
		return 0, nil, errs.Mark(errs.BadInput, err)
	}
	defer r.Close()
	if err := r.Skip(from); err != nil {
		return 0, nil, err
	}
	wrap := func(err error) error { return errs.Mark(errs.BadInput, fmt.Errorf("read %s: %w", opts.Input, err)) }
	if err := checkRecords(ctx, r.Next, ids, bad, wrap, nil); err != nil {
		return 0, nil, err
	}
	return r.Records(), bad, nil
}

// checkRecords reads records from next until io.EOF, adding the bad ones
// and those whose id the index already holds to bad, and handing every
// other document to keep (when set; its error ends the reading). wrap makes
// a read error the caller's.
func checkRecords(ctx context.Context, next func() (ingest.Document, error), ids map[string]uint32, bad *badRecords,
	wrap func(error) error, keep func(*ingest.Document) error) error {
	for n := 0; ; n++ {
		if n%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		doc, err := next()
		if err == io.EOF {
			return nil
		}
		var b *ingest.BadRecord
		if errors.As(err, &b) {
			bad.add(b)
			continue
		}
		if err != nil {
			return wrap(err)
		}
		if _, dup := ids[doc.ID]; dup {
			bad.add(inIndex(&doc))
			continue
		}
		if keep != nil {
			if err := keep(&doc); err != nil {
				return err
			}
		}
	}
}

// inIndex is the bad record of a document whose id the index already holds.
func inIndex(doc *ingest.Document) *ingest.BadRecord {
	b := doc.Bad("id", fmt.Sprintf("duplicate id %q: the index already holds it", doc.ID))
	b.DuplicateID = doc.ID
	return b
}

// add appends a document (ordinal ord) to the segment being assembled.
func (p *pending) add(tok *tokenize.Tokenizer, doc *ingest.Document, ord uint32, window, overlap int, titled bool) {
	rec, lex, texts := prepare(tok, doc, ord, window, overlap, titled)
	p.docs = append(p.docs, rec)
	p.lex = append(p.lex, lex)
	p.texts = append(p.texts, texts...)
	for range texts {
		p.groups = append(p.groups, ord)
	}
	p.passages += len(texts)
}

// prepare turns a document into its stored record, its BM25 entry and its
// passage texts.
func prepare(tok *tokenize.Tokenizer, doc *ingest.Document, ord uint32, window, overlap int, titled bool) (store.DocRecord, lexical.Doc, []string) {
	prefix := ""
	if titled && strings.TrimSpace(doc.Title) != "" {
		// title + " " + passage: WordPiece tokens add up across the space, so
		// the passage gets the window less the title's tokens (at least half
		// of it; a longer title is cut by the encoder and counted).
		prefix = strings.TrimSpace(doc.Title) + " "
		tt := len(tok.Tokenize(prefix))
		window = max(window/2, window-tt)
		if overlap >= window {
			overlap = window / 4
		}
	}
	var ps []chunk.Passage
	if doc.Passages != nil {
		ps = chunk.SplitAll(tok, doc.Passages, window, overlap)
	} else {
		ps = chunk.Split(tok, doc.Text, window, overlap)
	}
	rec := store.DocRecord{Ord: ord, ID: doc.ID, Title: doc.Title}
	texts := make([]string, 0, len(ps))
	for _, p := range ps {
		rec.Passages = append(rec.Passages, store.PassageRecord{Text: p.Text, Start: p.Start, End: p.End})
		texts = append(texts, prefix+p.Text)
	}
	if len(doc.Metadata) > 0 {
		rec.Metadata, _ = json.Marshal(doc.Metadata)
	}
	return rec, lexical.Doc{Ord: ord, Title: doc.Title, Text: doc.Text}, texts
}

// writeSegment encodes the pending passages and writes the segment's files,
// then adds the segment to man (not yet committed).
func (ix *Index) writeSegment(ctx context.Context, enc Encoder, man *store.Manifest, p *pending, st *AddStats, opts AddOptions, report func()) error {
	info := enc.Info()
	prompt := info.DocumentPrompt
	dim := info.Dim
	isSparse := man.Settings["sparse"] != ""
	var svecs []sparse.Vec
	if isSparse {
		dim = 1
	}
	vecs := make([][]float32, 0, len(p.texts))
	encs := make([]tokenize.Encoding, 0, opts.Batch)
	for lo := 0; lo < len(p.texts); lo += opts.Batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+opts.Batch, len(p.texts))
		encs = encs[:0]
		for _, t := range p.texts[lo:hi] {
			e := enc.Tokenizer().Encode(prompt+t, info.MaxTokens)
			if e.Truncated {
				st.Truncated++
			}
			st.Tokens += int64(len(e.IDs))
			encs = append(encs, e)
		}
		t0 := time.Now()
		var v [][]float32
		var err error
		if isSparse {
			var sv []sparse.Vec
			if sv, err = enc.SparseEncodings(encs); err == nil {
				svecs = append(svecs, sv...)
				for _, x := range sv {
					v = append(v, []float32{float32(x.Norm())})
				}
			}
		} else {
			v, err = enc.EmbedEncodings(encs)
		}
		if err != nil {
			return fmt.Errorf("encode passages: %w", err)
		}
		st.EncodeSeconds += time.Since(t0).Seconds()
		vecs = append(vecs, v...)
		st.Passages += int64(hi - lo)
		report()
	}
	id := man.NextSegmentID
	seg := store.Segment{ID: id, NumDocs: int64(len(p.docs)), NumPassages: int64(len(p.texts)), Files: map[string]store.FileRef{}}
	if len(p.docs) > 0 {
		seg.DocOrdStart, seg.DocOrdEnd = p.docs[0].Ord, p.docs[len(p.docs)-1].Ord+1
	}
	q, err := store.Quantize(man.DType, dim, vecs)
	if err != nil {
		return fmt.Errorf("segment %d: %w", id, err)
	}
	var resc *store.Vectors
	if man.Rescore != 0 {
		r, err := store.Quantize(man.Rescore, dim, vecs)
		if err != nil {
			return fmt.Errorf("segment %d: %w", id, err)
		}
		resc = &r
	}
	params := store.SegmentParams{DType: man.DType, Dim: dim, Count: len(vecs), Rescore: man.Rescore}
	if seg.Vectors, err = store.WriteSegmentParams(filepath.Join(ix.dir, store.SegmentFileName(id)), params, q, p.groups, resc); err != nil {
		return err
	}
	if seg.Docs, err = store.WriteDocs(filepath.Join(ix.dir, store.DocsFileName(id)), p.docs); err != nil {
		return err
	}
	if !isSparse && wantsGraph(man, len(vecs)) {
		// The graph is built before the commit that publishes the segment: a
		// crash or a cancel here leaves the previous generation, and the run
		// resumes by encoding the segment (and building its graph) again.
		_, gp := graphParams(man)
		t0 := time.Now()
		ref, g, err := ann.Build(ctx, store.OS(), filepath.Join(ix.dir, ann.FileName(id)), &q, p.groups, resc, gp)
		if err != nil {
			return fmt.Errorf("segment %d: %w", id, err)
		}
		g.Close()
		seg.Files[annFile] = ref
		st.GraphSeconds += time.Since(t0).Seconds()
	}
	if isSparse {
		vocab, _ := strconv.Atoi(man.Settings["sparse.vocab"])
		ref, info, err := sparse.WriteFile(filepath.Join(ix.dir, sparse.FileName(id)), vocab, p.groups, svecs)
		if err != nil {
			return fmt.Errorf("segment %d: %w", id, err)
		}
		seg.Files[sparseFile] = ref
		ss := sparse.Sparsity(svecs, vocab)
		if st.Sparse != nil {
			prev := *st.Sparse
			ss = sparse.FromCounts(prev.Count+ss.Count, int64(math.Round(prev.ActiveDims*float64(prev.Count)))+info.Postings,
				min(prev.MinActive, ss.MinActive), max(prev.MaxActive, ss.MaxActive), vocab)
		}
		st.Sparse = &ss
	}
	if len(p.lex) > 0 {
		lexPath := filepath.Join(ix.dir, lexical.SegmentFileName(id))
		ref, _, err := lexical.BuildSegment(ctx, lexPath, p.lex, ix.analyzer())
		if err != nil {
			return err
		}
		seg.Files[lexicalFile] = ref
	}
	man.Segments = append(man.Segments, seg)
	man.NextSegmentID = id + 1
	return nil
}

// commit writes man as the next generation and publishes its snapshot
// (segments already loaded are shared, new ones read). appended says that
// man only added segments (or tombstones) to the current generation, so
// its metadata table can be extended instead of rebuilt.
func (ix *Index) commit(man *store.Manifest, appended bool) error {
	man.Recount()
	if err := store.Commit(ix.dir, man); err != nil {
		return err
	}
	ix.pending = nil
	cur := ix.cur.Load()
	snap, err := newSnapshot(ix.dir, cloneManifest(man), cur, &appended, ix.docCache)
	if err != nil {
		return fmt.Errorf("committed generation %d but could not load it: %w", man.Generation, err)
	}
	ix.publish(snap)
	return nil
}

// manifest is the current generation's manifest (not to be modified).
func (ix *Index) manifest() *store.Manifest { return ix.cur.Load().man }

// analyzer is the index's BM25 analyzer.
func (ix *Index) analyzer() lexical.Analyzer { return ix.cur.Load().an }

// idMap is the writer's map of live document IDs to ordinals, built from the
// doc stores on first use. The caller holds ix.wmu.
func (ix *Index) idMap() (map[string]uint32, error) {
	if ix.ids != nil {
		return ix.ids, nil
	}
	s := ix.cur.Load()
	ids := map[string]uint32{}
	for _, seg := range s.segs {
		for rec, err := range seg.docs.All() {
			if err != nil {
				return nil, err
			}
			if s.live.Has(rec.Ord) {
				ids[rec.ID] = rec.Ord
			}
		}
	}
	ix.ids = ids
	return ids, nil
}

func cloneManifest(m *store.Manifest) *store.Manifest {
	b, _ := json.Marshal(m)
	var c store.Manifest
	_ = json.Unmarshal(b, &c)
	return &c
}
