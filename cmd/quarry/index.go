package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/ingest"
	"github.com/quarry-search/quarry/engine/lexical"
	"github.com/quarry-search/quarry/engine/store"
	"github.com/urfave/cli/v2"
)

func indexCommand() *cli.Command {
	return &cli.Command{
		Name:  "index",
		Usage: "index a corpus into DIR (creates it, appends to it, or resumes an interrupted run)",
		Description: "Reads the corpus (JSONL, a BEIR folder, a directory of .txt/.md files, or a Hub model-search folder of\n" +
			"models.jsonl + passages.jsonl), splits documents into passages with the model's tokenizer, encodes them and\n" +
			"commits a segment every --segment-passages passages (zstd vectors, doc store, BM25). Running the same command\n" +
			"again after an interruption resumes after the last committed segment; a new input appends to the index.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "bi-encoder GGUF (default for an existing index: the one it was built with)"},
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "corpus path", Required: true},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "index directory", Required: true},
			&cli.StringFlag{Name: "format", Value: "auto", Usage: "auto, jsonl, beir, text or hub"},
			oneOf(&cli.StringFlag{Name: "dtype", Usage: "stored vectors: f32, f16, int8 or binary (int8/binary keep f16 for rescoring; default: the model's weight type, f16 for an f16 model, else f32)"},
				"f32", "f16", "int8", "binary"),
			intIn(1, maxBatch, &cli.IntFlag{Name: "batch", Value: 256, Usage: "passages per native encode call"}),
			intIn(0, maxRows, &cli.IntFlag{Name: "segment-passages", Usage: "passages per committed segment (resume interval, memory bound; 0 = 8192, or 65536 for an index with HNSW graphs)"}),
			oneOf(&cli.StringFlag{Name: "ann", Value: engine.ANNAuto, Usage: "new index: approximate search: auto (an HNSW graph for every segment of at least 32768 passages), hnsw (a graph for every segment) or off (exact scan only)"},
				engine.ANNAuto, engine.ANNHNSW, engine.ANNOff),
			intIn(2, engine.MaxHNSWM, &cli.IntFlag{Name: "hnsw-m", Value: 16, Usage: "new index: HNSW M (neighbours per node, 2·M on the bottom layer)"}),
			intIn(1, engine.MaxHNSWEfConstruction, &cli.IntFlag{Name: "hnsw-ef-construction", Value: 200, Usage: "new index: HNSW beam width while building"}),
			intIn(0, maxTokens, &cli.IntFlag{Name: "window", Usage: "new index: passage length in word pieces (0 = the model's max tokens − 2)"}),
			&cli.BoolFlag{Name: "embed-title", Value: true, Usage: "new index: embed each passage as title + \" \" + passage (BEIR's and sentence-transformers' convention); --embed-title=false embeds the passage alone; the title always goes to BM25; an existing index keeps what it recorded"},
			intIn(0, maxTokens, &cli.IntFlag{Name: "overlap", Usage: "new index: overlap of consecutive passages in word pieces (0 = 32)"}),
			&cli.StringFlag{Name: "analyzer", Value: "en", Usage: "new index: BM25 analyzer: en, english (Elasticsearch's stop words) or standard"},
			oneOf(&cli.StringFlag{Name: "bm25-fields", Value: lexical.BestFields.String(), Usage: "new index: default BM25 over title and text: best_fields (each field scored alone, the best + 0.5 × the other, as Elasticsearch's multi_match) or combined (one field of title + text); search --bm25-fields overrides it per query"},
				lexical.BestFields.String(), lexical.Combined.String()),
			&cli.StringFlag{Name: "id-field", Usage: "JSONL: field holding the document id (default _id, then id)"},
			&cli.StringFlag{Name: "text-field", Usage: "JSONL: field holding the text (default text)"},
			&cli.StringFlag{Name: "title-field", Usage: "JSONL: field holding the title (default title)"},
			&cli.BoolFlag{Name: "skip-bad", Usage: "skip bad records (counted and reported) instead of stopping before anything is committed"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
			intIn(0, maxKTokens, &cli.IntFlag{Name: "k-tokens", Usage: "SPLADE models: keep the k largest weights of each passage and query vector (0 = all; recorded at creation)"}),
		}, modelFlags()...),
		Action: runIndex,
	}
}

