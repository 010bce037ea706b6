package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/lexical"
	"github.com/urfave/cli/v2"
)

func searchCommand() *cli.Command {
	return &cli.Command{
		Name:      "search",
		Usage:     "search an index (dense, BM25 or hybrid; filters, sort, cross-encoder rerank)",
		ArgsUsage: "DIR [QUERY]",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "queries", Usage: "file of queries: JSONL with _id and text (BEIR queries.jsonl) or one per line"},
			intIn(1, maxResults, &cli.IntFlag{Name: "k", Value: 10, Usage: "results per query"}),
			oneOf(&cli.StringFlag{Name: "mode", Value: "dense", Usage: "dense, bm25, hybrid, or sparse (indexes built with a SPLADE model; their default)"},
				"dense", "bm25", "hybrid", "sparse"),
			oneOf(&cli.StringFlag{Name: "fusion", Value: "rrf", Usage: "hybrid fusion: rrf (k=60) or weighted"}, engine.FusionRRF, engine.FusionWeighted),
			between(0, 1, &cli.Float64Flag{Name: "alpha", Value: 0.5, Usage: "weighted fusion: weight of the dense score, in [0, 1] (1 = dense only, 0 = BM25 only)"}),
			&cli.StringSliceFlag{Name: "filter", Usage: "metadata filter, repeatable (AND): FIELD=V1,V2  FIELD!=V  FIELD>=N  (> < <= too; task = pipeline_tag)"},
			&cli.StringFlag{Name: "sort", Usage: "FIELD:asc|desc — order the --pool most relevant results by a metadata field (each result's score_kind says what its score is)"},
			intIn(0, maxResults, &cli.IntFlag{Name: "pool", Usage: "relevant results fused, reranked or sorted (0 = max(k, 100))"}),
			&cli.StringFlag{Name: "rerank-model", Usage: "cross-encoder GGUF that reranks the best --rerank-top results"},
			intIn(1, maxResults, &cli.IntFlag{Name: "rerank-top", Value: 100, Usage: "candidates to rerank"}),
			intIn(0, maxResults, &cli.IntFlag{Name: "rescore", Usage: "candidates rescored in full precision: by the exact scan of int8/binary indexes (0 = max(10k, 100)) and by every graph search (0 = max(pool, 100))"}),
			intIn(0, engine.MaxEf, &cli.IntFlag{Name: "ef", Usage: "indexes with HNSW graphs: beam width of the graph search (larger: slower, closer to exact; 0 = 192, raised to the candidates asked for)"}),
			&cli.BoolFlag{Name: "exact", Usage: "scan every vector even where an HNSW graph exists (the exact top-k; also searches past a damaged graph file)"},
			oneOf(&cli.StringFlag{Name: "bm25-fields", Usage: "BM25 over title and text: best_fields (each field scored alone, best + 0.5 × other) or combined (one field) (default: the index's, see quarry info)"},
				lexical.BestFields.String(), lexical.Combined.String()),
			nonNegative(&cli.Float64Flag{Name: "k1", Value: 1.2, Usage: "BM25 k1"}),
			between(0, 1, &cli.Float64Flag{Name: "b", Value: 0.75, Usage: "BM25 b"}),
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "the index's model, if it moved (must be the same file)"},
			intIn(0, maxQueryBytes, &cli.IntFlag{Name: "max-query-bytes", Usage: "longest query accepted, in bytes (0 = 16384; longer ones exit 4)"}),
			&cli.StringFlag{Name: "show", Usage: "metadata fields to show in the table (comma-separated; default: a few present fields)"},
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per query (schema: docs/search-output.schema.json)"},
		}, modelFlags()...),
		Action: runSearch,
	}
}

type query struct{ id, text string }

// Queries of a --queries file are read, searched and written in chunks of
// at most queryChunk queries and chunkResults results (k × queries), so a
// huge file runs in bounded memory.
const (
	queryChunk   = 256
	chunkResults = 1 << 16
)

// queryStream reads a --queries file chunk by chunk.
type queryStream struct {
	rr      *recordReader
	n       int     // records read
	pending *record // read ahead: is there more?
}

