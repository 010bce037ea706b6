package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/sparse"
	"github.com/urfave/cli/v2"
)

// sparseMode picks the retrieval mode for an index: sparse by default for an
// index built with a SPLADE model; a mode the index cannot serve is bad
// input (exit 2).
func sparseMode(c *cli.Context, ix *engine.Index, mode engine.Mode) (engine.Mode, error) {
	isSparse := ix.Sparse()
	if isSparse && !c.IsSet("mode") {
		return engine.ModeSparse, nil
	}
	switch {
	case mode == engine.ModeSparse && !isSparse:
		return mode, badInput("--mode sparse needs an index built with a SPLADE model; %s holds dense vectors of %s (use dense, bm25 or hybrid)", ix.Info().Dir, ix.Info().Model.Name)
	case isSparse && (mode == engine.ModeDense || mode == engine.ModeHybrid):
		return mode, badInput("--mode %s needs dense vectors; %s was built with the SPLADE model %s and holds sparse vectors (use sparse or bm25)", mode, ix.Info().Dir, ix.Info().Model.Name)
	}
	return mode, nil
}

// writeQuerySparsity reports the queries' sparsity on stderr (sparse mode).
func writeQuerySparsity(w io.Writer, ix *engine.Index, dims []int, mode engine.Mode) {
	if mode != engine.ModeSparse || len(dims) == 0 {
		return
	}
	var sum int64
	mn, mx := dims[0], 0
	for _, d := range dims {
		sum += int64(d)
		mn, mx = min(mn, d), max(mx, d)
	}
	vocab := 0
	if si := ix.Info().Sparse; si != nil {
		vocab = si.Vocab
	}
	fmt.Fprintf(w, "sparse: %d queries, %s\n", len(dims), sparse.FromCounts(len(dims), sum, mn, mx, vocab))
}

// sparseStatsLine describes an index's sparse vectors for `quarry index` and
// `quarry info`.
func sparseStatsLine(si *engine.SparseInfo) string {
	k := "all active dimensions kept"
	if si.KTokens < si.Vocab {
		k = fmt.Sprintf("top %d weights kept", si.KTokens)
	}
	return fmt.Sprintf("SPLADE, %d postings over %d of %d terms; passages: %s; %s", si.Postings, si.Terms, si.Vocab, si.Passages, k)
}

// runEmbedSparse writes the SPLADE vectors of texts as JSONL: per input its
// line, id, active dimensions, {token id: weight} and {token: weight}, both
// best first; and the sparsity statistics on stderr.
func runEmbedSparse(c *cli.Context, m *engine.Model, recs []record, texts []string, skipped int) error {
	if f := c.String("format"); f != "jsonl" {
		return badInput("--format %s: sparse vectors are written as JSONL only", f)
	}
	t0 := time.Now()
	vecs, st, err := m.SparseWithStats(c.Context, texts)
	if err != nil {
		return err
	}
	elapsed := time.Since(t0)
	w, closeOut, err := createOutput(c.String("output"), output(c))
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	tok := m.Tokenizer()
	var b []byte
	for i, rec := range recs {
		b = b[:0]
		b = append(b, `{"line":`...)
		b = strconv.AppendInt(b, int64(rec.Line), 10)
		if rec.ID != "" {
			id, _ := json.Marshal(rec.ID)
			b = append(b, `,"id":`...)
			b = append(b, id...)
		}
		b = append(b, `,"active_dims":`...)
		b = strconv.AppendInt(b, int64(vecs[i].Len()), 10)
		entries := vecs[i].ByWeight()
		b = append(b, `,"sparse":{`...)
		for j, e := range entries {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = strconv.AppendInt(b, int64(e.ID), 10)
			b = append(b, `":`...)
			b = strconv.AppendFloat(b, float64(e.Weight), 'g', -1, 32)
		}
		b = append(b, `},"tokens":{`...)
		for j, e := range entries {
			if j > 0 {
				b = append(b, ',')
			}
			piece, _ := json.Marshal(tok.Piece(e.ID))
			b = append(b, piece...)
			b = append(b, ':')
			b = strconv.AppendFloat(b, float64(e.Weight), 'g', -1, 32)
		}
		b = append(b, "}}\n"...)
		if _, err = bw.Write(b); err != nil {
			break
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if !c.Bool("quiet") {
		ew := c.App.ErrWriter
		fmt.Fprintf(ew, "sparse-encoded %d texts (%d tokens, vocabulary %d, k_tokens %d) in %.3fs: %.1f texts/s, %.0f tokens/s, peak RSS %d MB",
			st.Inputs, st.Tokens, m.Vocab(), m.KTokens(), elapsed.Seconds(), float64(st.Inputs)/elapsed.Seconds(), float64(st.Tokens)/elapsed.Seconds(), peakRSSMB())
		if st.Truncated > 0 {
			fmt.Fprintf(ew, "; %d truncated to %d tokens", st.Truncated, m.MaxTokens())
		}
		if skipped > 0 {
			fmt.Fprintf(ew, "; %d blank lines skipped", skipped)
		}
		fmt.Fprintf(ew, "\nsparsity: %s\n", sparse.Sparsity(vecs, m.Vocab()))
	}
	return nil
}
