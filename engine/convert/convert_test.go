package convert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/bindings"
	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/engine/gguf"
	"github.com/quarry-search/quarry/engine/hf"
	"github.com/quarry-search/quarry/engine/hf/hftest"
	"github.com/quarry-search/quarry/engine/modelgen"
	"github.com/quarry-search/quarry/engine/tokenize"
)

// sampleTexts and samplePairs are the inputs of the independent check after
// a conversion (not the built-in verification set).
var sampleTexts = []string{
	"How many people live in Berlin?",
	"Der Kölner Dom ist eine Kathedrale.",
	"東京タワー 🗼 and 서울",
	"a",
	"The quick brown fox jumps over the lazy dog, again and again and again, until the text is long enough to matter.",
}

var samplePairs = [][2]string{
	{"How many people live in Berlin?", "Berlin had a population of 3,520,031 registered inhabitants."},
	{"How many people live in Berlin?", "Berlin is well known for its museums."},
	{"what is the capital of france", "Paris."},
}

// outputs runs the converted GGUF: the native core when this build has it,
// else the reference on the weights read back from the file.
func outputs(t *testing.T, path string, cross bool) ([][]float64, *tokenize.Tokenizer) {
	t.Helper()
	var out [][]float64
	if bindings.Available {
		m, err := engine.LoadModel(path, engine.ModelOptions{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if cross {
			for _, p := range samplePairs {
				l, _, err := m.RerankWithStats(context.Background(), p[0], []string{p[1]})
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, widen(l[0]))
			}
		} else {
			v, err := m.Embed(context.Background(), sampleTexts)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range v {
				out = append(out, widen(x))
			}
		}
		return out, m.Tokenizer()
	}
	s, err := referenceSide(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	if cross {
		out, err = s.rerank(context.Background(), nil, encodePairs(s.tok, samplePairs, s.cfg.SeqLength()))
	} else {
		out, err = s.embed(context.Background(), encodeTexts(s.tok, sampleTexts, s.cfg.SeqLength()))
	}
	if err != nil {
		t.Fatal(err)
	}
	return out, s.tok
}

func encodeTexts(tok *tokenize.Tokenizer, ts []string, maxLen int) []tokenize.Encoding {
	var out []tokenize.Encoding
	for _, t := range ts {
		out = append(out, tok.Encode(t, maxLen))
	}
	return out
}

func encodePairs(tok *tokenize.Tokenizer, ps [][2]string, maxLen int) []tokenize.Encoding {
	var out []tokenize.Encoding
	for _, p := range ps {
		out = append(out, tok.EncodePair(p[0], p[1], maxLen))
	}
	return out
}

// TestRoundTrip converts generated checkpoints of each kind, format and
// dtype to each GGUF type and checks the model against the reference
// forward pass on the Hugging Face-format weights the folder was made from.
func TestRoundTrip(t *testing.T) {
	folders := []hftest.Folder{
		{Kind: "mean", Format: "safetensors", DType: "F32", Seed: 11},
		{Kind: "cls", Format: "pytorch", DType: "F16", Seed: 12},
		{Kind: "rank", Labels: 1, Format: "sharded", DType: "F32", Seed: 13},
		{Kind: "rank", Labels: 3, Format: "pytorch", DType: "BF16", Seed: 14},
	}
	for _, f := range folders {
		b, err := f.Write(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		cross := f.Kind == "rank"
		ref, err := bert.NewReference(b.Config, b.Checkpoint)
		if err != nil {
			t.Fatal(err)
		}
		for _, typ := range []string{"f32", "f16", "q8_0"} {
			t.Run(fmt.Sprintf("%s%d-%s-%s", f.Kind, f.Labels, f.Format, typ), func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "model.gguf")
				var log bytes.Buffer
				rep, err := Convert(context.Background(), b.Dir, out, Options{Type: typ, Threads: 2, Log: &log})
				if err != nil {
					t.Fatalf("%v\n%s", err, log.String())
				}
				if !rep.Verified || rep.Texts < 50 || rep.TokenizerOK != rep.Texts || rep.Tokens < 1000 {
					t.Errorf("report %+v", rep)
				}
				if wantMode := map[bool]string{true: "native", false: "reference"}[bindings.Available]; rep.VerifyMode != wantMode {
					t.Errorf("verify mode %q, want %q", rep.VerifyMode, wantMode)
				}
				got, tok := outputs(t, out, cross)
				maxLen := b.Config.SeqLength()
				if cross {
					bound := map[string]float64{"f32": 1e-3, "f16": maxLogitF16, "q8_0": maxLogitQ8}[typ]
					for i, p := range samplePairs {
						e := tok.EncodePair(p[0], p[1], maxLen)
						want, err := ref.Rerank(e.IDs, e.TypeIDs)
						if err != nil {
							t.Fatal(err)
						}
						if len(got[i]) != max(1, f.Labels) {
							t.Fatalf("%d logits, want %d", len(got[i]), f.Labels)
						}
						for j := range want {
							if d := math.Abs(got[i][j]-want[j]) / math.Max(1, math.Abs(want[j])); d > bound {
								t.Errorf("%q logit %d: %.6f, reference %.6f (relative %.2g > %.2g)", p, j, got[i][j], want[j], d, bound)
							}
						}
					}
				} else {
					bound := map[string]float64{"f32": 0.9999, "f16": 0.9999, "q8_0": 0.99}[typ]
					for i, text := range sampleTexts {
						e := tok.Encode(text, maxLen)
						want, err := ref.Embed(e.IDs, e.TypeIDs)
						if err != nil {
							t.Fatal(err)
						}
						if c := cosine(got[i], want); c < bound {
							t.Errorf("%q: cosine %.6f < %.4g", text, c, bound)
						}
					}
				}
				checkMetadata(t, out, typ, b, rep)
			})
		}
	}
}

// checkMetadata reads the GGUF back: model type, description and provenance.
func checkMetadata(t *testing.T, path, typ string, b *hftest.Built, rep *Report) {
	t.Helper()
	gf, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ft, _ := gf.Int("general.file_type")
	if want := map[string]int64{"f32": 0, "f16": 1, "q8_0": 7}[typ]; ft != want {
		t.Errorf("general.file_type %d, want %d", ft, want)
	}
	cfg, _, err := bert.ConfigFromGGUF(gf)
	if err != nil {
		t.Fatal(err)
	}
	want := b.Config
	if cfg.Pooling != want.Pooling || cfg.Normalize != want.Normalize || cfg.SeqLength() != want.SeqLength() ||
		!slices.Equal(cfg.Labels, want.Labels) || cfg.Lowercase != want.Lowercase || cfg.Hidden != want.Hidden {
		t.Errorf("GGUF config %+v, want %+v", cfg, want)
	}
	for _, k := range []string{"converter", "date", "dir", "sha256", "weights", "architecture", "transformers_version"} {
		if cfg.Source[k] == "" {
			t.Errorf("quarry.source.%s missing", k)
		}
	}
	if cfg.Name != filepath.Base(b.Dir) {
		t.Errorf("name %q, want the folder's name %q", cfg.Name, filepath.Base(b.Dir))
	}
	if cfg.CrossEncoder() {
		if l, ok := gf.Int("quarry.rerank_label"); !ok || int(l) != rep.RerankLabel {
			t.Errorf("quarry.rerank_label %d (%v), want %d", l, ok, rep.RerankLabel)
		}
	}
	if st, _ := os.Stat(path); st.Size() != rep.Bytes {
		t.Errorf("report says %d bytes, file has %d", rep.Bytes, st.Size())
	}
}

// noTemps checks that a folder holds no leftover temporary files.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// A broken conversion (two layers' weights swapped, a tensor zeroed) fails
// verification, names the worst input, and writes nothing.
func TestVerificationCatchesCorruption(t *testing.T) {
	swap := func(a, b string) func(*bert.Checkpoint) {
		return func(ck *bert.Checkpoint) {
			x, _ := ck.Get(a)
			y, _ := ck.Get(b)
			x.Data, y.Data = y.Data, x.Data
		}
	}
	zero := func(name string) func(*bert.Checkpoint) {
		return func(ck *bert.Checkpoint) {
			x, _ := ck.Get(name)
			clear(x.Data)
		}
	}
	cases := []struct {
		name   string
		folder hftest.Folder
		typ    string
		mutate func(*bert.Checkpoint)
		want   string
	}{
		{"swapped layers", hftest.Folder{Kind: "mean", Seed: 21}, "f32",
			swap("encoder.layer.0.attention.self.query.weight", "encoder.layer.1.attention.self.query.weight"), "embeddings differ from the source on the text"},
		{"zeroed ffn", hftest.Folder{Kind: "cls", Seed: 22}, "q8_0", zero("encoder.layer.1.output.dense.weight"), "embeddings differ from the source on the text"},
		{"swapped cross layers", hftest.Folder{Kind: "rank", Labels: 1, Seed: 23}, "f16",
			swap("encoder.layer.0.output.dense.weight", "encoder.layer.1.output.dense.weight"), "rerank logits differ by"},
		{"zeroed classifier bias", hftest.Folder{Kind: "rank", Labels: 3, Seed: 24}, "f32", zero("classifier.bias"), "on the pair"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.folder.Write(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			outDir := t.TempDir()
			out := filepath.Join(outDir, "model.gguf")
			if err := os.WriteFile(out, []byte("previous"), 0o644); err != nil {
				t.Fatal(err)
			}
			rep, err := Convert(context.Background(), b.Dir, out, Options{Type: c.typ, Threads: 2, mutate: c.mutate})
			if !errors.Is(err, ErrVerification) {
				t.Fatalf("err = %v, want a verification failure", err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `"`) {
				t.Errorf("error %q lacks %q and a quoted input", err, c.want)
			}
			t.Log(err)
			if rep == nil || rep.Verified {
				t.Errorf("report %+v", rep)
			}
			if data, _ := os.ReadFile(out); string(data) != "previous" {
				t.Error("the existing output was replaced by a failed conversion")
			}
			noTemps(t, outDir)
		})
	}
}

func TestOptionsAndLabels(t *testing.T) {
	bi, err := hftest.Folder{Kind: "mean", Seed: 31}.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cross, err := hftest.Folder{Kind: "rank", Labels: 3, Seed: 32}.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "m.gguf")
	for _, c := range []struct {
		name string
		src  string
		out  string
		opts Options
		want string
	}{
		{"bad type", bi.Dir, out, Options{Type: "q4_0"}, `type "q4_0"`},
		{"label on a bi-encoder", bi.Dir, out, Options{Label: "1"}, "bi-encoder"},
		{"unknown label", cross.Dir, out, Options{Label: "LABEL_9"}, `label "LABEL_9" is neither`},
		{"label out of range", cross.Dir, out, Options{Label: "3"}, "0..2"},
		{"no output folder", bi.Dir, filepath.Join(dir, "missing", "m.gguf"), Options{}, "does not exist"},
		{"output is a folder", bi.Dir, dir, Options{}, "is a folder"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Convert(context.Background(), c.src, c.out, c.opts)
			if !errors.Is(err, ErrOption) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want ErrOption with %q", err, c.want)
			}
		})
	}
	for _, c := range []struct {
		label string
		want  int
	}{{"", 0}, {"LABEL_2", 2}, {"1", 1}} {
		rep, err := Convert(context.Background(), cross.Dir, out, Options{Label: c.label, NoVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		gf, err := gguf.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		if l, _ := gf.Int("quarry.rerank_label"); int(l) != c.want || rep.RerankLabel != c.want || rep.VerifySkip == "" {
			t.Errorf("--label %q: stored %d, report %d, want %d", c.label, l, rep.RerankLabel, c.want)
		}
	}
	// A source error is hf's, and writes nothing.
	_, err = Convert(context.Background(), filepath.Join(dir, "nope"), filepath.Join(dir, "x.gguf"), Options{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing source: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.gguf")); err == nil {
		t.Error("output written for a missing source")
	}
	noTemps(t, dir)
}

func TestCancel(t *testing.T) {
	b, err := hftest.Folder{Kind: "mean", Seed: 41}.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "m.gguf")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Convert(ctx, b.Dir, out, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("output written after cancellation")
	}
	noTemps(t, filepath.Dir(out))

	// Cancelled during verification: the reference honors ctx.
	m, err := hf.Load(b.Dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := bert.BuildGGUF(m.Config, m.Checkpoint, m.Vocab, bert.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tmp, err := writeTemp(w, out)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(tmp)
	ctx, cancel = context.WithCancel(context.Background())
	logf := func(format string, args ...any) {
		if strings.HasPrefix(format, "verifying:") {
			cancel() // after tokenizing, before the forward passes
		}
	}
	err = verify(ctx, m, tmp, gguf.F32, Options{Threads: 2}, &Report{}, logf)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("verify after cancel: %v", err)
	}
}

// The fixtures made by real PyTorch and transformers convert, and the
// converted model reproduces transformers' outputs.
func TestRealTorchFixtures(t *testing.T) {
	root, err := modelgen.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Texts      []string    `json:"texts"`
		Pairs      [][2]string `json:"pairs"`
		MeanPooled [][]float64 `json:"mean_pooled"`
		Logits     [][]float64 `json:"logits"`
	}
	for _, name := range []string{"torch-tiny-bert", "torch-tiny-cross"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(root, "testdata", "hf", name)
			data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &fx); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), name+".gguf")
			rep, err := Convert(context.Background(), dir, out, Options{Type: "f32", Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Verified {
				t.Fatalf("not verified: %+v", rep)
			}
			if !bindings.Available {
				t.Skip("no native core: the native outputs are not checked")
			}
			m, err := engine.LoadModel(out, engine.ModelOptions{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if name == "torch-tiny-cross" {
				for i, p := range fx.Pairs {
					l, _, err := m.RerankWithStats(context.Background(), p[0], []string{p[1]})
					if err != nil {
						t.Fatal(err)
					}
					for j, w := range fx.Logits[i] {
						if d := math.Abs(float64(l[0][j]) - w); d > 1e-4 {
							t.Errorf("%q logit %d: native %.6f, transformers %.6f", p, j, l[0][j], w)
						}
					}
				}
				return
			}
			v, err := m.Embed(context.Background(), fx.Texts)
			if err != nil {
				t.Fatal(err)
			}
			for i, text := range fx.Texts {
				if c := cosine(widen(v[i]), fx.MeanPooled[i]); c < 0.99999 {
					t.Errorf("%q: cosine with transformers %.7f", text, c)
				}
			}
		})
	}
}

