package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/quarry-search/quarry/engine/ann"
	"github.com/quarry-search/quarry/engine/encoder"
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/lexical"
	"github.com/quarry-search/quarry/engine/native"
	"github.com/quarry-search/quarry/engine/sparse"
	"github.com/quarry-search/quarry/engine/store"
)

// lexicalFile is the key of a segment's BM25 file in store.Segment.Files.
const lexicalFile = lexical.FileKey

// sparseFile is the key of a segment's SPLADE inverted index
// (sparse-NNNNNN.qsp, engine/sparse) in store.Segment.Files. An index built
// with a SPLADE model records Settings["sparse"] = "splade" (and
// "sparse.vocab", "sparse.k_tokens"); its seg-*.qvec files hold one f32 per
// passage, the L2 norm of its sparse vector (the store keeps one row per
// passage: it maps rows to documents and compaction copies it).
const sparseFile = sparse.FileKey

// newRegistry declares every per-segment file kind of an index: vectors and
// doc store (engine/store), BM25 (engine/lexical), SPLADE postings
// (engine/sparse), HNSW graph (engine/ann, after the vectors it is rebuilt
// over on compaction). Compaction, verification and GC go through it.
func newRegistry() *store.Registry {
	reg, err := store.NewRegistry(store.VectorsKind(), store.DocsKind(), lexical.FileKind(), sparse.FileKind(), ann.FileKind())
	if err != nil {
		panic("engine: the segment-file kinds do not form a registry: " + err.Error()) // a programming error, caught by every test
	}
	return reg
}

// Manifest settings of an index.
const (
	settingAnalyzer   = "analyzer"
	settingBM25Fields = "bm25.fields" // lexical.FieldMode name; absent: combined (indexes made before it existed)
)

// CreateOptions configure a new index.
type CreateOptions struct {
	// Model is the bi-encoder GGUF whose identity (sha256, dimension,
	// pooling, normalization, prompts, max tokens) the index records.
	Model string
	// Encoder, when set, is used instead of loading Model: any
	// implementation of Encoder (the caller keeps ownership and closes it).
	Encoder Encoder
	// DType of the stored vectors: "f32", "f16", "int8", "binary"; "" = f16
	// for a model with f16 weights, else f32. int8 and binary keep an f16
	// copy for rescoring.
	DType string
	// Window and Overlap of passages in word pieces; 0 = the model's max
	// tokens minus [CLS]/[SEP], and 32.
	Window, Overlap int
	// EmbedTitle embeds each passage as the document's title + " " +
	// passage (BEIR's and sentence-transformers' convention) instead of the
	// passage alone; the title always goes to BM25. nil = true. Recorded in
	// the manifest (Chunking.Title).
	EmbedTitle *bool
	// Analyzer of the BM25 index: "en" (default), "english" (Elasticsearch's
	// stop words, for BEIR comparability), "standard".
	Analyzer string
	// BM25Fields is how BM25 scores title and text by default:
	// "best_fields" (default: each field scored on its own, the best plus
	// 0.5 × the other, as Elasticsearch's multi_match best_fields) or
	// "combined" (one field of title + text). Recorded in the manifest; Request.BM25 overrides it per query.
	BM25Fields string
	// ANN is how dense searches find candidates: ANNAuto (""; an HNSW
	// graph for every segment of at least AutoGraphRows passages), ANNHNSW
	// (a graph for every segment) or ANNOff (the exact scan only). SPLADE
	// and binary indexes have none. Recorded in the manifest.
	ANN string
	// HNSWM and HNSWEfConstruction build the graphs; 0 = 16 and 200.
	HNSWM, HNSWEfConstruction int
	// ModelOptions load the model (threads, workers, ...).
	ModelOptions ModelOptions
}

// OpenOptions configure Open.
type OpenOptions struct {
	// Model overrides the recorded model path; it must be the same model
	// (sha256), else loading it fails.
	Model string
	// Encoder, when set, is used instead of loading the model: it must have
	// the identity the index records (the caller keeps ownership).
	Encoder Encoder
	// Writable takes the index lock so Add, Delete and Compact work.
	Writable     bool
	ModelOptions ModelOptions
	// DocCacheBytes bounds the decoded doc-store blocks kept for fetching
	// result documents; 0 = 32 MiB, negative = a few blocks per segment.
	DocCacheBytes int64
	// MaxQueryBytes bounds the length of a search's query text (see
	// Request.MaxQueryBytes); 0 = DefaultMaxQueryBytes (16 KiB).
	MaxQueryBytes int
}

