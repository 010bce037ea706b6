// Package serve is quarry's HTTP server: embeddings, reranking and index
// search over models and indexes loaded once and shared, with the wire
// contracts of Hugging Face's text-embeddings-inference (TEI), OpenAI's
// embeddings API, Cohere's and Jina's rerank APIs, and quarry's own index
// API (docs/serve.md lists every route, status, limit, header and metric).
//
// Every model runs behind a Batcher (dynamic batching across requests); the
// same batched model answers the embedding routes and encodes the queries of
// the indexes built with it, so a text gets one vector everywhere.
//
//	srv, err := serve.New(serve.Config{
//	    Indexes: []serve.IndexSpec{{Name: "demo", Dir: "build/demo/packages.idx"}},
//	    Models:  []serve.ModelSpec{{Name: "minilm", Path: "all-MiniLM-L6-v2-f16.gguf"}},
//	})
//	defer srv.Close()
//	ln, _ := net.Listen("tcp", ":8080")
//	err = srv.Serve(ctx, ln) // until ctx ends, then a graceful shutdown
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/encoder"
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/store"
)

// Config configures New. The zero value of every limit is its default.
type Config struct {
	// Indexes served under their names (/v1/indexes/{name}). An index
	// whose model (sha256) is among Models shares it; otherwise its
	// recorded model is loaded once (shared by the indexes that record it).
	Indexes []IndexSpec
	// Models are bi-encoders or SPLADE encoders (a cross-encoder here is
	// served by the rerank routes). The first is the default of the routes
	// without a model field (TEI's) and of requests that name none.
	Models []ModelSpec
	// RerankModels are cross-encoders: the rerank routes and the rerank
	// stage of searches. The first is the default.
	RerankModels []ModelSpec
	// ModelOptions load the models given by path (threads, ...).
	ModelOptions engine.ModelOptions

	// APIKey, when set, is required as "Authorization: Bearer KEY" on every
	// API route (compared in constant time); GET /health and the search
	// page's files are public.
	APIKey string
	// MaxBatchTokens bounds the tokens of one encoder call; 0 = 16384.
	MaxBatchTokens int
	// MaxConcurrentRequests is the number of requests served at once; one
	// more is answered 429 with Retry-After; 0 = 512.
	MaxConcurrentRequests int
	// MaxClientBatchSize bounds the inputs (texts, documents, queries) of
	// one request (413 above it); 0 = 32.
	MaxClientBatchSize int
	// PayloadLimit bounds a request body in bytes (413 above it, checked
	// before the body is read when it declares its length); 0 = 2 MB.
	PayloadLimit int64
	// AutoTruncate cuts inputs longer than the model's window (reported in
	// the x-quarry-truncated header) instead of answering 422; nil = true.
	// A request's own "truncate" field wins.
	AutoTruncate *bool
	// Writable opens the indexes for writing: the document routes work
	// (each index is then locked against other writers).
	Writable bool
	// MaxWait is how long a batch waits for requests on their way (see
	// BatchOptions.MaxWait); 0 = 2 ms, negative = never.
	MaxWait time.Duration
	// MergeRerank lets a cross-encoder's batch hold several requests. Off
	// by default: the native core's classifier head does not give a pair
	// the same bits in batches of different sizes (docs/serve.md), and a
	// rerank request is already a batch of its documents.
	MergeRerank bool
	// ComputeSlots is how many model calls run at once across all the
	// server's models (0 = 1). Each call already uses every compute thread
	// (the models' Threads), so a second call at the same time only
	// oversubscribes the cores: ggml's spinning thread barrier then wastes
	// them (on 2 cores, 16 rerank clients beside a bi-encoder ran at 6.2
	// queries/s against 13.4 for one client). Raise it for models given
	// fewer threads than cores, or on a GPU.
	ComputeSlots int
	// RequestTimeout is each request's deadline; 0 = 60 s.
	RequestTimeout time.Duration
	// ShutdownTimeout bounds how long Serve waits for requests in flight
	// after its context ends; 0 = 30 s.
	ShutdownTimeout time.Duration
	// Logger receives one line per request (and the server's events);
	// nil = no logs.
	Logger *slog.Logger
	// Version is reported by /info.
	Version string
}

// IndexSpec names an index directory.
type IndexSpec struct{ Name, Dir string }

// ModelSpec is a model by name: a GGUF path, or an Encoder (bi-encoder or
// SPLADE) or Ranker (cross-encoder) the caller made and keeps (closes).
type ModelSpec struct {
	Name    string // "" = the model's own name
	Path    string
	Encoder encoder.Encoder
	Ranker  encoder.Ranker
}

