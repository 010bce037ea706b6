package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/quarry-search/quarry/engine"
	"github.com/urfave/cli/v2"
)

// Flags shared by the commands that load a model.
func modelFlags() []cli.Flag {
	return []cli.Flag{
		intIn(0, maxThreads, &cli.IntFlag{Name: "threads", Usage: "compute threads (0 = all cores)"}),
		oneOf(&cli.StringFlag{Name: "impl", Value: "graph", Usage: "encoder implementation: graph (quarry's batched ggml graph) or llama (llama.cpp's)"}, "graph", "llama"),
		intIn(0, maxTokens, &cli.IntFlag{Name: "max-tokens", Usage: "truncate inputs to this many word pieces (0 = the model's max_seq_length)"}),
		intIn(0, maxBatchTokens, &cli.IntFlag{Name: "batch-tokens", Usage: "padded tokens per native graph evaluation (0 = default)"}),
	}
}

func loadModel(c *cli.Context, path string, extra engine.ModelOptions) (*engine.Model, error) {
	if path == "" {
		return nil, badInput("--model is required")
	}
	extra.Threads = c.Int("threads")
	extra.Impl = c.String("impl")
	extra.MaxTokens = c.Int("max-tokens")
	extra.MaxBatchTokens = c.Int("batch-tokens")
	if extra.Threads < 0 || extra.MaxTokens < 0 || extra.MaxBatchTokens < 0 {
		return nil, badInput("--threads, --max-tokens and --batch-tokens must not be negative")
	}
	return engine.LoadModel(path, extra)
}

func embedCommand() *cli.Command {
	return &cli.Command{
		Name:      "embed",
		Usage:     "embed texts (one per line, or JSONL with a \"text\" field) with a bi-encoder",
		ArgsUsage: "[FILE]  (default: stdin)",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "bi-encoder GGUF", Required: true},
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "input file (default: the argument, or stdin)"},
			&cli.StringFlag{Name: "input-format", Value: "auto", Usage: "auto, text or jsonl"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "jsonl", Usage: "output: jsonl, npy (float32 matrix) or tsv"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output file (default: stdout)"},
			intIn(1, maxBatch, &cli.IntFlag{Name: "batch", Value: 256, Usage: "texts per native call"}),
			&cli.BoolFlag{Name: "no-normalize", Usage: "do not L2-normalize (default: as the model says)"},
			&cli.StringFlag{Name: "prompt", Usage: "text prepended to every input"},
			&cli.StringFlag{Name: "as", Usage: "query or document: prepend the model's own prompt for that role (quarry.prompt.*; none for most BERT models)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no summary on stderr"},
			&cli.BoolFlag{Name: "sparse", Usage: "SPLADE sparse vectors as JSONL {token id: weight} and {token: weight} (automatic for a SPLADE model)"},
			intIn(0, maxKTokens, &cli.IntFlag{Name: "k-tokens", Usage: "SPLADE: keep the k largest weights of each vector (0 = every active dimension)"}),
		}, modelFlags()...),
		Action: runEmbed,
	}
}