// defaultDocCache is the default OpenOptions.DocCacheBytes.
const defaultDocCache = 32 << 20

func newDocCache(n int64) *store.BlockCache {
	switch {
	case n == 0:
		return store.NewBlockCache(defaultDocCache)
	case n < 0:
		return nil
	}
	return store.NewBlockCache(n)
}

// Index is a quarry index directory opened for searching (and, when
// writable, for adding and deleting documents). Safe for concurrent use:
// every search reads one immutable snapshot of a committed generation and
// never waits for a writer; writes are serialized and publish the next
// snapshot when they commit.
type Index struct {
	dir      string
	opts     OpenOptions
	docCache *store.BlockCache // shared by the doc stores of every snapshot
	reg      *store.Registry   // the per-segment file kinds

	cur atomic.Pointer[snapshot] // nil once closed

	wmu     sync.Mutex // serializes writers and Close
	lock    *store.Lock
	pending *store.Manifest // Create's manifest until the first commit (nothing on disk yet)
	made    bool            // Create made the directory (removed again if nothing was committed)
	ids     map[string]uint32
	closed  atomic.Bool

	encOnce sync.Once
	enc     Encoder
	encErr  error
	ownEnc  bool // the index loaded enc and closes it
}

// Info summarizes an index.
type Info struct {
	Dir        string                `json:"dir"`
	Generation uint64                `json:"generation"`
	Model      store.ModelIdentity   `json:"model"`
	DType      string                `json:"dtype"`
	Chunking   store.Chunking        `json:"chunking"`
	Analyzer   string                `json:"analyzer"`
	BM25Fields string                `json:"bm25_fields"`
	Segments   int                   `json:"segments"`
	Documents  int64                 `json:"documents"` // live documents (deleted ones not counted)
	Passages   int64                 `json:"passages"`  // stored passages (deleted documents' included until Compact)
	Deleted    int64                 `json:"deleted"`   // deleted documents whose data Compact will drop
	Bytes      int64                 `json:"bytes"`
	Files      map[string]int64      `json:"bytes_by_kind"`
	Inputs     []store.InputProgress `json:"inputs,omitempty"`
	// Sparse describes a SPLADE index (nil for dense ones).
	Sparse *SparseInfo `json:"sparse,omitempty"`
	// ANN describes the HNSW graphs (nil for an index without).
	ANN *ANNInfo `json:"ann,omitempty"`
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

// ErrModelMismatch is wrapped when a model is not the one an index was built with.
var ErrModelMismatch = errs.New(errs.Conflict, "model does not match the index")

// ErrNoIndex is wrapped when a directory holds no index.
var ErrNoIndex = errs.New(errs.NotFound, "no index")

// ErrIndexExists is returned by Create for a directory that already holds an index.
var ErrIndexExists = errs.New(errs.Conflict, "an index already exists here")

// ErrClosed is returned by calls on a closed index.
var ErrClosed = errors.New("index is closed")

// ErrReadOnly is returned by writes to an index not opened for writing.
var ErrReadOnly = errs.New(errs.BadInput, "the index is not open for writing")

// identity describes an encoder as an index records it.
func identity(info encoder.Info, sha string) store.ModelIdentity {
	abs := info.Path
	if abs != "" {
		abs, _ = filepath.Abs(abs)
	}
	dim := info.Dim
	if info.Kind == encoder.SparseEncoder {
		dim = 1 // the .qvec rows of a sparse index: one norm per passage
	}
	return store.ModelIdentity{
		Name: info.Name, Path: abs, SHA256: sha, Dim: dim, Pooling: info.Pooling,
		Normalize: info.Normalize, MaxTokens: info.MaxTokens, QueryPrompt: info.QueryPrompt,
		DocumentPrompt: info.DocumentPrompt, Similarity: info.Similarity,
	}
}

// Create makes a new index in dir for the given model and returns it open
// for writing. Nothing is written until the first commit of Add: an index
// closed before anything was committed leaves no index behind (and removes
// dir if Create made it), so a rejected first run can be retried with other
// options.
func Create(dir string, opts CreateOptions) (_ *Index, err error) {
	if opts.Model == "" && opts.Encoder == nil {
		return nil, errs.New(errs.BadInput, "create index: a model is required")
	}
	an, err := lexical.AnalyzerByName(orDefault(opts.Analyzer, "en"))
	if err != nil {
		return nil, errs.Mark(errs.BadInput, fmt.Errorf("create index: %w", err))
	}
	fields := orDefault(opts.BM25Fields, lexical.BestFields.String())
	if _, err := lexical.ParseFieldMode(fields); err != nil {
		return nil, errs.Mark(errs.BadInput, fmt.Errorf("create index: %w", err))
	}
	var dt store.DType
	if opts.DType != "" {
		if dt, err = store.ParseDType(opts.DType); err != nil {
			return nil, errs.Mark(errs.BadInput, fmt.Errorf("create index: %w", err))
		}
	}
	_, statErr := os.Stat(dir)
	made := errors.Is(statErr, os.ErrNotExist)
	lock, man, err := store.OpenForWrite(dir)
	if err != nil {
		if made {
			os.RemoveAll(dir)
		}
		return nil, markLocked(fmt.Errorf("create index %s: %w", dir, err))
	}
	ix := &Index{dir: dir, lock: lock, made: made, opts: OpenOptions{Writable: true, ModelOptions: opts.ModelOptions, Encoder: opts.Encoder}, docCache: newDocCache(0), reg: newRegistry()}
	defer func() {
		if err != nil {
			ix.abandon()
		}
	}()
	if man != nil {
		return nil, fmt.Errorf("create index %s: %w", dir, ErrIndexExists)
	}
	enc := opts.Encoder
	if enc == nil {
		m, err := LoadModel(opts.Model, opts.ModelOptions)
		if err != nil {
			return nil, err
		}
		enc, ix.ownEnc = m, true
	}
	ix.encOnce.Do(func() { ix.enc = enc })
	info := enc.Info()
	if info.Kind == encoder.CrossEncoder {
		return nil, fmt.Errorf("create index: %s is a cross-encoder; indexing needs a bi-encoder: %w", nameOr(info, opts.Model), ErrModelKind)
	}
	sha, err := enc.SHA256()
	if err != nil {
		return nil, fmt.Errorf("create index: %w", err)
	}
	if dt == 0 {
		dt = store.F32
		if m, ok := enc.(*Model); ok && m.WeightType() == "f16" {
			dt = store.F16
		}
	}
	tok := enc.Tokenizer()
	window := opts.Window
	if window <= 0 {
		window = info.MaxTokens - tok.NumSpecialTokens(false) - promptTokens(enc, info.DocumentPrompt)
	}
	overlap := opts.Overlap
	if overlap <= 0 {
		overlap = min(32, window/4)
	}
	if window < 8 || overlap >= window {
		return nil, errs.New(errs.BadInput, "create index: window %d and overlap %d: need window ≥ 8 and overlap < window", window, overlap)
	}
	title := opts.EmbedTitle == nil || *opts.EmbedTitle
	man = &store.Manifest{
		Model: identity(info, sha), DType: dt, Chunking: store.Chunking{Window: window, Overlap: overlap, Title: title},
		NextSegmentID: 1, Settings: map[string]string{settingAnalyzer: an.Name(), settingBM25Fields: fields},
	}
	if dt == store.Int8 || dt == store.Binary {
		man.Rescore = store.F16
	}
	if info.Kind == encoder.SparseEncoder {
		if opts.DType != "" && dt != store.F32 {
			return nil, fmt.Errorf("create index: %s is a SPLADE model: its index stores sparse vectors, and --dtype %s does not apply (leave it out): %w", nameOr(info, opts.Model), dt, ErrModelKind)
		}
		man.DType, man.Rescore = store.F32, 0
		man.Settings["sparse"] = "splade"
		man.Settings["sparse.vocab"] = strconv.Itoa(info.Vocab)
		man.Settings["sparse.k_tokens"] = strconv.Itoa(info.KTokens)
	}
	set, err := annSettings(opts, man.DType, info.Kind == encoder.SparseEncoder)
	if err != nil {
		return nil, err
	}
	for k, v := range set {
		man.Settings[k] = v
	}
	ix.pending = man
	ix.ids = map[string]uint32{}
	snap, err := newSnapshot(dir, man, nil, nil, ix.docCache)
	if err != nil {
		return nil, err
	}
	ix.publish(snap)
	return ix, nil
}

// abandon undoes a Create that failed or committed nothing: the lock goes,
// and the directory too when Create made it and it holds nothing else.
func (ix *Index) abandon() {
	if ix.ownEnc && ix.enc != nil {
		ix.enc.Close()
	}
	if ix.lock != nil {
		ix.lock.Release()
		ix.lock = nil
	}
	os.Remove(filepath.Join(ix.dir, store.LockFile))
	if ix.made {
		os.Remove(ix.dir) // only if empty
	}
}

func nameOr(info encoder.Info, path string) string {
	if info.Path != "" {
		return info.Path
	}
	if path != "" {
		return path
	}
	return info.Name
}

// markLocked gives a lock conflict its kind.
func markLocked(err error) error {
	if errors.Is(err, store.ErrLocked) {
		return errs.Mark(errs.Conflict, err)
	}
	return err
}

// promptTokens is the number of word pieces a prompt adds.
func promptTokens(enc Encoder, prompt string) int {
	if prompt == "" {
		return 0
	}
	return len(enc.Tokenizer().Tokenize(prompt))
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Open opens an existing index.
func Open(dir string, opts OpenOptions) (*Index, error) {
	ix := &Index{dir: dir, opts: opts, docCache: newDocCache(opts.DocCacheBytes), reg: newRegistry()}
	var man *store.Manifest
	var err error
	if opts.Writable {
		var lock *store.Lock
		lock, man, err = store.OpenForWrite(dir)
		if err != nil {
			return nil, markLocked(fmt.Errorf("open index %s: %w", dir, err))
		}
		if man == nil {
			lock.Release()
			return nil, fmt.Errorf("open index %s: no index here (create one with quarry index): %w", dir, ErrNoIndex)
		}
		ix.lock = lock
	} else {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("open index %s: not a directory: %w", dir, ErrNoIndex)
		}
		if _, err := os.Stat(filepath.Join(dir, store.PointerFile)); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("open index %s: no index here (no %s): %w", dir, store.PointerFile, ErrNoIndex)
		}
		if man, err = store.LoadManifest(dir); err != nil {
			return nil, fmt.Errorf("open index %s: %w", dir, err)
		}
	}
	snap, err := newSnapshot(dir, man, nil, nil, ix.docCache)
	if err == nil && !opts.Writable {
		// A reader is opened to search: read and verify everything now. A
		// writer reads the search data only if it searches.
		if err = snap.ready(); err != nil {
			snap.release()
		}
	}
	if err != nil {
		ix.lock.Release()
		return nil, err
	}
	ix.publish(snap)
	return ix, nil
}

