package serve_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/modelgen"
	"github.com/quarry-search/quarry/engine/tokenize"
)

func needNative(t testing.TB) {
	t.Helper()
	if !engine.NativeAvailable() {
		t.Skip("no native core in this build")
	}
}

// genModel writes a tiny generated model of kind (mean, rank, splade).
func genModel(t testing.TB, kind string) string { return genModelOf(t, "tiny", kind, "f32") }

// genModelOf writes a generated model of a preset, kind and weight type.
func genModelOf(t testing.TB, preset, kind, typ string) string {
	t.Helper()
	vocab, err := modelgen.LoadVocab("")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), preset+"-"+kind+"-"+typ+".gguf")
	if err := modelgen.Generate(p, modelgen.Spec{Preset: preset, Kind: kind, Type: typ, Seed: 5}, vocab); err != nil {
		t.Fatal(err)
	}
	return p
}

var invarianceTexts = []string{
	"a",
	"transcribe french audio",
	"the quick brown fox jumps over the lazy dog",
	strings.Repeat("long text about rivers and mountains ", 12),
	"image viewer",
	strings.Repeat("network bandwidth monitor ", 30),
	"zebra",
}

// TestNativeBatchInvariant: the native core gives a text the same bits
// alone and inside any batch (other texts, other lengths, any order), so
// dynamic batching across requests cannot change a vector.
func TestNativeBatchInvariant(t *testing.T) {
	needNative(t)
	for _, c := range []struct{ preset, kind, typ string }{
		{"tiny", "mean", "f32"}, {"tiny", "cls", "f32"}, {"tiny", "rank", "f32"}, {"tiny", "splade", "f32"},
		{"small", "mean", "f16"}, {"small", "rank", "f16"}, {"minilm", "mean", "f16"}, {"small", "mean", "q8_0"},
	} {
		kind := c.kind
		t.Run(c.preset+"-"+kind+"-"+c.typ, func(t *testing.T) {
			m, err := engine.LoadModel(genModelOf(t, c.preset, kind, c.typ), engine.ModelOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			tok, maxLen := m.Tokenizer(), m.MaxTokens()
			encs := make([]tokenize.Encoding, len(invarianceTexts))
			for i, s := range invarianceTexts {
				if kind == "rank" {
					encs[i] = tok.EncodePair("query about rivers", s, maxLen)
				} else {
					encs[i] = tok.Encode(s, maxLen)
				}
			}
			run := func(es []tokenize.Encoding) [][]float32 {
				switch kind {
				case "rank":
					out, err := m.RankEncodings(es)
					if err != nil {
						t.Fatal(err)
					}
					return out
				case "splade":
					out, err := m.SparseEncodings(es)
					if err != nil {
						t.Fatal(err)
					}
					flat := make([][]float32, len(out))
					for i, v := range out {
						for j, id := range v.IDs {
							flat[i] = append(flat[i], float32(id), v.Weights[j])
						}
					}
					return flat
				}
				out, err := m.EmbedEncodings(es)
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			alone := make([][]float32, len(encs))
			for i := range encs {
				alone[i] = run(encs[i : i+1])[0]
			}
			// the whole batch, reversed, and each text among copies of the longest
			batches := [][]int{{0, 1, 2, 3, 4, 5, 6}, {6, 5, 4, 3, 2, 1, 0}}
			for i := range encs {
				batches = append(batches, []int{5, i, 3, 5})
			}
			for _, b := range batches {
				es := make([]tokenize.Encoding, len(b))
				for j, i := range b {
					es[j] = encs[i]
				}
				got := run(es)
				for j, i := range b {
					if len(got[j]) != len(alone[i]) {
						t.Fatalf("batch %v: text %d: %d values alone, %d in the batch", b, i, len(alone[i]), len(got[j]))
					}
					for d := range got[j] {
						if math.Float32bits(got[j][d]) != math.Float32bits(alone[i][d]) {
							t.Fatalf("batch %v: text %d (%d tokens) value %d: %v in the batch, %v alone", b, i, len(encs[i].IDs), d, got[j][d], alone[i][d])
						}
					}
				}
			}
		})
	}
}
