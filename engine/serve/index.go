package serve

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/meta"
)

// Summary describes one served index (GET /v1/indexes): the engine's
// summary with the index's name and the server's rerank models.
type Summary struct {
	Name string `json:"name"`
	engine.Summary
	RerankModels []string `json:"rerank_models"`
}

// IndexDetail is GET /v1/indexes/{name}: the summary, the index's info
// (what `quarry info --json` prints) and the facets of its metadata.
type IndexDetail struct {
	Summary
	Info   engine.Info           `json:"info"`
	Facets map[string]meta.Facet `json:"facets"`
}

func (s *Server) summary(x *index) Summary {
	return Summary{Name: x.name, Summary: x.ix.Summary(), RerankModels: s.rankerNames()}
}

// lookup finds the index of a request's {name}.
func (s *Server) lookup(r *http.Request) (*index, error) {
	name := r.PathValue("name")
	x, ok := s.indexes[name]
	if !ok {
		have := "none"
		if len(s.names) > 0 {
			have = strings.Join(s.names, ", ")
		}
		return nil, newError(http.StatusNotFound, typeNotFound, "no index named %q (indexes: %s)", name, have)
	}
	return x, nil
}

func (s *Server) handleIndexes(w http.ResponseWriter, _ *http.Request, _ *call) error {
	out := struct {
		Indexes []Summary `json:"indexes"`
	}{Indexes: make([]Summary, 0, len(s.names))}
	for _, name := range s.names {
		out.Indexes = append(out.Indexes, s.summary(s.indexes[name]))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request, _ *call) error {
	x, err := s.lookup(r)
	if err != nil {
		return err
	}
	values := 0
	if v := r.URL.Query().Get("values"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > engine.MaxFacetValues {
			return invalid("values: %q: must be 1..%d (values listed per facet)", v, engine.MaxFacetValues)
		}
		values = n
	}
	facets, err := x.ix.Facets(values)
	if err != nil {
		return err
	}
	fields := facets.Fields
	if fields == nil {
		fields = map[string]meta.Facet{}
	}
	return writeJSON(w, http.StatusOK, IndexDetail{Summary: s.summary(x), Info: x.ix.Info(), Facets: fields})
}

// SearchRequest is the body of POST /v1/indexes/{name}/search: the CLI's
// search flags.
type SearchRequest struct {
	Query     string          `json:"query"`
	K         *int            `json:"k"`
	Mode      string          `json:"mode"`
	Filters   []string        `json:"filters"`
	Sort      string          `json:"sort"`
	Direction string          `json:"direction"`
	Fusion    string          `json:"fusion"`
	Alpha     *float64        `json:"alpha"`
	Pool      *int            `json:"pool"`
	Rerank    json.RawMessage `json:"rerank"`
	RerankTop *int            `json:"rerank_top"`
	Ef        *int            `json:"ef"`    // HNSW beam width (engine.Request.Ef), 1..engine.MaxEf
	Exact     bool            `json:"exact"` // scan every vector even where a graph exists
	ID        string          `json:"id"`
}

// maxFilters bounds the filters of one search.
const maxFilters = 64

// request validates a search request into the engine's (errors name the
// field).
func (s *Server) request(x *index, q *SearchRequest) (engine.Request, error) {
	var req engine.Request
	if strings.TrimSpace(q.Query) == "" {
		return req, empty("query: must not be empty")
	}
	if !utf8.ValidString(q.Query) {
		return req, invalid("query: not valid UTF-8")
	}
	intField := func(name string, v *int, lo int) (int, error) {
		if v == nil {
			return 0, nil
		}
		if *v < lo || *v > engine.MaxK {
			return 0, invalid("%s: must be %d..%d", name, lo, engine.MaxK)
		}
		return *v, nil
	}
	var err error
	if req.K, err = intField("k", q.K, 1); err != nil {
		return req, err
	}
	if req.Pool, err = intField("pool", q.Pool, 1); err != nil {
		return req, err
	}
	top, err := intField("rerank_top", q.RerankTop, 1)
	if err != nil {
		return req, err
	}
	if q.Ef != nil {
		if *q.Ef < 1 || *q.Ef > engine.MaxEf {
			return req, invalid("ef: must be 1..%d", engine.MaxEf)
		}
		req.Ef = *q.Ef
	}
	req.Exact = q.Exact
	switch q.Mode {
	case "":
		req.Mode = engine.ModeDense
		if x.ix.Sparse() {
			req.Mode = engine.ModeSparse
		}
	case string(engine.ModeDense), string(engine.ModeBM25), string(engine.ModeHybrid), string(engine.ModeSparse):
		req.Mode = engine.Mode(q.Mode)
	default:
		return req, invalid("mode: %q is not dense, bm25, hybrid or sparse", q.Mode)
	}
	switch q.Fusion {
	case "", engine.FusionRRF, engine.FusionWeighted:
		req.Fusion = q.Fusion
	default:
		return req, invalid("fusion: %q is not rrf or weighted", q.Fusion)
	}
	if q.Alpha != nil {
		if !(*q.Alpha >= 0 && *q.Alpha <= 1) {
			return req, invalid("alpha: must be in [0, 1] (1 = dense only, 0 = BM25 only)")
		}
		req.Alpha = q.Alpha
	}
	if len(q.Filters) > maxFilters {
		return req, invalid("filters: %d filters: at most %d", len(q.Filters), maxFilters)
	}
	for i, f := range q.Filters {
		if strings.TrimSpace(f) == "" {
			return req, invalid("filters[%d]: empty filter", i)
		}
	}
	req.Filters = q.Filters
	switch q.Direction {
	case "", "asc", "desc":
	default:
		return req, invalid("direction: %q is not asc or desc", q.Direction)
	}
	req.Sort = q.Sort
	if q.Sort != "" && q.Direction != "" && !strings.Contains(q.Sort, ":") {
		req.Sort = q.Sort + ":" + q.Direction
	}
	rr, err := s.rerankOf(q.Rerank)
	if err != nil {
		return req, err
	}
	if rr != nil {
		req.Rerank = &engine.Rerank{Model: rr.b, Top: top}
	}
	if len(q.ID) > 1024 {
		return req, invalid("id: longer than 1024 bytes")
	}
	req.ID, req.Text = q.ID, q.Query
	if req.ID == "" {
		req.ID = "1" // the CLI's id of a single query
	}
	return req, nil
}

// rerankOf resolves a search's "rerank": a model name, true (the default
// cross-encoder), false or absent (none).
func (s *Server) rerankOf(raw json.RawMessage) (*model, error) {
	v := strings.TrimSpace(string(raw))
	switch v {
	case "", "null", "false", `""`:
		return nil, nil
	case "true":
		m := s.defaultRanker()
		if m == nil {
			return nil, invalid("rerank: the server holds no rerank model (start it with --rerank-model NAME=CE.gguf)")
		}
		return m, nil
	}
	var name string
	if err := json.Unmarshal(raw, &name); err != nil {
		return nil, invalid("rerank: want a rerank model's name, true or false")
	}
	return s.rankerNamed("rerank", name)
}

// rankerNamed is the cross-encoder called name.
func (s *Server) rankerNamed(field, name string) (*model, error) {
	m, ok := s.byName[name]
	if !ok || m.info.Kind.String() != "cross-encoder" {
		have := strings.Join(s.rankerNames(), ", ")
		if have == "" {
			have = "none: start the server with --rerank-model"
		}
		if ok {
			return nil, backend("%s: model %q is a %s, not a cross-encoder (rerank models: %s)", field, name, m.info.Kind, have)
		}
		return nil, invalid("%s: no rerank model named %q (rerank models: %s)", field, name, have)
	}
	return m, nil
}

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request, c *call) error {
	x, err := s.lookup(r)
	if err != nil {
		return err
	}
	var q SearchRequest
	if err := readJSON(r, &q); err != nil {
		return err
	}
	return s.search(w, r, c, x, &q)
}

