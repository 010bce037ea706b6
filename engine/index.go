package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"

	"github.com/quarry-search/quarry/bindings"
	"github.com/quarry-search/quarry/engine/lexical"
	"github.com/quarry-search/quarry/engine/meta"
	"github.com/quarry-search/quarry/engine/sparse"
	"github.com/quarry-search/quarry/engine/store"
)

// lexicalFile is the key of a segment's BM25 file in store.Segment.Files.
const lexicalFile = "lexical"

// sparseFile is the key of a segment's SPLADE inverted index
// (sparse-NNNNNN.qsp, engine/sparse) in store.Segment.Files. An index built
// with a SPLADE model records Settings["sparse"] = "splade" (and
// "sparse.vocab", "sparse.k_tokens"); its seg-*.qvec files hold one f32 per
// passage, the L2 norm of its sparse vector (the store keeps one row per
// passage: it maps rows to documents and compaction copies it).
const sparseFile = "sparse"

// CreateOptions configure a new index.
type CreateOptions struct {
	// Model is the bi-encoder GGUF whose identity (sha256, dimension,
	// pooling, normalization, prompts, max tokens) the index records.
	Model string
	// DType of the stored vectors: "f32" (default), "f16", "int8", "binary".
	// int8 and binary keep an f16 copy for rescoring.
	DType string
	// Window and Overlap of passages in word pieces; 0 = the model's max
	// tokens minus [CLS]/[SEP], and 32.
	Window, Overlap int
	// EmbedTitle embeds each passage as the document's title + " " +
	// passage (BEIR's dense convention) instead of the passage alone; the
	// title always goes to BM25. Recorded in the manifest (Chunking.Title).
	EmbedTitle bool
	// Analyzer of the BM25 index: "en" (default), "english" (Elasticsearch's
	// stop words, for BEIR comparability), "standard".
	Analyzer string
	// ModelOptions load the model (threads, workers, ...).
	ModelOptions ModelOptions
}

// OpenOptions configure Open.
type OpenOptions struct {
	// Model overrides the recorded model path; it must be the same model
	// (sha256), else Open fails.
	Model string
	// Writable takes the index lock so Add, Delete and Compact work.
	Writable     bool
	ModelOptions ModelOptions
}

// Index is a quarry index directory opened for searching (and, when
// writable, for adding and deleting documents). Safe for concurrent
// searches; writes are serialized.
type Index struct {
	dir  string
	opts OpenOptions

	wmu  sync.Mutex // serializes writers
	lock *store.Lock

	mu     sync.RWMutex
	man    *store.Manifest
	segs   []*segment
	lex    *lexical.Index
	tomb   store.Tombstones
	dtype  store.DType
	an     lexical.Analyzer
	closed bool

	modelOnce sync.Once
	model     *Model
	modelErr  error

	meta *metaState // metadata by ordinal and ids, built on first use; replaced after writes
}

type metaState struct {
	once  sync.Once
	table *meta.Table
	ids   map[string]uint32 // live document ID -> ordinal
	err   error
}

// segment is a loaded segment: its vectors for search and its doc store.
type segment struct {
	meta    store.Segment
	vecs    bindings.Vectors
	rescore *bindings.Vectors
	groups  []uint32
	docs    *store.DocReader
	sp      *sparse.Segment // SPLADE postings (sparse indexes)
}

// Info summarizes an index.
type Info struct {
	Dir        string                `json:"dir"`
	Generation uint64                `json:"generation"`
	Model      store.ModelIdentity   `json:"model"`
	DType      string                `json:"dtype"`
	Chunking   store.Chunking        `json:"chunking"`
	Analyzer   string                `json:"analyzer"`
	Segments   int                   `json:"segments"`
	Documents  int64                 `json:"documents"`
	Passages   int64                 `json:"passages"`
	Deleted    int64                 `json:"deleted"`
	Bytes      int64                 `json:"bytes"`
	Files      map[string]int64      `json:"bytes_by_kind"`
	Inputs     []store.InputProgress `json:"inputs,omitempty"`
	// Sparse describes a SPLADE index (nil for dense ones).
	Sparse *SparseInfo `json:"sparse,omitempty"`
}