func modelOptions(c *cli.Context) engine.ModelOptions {
	return engine.ModelOptions{Threads: c.Int("threads"), Impl: c.String("impl"), MaxBatchTokens: c.Int("batch-tokens"), KTokens: c.Int("k-tokens")}
}

func runIndex(c *cli.Context) error {
	dir := c.String("out")
	in := c.String("input")
	if _, err := os.Stat(in); err != nil {
		return badInput("--input %s: %v", in, err)
	}
	mo := modelOptions(c)
	var ix *engine.Index
	var err error
	if _, serr := os.Stat(filepath.Join(dir, "MANIFEST")); serr == nil {
		ix, err = engine.Open(dir, engine.OpenOptions{Writable: true, Model: c.String("model"), ModelOptions: mo})
		if err == nil {
			if err = keepsRecorded(c, ix.Info()); err != nil {
				ix.Close()
				return err
			}
		}
	} else {
		if c.String("model") == "" {
			return badInput("--model is required to create an index")
		}
		ix, err = engine.Create(dir, engine.CreateOptions{Model: c.String("model"), DType: c.String("dtype"), Window: c.Int("window"), EmbedTitle: boolFlag(c, "embed-title"),
			Overlap: c.Int("overlap"), Analyzer: c.String("analyzer"), BM25Fields: c.String("bm25-fields"), ModelOptions: mo,
			ANN: annFlag(c), HNSWM: c.Int("hnsw-m"), HNSWEfConstruction: c.Int("hnsw-ef-construction")})
	}
	if err != nil {
		return err
	}
	defer ix.Close()
	bar := newProgressBar(c.App.ErrWriter, c.Bool("quiet"))
	st, err := ix.Add(c.Context, engine.AddOptions{
		Input: in, SegmentPassages: c.Int("segment-passages"), Batch: c.Int("batch"), Progress: bar.update,
		Ingest: ingest.Options{Format: c.String("format"), IDField: c.String("id-field"), TextField: c.String("text-field"),
			TitleField: c.String("title-field"), SkipBad: c.Bool("skip-bad")},
	})
	bar.finish()
	var bad *engine.BadInputError
	if errors.As(err, &bad) {
		return errs.Mark(errs.BadInput, err) // nothing was committed
	}
	if err != nil {
		if st != nil && st.Segments > 0 {
			fmt.Fprintf(c.App.ErrWriter, "quarry: %d segment(s) with records up to %d of %s were committed before the failure; run the same command again to resume\n",
				st.Segments, st.Committed, in)
		}
		return err
	}
	info := ix.Info()
	w := c.App.ErrWriter
	if st.AlreadyDone {
		fmt.Fprintf(w, "%s: %s is already indexed (%d documents, %d passages); nothing to do\n", dir, in, info.Documents, info.Passages)
		return nil
	}
	secs := st.Elapsed.Seconds()
	fmt.Fprintf(w, "indexed %d documents (%d passages, %d tokens) in %.1fs: %.1f docs/s, %.1f passages/s",
		st.Docs, st.Passages, st.Tokens, secs, float64(st.Docs)/secs, float64(st.Passages)/secs)
	if st.Resumed > 0 {
		fmt.Fprintf(w, "; resumed after %d records", st.Resumed)
	}
	if st.Bad > 0 {
		fmt.Fprintf(w, "; %d bad records skipped", st.Bad)
	}
	if info.Sparse != nil {
		fmt.Fprintf(w, "\n%s: %d documents, %d passages, %d segments, sparse vectors, %.1f MB\n",
			dir, info.Documents, info.Passages, info.Segments, float64(info.Bytes)/1e6)
		if st.Sparse != nil {
			fmt.Fprintf(w, "sparse: this run's %d passages: %s\n", st.Sparse.Count, st.Sparse)
		}
		fmt.Fprintf(w, "sparse: index: %s\n", sparseStatsLine(info.Sparse))
	} else {
		fmt.Fprintf(w, "\n%s: %d documents, %d passages, %d segments, %s %s vectors, %.1f MB\n",
			dir, info.Documents, info.Passages, info.Segments, info.DType, dimStr(info), float64(info.Bytes)/1e6)
		if a := info.ANN; a != nil {
			fmt.Fprintf(w, "ann: %s\n", annLine(a))
			if st.GraphSeconds > 0 {
				fmt.Fprintf(w, "ann: this run built graphs in %.1fs\n", st.GraphSeconds)
			}
		}
	}
	for _, b := range st.BadRecords {
		fmt.Fprintf(w, "  skipped %s\n", b.Error())
	}
	return nil
}

