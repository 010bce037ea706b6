package eval

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/ingest"
	"github.com/quarry-search/quarry/engine/lexical"
)

// Mode is one way of retrieving that RunBEIR measures.
type Mode struct {
	Name      string      // as written: "bm25", "dense", "hybrid", "hybrid-weighted", "sparse", "dense+rerank", …
	Retrieval engine.Mode // first stage
	Fusion    string      // hybrid: "rrf" or "weighted"
	Rerank    bool        // the first stage's best results reranked by a cross-encoder
}

// DefaultModes are the modes measured when none are named.
const DefaultModes = "bm25,dense,hybrid"

// ParseModes reads a comma-separated list of modes: bm25, dense, hybrid
// (reciprocal rank fusion), hybrid-weighted (weighted min-max fusion) and
// sparse (SPLADE indexes), each optionally followed by "+rerank".
func ParseModes(s string) ([]Mode, error) {
	var out []Mode
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		name := strings.TrimSpace(f)
		if name == "" {
			continue
		}
		base, rerank := strings.CutSuffix(name, "+rerank")
		m := Mode{Name: name, Retrieval: engine.Mode(base), Rerank: rerank}
		switch m.Retrieval {
		case engine.ModeBM25, engine.ModeDense, engine.ModeSparse:
		case engine.ModeHybrid:
			m.Fusion = "rrf"
		case "hybrid-weighted":
			m.Retrieval, m.Fusion = engine.ModeHybrid, "weighted"
		default:
			return nil, fmt.Errorf("unknown mode %q: want bm25, dense, hybrid, hybrid-weighted or sparse, each optionally with +rerank", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("mode %q given twice", name)
		}
		seen[name] = true
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, errors.New("no mode given")
	}
	return out, nil
}

// Dataset is a BEIR folder's queries and judgments for one split.
type Dataset struct {
	Dir, Split string
	Corpus     string // path of corpus.jsonl
	// Queries are the queries of the split that can be run: judged in the
	// split's qrels and present in queries.jsonl, by id.
	Queries []Query
	// Qrels are the split's judgments of those queries.
	Qrels     Qrels
	Judgments int // judgment lines in the qrels file
	// UnknownQueries are query ids of the qrels that queries.jsonl lacks
	// (not run, not measured).
	UnknownQueries []string
	// NoRelevant counts runnable queries without a judgment ≥ 1.
	NoRelevant int
	Warnings   []string
}

// LoadBEIR reads DIR/queries.jsonl and DIR/qrels/SPLIT.tsv and checks that
// DIR/corpus.jsonl exists. A missing file is an error wrapping
// os.ErrNotExist; a malformed line an error naming file:line.
func LoadBEIR(dir, split string) (*Dataset, error) {
	if split == "" {
		split = "test"
	}
	ds := &Dataset{Dir: dir, Split: split, Corpus: filepath.Join(dir, "corpus.jsonl")}
	qrelsPath := filepath.Join(dir, "qrels", split+".tsv")
	queriesPath := filepath.Join(dir, "queries.jsonl")
	for _, p := range []string{ds.Corpus, queriesPath, qrelsPath} {
		st, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && p == qrelsPath {
				return nil, fmt.Errorf("beir %s: no qrels for split %q (%s): %w", dir, split, p, os.ErrNotExist)
			}
			return nil, fmt.Errorf("beir %s: %w", dir, err)
		}
		if st.IsDir() {
			return nil, fmt.Errorf("beir %s: %s is a directory", dir, p)
		}
	}
	qf, err := ReadQrels(qrelsPath)
	if err != nil {
		return nil, err
	}
	qs, err := ReadQueries(queriesPath)
	if err != nil {
		return nil, err
	}
	if err := ds.join(qf, qs, qrelsPath, queriesPath); err != nil {
		return nil, err
	}
	return ds, nil
}