func runEmbed(c *cli.Context) error {
	in := c.String("input")
	if in == "" {
		in = c.Args().First()
	}
	format := c.String("format")
	if format != "jsonl" && format != "npy" && format != "tsv" {
		return badInput("--format %q: want jsonl, npy or tsv", format)
	}
	if c.Int("batch") <= 0 {
		return badInput("--batch must be positive")
	}
	r, name, closeIn, err := openInput(in, c.App.Reader)
	if err != nil {
		return err
	}
	defer closeIn()
	recs, skipped, err := readRecords(r, name, c.String("input-format"))
	if err != nil {
		return err
	}
	if c.Int("k-tokens") < 0 {
		return badInput("--k-tokens must not be negative")
	}
	opts := engine.ModelOptions{ChunkSize: c.Int("batch"), KTokens: c.Int("k-tokens")}
	if c.Bool("no-normalize") {
		f := false
		opts.Normalize = &f
	}
	m, err := loadModel(c, c.String("model"), opts)
	if err != nil {
		return err
	}
	defer m.Close()
	if m.CrossEncoder() {
		return badInput("%s is a cross-encoder: use `quarry rerank`", c.String("model"))
	}
	prompt := c.String("prompt")
	switch c.String("as") {
	case "":
	case "query":
		prompt = m.Config().QueryPrompt + prompt
	case "document":
		prompt = m.Config().DocumentPrompt + prompt
	default:
		return badInput("--as %q: want query or document", c.String("as"))
	}
	texts := make([]string, len(recs))
	for i, rec := range recs {
		texts[i] = prompt + rec.Text
	}
	if c.Bool("sparse") && !m.SparseEncoder() {
		return badInput("--sparse: %s is a %s, not a SPLADE model (sparse vectors need a BERT MLM head: quarry convert --sparse)", c.String("model"), m.NativeInfo().Kind)
	}
	if m.SparseEncoder() {
		return runEmbedSparse(c, m, recs, texts, skipped)
	}
	t0 := time.Now()
	vecs, st, err := m.EmbedWithStats(c.Context, texts)
	if err != nil {
		return err
	}
	elapsed := time.Since(t0)
	w, closeOut, err := createOutput(c.String("output"), output(c))
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	switch format {
	case "jsonl":
		err = writeEmbedJSONL(bw, recs, vecs)
	case "tsv":
		err = writeTSV(bw, vecs)
	case "npy":
		err = writeNPY(bw, vecs, m.Dim())
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
		fmt.Fprintf(c.App.ErrWriter, "embedded %d texts (%d tokens, dim %d, normalized %v) in %.3fs: %.1f texts/s, %.0f tokens/s, peak RSS %d MB",
			st.Inputs, st.Tokens, m.Dim(), m.Normalized(), elapsed.Seconds(), float64(st.Inputs)/elapsed.Seconds(), float64(st.Tokens)/elapsed.Seconds(), peakRSSMB())
		if st.Truncated > 0 {
			fmt.Fprintf(c.App.ErrWriter, "; %d truncated to %d tokens", st.Truncated, m.MaxTokens())
		}
		if skipped > 0 {
			fmt.Fprintf(c.App.ErrWriter, "; %d blank lines skipped", skipped)
		}
		fmt.Fprintln(c.App.ErrWriter)
	}
	return nil
}

func appendFloats(b []byte, v []float32) []byte {
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
	}
	return append(b, ']')
}

func writeEmbedJSONL(w io.Writer, recs []record, vecs [][]float32) error {
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
		b = append(b, `,"embedding":`...)
		b = appendFloats(b, vecs[i])
		b = append(b, "}\n"...)
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func writeTSV(w io.Writer, vecs [][]float32) error {
	var b []byte
	for _, v := range vecs {
		b = b[:0]
		for j, x := range v {
			if j > 0 {
				b = append(b, '\t')
			}
			b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
		}
		b = append(b, '\n')
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// writeNPY writes a NumPy .npy version 1.0 file of float32 little-endian,
// shape (len(vecs), dim).
func writeNPY(w io.Writer, vecs [][]float32, dim int) error {
	hdr := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", len(vecs), dim)
	total := 10 + len(hdr) + 1
	pad := (64 - total%64) % 64
	hdr += strings.Repeat(" ", pad) + "\n"
	b := []byte("\x93NUMPY\x01\x00")
	b = binary.LittleEndian.AppendUint16(b, uint16(len(hdr)))
	b = append(b, hdr...)
	if _, err := w.Write(b); err != nil {
		return err
	}
	row := make([]byte, 4*dim)
	for _, v := range vecs {
		for j, x := range v {
			binary.LittleEndian.PutUint32(row[4*j:], math.Float32bits(x))
		}
		if _, err := w.Write(row); err != nil {
			return err
		}
	}
	return nil
}

// peakRSSMB is the process's peak resident set size in MB: VmHWM from
// /proc/self/status (getrusage's ru_maxrss survives exec on Linux, so a
// process started by a large parent would report the parent's peak).
func peakRSSMB() int64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					return kb / 1024
				}
			}
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return int64(ru.Maxrss) / 1024
}
