// Package convert turns a local Hugging Face BERT folder (see engine/hf)
// into a quarry GGUF (docs/gguf.md) and, by default, proves the result: it
// loads the new file into the native core and compares its outputs on a
// built-in set of about a hundred varied texts with bert.Reference, the
// independent float64 forward pass, run on the source's own float32 weights
// and tokenized with the source's own tokenizer.
//
// Without the native core (CGO_ENABLED=0) the check still runs, but both
// sides are bert.Reference: one on the source weights, one on the weights
// read back from the GGUF. That proves the file, not the native engine, and
// the report says so.
package convert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/quarry-search/quarry/bindings"
	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/engine/gguf"
	"github.com/quarry-search/quarry/engine/hf"
)

// Errors Convert returns wrap one of these, hf.ErrUnsupported, hf.ErrInvalid
// or an fs error (os.ErrNotExist for a missing folder or file).
var (
	// ErrOption: a bad option (type, label, output path).
	ErrOption = errors.New("bad option")
	// ErrVerification: the converted model does not reproduce the source.
	// The output file is not written.
	ErrVerification = errors.New("verification failed")
)

// Options control Convert. The zero value converts to F16 and verifies.
type Options struct {
	// Type is the storage type of the weight matrices: "f32", "f16"
	// (default) or "q8_0".
	Type string
	// Label selects, for cross-encoders with several outputs, the logit
	// that ranks (a label name or an index; default 0). It is stored as
	// quarry.rerank_label.
	Label string
	// NoVerify skips the self-verification.
	NoVerify bool
	// Sparse converts a plain BertForMaskedLM folder as a SPLADE sparse
	// encoder (MLM head kept; hf.Options.Sparse). sentence-transformers
	// SparseEncoder folders are SPLADE models without it.
	Sparse bool
	// Name is general.name; default: the source folder's name.
	Name string
	// Log receives progress lines; nil discards them.
	Log io.Writer
	// Threads is the number of compute threads for verification (native
	// core and reference); 0 means all cores.
	Threads int
	// Converter is recorded as quarry.source.converter; default
	// "quarry convert".
	Converter string

	// mutate, when set, changes the checkpoint written to the GGUF (never
	// the source checkpoint the reference uses): a test hook that stands
	// for a broken conversion.
	mutate func(*bert.Checkpoint)
}

// Report describes a conversion.
type Report struct {
	Source       string   // the source folder
	Output       string   // the GGUF written
	Type         string   // f32, f16 or q8_0
	Bytes        int64    // size of the GGUF
	Name         string   // general.name
	Architecture string   // e.g. BertModel
	Kind         string   // bi-encoder or cross-encoder
	Pooling      string   // mean, cls or rank
	Normalize    bool     // bi-encoders: L2-normalized embeddings
	MaxSeqLength int      // truncation length in word pieces
	Labels       []string // cross-encoders
	RerankLabel  int      // cross-encoders: the logit that ranks
	Layers       int
	Hidden       int
	Vocab        int
	WeightFiles  []string
	WeightDTypes []string
	Quantizer    string   // q8_0: whose quantizer wrote the blocks
	Files        []string // source files read
	Notes        []string // decisions and warnings

	Verified     bool   // the check ran and passed
	VerifyMode   string // "native" or "reference" (no native core); "" when skipped
	VerifySkip   string // why verification did not run
	Texts        int    // texts (bi-encoders) or pairs (cross-encoders) checked
	Tokens       int    // word pieces run through both sides
	TokenizerOK  int    // inputs whose ids matched between the GGUF's and the source's tokenizer
	MinCosine    float64
	MeanCosine   float64
	WorstText    string  // bi-encoders: the text with the lowest cosine
	MaxLogitDiff float64 // cross-encoders: largest |native - reference| logit
	MaxLogitRel  float64 // cross-encoders: largest |Δ| / max(1, |reference|)
	WorstPair    [2]string
	// Sparse encoders: largest |native − reference| / max(1, reference)
	// over every weight of every text (bound LogitBound), the mean active
	// dimensions of the two sides, and how many dimensions are active (> 0)
	// on one side only with a weight above LogitBound on that side (must be 0).
	MaxWeightRel     float64
	ActiveDims       float64
	RefActiveDims    float64
	ActiveMismatches int
	SparseActivation string
	MinCosineBound   float64 // the bound the check applied
	LogitBound       float64

	Duration       time.Duration
	VerifyDuration time.Duration
}