// keepsRecorded rejects creation flags that contradict what an existing
// index recorded (they apply to new indexes only; an existing index keeps
// its settings).
func keepsRecorded(c *cli.Context, in engine.Info) error {
	switch {
	case c.IsSet("dtype") && in.DType != c.String("dtype"):
		return badInput("%s holds %s vectors; --dtype %s would mix them", in.Dir, in.DType, c.String("dtype"))
	case c.IsSet("embed-title") && in.Chunking.Title != c.Bool("embed-title"):
		return badInput("%s was built with --embed-title=%v; --embed-title=%v applies to new indexes only", in.Dir, in.Chunking.Title, c.Bool("embed-title"))
	case c.IsSet("ann") && annOf(in) != c.String("ann"):
		return badInput("%s was built with --ann %s; --ann applies to new indexes only", in.Dir, annOf(in))
	case (c.IsSet("hnsw-m") || c.IsSet("hnsw-ef-construction")) && (in.ANN == nil || in.ANN.M != c.Int("hnsw-m") || in.ANN.EfConstruction != c.Int("hnsw-ef-construction")):
		return badInput("%s builds its graphs with %s; --hnsw-m and --hnsw-ef-construction apply to new indexes only", in.Dir, annOf(in))
	case c.IsSet("bm25-fields") && in.BM25Fields != c.String("bm25-fields"):
		return badInput("%s scores BM25 with %s; --bm25-fields %s applies to new indexes (search --bm25-fields overrides it per query)", in.Dir, in.BM25Fields, c.String("bm25-fields"))
	}
	return nil
}

// annFlag is --ann for a new index ("" = the engine's default: auto, off
// for SPLADE and binary indexes).
func annFlag(c *cli.Context) string {
	if c.IsSet("ann") {
		return c.String("ann")
	}
	return ""
}

// annOf is the ANN method an index records.
func annOf(in engine.Info) string {
	if in.ANN == nil {
		return engine.ANNOff
	}
	return in.ANN.Method
}

// annLine describes an index's graphs in one line.
func annLine(a *engine.ANNInfo) string {
	s := fmt.Sprintf("%s, M %d, ef_construction %d: graphs for %d segment(s), %d passages", a.Method, a.M, a.EfConstruction, a.GraphSegments, a.GraphRows)
	if a.GraphRows > 0 {
		s += fmt.Sprintf(", %.1f MB, %.1f bytes per vector (graph files: neighbour lists, int8 traversal rows, full-precision rows; mapped by searches)", float64(a.GraphBytes)/1e6, a.BytesPerVector)
	}
	if a.Method == engine.ANNAuto && a.GraphSegments == 0 {
		s += fmt.Sprintf(" (no segment has %d passages yet: exact scan)", engine.AutoGraphRows)
	}
	return s
}

func dimStr(in engine.Info) string { return fmt.Sprintf("%d-d", in.Model.Dim) }

// progressBar draws one line on stderr, at most 5 times a second.
type progressBar struct {
	w     io.Writer
	quiet bool
	last  time.Time
	drawn bool
	p     engine.Progress
}

func newProgressBar(w io.Writer, quiet bool) *progressBar { return &progressBar{w: w, quiet: quiet} }