// Defaults of Config.
const (
	DefaultMaxBatchTokens        = 16384
	DefaultMaxConcurrentRequests = 512
	DefaultMaxClientBatchSize    = 32
	DefaultPayloadLimit          = 2_000_000
	DefaultRequestTimeout        = 60 * time.Second
	DefaultShutdownTimeout       = 30 * time.Second
)

// Upper bounds of Config's limits.
const (
	maxBatchTokensLimit = 1 << 24
	maxConcurrentLimit  = 1 << 20
	maxClientBatchLimit = 1 << 16
	maxPayloadLimit     = 1 << 30
)

func (c *Config) fill() error {
	def := func(v *int, d, hi int, name string) error {
		switch {
		case *v == 0:
			*v = d
		case *v < 0 || *v > hi:
			return errs.New(errs.BadInput, "serve: %s %d: want 1..%d", name, *v, hi)
		}
		return nil
	}
	if err := errors.Join(
		def(&c.MaxBatchTokens, DefaultMaxBatchTokens, maxBatchTokensLimit, "max batch tokens"),
		def(&c.MaxConcurrentRequests, DefaultMaxConcurrentRequests, maxConcurrentLimit, "max concurrent requests"),
		def(&c.MaxClientBatchSize, DefaultMaxClientBatchSize, maxClientBatchLimit, "max client batch size"),
	); err != nil {
		return err
	}
	switch {
	case c.PayloadLimit == 0:
		c.PayloadLimit = DefaultPayloadLimit
	case c.PayloadLimit < 0 || c.PayloadLimit > maxPayloadLimit:
		return errs.New(errs.BadInput, "serve: payload limit %d: want 1..%d bytes", c.PayloadLimit, maxPayloadLimit)
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	return nil
}

// Server is the HTTP server. Its Handler is safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	models  []*model          // every model, bi-encoders and SPLADE first (in Models order), then cross-encoders
	byName  map[string]*model // by name
	indexes map[string]*index
	names   []string // index names, sorted
	sem     chan struct{}
	compute chan struct{} // Config.ComputeSlots: shared by every model's batcher
	metrics *metrics
	handler http.Handler
	apiKey  []byte // sha256 of "Bearer KEY"; nil = no key
	auto    bool   // Config.AutoTruncate resolved

	closing   atomic.Bool // Serve is shutting down: new requests get 503
	closeOnce sync.Once
	closeErr  error
}

// model is one loaded model behind its batcher.
type model struct {
	name  string
	info  encoder.Info
	sha   string
	dtype string // weight type ("f16", ...; "" if unknown)
	b     *Batcher
	own   io.Closer // closed by Server.Close (models the server loaded)
}

// kind names a model's kind on the wire.
func (m *model) kind() string { return m.info.Kind.String() }

// index is one served index.
type index struct {
	name  string
	dir   string
	ix    *engine.Index
	model *model
}

