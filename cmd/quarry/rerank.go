package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/quarry-search/quarry/engine"
	"github.com/urfave/cli/v2"
)

func rerankCommand() *cli.Command {
	return &cli.Command{
		Name:      "rerank",
		Usage:     "score documents (one per line, or JSONL with a \"text\" field) against a query with a cross-encoder, best first",
		ArgsUsage: "[FILE]  (default: stdin)",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "cross-encoder GGUF", Required: true},
			&cli.StringFlag{Name: "query", Usage: "the query", Required: true},
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "input file (default: the argument, or stdin)"},
			&cli.StringFlag{Name: "input-format", Value: "auto", Usage: "auto, text or jsonl"},
			intIn(0, maxRows, &cli.IntFlag{Name: "top", Aliases: []string{"k"}, Usage: "print only the best K (0 = all)"}),
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "output: table or jsonl"},
			&cli.StringFlag{Name: "label", Usage: "output label to rank by, for models with several (name or index)"},
			intIn(1, maxBatch, &cli.IntFlag{Name: "batch", Value: 256, Usage: "pairs per native call"}),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no summary on stderr"},
		}, modelFlags()...),
		Action: runRerank,
	}
}

func runRerank(c *cli.Context) error {
	in := c.String("input")
	if in == "" {
		in = c.Args().First()
	}
	format := c.String("format")
	if format != "table" && format != "jsonl" {
		return badInput("--format %q: want table or jsonl", format)
	}
	if c.Int("top") < 0 || c.Int("batch") <= 0 {
		return badInput("--top must not be negative and --batch must be positive")
	}
	query := c.String("query")
	if !utf8.ValidString(query) {
		return badInput("--query is not valid UTF-8")
	}
	if strings.TrimSpace(query) == "" {
		return badInput("--query is empty")
	}
	r, name, closeIn, err := openInput(in, c.App.Reader)
	if err != nil {
		return err
	}
	defer closeIn()
	recs, _, err := readRecords(r, name, c.String("input-format"))
	if err != nil {
		return err
	}
	m, err := loadModel(c, c.String("model"), engine.ModelOptions{ChunkSize: c.Int("batch")})
	if err != nil {
		return err
	}
	defer m.Close()
	if !m.CrossEncoder() {
		return badInput("%s is a bi-encoder (pooling %s): rerank needs a cross-encoder (rank pooling)", c.String("model"), m.NativeInfo().Pooling)
	}
	label := 0
	if l := c.String("label"); l != "" {
		label = -1
		for i, name := range m.Config().Labels {
			if name == l {
				label = i
			}
		}
		if label < 0 {
			if n, err := strconv.Atoi(l); err == nil {
				label = n
			}
		}
		if err := m.SetLabel(label); err != nil {
			return badInput("--label %q: %v (labels: %v)", l, err, m.Config().Labels)
		}
	}
	docs := make([]string, len(recs))
	for i, rec := range recs {
		docs[i] = rec.Text
	}
	all, st, err := m.RerankWithStats(c.Context, query, docs)
	if err != nil {
		return err
	}
	scores := make([]float32, len(all))
	for i, l := range all {
		scores[i] = l[label]
	}
	ranked := engine.RankByScore(scores)
	if k := c.Int("top"); k > 0 && k < len(ranked) {
		ranked = ranked[:k]
	}
	bw := bufio.NewWriter(output(c))
	if format == "jsonl" {
		err = writeRerankJSONL(bw, ranked, recs)
	} else {
		err = writeRerankTable(bw, ranked, recs)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(c.App.ErrWriter, "reranked %d documents (%d tokens)", st.Inputs, st.Tokens)
		if st.Truncated > 0 {
			fmt.Fprintf(c.App.ErrWriter, "; %d pairs truncated to %d tokens", st.Truncated, m.MaxTokens())
		}
		fmt.Fprintln(c.App.ErrWriter)
	}
	return nil
}

type rerankOut struct {
	Rank      int     `json:"rank"`
	Line      int     `json:"line"`
	ID        string  `json:"id,omitempty"`
	Score     float32 `json:"score"`
	Relevance float64 `json:"relevance"`
	Text      string  `json:"text"`
}

func writeRerankJSONL(w io.Writer, ranked []engine.Ranked, recs []record) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i, r := range ranked {
		rec := recs[r.Index]
		if err := enc.Encode(rerankOut{Rank: i + 1, Line: rec.Line, ID: rec.ID, Score: r.Score, Relevance: engine.Sigmoid(r.Score), Text: rec.Text}); err != nil {
			return err
		}
	}
	return nil
}

func writeRerankTable(w io.Writer, ranked []engine.Ranked, recs []record) error {
	fmt.Fprintf(w, "%4s  %10s  %9s  %5s  %s\n", "rank", "score", "relevance", "line", "text")
	for i, r := range ranked {
		rec := recs[r.Index]
		if _, err := fmt.Fprintf(w, "%4d  %10.4f  %9.6f  %5d  %s\n", i+1, r.Score, engine.Sigmoid(r.Score), rec.Line, snippet(rec.Text, 100)); err != nil {
			return err
		}
	}
	return nil
}

// snippet shortens s to at most n runes on one line.
func snippet(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