// handleSearchGet is the search with URL parameters: q, k, mode, filter
// (repeatable), sort, direction (or dir), fusion, alpha, pool, rerank,
// rerank_top, ef, exact, id.
func (s *Server) handleSearchGet(w http.ResponseWriter, r *http.Request, c *call) error {
	x, err := s.lookup(r)
	if err != nil {
		return err
	}
	q, err := searchFromQuery(r.URL.Query())
	if err != nil {
		return err
	}
	return s.search(w, r, c, x, q)
}

// searchFromQuery reads a search from URL parameters.
func searchFromQuery(v url.Values) (*SearchRequest, error) {
	q := &SearchRequest{Query: v.Get("q"), Mode: v.Get("mode"), Filters: v["filter"], Sort: v.Get("sort"),
		Direction: orStr(v.Get("direction"), v.Get("dir")), Fusion: v.Get("fusion"), ID: v.Get("id")}
	if q.Query == "" {
		q.Query = v.Get("query")
	}
	num := func(name string) (*int, error) {
		s := v.Get(name)
		if s == "" {
			return nil, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, invalid("%s: %q is not an integer", name, s)
		}
		return &n, nil
	}
	var err error
	if q.K, err = num("k"); err != nil {
		return nil, err
	}
	if q.Pool, err = num("pool"); err != nil {
		return nil, err
	}
	if q.RerankTop, err = num("rerank_top"); err != nil {
		return nil, err
	}
	if q.Ef, err = num("ef"); err != nil {
		return nil, err
	}
	switch e := v.Get("exact"); e {
	case "", "0", "false", "no":
	case "1", "true", "yes":
		q.Exact = true
	default:
		return nil, invalid("exact: %q is not a boolean", e)
	}
	if a := v.Get("alpha"); a != "" {
		f, err := strconv.ParseFloat(a, 64)
		if err != nil {
			return nil, invalid("alpha: %q is not a number", a)
		}
		q.Alpha = &f
	}
	switch rr := v.Get("rerank"); rr {
	case "", "0", "false", "no":
	case "1", "true", "yes":
		q.Rerank = json.RawMessage("true")
	default:
		b, _ := json.Marshal(rr)
		q.Rerank = b
	}
	return q, nil
}

// search runs one validated search and answers the CLI's --json object.
func (s *Server) search(w http.ResponseWriter, r *http.Request, c *call, x *index, q *SearchRequest) error {
	req, err := s.request(x, q)
	if err != nil {
		return err
	}
	resp, err := x.ix.Search(r.Context(), req)
	if err != nil {
		return err
	}
	if resp.Results == nil {
		resp.Results = []engine.Result{}
	}
	mode := string(req.Mode)
	s.metrics.searchDuration.WithLabelValues(x.name, mode).Observe(resp.Took.Seconds())
	s.metrics.searchEncode.WithLabelValues(x.name, mode).Observe(resp.Timing.Encode.Seconds())
	s.metrics.searchRetrieve.WithLabelValues(x.name, mode).Observe(resp.Timing.Retrieve.Seconds())
	s.metrics.searchResults.WithLabelValues(x.name, mode).Observe(float64(len(resp.Results)))
	h := w.Header()
	h.Set("x-quarry-generation", strconv.FormatUint(resp.Generation, 10))
	h.Set("x-total-time", strconv.FormatInt(resp.Took.Milliseconds(), 10))
	h.Set("x-inference-time", strconv.FormatInt(resp.Timing.Encode.Milliseconds(), 10))
	return writeJSON(w, http.StatusOK, resp)
}