// Sparse reports whether the index holds SPLADE sparse vectors (built with a
// sparse-encoder model; searched with ModeSparse).
func (ix *Index) Sparse() bool {
	s := ix.cur.Load()
	return s != nil && s.sparse
}

// Encoder returns the index's encoder: the one given in the options, or its
// model loaded on first use (from OpenOptions.Model or the recorded path)
// after checking its sha256 against the manifest.
func (ix *Index) Encoder() (Encoder, error) {
	ix.encOnce.Do(func() {
		s := ix.cur.Load()
		if s == nil {
			ix.encErr = ErrClosed
			return
		}
		want := s.man.Model
		if enc := ix.opts.Encoder; enc != nil {
			ix.encErr = checkIdentity(enc, want, s.man)
			if ix.encErr == nil {
				ix.enc = enc
			}
			return
		}
		path := orDefault(ix.opts.Model, want.Path)
		mo := ix.opts.ModelOptions
		if kt := s.man.Settings["sparse.k_tokens"]; kt != "" {
			// A sparse index encodes queries as it encoded its passages.
			mo.KTokens, _ = strconv.Atoi(kt)
		}
		sha, err := native.FileSHA256(path)
		if err != nil {
			ix.encErr = errs.Mark(errs.BadInput, fmt.Errorf("the index's model: %w (pass the model file with --model)", err))
			return
		}
		if sha != want.SHA256 {
			ix.encErr = fmt.Errorf("model %s (sha256 %.12s…) is not the model this index was built with (%s, sha256 %.12s…): vectors from different models cannot be mixed: %w",
				path, sha, want.Path, want.SHA256, ErrModelMismatch)
			return
		}
		m, err := LoadModel(path, mo)
		if err != nil {
			ix.encErr = err
			return
		}
		if err := checkIdentity(m, want, s.man); err != nil {
			m.Close()
			ix.encErr = err
			return
		}
		ix.enc, ix.ownEnc = m, true
	})
	return ix.enc, ix.encErr
}