// read returns up to max queries and whether more follow.
func (qs *queryStream) read(max int) ([]query, bool, error) {
	var out []query
	for len(out) < max {
		rec, ok, err := qs.take()
		if err != nil {
			return nil, false, err
		}
		if !ok {
			return out, false, nil
		}
		out = append(out, rec)
	}
	rec, ok, err := qs.take()
	if err != nil {
		return nil, false, err
	}
	if ok {
		qs.n-- // give it back
		qs.pending = &record{ID: rec.id, Text: rec.text, Line: -1}
	}
	return out, ok, nil
}

func (qs *queryStream) take() (query, bool, error) {
	var rec record
	if qs.pending != nil {
		rec, qs.pending = *qs.pending, nil
	} else {
		r, ok, err := qs.rr.next()
		if err != nil || !ok {
			return query{}, false, err
		}
		rec = r
	}
	qs.n++
	id := rec.ID
	if id == "" {
		id = strconv.Itoa(qs.n)
	}
	return query{id, rec.Text}, true, nil
}

func runSearch(c *cli.Context) error {
	dir := c.Args().Get(0)
	chunk := max(1, min(queryChunk, chunkResults/c.Int("k")))
	var qs []query
	var stream *queryStream
	more := false
	switch {
	case c.String("queries") != "":
		if c.NArg() > 1 {
			return badInput("give either QUERY or --queries, not both")
		}
		r, name, closeIn, err := openInput(c.String("queries"), c.App.Reader)
		if err != nil {
			return err
		}
		defer closeIn()
		stream = &queryStream{rr: newRecordReader(r, name, "auto")}
		if qs, more, err = stream.read(chunk); err != nil {
			return err
		}
		if len(qs) == 0 {
			return badInput("%s: no input texts", name)
		}
	case c.NArg() == 2:
		qs = []query{{"1", c.Args().Get(1)}}
	default:
		return badInput("usage: quarry search DIR QUERY | quarry search DIR --queries FILE")
	}
	multi := len(qs) > 1 || more
	mode := engine.Mode(c.String("mode"))
	ix, err := openIndex(c, dir, false)
	if err != nil {
		return err
	}
	defer ix.Close()
	if mode, err = sparseMode(c, ix, mode); err != nil {
		return err
	}
	var rr *engine.Model
	if p := c.String("rerank-model"); p != "" {
		if rr, err = engine.LoadModel(p, modelOptions(c)); err != nil {
			return err
		}
		defer rr.Close()
		if !rr.CrossEncoder() {
			return badInput("--rerank-model %s is a bi-encoder; reranking needs a cross-encoder", p)
		}
	}
	bm25, err := bm25Params(c, ix.Info().BM25Fields)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(output(c))
	defer w.Flush()
	var enc *json.Encoder
	if c.Bool("json") {
		enc = json.NewEncoder(w)
		enc.SetEscapeHTML(false)
	}
	var show []string
	if s := c.String("show"); s != "" {
		show = strings.Split(s, ",")
	}
	var dims []int // query active dimensions (sparse mode)
	for len(qs) > 0 {
		for _, q := range qs {
			if !utf8.ValidString(q.text) {
				return badInput("query %s is not valid UTF-8", q.id)
			}
		}
		reqs := make([]engine.Request, len(qs))
		for i, q := range qs {
			reqs[i] = engine.Request{ID: q.id, Text: q.text, K: c.Int("k"), Mode: mode, Fusion: c.String("fusion"), Alpha: floatFlag(c, "alpha"),
				Filters: c.StringSlice("filter"), Sort: c.String("sort"), Pool: c.Int("pool"), Rescore: c.Int("rescore"), Ef: c.Int("ef"), Exact: c.Bool("exact"),
				BM25: bm25, MaxQueryBytes: c.Int("max-query-bytes")}
			if rr != nil {
				reqs[i].Rerank = &engine.Rerank{Model: rr, Top: c.Int("rerank-top")}
			}
		}
		resps, err := ix.SearchBatch(c.Context, reqs)
		if err != nil {
			return err // bad filters and sorts are the engine's errs.BadInput
		}
		for i, r := range resps {
			dims = append(dims, r.QueryActiveDims)
			if enc != nil {
				if r.Results == nil {
					r.Results = []engine.Result{}
				}
				if err := enc.Encode(r); err != nil {
					return err
				}
				continue
			}
			if multi {
				fmt.Fprintf(w, "\nquery %s: %s\n", r.QueryID, qs[i].text)
			}
			writeResultTable(w, r, show, mode == engine.ModeHybrid || rr != nil || c.String("sort") != "")
		}
		qs = nil
		if more {
			if qs, more, err = stream.read(chunk); err != nil {
				return err
			}
		}
	}
	writeQuerySparsity(c.App.ErrWriter, ix, dims, mode)
	return nil
}