// Convert reads the Hugging Face folder srcDir and writes outPath. The file
// appears only when everything, verification included, succeeded: it is
// written to a temporary file beside outPath and renamed at the end. ctx
// cancels reading, verification and writing between steps.
func Convert(ctx context.Context, srcDir, outPath string, opts Options) (*Report, error) {
	start := time.Now()
	typ, typName, err := parseType(opts.Type)
	if err != nil {
		return nil, err
	}
	if outPath == "" {
		return nil, fmt.Errorf("no output path: %w", ErrOption)
	}
	if st, err := os.Stat(outPath); err == nil && st.IsDir() {
		return nil, fmt.Errorf("output %s is a folder: %w", outPath, ErrOption)
	}
	outDir := filepath.Dir(outPath)
	if st, err := os.Stat(outDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("output folder %s does not exist: %w", outDir, ErrOption)
	}
	logf := func(format string, args ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, format+"\n", args...)
		}
	}

	logf("reading %s", srcDir)
	m, err := hf.LoadWith(ctx, srcDir, hf.Options{Sparse: opts.Sparse})
	if err != nil {
		return nil, err
	}
	cfg := m.Config
	cfg.Name = opts.Name
	if cfg.Name == "" {
		abs, _ := filepath.Abs(srcDir)
		cfg.Name = filepath.Base(abs)
	}
	cfg.Source = make(map[string]string, len(m.Config.Source)+2)
	for k, v := range m.Config.Source {
		cfg.Source[k] = v
	}
	cfg.Source["converter"] = opts.Converter
	if cfg.Source["converter"] == "" {
		cfg.Source["converter"] = "quarry convert"
	}
	cfg.Source["date"] = time.Now().UTC().Format(time.RFC3339)

	rep := &Report{
		Source: srcDir, Output: outPath, Type: typName, Name: cfg.Name,
		Architecture: m.Architecture, Kind: "bi-encoder", Pooling: cfg.Pooling.String(),
		Normalize: cfg.Normalize, MaxSeqLength: cfg.SeqLength(), Labels: cfg.Labels,
		Layers: cfg.Layers, Hidden: cfg.Hidden, Vocab: cfg.VocabSize,
		WeightFiles: m.WeightFiles, WeightDTypes: m.WeightDTypes, Files: m.Files,
		Notes: append([]string(nil), m.Notes...),
	}
	defer func() { rep.Duration = time.Since(start) }()
	if cfg.Sparse() {
		rep.Kind = "sparse-encoder"
		rep.Normalize = false
		rep.SparseActivation = cfg.SparseActivation
	}
	if cfg.CrossEncoder() {
		rep.Kind = "cross-encoder"
		rep.Normalize = false
		if rep.RerankLabel, err = pickLabel(cfg.Labels, opts.Label); err != nil {
			return nil, err
		}
		if len(cfg.Labels) > 1 && opts.Label == "" {
			rep.Notes = append(rep.Notes, fmt.Sprintf("the model has %d labels (%s); label 0 ranks (choose with --label)", len(cfg.Labels), strings.Join(cfg.Labels, ", ")))
		}
	} else if opts.Label != "" {
		return nil, fmt.Errorf("--label %q: %s is a bi-encoder; labels are for cross-encoders: %w", opts.Label, srcDir, ErrOption)
	}
	logf("read %s: %s, %d layers, hidden %d, vocab %d, %s pooling, weights %s (%s)",
		m.Architecture, rep.Kind, cfg.Layers, cfg.Hidden, cfg.VocabSize, cfg.Pooling,
		strings.Join(m.WeightFiles, ", "), strings.Join(m.WeightDTypes, ","))

	ck := m.Checkpoint
	if opts.mutate != nil {
		ck = cloneCheckpoint(ck)
		opts.mutate(ck)
	}
	wopts := bert.WriteOptions{Type: typ}
	if typ == gguf.Q8_0 {
		if bindings.Available {
			wopts.Quantize = func(data []float32, rows, cols int) ([]byte, error) {
				return bindings.Quantize(int(gguf.Q8_0), data, rows, cols)
			}
			rep.Quantizer = "ggml (native core)"
		} else {
			rep.Quantizer = "quarry's Go copy of ggml's reference quantizer (no native core in this build)"
			rep.Notes = append(rep.Notes, "Q8_0 blocks were written by the pure-Go copy of ggml's reference quantizer: this build has no native core")
		}
	}
	if err := checkRange(cfg, ck, typ); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	logf("writing %s GGUF", typName)
	w, err := bert.BuildGGUF(cfg, ck, m.Vocab, wopts)
	if err != nil {
		return nil, fmt.Errorf("build GGUF from %s: %w", srcDir, err)
	}
	if cfg.CrossEncoder() {
		w.SetUint32("quarry.rerank_label", uint32(rep.RerankLabel))
	}
	tmp, err := writeTemp(w, outPath)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp) // a no-op after the rename
	if st, err := os.Stat(tmp); err == nil {
		rep.Bytes = st.Size()
	}

	if opts.NoVerify {
		rep.VerifySkip = "--no-verify"
	} else {
		vstart := time.Now()
		err := verify(ctx, m, tmp, typ, opts, rep, logf)
		rep.VerifyDuration = time.Since(vstart)
		if err != nil {
			return rep, err
		}
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if err := os.Rename(tmp, outPath); err != nil {
		return rep, fmt.Errorf("write %s: %w", outPath, err)
	}
	syncDir(outDir)
	logf("wrote %s (%.1f MB)", outPath, float64(rep.Bytes)/1e6)
	return rep, nil
}