// SparseInfo describes the sparse vectors of a SPLADE index: its model's
// vocabulary, the k_tokens cap, and sentence-transformers-style sparsity
// statistics of the stored passages (active dimensions per passage).
type SparseInfo struct {
	Vocab    int          `json:"vocab"`
	KTokens  int          `json:"k_tokens"` // largest weights kept per vector (= vocab: all)
	Postings int64        `json:"postings"`
	Terms    int          `json:"terms"` // vocabulary entries with at least one posting
	Passages sparse.Stats `json:"passages"`
}

// ErrModelKind is wrapped by errors for a model of the wrong kind (a
// cross-encoder where a bi-encoder is needed, or the reverse).
var ErrModelKind = errors.New("wrong kind of model")

// ErrModelMismatch is wrapped when a model is not the one an index was built with.
var ErrModelMismatch = errors.New("model does not match the index")

// ErrNoIndex is wrapped when a directory holds no index.
var ErrNoIndex = errors.New("no index")

// ErrIndexExists is returned by Create for a directory that already holds an index.
var ErrIndexExists = errors.New("an index already exists here")

// fileSHA256 hashes a file.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// identity describes a loaded model as an index records it.
func identity(m *Model, sha string) store.ModelIdentity {
	abs, _ := filepath.Abs(m.Path())
	cfg := m.Config()
	dim := m.Dim()
	if m.SparseEncoder() {
		dim = 1 // the .qvec rows of a sparse index: one norm per passage
	}
	return store.ModelIdentity{
		Name: cfg.Name, Path: abs, SHA256: sha, Dim: dim, Pooling: m.NativeInfo().Pooling.String(),
		Normalize: m.Normalized(), MaxTokens: m.MaxTokens(), QueryPrompt: cfg.QueryPrompt,
		DocumentPrompt: cfg.DocumentPrompt, Similarity: cfg.Similarity,
	}
}

// Create makes a new empty index in dir (created if missing; it must not
// hold an index) for the given model, and returns it open for writing.
func Create(dir string, opts CreateOptions) (*Index, error) {
	if opts.Model == "" {
		return nil, errors.New("create index: a model is required")
	}
	dt := store.F32
	if opts.DType != "" {
		var err error
		if dt, err = store.ParseDType(opts.DType); err != nil {
			return nil, fmt.Errorf("create index: %w", err)
		}
	}
	an, err := lexical.AnalyzerByName(orDefault(opts.Analyzer, "en"))
	if err != nil {
		return nil, fmt.Errorf("create index: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create index: %w", err)
	}
	lock, man, err := store.OpenForWrite(dir)
	if err != nil {
		return nil, fmt.Errorf("create index %s: %w", dir, err)
	}
	if man != nil {
		lock.Release()
		return nil, fmt.Errorf("create index %s: %w", dir, ErrIndexExists)
	}
	m, err := LoadModel(opts.Model, opts.ModelOptions)
	if err != nil {
		lock.Release()
		return nil, err
	}
	if m.CrossEncoder() {
		m.Close()
		lock.Release()
		return nil, fmt.Errorf("create index: %s is a cross-encoder; indexing needs a bi-encoder: %w", opts.Model, ErrModelKind)
	}
	sha, err := fileSHA256(opts.Model)
	if err != nil {
		m.Close()
		lock.Release()
		return nil, err
	}
	window := opts.Window
	if window <= 0 {
		window = m.MaxTokens() - m.Tokenizer().NumSpecialTokens(false) - promptTokens(m, m.Config().DocumentPrompt)
	}
	overlap := opts.Overlap
	if overlap <= 0 {
		overlap = min(32, window/4)
	}
	if window < 8 || overlap >= window {
		m.Close()
		lock.Release()
		return nil, fmt.Errorf("create index: window %d and overlap %d: need window ≥ 8 and overlap < window", window, overlap)
	}
	man = &store.Manifest{
		Model: identity(m, sha), DType: dt, Chunking: store.Chunking{Window: window, Overlap: overlap, Title: opts.EmbedTitle},
		NextSegmentID: 1, Settings: map[string]string{"analyzer": an.Name()},
	}
	if dt == store.Int8 || dt == store.Binary {
		man.Rescore = store.F16
	}
	if m.SparseEncoder() {
		if dt != store.F32 {
			m.Close()
			lock.Release()
			return nil, fmt.Errorf("create index: %s is a SPLADE model: its index stores sparse vectors, and --dtype %s does not apply (leave it at f32): %w", opts.Model, dt, ErrModelKind)
		}
		man.Settings["sparse"] = "splade"
		man.Settings["sparse.vocab"] = strconv.Itoa(m.Vocab())
		man.Settings["sparse.k_tokens"] = strconv.Itoa(m.KTokens())
	}
	if err := store.Commit(dir, man); err != nil {
		m.Close()
		lock.Release()
		return nil, fmt.Errorf("create index %s: %w", dir, err)
	}
	ix := &Index{dir: dir, opts: OpenOptions{Writable: true, ModelOptions: opts.ModelOptions}, lock: lock, man: man, dtype: dt, an: an}
	ix.modelOnce.Do(func() { ix.model = m })
	ix.meta = &metaState{}
	ix.meta.once.Do(func() { ix.meta.table, ix.meta.ids = meta.NewTable(), map[string]uint32{} })
	return ix, nil
}

