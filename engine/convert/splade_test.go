package convert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/bindings"
	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/engine/hf/hftest"
	"github.com/quarry-search/quarry/engine/tokenize"
)

// TestRoundTripSplade converts SPLADE folders (sentence-transformers 5 and 6
// SparseEncoder layouts, a plain BertForMaskedLM with Sparse) to each GGUF
// type, then checks the file independently: its sparse vectors (native core,
// or the reference on the file's weights without one) against the float64
// reference on the Hugging Face-format weights, weight by weight.
func TestRoundTripSplade(t *testing.T) {
	folders := []struct {
		f      hftest.Folder
		sparse bool
	}{
		{hftest.Folder{Kind: "splade", Format: "safetensors", DType: "F32", Seed: 51}, false},
		{hftest.Folder{Kind: "splade6", Format: "pytorch", DType: "F16", Seed: 52, TiedCopies: true, SparseActivation: bert.SparseLog1pReLU}, false},
		{hftest.Folder{Kind: "mlm", Format: "sharded", DType: "BF16", Seed: 53}, true},
	}
	for _, c := range folders {
		b, err := c.f.Write(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		ref, err := bert.NewReference(b.Config, b.Checkpoint)
		if err != nil {
			t.Fatal(err)
		}
		for _, typ := range []string{"f32", "f16", "q8_0"} {
			t.Run(fmt.Sprintf("%s-%s-%s", c.f.Kind, c.f.Format, typ), func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "model.gguf")
				var log bytes.Buffer
				rep, err := Convert(context.Background(), b.Dir, out, Options{Type: typ, Threads: 2, Log: &log, Sparse: c.sparse})
				if err != nil {
					t.Fatalf("%v\n%s", err, log.String())
				}
				if !rep.Verified || rep.Kind != "sparse-encoder" || rep.Pooling != "splade" || rep.Texts < 50 || rep.ActiveDims <= 0 {
					t.Errorf("report %+v", rep)
				}
				var text bytes.Buffer
				rep.WriteText(&text)
				if !strings.Contains(text.String(), "max weight difference") || !strings.Contains(text.String(), "passed") {
					t.Errorf("report text:\n%s", text.String())
				}
				bound := map[string]float64{"f32": 1e-4, "f16": maxLogitF16, "q8_0": maxLogitQ8}[typ]
				got, tok := sparseOutputs(t, out)
				for i, s := range sampleTexts {
					e := tok.Encode(s, b.Config.SeqLength())
					want, err := ref.Sparse(e.IDs, e.TypeIDs)
					if err != nil {
						t.Fatal(err)
					}
					for v := range want {
						if d := math.Abs(got[i][v]-want[v]) / math.Max(1, want[v]); d > bound {
							t.Fatalf("%q token %d: weight %.6f, reference %.6f (relative %.2g > %.2g)", s, v, got[i][v], want[v], d, bound)
						}
					}
				}
				checkMetadata(t, out, typ, b, rep)
			})
		}
	}
}

// sparseOutputs runs the converted SPLADE GGUF on sampleTexts: the native
// core when this build has it, else the reference on the file's weights. The
// vectors come back dense (vocabulary-sized).
func sparseOutputs(t *testing.T, path string) ([][]float64, *tokenize.Tokenizer) {
	t.Helper()
	if bindings.Available {
		m, err := engine.LoadModel(path, engine.ModelOptions{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		vs, err := m.Sparse(context.Background(), sampleTexts)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]float64
		for _, v := range vs {
			d := make([]float64, m.Vocab())
			for j, id := range v.IDs {
				d[id] = float64(v.Weights[j])
			}
			out = append(out, d)
		}
		return out, m.Tokenizer()
	}
	s, err := referenceSide(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.sparse(context.Background(), encodeTexts(s.tok, sampleTexts, s.cfg.SeqLength()))
	if err != nil {
		t.Fatal(err)
	}
	return out, s.tok
}

// TestConvertSpladeBroken: a conversion that breaks the MLM head fails its
// own verification and writes nothing.
func TestConvertSpladeBroken(t *testing.T) {
	b, err := hftest.Folder{Kind: "splade", Seed: 54}.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "model.gguf")
	_, err = Convert(context.Background(), b.Dir, out, Options{Type: "f32", Threads: 2, mutate: func(ck *bert.Checkpoint) {
		tt, _ := ck.Get("cls.predictions.bias")
		for i := range tt.Data {
			tt.Data[i] += 0.5
		}
	}})
	if !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), "sparse weights differ") {
		t.Fatalf("error %v", err)
	}
}