// Model returns the index's model when it is the native one (see Encoder).
func (ix *Index) Model() (*Model, error) {
	enc, err := ix.Encoder()
	if err != nil {
		return nil, err
	}
	m, ok := enc.(*Model)
	if !ok {
		return nil, fmt.Errorf("the index's encoder is a %T, not a native model", enc)
	}
	return m, nil
}

// checkIdentity fails unless enc is the model want describes.
func checkIdentity(enc Encoder, want store.ModelIdentity, man *store.Manifest) error {
	sha, err := enc.SHA256()
	if err != nil {
		return err
	}
	got := identity(enc.Info(), sha)
	if man.Settings["sparse"] == "" && enc.Info().Kind != encoder.BiEncoder {
		return fmt.Errorf("the index holds dense vectors; %s is a %s: %w", nameOr(enc.Info(), ""), enc.Info().Kind, ErrModelKind)
	}
	if err := want.CheckCompatible(got); err != nil {
		return fmt.Errorf("%w: %w", ErrModelMismatch, err)
	}
	return nil
}

// Info describes the index (its current generation).
func (ix *Index) Info() Info {
	s := ix.cur.Load()
	if s == nil {
		return Info{Dir: ix.dir}
	}
	m := s.man
	in := Info{Dir: ix.dir, Generation: m.Generation, Model: m.Model, DType: m.DType.String(), Chunking: m.Chunking,
		Analyzer: s.an.Name(), BM25Fields: s.bm25Fields, Segments: len(m.Segments), Documents: s.liveDocs(),
		Passages: m.Counts.Passages, Deleted: int64(s.tomb.Len()), Files: map[string]int64{}, Inputs: m.Inputs, Sparse: s.sparseInfo(), ANN: annInfo(m)}
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

// Close releases the model (when the index loaded it), the lock, and the
// current snapshot: files stay open until the searches in flight finish.
// A created index that committed nothing is removed. Idempotent.
func (ix *Index) Close() error {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.closed.Swap(true) {
		return nil
	}
	var errl []error
	if s := ix.cur.Swap(nil); s != nil {
		s.release()
	}
	if ix.pending != nil {
		ix.abandon()
		return nil
	}
	if ix.ownEnc && ix.enc != nil {
		errl = append(errl, ix.enc.Close())
	}
	if ix.lock != nil {
		errl = append(errl, ix.lock.Release())
		ix.lock = nil
	}
	return errors.Join(errl...)
}

// publish makes s the current snapshot; the previous one is released (its
// files close when its last search finishes).
func (ix *Index) publish(s *snapshot) {
	if old := ix.cur.Swap(s); old != nil {
		old.release()
	}
}

// acquire takes a reference to the current snapshot; release it when done.
func (ix *Index) acquire() (*snapshot, error) {
	for {
		s := ix.cur.Load()
		if s == nil {
			return nil, ErrClosed
		}
		if s.tryRef() {
			return s, nil
		}
		// s was replaced and released between the load and the reference:
		// the next load sees its successor.
	}
}

// Documents returns every live stored document, in ordinal order.
func (ix *Index) Documents() ([]store.DocRecord, error) {
	s, err := ix.acquire()
	if err != nil {
		return nil, err
	}
	defer s.release()
	var out []store.DocRecord
	for _, seg := range s.segs {
		for rec, err := range seg.docs.All() {
			if err != nil {
				return nil, err
			}
			if s.live.Has(rec.Ord) {
				out = append(out, rec)
			}
		}
	}
	return out, nil
}