// promptTokens is the number of word pieces a prompt adds.
func promptTokens(m *Model, prompt string) int {
	if prompt == "" {
		return 0
	}
	return len(m.Tokenizer().Tokenize(prompt))
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Open opens an existing index.
func Open(dir string, opts OpenOptions) (*Index, error) {
	ix := &Index{dir: dir, opts: opts, meta: &metaState{}}
	var man *store.Manifest
	var err error
	if opts.Writable {
		var lock *store.Lock
		lock, man, err = store.OpenForWrite(dir)
		if err != nil {
			return nil, fmt.Errorf("open index %s: %w", dir, err)
		}
		if man == nil {
			lock.Release()
			return nil, fmt.Errorf("open index %s: no index here (create one with quarry index): %w", dir, ErrNoIndex)
		}
		ix.lock = lock
	} else {
		if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("open index %s: no index here (no MANIFEST): %w", dir, ErrNoIndex)
		}
		if man, err = store.LoadManifest(dir); err != nil {
			return nil, fmt.Errorf("open index %s: %w", dir, err)
		}
	}
	if err := ix.load(man); err != nil {
		ix.Close()
		return nil, err
	}
	return ix, nil
}

// load reads every segment of man into memory (vectors, doc stores, BM25).
func (ix *Index) load(man *store.Manifest) error {
	an, err := lexical.AnalyzerByName(orDefault(man.Settings["analyzer"], "en"))
	if err != nil {
		return fmt.Errorf("open index %s: %w", ix.dir, err)
	}
	var tomb store.Tombstones
	if man.Tombstones != nil {
		if tomb, err = store.ReadTombstones(filepath.Join(ix.dir, man.Tombstones.Name)); err != nil {
			return fmt.Errorf("open index %s: %w", ix.dir, err)
		}
	}
	segs := make([]*segment, 0, len(man.Segments))
	var lexPaths []string
	for _, s := range man.Segments {
		seg, err := ix.loadSegment(s)
		if err != nil {
			for _, x := range segs {
				x.docs.Close()
			}
			return err
		}
		segs = append(segs, seg)
		if ref, ok := s.Files[lexicalFile]; ok {
			lexPaths = append(lexPaths, filepath.Join(ix.dir, ref.Name))
		}
	}
	var lex *lexical.Index
	if len(lexPaths) > 0 {
		if lex, err = lexical.Open(lexPaths); err != nil {
			for _, x := range segs {
				x.docs.Close()
			}
			return fmt.Errorf("open index %s: %w", ix.dir, err)
		}
	}
	ix.mu.Lock()
	old := ix.segs
	ix.man, ix.segs, ix.lex, ix.tomb, ix.dtype, ix.an = man, segs, lex, tomb, man.DType, an
	ix.mu.Unlock()
	for _, s := range old {
		s.docs.Close()
	}
	return nil
}