// bm25Params are the BM25 parameters of a search: nil (the engine's
// default: k1 1.2, b 0.75 and the index's field mode) unless --k1, --b or
// --bm25-fields is given; then those, the others at their defaults (the
// field mode: indexFields, the index's).
func bm25Params(c *cli.Context, indexFields string) (*lexical.Params, error) {
	if !c.IsSet("k1") && !c.IsSet("b") && !c.IsSet("bm25-fields") {
		return nil, nil
	}
	p := lexical.DefaultParams()
	p.K1, p.B = c.Float64("k1"), c.Float64("b")
	fields := indexFields
	if c.IsSet("bm25-fields") {
		fields = c.String("bm25-fields")
	}
	if fields != "" {
		fm, err := lexical.ParseFieldMode(fields)
		if err != nil {
			return nil, badInput("--bm25-fields: %v", err)
		}
		p.Fields = fm
	}
	return &p, nil
}

// defaultShow picks up to four metadata fields to show: the well-known ones
// of the corpus formats first.
func defaultShow(r *engine.Response) []string {
	seen := map[string]bool{}
	for _, res := range r.Results {
		var md map[string]any
		json.Unmarshal(res.Metadata, &md)
		for k, v := range md {
			if _, isMap := v.(map[string]any); !isMap {
				seen[k] = true
			}
		}
	}
	var out []string
	for _, k := range []string{"pipeline_tag", "library_name", "likes", "downloads", "section", "priority", "installed_size", "lastModified"} {
		if seen[k] && len(out) < 4 {
			out = append(out, k)
			delete(seen, k)
		}
	}
	var rest []string
	for k := range seen {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	for _, k := range rest {
		if len(out) >= 3 {
			break
		}
		if k != "readme" && k != "tags" && k != "siblings" && k != "config" {
			out = append(out, k)
		}
	}
	return out
}

func writeResultTable(w io.Writer, r *engine.Response, show []string, components bool) {
	if len(r.Results) == 0 {
		fmt.Fprintln(w, "(no results)")
		return
	}
	if show == nil {
		show = defaultShow(r)
	}
	for i, res := range r.Results {
		var md map[string]any
		dec := json.NewDecoder(strings.NewReader(string(res.Metadata)))
		dec.UseNumber()
		dec.Decode(&md)
		var parts []string
		for _, f := range show {
			if v, ok := md[f]; ok && v != nil {
				parts = append(parts, fmt.Sprintf("%s=%v", f, v))
			}
		}
		// score_kind after the score: with --sort and a rerank of fewer
		// than --pool candidates, reranked and first-stage scores mix.
		sc := fmt.Sprintf("%.4f %s", res.Score, res.ScoreKind)
		var comp []string
		// The component scores that are not the score itself.
		if res.Scores.Dense != nil && components && res.ScoreKind != engine.ScoreDense {
			comp = append(comp, fmt.Sprintf("dense %.3f", *res.Scores.Dense))
		}
		if res.Scores.Sparse != nil && components && res.ScoreKind != engine.ScoreSparse {
			comp = append(comp, fmt.Sprintf("sparse %.3f", *res.Scores.Sparse))
		}
		if res.Scores.BM25 != nil && components && res.ScoreKind != engine.ScoreBM25 {
			comp = append(comp, fmt.Sprintf("bm25 %.2f", *res.Scores.BM25))
		}
		if res.Scores.Relevance != nil {
			comp = append(comp, fmt.Sprintf("rel %.4f", *res.Scores.Relevance))
		}
		if len(comp) > 0 {
			sc += " (" + strings.Join(comp, ", ") + ")"
		}
		title := res.Title
		if title == "" || title == res.ID {
			title = ""
		} else {
			title = "  " + snippet(title, 60)
		}
		fmt.Fprintf(w, "%2d. %s  %s%s\n", i+1, sc, res.ID, title)
		if len(parts) > 0 {
			fmt.Fprintf(w, "    %s\n", strings.Join(parts, "  "))
		}
		fmt.Fprintf(w, "    %s\n", snippet(res.Passage, 150))
	}
}