func TestReportText(t *testing.T) {
	b, err := hftest.Folder{Kind: "rank", Labels: 3, Seed: 51}.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Convert(context.Background(), b.Dir, filepath.Join(t.TempDir(), "m.gguf"), Options{Type: "q8_0", Label: "LABEL_1", Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	for _, w := range []string{"BertForSequenceClassification, cross-encoder, rank pooling", "rank by 1: LABEL_1", "-> q8_0", "max logit difference", "passed", "quantizer"} {
		if !strings.Contains(s, w) {
			t.Errorf("report lacks %q:\n%s", w, s)
		}
	}
	t.Log("\n" + s)
}

// The built-in set: about a hundred texts averaging a few dozen word pieces
// (bert.Reference runs ~250 tokens/s per core on MiniLM's shape).
func TestBuiltinTexts(t *testing.T) {
	vocab, err := modelgen.LoadVocab("")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenize.FromVocab(vocab, tokenize.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ts := texts(256)
	n := 0
	truncated := 0
	for _, x := range ts {
		e := tok.Encode(x, 256)
		n += len(e.IDs)
		if e.Truncated {
			truncated++
		}
	}
	if len(ts) < 90 || len(ts) > 130 || n/len(ts) > 35 || truncated != 1 {
		t.Errorf("%d texts, %d tokens (%.1f per text), %d truncated", len(ts), n, float64(n)/float64(len(ts)), truncated)
	}
	t.Logf("%d texts, %d tokens, %d pairs", len(ts), n, len(pairs(256)))
}