func (ix *Index) loadSegment(s store.Segment) (*segment, error) {
	data, err := store.ReadSegment(filepath.Join(ix.dir, s.Vectors.Name))
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", ix.dir, err)
	}
	docs, err := store.OpenDocs(filepath.Join(ix.dir, s.Docs.Name))
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", ix.dir, err)
	}
	seg := &segment{meta: s, docs: docs, groups: data.Groups, vecs: toBindings(&data.Vectors, data.Groups)}
	if data.Rescore != nil {
		r := toBindings(data.Rescore, data.Groups)
		seg.rescore = &r
	}
	if ref, ok := s.Files[sparseFile]; ok {
		path := filepath.Join(ix.dir, ref.Name)
		sp, err := sparse.ReadFile(path)
		if err == nil && (int64(sp.Rows()) != s.NumPassages || sp.Rows() > 0 && (sp.Groups[0] < s.DocOrdStart || sp.Groups[sp.Rows()-1] >= s.DocOrdEnd)) {
			err = &sparse.CorruptError{Path: path, Where: "rows (against the manifest)", Detail: fmt.Sprintf("%d rows; segment %d has %d passages of documents [%d, %d)", sp.Rows(), s.ID, s.NumPassages, s.DocOrdStart, s.DocOrdEnd)}
		}
		if err != nil {
			docs.Close()
			return nil, fmt.Errorf("open index %s: %w", ix.dir, err)
		}
		seg.sp = sp
	}
	return seg, nil
}

// Sparse reports whether the index holds SPLADE sparse vectors (built with a
// sparse-encoder model; searched with ModeSparse).
func (ix *Index) Sparse() bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.man.Settings["sparse"] != ""
}

// sparseInfo summarizes the sparse vectors of the loaded segments (nil for
// a dense index). The caller holds ix.mu.
func (ix *Index) sparseInfo() *SparseInfo {
	if ix.man.Settings["sparse"] == "" {
		return nil
	}
	si := &SparseInfo{}
	si.Vocab, _ = strconv.Atoi(ix.man.Settings["sparse.vocab"])
	si.KTokens, _ = strconv.Atoi(ix.man.Settings["sparse.k_tokens"])
	terms := map[int]bool{}
	var rows int
	minA, maxA := 0, 0
	for _, s := range ix.segs {
		if s.sp == nil {
			continue
		}
		mn, mx, used := s.sp.RowStats()
		if rows == 0 || mn < minA {
			minA = mn
		}
		maxA = max(maxA, mx)
		rows += s.sp.Rows()
		si.Postings += s.sp.Postings()
		for _, t := range used {
			terms[t] = true
		}
	}
	si.Terms = len(terms)
	si.Passages = sparse.FromCounts(rows, si.Postings, minA, maxA, si.Vocab)
	return si
}

func toBindings(v *store.Vectors, groups []uint32) bindings.Vectors {
	return bindings.Vectors{Type: bindings.VecType(v.DType - 1), Dim: v.Dim, N: v.N, Data: v.Data, Scales: v.Scales, Groups: groups}
}

// Model returns the index's model, loading it on first use (from
// OpenOptions.Model or the recorded path) and checking its sha256.
func (ix *Index) Model() (*Model, error) {
	ix.modelOnce.Do(func() {
		ix.mu.RLock()
		want := ix.man.Model
		kTokens := ix.man.Settings["sparse.k_tokens"]
		ix.mu.RUnlock()
		path := orDefault(ix.opts.Model, want.Path)
		if kTokens != "" {
			// A sparse index encodes queries as it encoded its passages.
			ix.opts.ModelOptions.KTokens, _ = strconv.Atoi(kTokens)
		}
		sha, err := fileSHA256(path)
		if err != nil {
			ix.modelErr = fmt.Errorf("the index's model: %w (pass the model file with --model)", err)
			return
		}
		if sha != want.SHA256 {
			ix.modelErr = fmt.Errorf("model %s (sha256 %.12s…) is not the model this index was built with (%s, sha256 %.12s…): vectors from different models cannot be mixed: %w",
				path, sha, want.Path, want.SHA256, ErrModelMismatch)
			return
		}
		m, err := LoadModel(path, ix.opts.ModelOptions)
		if err != nil {
			ix.modelErr = err
			return
		}
		got := identity(m, sha)
		if err := want.CheckCompatible(got); err != nil {
			m.Close()
			ix.modelErr = fmt.Errorf("%w: %w", ErrModelMismatch, err)
			return
		}
		ix.model = m
	})
	return ix.model, ix.modelErr
}