// join fills the dataset from the split's judgments and the queries.
func (ds *Dataset) join(qf *QrelsFile, qs []Query, qrelsPath, queriesPath string) error {
	ds.Judgments, ds.Warnings = qf.Judgments, qf.Warnings
	byID := make(map[string]Query, len(qs))
	for _, q := range qs {
		byID[q.ID] = q
	}
	ds.Qrels = Qrels{}
	for id, rels := range qf.Qrels {
		q, ok := byID[id]
		if !ok {
			ds.UnknownQueries = append(ds.UnknownQueries, id)
			continue
		}
		ds.Qrels[id] = rels
		ds.Queries = append(ds.Queries, q)
		if NumRelevant(rels) == 0 {
			ds.NoRelevant++
		}
	}
	sort.Strings(ds.UnknownQueries)
	sort.Slice(ds.Queries, func(a, b int) bool { return ds.Queries[a].ID < ds.Queries[b].ID })
	if len(ds.Queries) == 0 {
		return fmt.Errorf("beir %s: none of the %d queries judged in %s is in %s", ds.Dir, len(qf.Qrels), qrelsPath, queriesPath)
	}
	return nil
}

// BEIRConfig configures RunBEIR.
type BEIRConfig struct {
	Dir   string // BEIR folder
	Split string // qrels/<Split>.tsv; "" = test
	// Dataset, when set, is Dir's already loaded queries and judgments
	// (LoadBEIR); otherwise RunBEIR loads them.
	Dataset *Dataset
	// Model is the bi-encoder GGUF; RerankModel the cross-encoder of the
	// +rerank modes.
	Model, RerankModel string
	Modes              []Mode
	// Index is where the index is built or found again; "" = a temporary
	// directory removed at the end. An existing index is reused (documents
	// it already holds are not indexed again).
	Index string
	// Analyzer of a new index; "" = "english", Elasticsearch's analyzer as
	// BEIR's BM25 baseline uses it.
	Analyzer string
	// Window and Overlap of a new index's passages in word pieces (0 = the
	// engine's defaults: the model's max tokens − 2, and 32). A window
	// beyond the model's limit embeds each document whole, truncated as
	// sentence-transformers truncates.
	Window, Overlap int
	// EmbedTitle: whether a new index embeds title + " " + passage; nil =
	// the engine's default (yes; engine.CreateOptions).
	EmbedTitle *bool
	// BM25 parameters; nil = what `quarry search` uses on the index (k1
	// 1.2, b 0.75 and the index's field mode, best_fields for new indexes).
	// lexical.BEIRParams() reproduces BEIR's Elasticsearch baseline exactly
	// (Lucene's rounded length norms).
	BM25 *lexical.Params
	// Depth is how many results per query are measured (the deepest cutoff
	// is 100); 0 = 100. RerankTop is how many first-stage results the
	// +rerank modes rerank (and measure); 0 = 100.
	Depth, RerankTop int
	// Alpha is the weight of the dense score in hybrid-weighted (nil = 0.5).
	Alpha *float64
	// ANN of a new index (engine.CreateOptions.ANN; "" = the engine's
	// default). Ef and Exact are every dense search's graph beam width and
	// exact-scan switch (engine.Request).
	ANN   string
	Ef    int
	Exact bool
	// Batch is the number of queries per SearchBatch call; 0 = 256.
	Batch        int
	ModelOptions engine.ModelOptions
	Eval         Options
	// RunsDir, when set, receives one TREC run per mode (MODE.trec).
	RunsDir string
	// Progress, when set, receives one line per step.
	Progress func(string)
}

// ModeResult is one mode's figures.
type ModeResult struct {
	Mode string `json:"mode"`
	Summary
	Seconds          float64 `json:"search_seconds"`
	QueriesPerSecond float64 `json:"queries_per_second"`
	Run              Run     `json:"-"`
}

// BEIRReport is the outcome of RunBEIR.
type BEIRReport struct {
	Dataset        string         `json:"dataset"`
	Split          string         `json:"split"`
	Model          string         `json:"model"`
	RerankModel    string         `json:"rerank_model,omitempty"`
	Index          string         `json:"index,omitempty"`
	IndexReused    bool           `json:"index_reused"`
	IndexSeconds   float64        `json:"index_seconds"`
	Documents      int64          `json:"documents"`
	Passages       int64          `json:"passages"`
	Analyzer       string         `json:"analyzer"`
	BM25           lexical.Params `json:"-"`
	BM25K1         float64        `json:"bm25_k1"`
	BM25B          float64        `json:"bm25_b"`
	BM25Fields     string         `json:"bm25_fields"`
	Depth          int            `json:"depth"`
	RerankTop      int            `json:"rerank_top,omitempty"`
	Queries        int            `json:"queries"`
	Judgments      int            `json:"judgments"`
	UnknownQueries []string       `json:"unknown_query_ids,omitempty"`
	NoRelevant     int            `json:"queries_without_relevant,omitempty"`
	Warnings       []string       `json:"warnings,omitempty"`
	Modes          []ModeResult   `json:"modes"`
}