// parseType maps f32, f16 (default) or q8_0 to a tensor type.
func parseType(s string) (gguf.TensorType, string, error) {
	switch strings.ToLower(s) {
	case "f32":
		return gguf.F32, "f32", nil
	case "", "f16":
		return gguf.F16, "f16", nil
	case "q8_0", "q8":
		return gguf.Q8_0, "q8_0", nil
	}
	return 0, "", fmt.Errorf("type %q: want f32, f16 or q8_0: %w", s, ErrOption)
}

// pickLabel resolves a label name or index.
func pickLabel(labels []string, s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	for i, l := range labels {
		if l == s {
			return i, nil
		}
	}
	if i, err := strconv.Atoi(s); err == nil && i >= 0 && i < len(labels) {
		return i, nil
	}
	return 0, fmt.Errorf("label %q is neither a label of the model (%s) nor an index 0..%d: %w", s, strings.Join(labels, ", "), len(labels)-1, ErrOption)
}

// writeTemp writes the GGUF to a new temporary file beside outPath (fsynced,
// mode 0644) and returns its name; on failure nothing is left behind.
func writeTemp(w *gguf.Writer, outPath string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(outPath), "."+filepath.Base(outPath)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", outPath, err)
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(name)
		return "", fmt.Errorf("write %s: %w", outPath, err)
	}
	if _, err := w.WriteTo(f); err != nil {
		return fail(err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", fmt.Errorf("write %s: %w", outPath, err)
	}
	return name, nil
}

// syncDir makes a rename durable; errors are ignored (not every file
// system supports it).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// cloneCheckpoint copies every tensor, so that a test hook can change the
// copy.
func cloneCheckpoint(ck *bert.Checkpoint) *bert.Checkpoint {
	out := bert.NewCheckpoint()
	for _, name := range ck.Names() {
		t := ck.Tensors[name]
		out.Set(name, t.Shape, append([]float32(nil), t.Data...))
	}
	return out
}