func (b *progressBar) update(p engine.Progress) {
	b.p = p
	if b.quiet || time.Since(b.last) < 200*time.Millisecond {
		return
	}
	b.last = time.Now()
	b.draw()
}

func (b *progressBar) draw() {
	fmt.Fprintf(b.w, "\r%s   ", progressLine(b.p))
	b.drawn = true
}

// progressLine describes an Add in flight. Records are read up to a segment
// ahead of the encoder and committed when their segment is: the bar shows
// committed records as "=" (a rerun resumes after them) and records read but
// not committed yet as "-"; the percentage and the ETA count committed
// records. Documents are counted as read, passages as encoded.
func progressLine(p engine.Progress) string {
	secs := p.Elapsed.Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	var bar, eta, total string
	if p.TotalRecords > 0 {
		const width = 24
		total = fmt.Sprintf("/%d", p.TotalRecords)
		frac := func(n int64) float64 { return min(1, max(0, float64(n)/float64(p.TotalRecords))) }
		done := int(frac(p.Committed) * width)
		read := max(done, int(frac(p.Records)*width))
		bar = "[" + strings.Repeat("=", done) + strings.Repeat("-", read-done) + strings.Repeat(" ", width-read) +
			fmt.Sprintf("] %3.0f%% committed  ", 100*frac(p.Committed))
		// The rate of this run's commits (records resumed were not).
		if rate := float64(p.Committed-p.Resumed) / secs; rate > 0 && p.Committed < p.TotalRecords {
			left := time.Duration(float64(p.TotalRecords-p.Committed)/rate) * time.Second
			eta = "  ETA " + left.Round(time.Second).String()
		}
	}
	return fmt.Sprintf("%s%d%s records read, %d committed  %d docs read  %d passages encoded  %.1f passages/s  %d segments%s",
		bar, p.Records, total, p.Committed, p.Docs, p.Passages, float64(p.Passages)/secs, p.Segments, eta)
}

func (b *progressBar) finish() {
	if b.quiet {
		return
	}
	if b.p.Records > 0 || b.drawn {
		b.draw()
	}
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}

func openIndex(c *cli.Context, dir string, writable bool) (*engine.Index, error) {
	if dir == "" {
		return nil, badInput("an index directory is required")
	}
	ix, err := engine.Open(dir, engine.OpenOptions{Writable: writable, Model: c.String("model"), ModelOptions: modelOptions(c)})
	if err != nil {
		return nil, err
	}
	return ix, nil
}

func deleteCommand() *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "delete documents by id (tombstones; `quarry compact` reclaims the space)",
		ArgsUsage: "DIR",
		Flags:     []cli.Flag{&cli.StringSliceFlag{Name: "id", Usage: "document id (repeatable)", Required: true}},
		Action: func(c *cli.Context) error {
			ix, err := openIndex(c, c.Args().First(), true)
			if err != nil {
				return err
			}
			defer ix.Close()
			n, missing, err := ix.Delete(c.Context, c.StringSlice("id"))
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "deleted %d document(s)\n", n)
			if len(missing) == 0 {
				return nil
			}
			// Deleting is idempotent: an id deleted already (a re-run of
			// a delete that a crash interrupted) is a note, exit 0; an id
			// the index never held (or a compaction dropped) exits 2.
			gone, err := ix.DeletedIDs(c.Context, missing)
			if err != nil {
				return err
			}
			if len(gone) > 0 {
				fmt.Fprintf(c.App.ErrWriter, "already deleted: %s\n", strings.Join(gone, ", "))
			}
			isGone := map[string]bool{}
			for _, id := range gone {
				isGone[id] = true
			}
			var never []string
			for _, id := range missing {
				if !isGone[id] {
					never = append(never, id)
				}
			}
			if len(never) > 0 {
				return errs.New(errs.NotFound, "not in the index (never added, or dropped by a compaction): %s", strings.Join(never, ", "))
			}
			return nil
		},
	}
}

