package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/eval"
	"github.com/quarry-search/quarry/engine/lexical"
	"github.com/urfave/cli/v2"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:  "eval",
		Usage: "measure retrieval quality (BEIR folders) and embedding quality (STS pairs)",
		Subcommands: []*cli.Command{
			{
				Name:      "beir",
				Usage:     "index a BEIR folder, run every judged query of a split in each mode, print trec_eval metrics",
				ArgsUsage: "DIR",
				Description: "DIR holds corpus.jsonl, queries.jsonl and qrels/SPLIT.tsv (query-id, corpus-id, score). Metrics follow\n" +
					"trec_eval (ties by document id descending; judgments ≥ 1 relevant; graded nDCG) and BEIR (a result whose id is its\n" +
					"query's id is dropped; MRR@10 = recip_rank on the top 10). Modes: bm25, dense, hybrid (RRF k=60), hybrid-weighted\n" +
					"(min-max normalized scores, --alpha · dense + (1 − alpha) · bm25), sparse (a SPLADE model; its default modes are\n" +
					"bm25,sparse), and each +rerank (a cross-encoder reranks the top --rerank-top; needs --rerank-model).\n" +
					"Every mode measures what `quarry search --mode M` returns on the same index: BM25 with the index's settings\n" +
					"(a new index: english analyzer, best_fields, k1 1.2, b 0.75, exact lengths) unless --k1, --b or --bm25-fields\n" +
					"are given; --bm25 beir reproduces BEIR's Elasticsearch baseline exactly (best_fields, tie 0.5, Lucene's\n" +
					"one-byte length norms).",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "bi-encoder GGUF", Required: true},
					&cli.StringFlag{Name: "rerank-model", Usage: "cross-encoder GGUF for the +rerank modes"},
					&cli.StringFlag{Name: "modes", Value: eval.DefaultModes, Usage: "comma-separated: bm25, dense, hybrid, hybrid-weighted, sparse, each optionally +rerank (default with --rerank-model: bm25, dense, hybrid, dense+rerank, hybrid+rerank)"},
					between(0, 1, &cli.Float64Flag{Name: "alpha", Value: 0.5, Usage: "hybrid-weighted: weight of the dense score, in [0, 1]"}),
					&cli.StringFlag{Name: "index", Usage: "index directory to build or reuse (default: a temporary one, removed after)"},
					&cli.StringFlag{Name: "split", Value: "test", Usage: "qrels/SPLIT.tsv"},
					oneOf(&cli.StringFlag{Name: "bm25", Value: "index", Usage: "BM25 scoring: index (what quarry search does: the index's field mode, exact lengths) or beir (BEIR's Elasticsearch baseline: best_fields, tie 0.5, Lucene's rounded length norms)"},
						"index", "beir"),
					oneOf(&cli.StringFlag{Name: "bm25-fields", Usage: "BM25 over title and text: best_fields or combined (default: the index's; a new index records best_fields)"},
						lexical.BestFields.String(), lexical.Combined.String()),
					nonNegative(&cli.Float64Flag{Name: "k1", Value: 1.2, Usage: "BM25 k1"}),
					between(0, 1, &cli.Float64Flag{Name: "b", Value: 0.75, Usage: "BM25 b"}),
					&cli.StringFlag{Name: "analyzer", Value: lexical.AnalyzerElasticEnglish, Usage: "BM25 analyzer of a new index: english (BEIR's), en or standard"},
					intIn(0, maxTokens, &cli.IntFlag{Name: "window", Usage: "new index: passage length in word pieces (0 = the model's max tokens − 2; above the model's limit: one passage per document, truncated as sentence-transformers does)"}),
					&cli.BoolFlag{Name: "embed-title", Value: true, Usage: "new index: embed title + \" \" + passage (BEIR's dense convention; --embed-title=false: the passage alone)"},
					intIn(0, maxTokens, &cli.IntFlag{Name: "overlap", Usage: "new index: overlap of consecutive passages in word pieces (0 = 32)"}),
					intIn(1, maxResults, &cli.IntFlag{Name: "depth", Value: 100, Usage: "results measured per query"}),
					intIn(1, maxResults, &cli.IntFlag{Name: "rerank-top", Value: 100, Usage: "first-stage results reranked (and measured) by the +rerank modes"}),
					intIn(1, maxBatch, &cli.IntFlag{Name: "query-batch", Value: 256, Usage: "queries per search batch"}),
					oneOf(&cli.StringFlag{Name: "ann", Value: engine.ANNAuto, Usage: "new index: auto, hnsw (an HNSW graph per segment) or off (see quarry index --ann)"}, engine.ANNAuto, engine.ANNHNSW, engine.ANNOff),
					intIn(0, engine.MaxEf, &cli.IntFlag{Name: "ef", Usage: "dense searches over HNSW graphs: beam width (0 = 192)"}),
					&cli.BoolFlag{Name: "exact", Usage: "dense searches scan every vector even where a graph exists"},
					&cli.BoolFlag{Name: "keep-identical-ids", Usage: "measure results whose id equals the query id (BEIR drops them)"},
					&cli.BoolFlag{Name: "skip-no-relevant", Usage: "leave queries without a relevant judgment out of the means (default: count them as 0, as pytrec_eval/BEIR)"},
					&cli.StringFlag{Name: "runs", Usage: "directory for one TREC run file per mode (MODE.trec)"},
					&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
					&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress on stderr"},
				}, modelFlags()...),
				Action: runEvalBEIR,
			},
			{
				Name:      "sts",
				Usage:     "Spearman and Pearson correlation of cosine similarity with gold scores",
				ArgsUsage: "FILE.tsv",
				Description: "FILE has tab-separated lines: score, sentence1, sentence2 (a header line is skipped). Spearman uses average\n" +
					"ranks for ties (as scipy.stats.spearmanr).",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "bi-encoder GGUF", Required: true},
					&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
				}, modelFlags()...),
				Action: runEvalSTS,
			},
		},
	}
}