// WriteText prints the report for a person, one fact per line.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	row := func(k, format string, args ...any) { fmt.Fprintf(&b, "%-11s %s\n", k, fmt.Sprintf(format, args...)) }
	row("converted", "%s -> %s", r.Source, r.Output)
	model := fmt.Sprintf("%s, %s, %s pooling", r.Architecture, r.Kind, r.Pooling)
	if r.Kind == "cross-encoder" {
		model += fmt.Sprintf(", labels %s (rank by %d: %s)", strings.Join(r.Labels, ", "), r.RerankLabel, r.Labels[r.RerankLabel])
	} else if r.Kind == "sparse-encoder" {
		model += fmt.Sprintf(" (MLM head, max of log(1+%s(logits)), vocabulary-sized vectors)", r.SparseActivation)
	} else {
		model += fmt.Sprintf(", normalize %v", r.Normalize)
	}
	row("model", "%s; %d layers, hidden %d, vocab %d, max %d tokens", model, r.Layers, r.Hidden, r.Vocab, r.MaxSeqLength)
	row("weights", "%s (%s) -> %s, %.1f MB", strings.Join(r.WeightFiles, ", "), strings.Join(r.WeightDTypes, ","), r.Type, float64(r.Bytes)/1e6)
	if r.Quantizer != "" {
		row("quantizer", "%s", r.Quantizer)
	}
	switch {
	case r.VerifySkip != "":
		row("verify", "SKIPPED (%s)", r.VerifySkip)
	case r.VerifyMode != "":
		against := "native core"
		if r.VerifyMode == "reference" {
			against = "reference on the GGUF's weights (NO NATIVE CORE: the native engine was not checked)"
		}
		row("verify", "%s vs float64 reference on the source weights: %d inputs, %d tokens, tokenizer ids identical on %d", against, r.Texts, r.Tokens, r.TokenizerOK)
		if r.Kind == "cross-encoder" {
			row("", "max logit difference %.3g (relative %.3g, bound %.3g); worst pair %s / %s", r.MaxLogitDiff, r.MaxLogitRel, r.LogitBound, quote(r.WorstPair[0]), quote(r.WorstPair[1]))
		} else if r.Kind == "sparse-encoder" && r.Texts > 0 {
			row("", "max weight difference %.3g relative (bound %.3g); active dims mean %.1f (reference %.1f); %d dimensions active on one side only above the bound; worst text %s",
				r.MaxWeightRel, r.LogitBound, r.ActiveDims, r.RefActiveDims, r.ActiveMismatches, quote(r.WorstText))
		} else if r.Texts > 0 {
			row("", "cosine min %.7f mean %.7f (bound %.3g); worst text %s", r.MinCosine, r.MeanCosine, r.MinCosineBound, quote(r.WorstText))
		}
		if r.Verified {
			row("", "passed")
		} else {
			row("", "FAILED")
		}
	}
	row("time", "%.1f s (verification %.1f s)", r.Duration.Seconds(), r.VerifyDuration.Seconds())
	for i, n := range r.Notes {
		k := ""
		if i == 0 {
			k = "notes"
		}
		row(k, "%s", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// checkRange refuses weights that the chosen type cannot hold: F16 tops out
// at 65504, and a Q8_0 block's scale (its largest magnitude / 127) is an F16
// too. Such a model would compute with infinities.
func checkRange(cfg bert.Config, ck *bert.Checkpoint, typ gguf.TensorType) error {
	limit := map[gguf.TensorType]float64{gguf.F16: 65504, gguf.Q8_0: 65504 * 127}[typ]
	if limit == 0 {
		return nil
	}
	for _, s := range bert.Layout(cfg) {
		if !s.Matrix || s.Meta {
			continue
		}
		t, _ := ck.Get(s.Name)
		for i, x := range t.Data {
			if math.Abs(float64(x)) > limit {
				return fmt.Errorf("tensor %s holds %g at index %d, beyond what %s can store (|x| <= %g): convert with --type f32: %w",
					s.Name, x, i, typ, limit, ErrOption)
			}
		}
	}
	return nil
}