func compactCommand() *cli.Command {
	return &cli.Command{
		Name:      "compact",
		Usage:     "rewrite the index without deleted documents",
		ArgsUsage: "DIR",
		Action: func(c *cli.Context) error {
			ix, err := openIndex(c, c.Args().First(), true)
			if err != nil {
				return err
			}
			defer ix.Close()
			st, err := ix.Compact(c.Context)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "compacted: %d deleted document(s) dropped, %d segment(s), %d file(s) removed\n", st.Dropped, st.Segments, st.Removed)
			return nil
		},
	}
}

func infoCommand() *cli.Command {
	return &cli.Command{
		Name:      "info",
		Usage:     "describe an index",
		ArgsUsage: "DIR",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
		Action: func(c *cli.Context) error {
			ix, err := openIndex(c, c.Args().First(), false)
			if err != nil {
				return err
			}
			defer ix.Close()
			in := ix.Info()
			weights, werr := modelWeightType(in.Model.Path)
			if c.Bool("json") {
				enc := json.NewEncoder(output(c))
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					engine.Info
					ModelWeights string `json:"model_weight_type,omitempty"`
				}{in, weights})
			}
			if werr != nil {
				weights = "unknown: " + werr.Error()
			}
			w := output(c)
			row := func(k string, v any) { fmt.Fprintf(w, "%-14s %v\n", k, v) }
			row("index", in.Dir)
			row("generation", in.Generation)
			row("documents", in.Documents)
			row("passages", in.Passages)
			row("deleted", in.Deleted)
			row("segments", in.Segments)
			if in.Sparse != nil {
				row("vectors", fmt.Sprintf("sparse, %d-d vocabulary (%.1f bytes/passage on disk)", in.Sparse.Vocab, float64(in.Files["sparse"])/float64(max(1, in.Passages))))
				row("sparse", sparseStatsLine(in.Sparse))
			} else {
				row("vectors", fmt.Sprintf("%s vectors (model weights %s), %d-d, %s", in.DType, weights, in.Model.Dim, bytesPerVector(in)))
				if in.ANN != nil {
					row("ann", annLine(in.ANN))
				} else {
					row("ann", "off (every dense search is the exact scan)")
				}
			}
			chunking := fmt.Sprintf("window %d, overlap %d word pieces", in.Chunking.Window, in.Chunking.Overlap)
			if in.Chunking.Title {
				chunking += "; title + passage embedded"
			} else {
				chunking += "; passage embedded alone (title to BM25 only)"
			}
			row("chunking", chunking)
			row("bm25", fmt.Sprintf("analyzer %s, fields %s", in.Analyzer, in.BM25Fields))
			row("model", fmt.Sprintf("%s (sha256 %.16s…, %s pooling, normalize %v, max %d tokens)", in.Model.Path, in.Model.SHA256, in.Model.Pooling, in.Model.Normalize, in.Model.MaxTokens))
			row("size", fmt.Sprintf("%.2f MB (%s)", float64(in.Bytes)/1e6, kinds(in.Files)))
			for _, inp := range in.Inputs {
				state := "complete"
				if !inp.Done {
					state = "interrupted: run `quarry index` again to resume"
				}
				row("input", fmt.Sprintf("%s: %d records, %s", inp.Path, inp.Records, state))
			}
			return nil
		},
	}
}

// modelWeightType is the weight type of the GGUF at path (its header only:
// the model is not loaded), for `quarry info`.
func modelWeightType(path string) (string, error) {
	mi, err := inspectModel(path)
	if err != nil {
		return "", err
	}
	return strings.ToLower(mi.WeightType), nil
}

func bytesPerVector(in engine.Info) string {
	if in.Passages == 0 {
		return "empty"
	}
	return fmt.Sprintf("%.1f bytes/vector on disk", float64(in.Files["seg"])/float64(in.Passages))
}

func kinds(m map[string]int64) string {
	var parts []string
	for _, k := range []string{"seg", "docs", "lex", "sparse", "tomb", "manifest"} {
		if v, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.2f MB", k, float64(v)/1e6))
		}
	}
	return strings.Join(parts, ", ")
}

var _ = store.F32