// New loads the models, opens the indexes and builds the handler. Errors
// about the configuration, files and models are errs.BadInput.
func New(cfg Config) (_ *Server, err error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	auto := cfg.AutoTruncate == nil || *cfg.AutoTruncate
	s := &Server{cfg: cfg, log: cfg.Logger, byName: map[string]*model{}, indexes: map[string]*index{},
		sem: make(chan struct{}, cfg.MaxConcurrentRequests), auto: auto,
		compute: make(chan struct{}, max(1, cfg.ComputeSlots))}
	if cfg.APIKey != "" {
		s.apiKey = keyDigest("Bearer " + cfg.APIKey)
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.metrics = newMetrics(s)
	for _, spec := range cfg.Models {
		if _, err := s.addModel(spec, false); err != nil {
			return nil, err
		}
	}
	for _, spec := range cfg.RerankModels {
		if _, err := s.addModel(spec, true); err != nil {
			return nil, err
		}
	}
	for _, spec := range cfg.Indexes {
		if err := s.addIndex(spec); err != nil {
			return nil, err
		}
	}
	if len(s.models) == 0 && len(s.indexes) == 0 {
		return nil, errs.New(errs.BadInput, "serve: nothing to serve: give at least one index or model")
	}
	// Bi-encoders and SPLADE models first, in the order given: the first
	// is the default model.
	slices.SortStableFunc(s.models, func(a, b *model) int {
		return boolInt(a.info.Kind == encoder.CrossEncoder) - boolInt(b.info.Kind == encoder.CrossEncoder)
	})
	sort.Strings(s.names)
	s.handler = s.routes()
	return s, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// addModel loads (or takes) a model and starts its batcher.
func (s *Server) addModel(spec ModelSpec, rerank bool) (*model, error) {
	what := "--model"
	if rerank {
		what = "--rerank-model"
	}
	var enc encoder.Encoder
	var rk encoder.Ranker
	var own io.Closer
	switch {
	case spec.Encoder != nil && spec.Ranker != nil:
		return nil, errs.New(errs.BadInput, "serve: model %q: give an Encoder or a Ranker, not both", spec.Name)
	case spec.Encoder != nil:
		enc = spec.Encoder
	case spec.Ranker != nil:
		rk = spec.Ranker
	case spec.Path != "":
		m, err := engine.LoadModel(spec.Path, s.cfg.ModelOptions)
		if err != nil {
			return nil, fmt.Errorf("serve: %s %s: %w", what, spec.Path, err)
		}
		own = m
		if m.CrossEncoder() {
			rk = m
		} else {
			enc = m
		}
	default:
		return nil, errs.New(errs.BadInput, "serve: model %q: no path", spec.Name)
	}
	m, err := s.register(spec.Name, spec.Path, enc, rk, own)
	if err != nil {
		return nil, err
	}
	if rerank && m.info.Kind != encoder.CrossEncoder {
		return nil, errs.New(errs.BadInput, "serve: %s %s is a %s; reranking needs a cross-encoder (give it with --model)", what, orStr(spec.Path, m.name), m.info.Kind)
	}
	return m, nil
}

// register starts a model's batcher and names it; own is closed by Close.
func (s *Server) register(name, path string, enc encoder.Encoder, rk encoder.Ranker, own io.Closer) (_ *model, err error) {
	defer func() {
		if err != nil && own != nil {
			own.Close()
		}
	}()
	var info encoder.Info
	if enc != nil {
		info = enc.Info()
		if info.Kind == encoder.CrossEncoder {
			// A cross-encoder given as an Encoder ranks if it can.
			r, ok := enc.(encoder.Ranker)
			if !ok {
				return nil, errs.New(errs.BadInput, "serve: model %q is a cross-encoder without RankEncodings", orStr(name, info.Name))
			}
			enc, rk = nil, r
		}
	} else {
		info = rk.Info()
		if info.Kind != encoder.CrossEncoder {
			return nil, errs.New(errs.BadInput, "serve: model %q: a Ranker must be a cross-encoder, not a %s", orStr(name, info.Name), info.Kind)
		}
	}
	if name == "" {
		name = modelName(info, path)
	}
	if err := checkName("model", name); err != nil {
		return nil, err
	}
	if _, dup := s.byName[name]; dup {
		return nil, errs.New(errs.BadInput, "serve: two models are named %q (name them: --model NAME=FILE)", name)
	}
	m := &model{name: name, info: info, own: own}
	if shaer, ok := any(enc).(interface{ SHA256() (string, error) }); ok && enc != nil {
		if m.sha, err = shaer.SHA256(); err != nil {
			return nil, fmt.Errorf("serve: model %s: %w", name, err)
		}
	} else if shaer, ok := rk.(interface{ SHA256() (string, error) }); ok {
		if m.sha, err = shaer.SHA256(); err != nil {
			return nil, fmt.Errorf("serve: model %s: %w", name, err)
		}
	}
	var src any = enc
	if enc == nil {
		src = rk
	}
	if wt, ok := src.(interface{ WeightType() string }); ok {
		m.dtype = wt.WeightType()
	}
	merge := info.Kind != encoder.CrossEncoder || s.cfg.MergeRerank
	m.b, err = NewBatcher(enc, rk, BatchOptions{MaxBatchTokens: s.cfg.MaxBatchTokens, MaxWait: s.cfg.MaxWait, Merge: merge, OnBatch: s.metrics.onBatch(name), Compute: s.compute})
	if err != nil {
		return nil, err
	}
	s.models = append(s.models, m)
	s.byName[name] = m
	return m, nil
}

// modelName is a model's default name: its GGUF name, else its file's base
// name without extension.
func modelName(info encoder.Info, path string) string {
	if info.Name != "" {
		return info.Name
	}
	if path == "" {
		path = info.Path
	}
	base := filepath.Base(path)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// checkName accepts names usable in a URL path segment and a metric label.
func checkName(what, name string) error {
	if name == "" || len(name) > 128 {
		return errs.New(errs.BadInput, "serve: %s name %q: want 1..128 characters", what, name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:@+", c)) {
			return errs.New(errs.BadInput, "serve: %s name %q: use letters, digits and - _ . : @ + only", what, name)
		}
	}
	return nil
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// addIndex opens an index with the batched model it was built with.
func (s *Server) addIndex(spec IndexSpec) error {
	if err := checkName("index", spec.Name); err != nil {
		return err
	}
	if _, dup := s.indexes[spec.Name]; dup {
		return errs.New(errs.BadInput, "serve: two indexes are named %q", spec.Name)
	}
	man, err := store.LoadManifest(spec.Dir)
	if err != nil {
		if engine.IsNotExist(err) {
			return errs.Mark(errs.BadInput, fmt.Errorf("serve: index %s=%s: no index there (%w)", spec.Name, spec.Dir, err))
		}
		return fmt.Errorf("serve: index %s=%s: %w", spec.Name, spec.Dir, err)
	}
	want := man.Model
	kTokens := 0
	if kt := man.Settings["sparse.k_tokens"]; kt != "" {
		kTokens, _ = strconv.Atoi(kt)
	}
	var m *model
	for _, c := range s.models {
		if c.sha == want.SHA256 && c.info.Kind != encoder.CrossEncoder && (kTokens == 0 || c.info.KTokens == kTokens) {
			m = c
			break
		}
	}
	if m == nil {
		// The index's recorded model, loaded once for every index that
		// records it.
		if want.Path == "" {
			return errs.New(errs.BadInput, "serve: index %s: its manifest records no model path: give the model with --model (sha256 %.12s…)", spec.Name, want.SHA256)
		}
		mo := s.cfg.ModelOptions
		mo.KTokens = kTokens
		lm, err := engine.LoadModel(want.Path, mo)
		if err != nil {
			return fmt.Errorf("serve: index %s: its model %s: %w (give the model file with --model)", spec.Name, want.Path, err)
		}
		name := modelName(lm.Info(), want.Path)
		if _, dup := s.byName[name]; dup {
			name += "@" + want.SHA256[:min(8, len(want.SHA256))]
		}
		if m, err = s.register(name, want.Path, lm, nil, lm); err != nil {
			return err
		}
		if m.sha != want.SHA256 {
			return fmt.Errorf("serve: index %s: model %s (sha256 %.12s…) is not the model the index was built with (sha256 %.12s…): %w",
				spec.Name, want.Path, m.sha, want.SHA256, engine.ErrModelMismatch)
		}
	}
	ix, err := engine.Open(spec.Dir, engine.OpenOptions{Encoder: m.b, Writable: s.cfg.Writable, ModelOptions: s.cfg.ModelOptions})
	if err != nil {
		return fmt.Errorf("serve: index %s: %w", spec.Name, err)
	}
	if _, err := ix.Encoder(); err != nil { // the identity check, now rather than at the first search
		ix.Close()
		return fmt.Errorf("serve: index %s: %w", spec.Name, err)
	}
	s.indexes[spec.Name] = &index{name: spec.Name, dir: spec.Dir, ix: ix, model: m}
	s.names = append(s.names, spec.Name)
	s.metrics.indexGeneration.WithLabelValues(spec.Name).Set(float64(ix.Info().Generation))
	return nil
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers requests on ln until ctx ends, then shuts down gracefully:
// it stops accepting, answers 503 to new requests on open connections,
// waits up to ShutdownTimeout for the requests in flight, and closes the
// indexes and models. It returns nil after a shutdown requested by ctx.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.cfg.RequestTimeout,
		WriteTimeout:      s.cfg.RequestTimeout + 10*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "indexes", len(s.indexes), "models", len(s.models))
	select {
	case err := <-errc:
		s.Close()
		return err
	case <-ctx.Done():
	}
	s.closing.Store(true)
	s.log.Info("shutting down: finishing requests in flight", "timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		hs.Close()
		err = fmt.Errorf("serve: shutdown: %w", err)
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	<-errc // http.ErrServerClosed
	s.log.Info("stopped")
	return err
}

// Close stops the batchers and closes the indexes and the models the server
// loaded. Idempotent. Requests still running fail.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		var el []error
		for _, ix := range s.indexes {
			el = append(el, ix.ix.Close())
		}
		for _, m := range s.models {
			if m.b != nil {
				el = append(el, m.b.Close())
			}
		}
		for _, m := range s.models {
			if m.own != nil {
				el = append(el, m.own.Close())
			}
		}
		s.closeErr = errors.Join(el...)
	})
	return s.closeErr
}

// defaultModel is the model of requests that name none: the first
// bi-encoder or SPLADE model, else the first cross-encoder.
func (s *Server) defaultModel() *model {
	if len(s.models) == 0 {
		return nil
	}
	return s.models[0]
}

// defaultRanker is the first cross-encoder.
func (s *Server) defaultRanker() *model {
	for _, m := range s.models {
		if m.info.Kind == encoder.CrossEncoder {
			return m
		}
	}
	return nil
}

// rankerNames are the cross-encoders' names, in order.
func (s *Server) rankerNames() []string {
	out := []string{}
	for _, m := range s.models {
		if m.info.Kind == encoder.CrossEncoder {
			out = append(out, m.name)
		}
	}
	return out
}