func runEvalBEIR(c *cli.Context) error {
	if c.NArg() != 1 {
		return badInput("usage: quarry eval beir DIR --model M.gguf")
	}
	dir := c.Args().First()
	modes := c.String("modes")
	if !c.IsSet("modes") {
		sparse := false
		if mi, err := inspectModel(c.String("model")); err == nil && mi.Kind == "sparse-encoder" {
			sparse = true
		}
		switch {
		case sparse && c.String("rerank-model") != "":
			modes = "bm25,sparse,sparse+rerank"
		case sparse:
			modes = "bm25,sparse"
		case c.String("rerank-model") != "":
			modes = eval.DefaultModes + ",dense+rerank,hybrid+rerank"
		}
	}
	ms, err := eval.ParseModes(modes)
	if err != nil {
		return badInput("--modes: %v", err)
	}
	for _, m := range ms {
		if m.Rerank && c.String("rerank-model") == "" {
			return badInput("--modes %s: %s needs --rerank-model (a cross-encoder GGUF)", modes, m.Name)
		}
	}
	bm25, err := evalBM25(c)
	if err != nil {
		return err
	}
	for _, p := range []string{c.String("model"), c.String("rerank-model")} {
		if p != "" {
			if _, err := os.Stat(p); err != nil {
				return badInput("%v", err)
			}
		}
	}
	ds, err := eval.LoadBEIR(dir, c.String("split"))
	if err != nil {
		return markBadInput(err) // a missing or malformed file of the BEIR folder
	}
	w := c.App.ErrWriter
	if len(ds.UnknownQueries) > 0 {
		fmt.Fprintf(w, "quarry: warning: %d query id(s) of qrels/%s.tsv are not in queries.jsonl and are not run: %s\n",
			len(ds.UnknownQueries), ds.Split, abbreviate(ds.UnknownQueries, 10))
	}
	for _, s := range ds.Warnings {
		fmt.Fprintf(w, "quarry: warning: %s\n", s)
	}
	if ds.NoRelevant > 0 {
		how := "averaged in as 0"
		if c.Bool("skip-no-relevant") {
			how = "left out of the means"
		}
		fmt.Fprintf(w, "quarry: warning: %d query(ies) have no relevant judgment (all ≤ 0): %s\n", ds.NoRelevant, how)
	}
	var progress func(string)
	if !c.Bool("quiet") {
		progress = func(s string) { fmt.Fprintf(w, "\r\033[K%s", s) }
	}
	rep, err := eval.RunBEIR(c.Context, eval.BEIRConfig{
		Dir: dir, Split: ds.Split, Dataset: ds, Model: c.String("model"), RerankModel: c.String("rerank-model"), Modes: ms,
		Index: c.String("index"), Analyzer: c.String("analyzer"), Window: c.Int("window"), EmbedTitle: boolFlag(c, "embed-title"), Overlap: c.Int("overlap"), BM25: bm25, Depth: c.Int("depth"), RerankTop: c.Int("rerank-top"),
		Batch: c.Int("query-batch"), Alpha: floatFlag(c, "alpha"), ANN: annFlag(c), Ef: c.Int("ef"), Exact: c.Bool("exact"), ModelOptions: modelOptions(c), RunsDir: c.String("runs"), Progress: progress,
		Eval: eval.Options{KeepIdenticalIDs: c.Bool("keep-identical-ids"), SkipNoRelevant: c.Bool("skip-no-relevant")},
	})
	if progress != nil {
		fmt.Fprint(w, "\r\033[K")
	}
	var bad *engine.BadInputError
	if errors.As(err, &bad) || errors.Is(err, eval.ErrNoReranker) {
		return errs.Mark(errs.BadInput, err)
	}
	if err != nil {
		return err
	}
	if c.Bool("json") {
		enc := json.NewEncoder(output(c))
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(rep)
	}
	writeBEIRTable(output(c), rep)
	return nil
}