// ErrNoReranker is returned when a +rerank mode is asked for without a
// cross-encoder.
var ErrNoReranker = errors.New("a +rerank mode needs a cross-encoder (rerank model)")

// RunBEIR indexes a BEIR folder's corpus (or reuses an index), runs every
// judged query of the split in each mode and measures the results.
func RunBEIR(ctx context.Context, cfg BEIRConfig) (*BEIRReport, error) {
	if len(cfg.Modes) == 0 {
		cfg.Modes, _ = ParseModes(DefaultModes)
	}
	needRerank := false
	for _, m := range cfg.Modes {
		needRerank = needRerank || m.Rerank
	}
	if needRerank && cfg.RerankModel == "" {
		return nil, ErrNoReranker
	}
	if cfg.Model == "" {
		return nil, errors.New("beir: a bi-encoder model is required")
	}
	if cfg.Depth <= 0 {
		cfg.Depth = 100
	}
	if cfg.RerankTop <= 0 {
		cfg.RerankTop = 100
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 256
	}
	say := func(format string, args ...any) {
		if cfg.Progress != nil {
			cfg.Progress(fmt.Sprintf(format, args...))
		}
	}
	ds := cfg.Dataset
	if ds == nil {
		var err error
		if ds, err = LoadBEIR(cfg.Dir, cfg.Split); err != nil {
			return nil, err
		}
	}
	rep := &BEIRReport{Dataset: cfg.Dir, Split: ds.Split, Model: cfg.Model, RerankModel: cfg.RerankModel, Index: cfg.Index,
		Depth: cfg.Depth, Queries: len(ds.Queries), Judgments: ds.Judgments, UnknownQueries: ds.UnknownQueries,
		NoRelevant: ds.NoRelevant, Warnings: ds.Warnings}
	if needRerank {
		rep.RerankTop = cfg.RerankTop
	}

	var rr *engine.Model
	var err error
	if needRerank {
		if rr, err = engine.LoadModel(cfg.RerankModel, cfg.ModelOptions); err != nil {
			return nil, err
		}
		defer rr.Close()
		if !rr.CrossEncoder() {
			return nil, fmt.Errorf("rerank model %s is a bi-encoder; reranking needs a cross-encoder: %w", cfg.RerankModel, engine.ErrModelKind)
		}
	}

	dir := cfg.Index
	if dir == "" {
		tmp, err := os.MkdirTemp("", "quarry-eval-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp) // runs after ix.Close below
		dir = filepath.Join(tmp, "index")
	}
	ix, err := openOrBuild(ctx, dir, &cfg, ds, rep, say)
	if err != nil {
		return nil, err
	}
	defer ix.Close()
	info := ix.Info()
	rep.Documents, rep.Passages, rep.Analyzer, rep.BM25Fields = info.Documents, info.Passages, info.Analyzer, info.BM25Fields
	rep.BM25 = lexical.DefaultParams()
	if cfg.BM25 != nil {
		rep.BM25 = *cfg.BM25
		rep.BM25Fields = rep.BM25.Fields.String()
	}
	rep.BM25K1, rep.BM25B = rep.BM25.K1, rep.BM25.B
	if _, err := ix.Model(); err != nil { // load before timing the searches
		return nil, err
	}

	extra := 0
	if !cfg.Eval.KeepIdenticalIDs {
		extra = 1 // as BEIR's retrievers: top_k + 1, then drop the query's own id
	}
	for _, m := range cfg.Modes {
		depth := cfg.Depth
		if m.Rerank {
			depth = min(cfg.Depth, cfg.RerankTop) // BEIR measures the reranked list only
		}
		k := depth + extra
		run := make(Run, len(ds.Queries))
		t0 := time.Now()
		for lo := 0; lo < len(ds.Queries); lo += cfg.Batch {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			hi := min(lo+cfg.Batch, len(ds.Queries))
			reqs := make([]engine.Request, 0, hi-lo)
			for _, q := range ds.Queries[lo:hi] {
				r := engine.Request{ID: q.ID, Text: q.Text, K: k, Mode: m.Retrieval, Pool: k, BM25: cfg.BM25, Fusion: m.Fusion, Alpha: cfg.Alpha, Ef: cfg.Ef, Exact: cfg.Exact}
				if m.Rerank {
					r.Rerank = &engine.Rerank{Model: rr, Top: k}
				}
				reqs = append(reqs, r)
			}
			resps, err := ix.SearchBatch(ctx, reqs)
			if err != nil {
				return nil, fmt.Errorf("mode %s: %w", m.Name, err)
			}
			for _, resp := range resps {
				scores := make(map[string]float64, len(resp.Results))
				for _, res := range resp.Results {
					scores[res.ID] = res.Score
				}
				run[resp.QueryID] = scores
			}
			say("%s: %d/%d queries", m.Name, hi, len(ds.Queries))
		}
		secs := time.Since(t0).Seconds()
		// As BEIR: depth+1 retrieved, the query's own id dropped, depth kept.
		trimmed := Trim(run, depth, !cfg.Eval.KeepIdenticalIDs)
		sum, err := Evaluate(ds.Qrels, trimmed, cfg.Eval)
		if err != nil {
			return nil, fmt.Errorf("mode %s: %w", m.Name, err)
		}
		if !cfg.Eval.KeepIdenticalIDs {
			for q, res := range run {
				if _, self := res[q]; self {
					sum.IdenticalDropped++
				}
			}
		}
		mr := ModeResult{Mode: m.Name, Summary: *sum, Seconds: secs, Run: trimmed}
		if secs > 0 {
			mr.QueriesPerSecond = float64(len(ds.Queries)) / secs
		}
		rep.Modes = append(rep.Modes, mr)
		if cfg.RunsDir != "" {
			if err := writeRunFile(filepath.Join(cfg.RunsDir, m.Name+".trec"), mr.Run, "quarry-"+m.Name); err != nil {
				return nil, err
			}
		}
	}
	return rep, nil
}

// openOrBuild opens the index in dir (indexing what it lacks of the
// corpus) or builds a new one there.
func openOrBuild(ctx context.Context, dir string, cfg *BEIRConfig, ds *Dataset, rep *BEIRReport, say func(string, ...any)) (*engine.Index, error) {
	var ix *engine.Index
	var err error
	if _, serr := os.Stat(filepath.Join(dir, "MANIFEST")); serr == nil {
		if ix, err = engine.Open(dir, engine.OpenOptions{Writable: true, Model: cfg.Model, ModelOptions: cfg.ModelOptions}); err != nil {
			return nil, err
		}
	} else {
		an := cfg.Analyzer
		if an == "" {
			an = lexical.AnalyzerElasticEnglish
		}
		if ix, err = engine.Create(dir, engine.CreateOptions{Model: cfg.Model, Analyzer: an, Window: cfg.Window, Overlap: cfg.Overlap, EmbedTitle: cfg.EmbedTitle, ModelOptions: cfg.ModelOptions, ANN: cfg.ANN}); err != nil {
			return nil, err
		}
	}
	say("indexing %s", ds.Corpus)
	last := time.Now()
	st, err := ix.Add(ctx, engine.AddOptions{Input: ds.Corpus, Ingest: ingest.Options{Format: ingest.FormatBEIR},
		Progress: func(p engine.Progress) {
			if time.Since(last) > 2*time.Second {
				last = time.Now()
				say("indexing: %d/%d documents, %d passages", p.Records, p.TotalRecords, p.Passages)
			}
		}})
	if err != nil {
		ix.Close()
		return nil, err
	}
	rep.IndexReused = st.AlreadyDone || st.Resumed > 0
	rep.IndexSeconds = st.Elapsed.Seconds()
	return ix, nil
}

// Trim returns run with, per query, the query's own id dropped (when
// dropIdentical) and at most depth documents kept, in trec_eval's order.
func Trim(run Run, depth int, dropIdentical bool) Run {
	out := make(Run, len(run))
	for q, scores := range run {
		kept := make(map[string]float64, min(len(scores), depth))
		for _, d := range Rank(scores) {
			if dropIdentical && d == q {
				continue
			}
			if len(kept) == depth {
				break
			}
			kept[d] = scores[d]
		}
		out[q] = kept
	}
	return out
}

func writeRunFile(path string, run Run, tag string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteRun(f, run, tag); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