// metaTable builds (once) the metadata table and the id → ordinal map from
// every doc store.
func (ix *Index) metaTable() (*meta.Table, map[string]uint32, error) {
	ix.mu.RLock()
	ms := ix.meta
	ix.mu.RUnlock()
	ms.once.Do(func() {
		ix.mu.RLock()
		defer ix.mu.RUnlock()
		t := meta.NewTable()
		ids := map[string]uint32{}
		var idOf []string
		for _, s := range ix.segs {
			for rec, err := range s.docs.All() {
				if err != nil {
					ms.err = err
					return
				}
				if err := appendMeta(t, rec); err != nil {
					ms.err = err
					return
				}
				ids[rec.ID] = rec.Ord
				for uint32(len(idOf)) <= rec.Ord {
					idOf = append(idOf, "")
				}
				idOf[rec.Ord] = rec.ID
			}
		}
		for _, o := range ix.tomb.Ords() {
			if int(o) < t.Len() {
				t.Delete(o)
				delete(ids, idOf[o])
			}
		}
		ms.table, ms.ids = t, ids
	})
	return ms.table, ms.ids, ms.err
}

// appendMeta adds a record's metadata at its ordinal (filling gaps left by
// compaction-free deletes is not needed: ordinals are dense per index).
func appendMeta(t *meta.Table, rec store.DocRecord) error {
	for uint32(t.Len()) < rec.Ord { // ordinals skipped by a filtered copy
		if _, err := t.Append(nil); err != nil {
			return err
		}
		t.Delete(uint32(t.Len() - 1))
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

// Info describes the index.
func (ix *Index) Info() Info {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	m := ix.man
	in := Info{Dir: ix.dir, Generation: m.Generation, Model: m.Model, DType: m.DType.String(), Chunking: m.Chunking,
		Analyzer: ix.an.Name(), Segments: len(m.Segments), Documents: m.Counts.Documents, Passages: m.Counts.Passages,
		Deleted: int64(ix.tomb.Len()), Files: map[string]int64{}, Inputs: m.Inputs, Sparse: ix.sparseInfo()}
	for _, r := range m.Refs() {
		kind := r.Name
		if i := indexOfByte(kind, '-'); i > 0 {
			kind = kind[:i]
		}
		in.Files[kind] += r.Size
		in.Bytes += r.Size
	}
	return in
}

func indexOfByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}

// Close releases the model, the doc stores and the lock. Idempotent.
func (ix *Index) Close() error {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return nil
	}
	ix.closed = true
	var errs []error
	for _, s := range ix.segs {
		errs = append(errs, s.docs.Close())
	}
	ix.segs = nil
	if ix.model != nil {
		errs = append(errs, ix.model.Close())
	}
	if ix.lock != nil {
		errs = append(errs, ix.lock.Release())
		ix.lock = nil
	}
	return errors.Join(errs...)
}

// live is the bitset of ordinals that are stored and not deleted.
func (ix *Index) live() meta.Bitmap {
	n := int(ix.man.NextDocOrd())
	b := meta.NewBitmap(n)
	for _, s := range ix.segs {
		for o := s.meta.DocOrdStart; o < s.meta.DocOrdEnd; o++ {
			b.Set(o)
		}
	}
	for _, o := range ix.tomb.Ords() {
		if int(o) < n {
			b.Unset(o)
		}
	}
	return b
}

// doc fetches a stored document by ordinal.
func (ix *Index) doc(ord uint32) (store.DocRecord, error) {
	i := sort.Search(len(ix.segs), func(i int) bool { return ix.segs[i].meta.DocOrdEnd > ord })
	if i == len(ix.segs) || ord < ix.segs[i].meta.DocOrdStart {
		return store.DocRecord{}, fmt.Errorf("document ordinal %d is in no segment", ord)
	}
	return ix.segs[i].docs.Get(ord)
}

var errClosed = errors.New("index is closed")

func (ix *Index) checkOpen() error {
	if ix.closed {
		return errClosed
	}
	return nil
}

var _ = context.Background

// Documents returns every live stored document, in ordinal order.
func (ix *Index) Documents() ([]store.DocRecord, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []store.DocRecord
	for _, s := range ix.segs {
		for rec, err := range s.docs.All() {
			if err != nil {
				return nil, err
			}
			if !ix.tomb.Contains(rec.Ord) {
				out = append(out, rec)
			}
		}
	}
	return out, nil
}