// evalBM25 is eval beir's BM25: nil (the index's, as `quarry search` uses
// it) unless --bm25 beir, --k1, --b or --bm25-fields is given.
func evalBM25(c *cli.Context) (*lexical.Params, error) {
	if c.String("bm25") == "beir" {
		p := lexical.BEIRParams()
		p.K1, p.B = c.Float64("k1"), c.Float64("b")
		if c.IsSet("bm25-fields") {
			p.Fields, _ = lexical.ParseFieldMode(c.String("bm25-fields"))
		}
		return &p, nil
	}
	if !c.IsSet("k1") && !c.IsSet("b") && !c.IsSet("bm25-fields") {
		return nil, nil
	}
	// The index's field mode: an existing --index's, else what a new
	// index records.
	fields := lexical.BestFields.String()
	if dir := c.String("index"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err == nil {
			ix, err := engine.Open(dir, engine.OpenOptions{})
			if err != nil {
				return nil, err
			}
			fields = ix.Info().BM25Fields
			ix.Close()
		}
	}
	return bm25Params(c, fields)
}

// writeBEIRTable prints one row per mode.
func writeBEIRTable(out io.Writer, rep *eval.BEIRReport) {
	norms := ""
	if rep.BM25.LuceneNorms {
		norms = ", Lucene norms"
	}
	fmt.Fprintf(out, "%s (%s): %d queries, %d judgments; %d documents, %d passages; BM25 %s %s k1=%g b=%g%s\n",
		rep.Dataset, rep.Split, rep.Queries, rep.Judgments, rep.Documents, rep.Passages, rep.Analyzer, rep.BM25Fields, rep.BM25.K1, rep.BM25.B, norms)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tnDCG@10\tMAP@100\tRecall@10\tRecall@100\tMRR@10\tP@10\thits@10\tqueries/s\tindex s\t")
	idx := fmt.Sprintf("%.1f", rep.IndexSeconds)
	if rep.IndexReused {
		idx += " (reused)"
	}
	for _, m := range rep.Modes {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.1f\t%s\t\n", m.Mode, m.NDCG10, m.MAP100, m.Recall10, m.Recall100,
			m.MRR10, m.P10, m.Hits10, m.QueriesPerSecond, idx)
	}
	tw.Flush()
	if n := len(rep.Modes); n > 0 && rep.Modes[0].IdenticalDropped > 0 {
		fmt.Fprintf(out, "(%d results whose id is their query's id were dropped, as BEIR does)\n", rep.Modes[0].IdenticalDropped)
	}
}

func abbreviate(ids []string, n int) string {
	if len(ids) <= n {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:n], ", ") + fmt.Sprintf(", … (%d more)", len(ids)-n)
}

func runEvalSTS(c *cli.Context) error {
	if c.NArg() != 1 {
		return badInput("usage: quarry eval sts FILE.tsv --model M.gguf")
	}
	path := c.Args().First()
	pairs, err := eval.ReadSTS(path)
	if err != nil {
		return markBadInput(err)
	}
	m, err := loadModel(c, c.String("model"), engine.ModelOptions{})
	if err != nil {
		return err
	}
	defer m.Close()
	if m.CrossEncoder() {
		return badInput("--model %s is a cross-encoder; STS needs a bi-encoder", c.String("model"))
	}
	rep, err := eval.EvalSTS(c.Context, m, pairs)
	if err != nil {
		return err
	}
	rep.File, rep.Model = path, c.String("model")
	if c.Bool("json") {
		enc := json.NewEncoder(output(c))
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(output(c), "spearman %.4f  pearson %.4f  (%d pairs, %d sentences, cosine; %s; %.1fs)\n",
		rep.Spearman, rep.Pearson, rep.Pairs, rep.Sentences, rep.Model, rep.Seconds)
	return nil
}
