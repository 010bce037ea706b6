package bert_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/engine/modelgen"
)

// Golden files: scripts/ref/golden.py runs an independent numpy float64 BERT
// (scripts/ref/numpy_bert.py, its own GGUF parser, llama.cpp tensor names) on
// models from `go run ./testdata/gen` with fixed seeds.
type golden struct {
	Model struct {
		Preset string `json:"preset"`
		Kind   string `json:"kind"`
		Labels int    `json:"labels"`
		Type   string `json:"type"`
		Seed   uint64 `json:"seed"`
	} `json:"model"`
	SHA256 string `json:"gguf_sha256"`
	GELU   string `json:"gelu"`
	Cases  []struct {
		IDs       []int32     `json:"ids"`
		Types     []int32     `json:"types"`
		Embedding []float64   `json:"embedding"`
		Logits    []float64   `json:"logits"`
		Hidden    [][]float64 `json:"hidden"`
	} `json:"cases"`
}

// Tolerance against numpy. Both sides compute in float64 from the same
// float32/f16/q8_0 weights (widening is exact), so they differ only in
// summation order (numpy's BLAS vs 4-way unrolled Go loops) and in libm's
// erf/exp/tanh/sqrt, each off by an ulp or so. Through 2 layers of
// LayerNorm-bounded activations of order 1 that accumulates to ~1e-15
// (measured max 4e-16 on embeddings, 2e-15 on hidden states and logits); 1e-12
// leaves room for other CPUs and FMA contraction (arm64) while still
// catching any real semantic difference, which shows at 1e-6 or more (the
// erf→tanh GELU change, the smallest one we know, moves outputs by ~3e-5).
const goldenTol = 1e-12

func closeTo(a, b float64) bool { return math.Abs(a-b) <= goldenTol*math.Max(1, math.Abs(b)) }

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("../../testdata/golden/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 8 {
		t.Fatalf("found %d golden files in testdata/golden, want at least 8", len(files))
	}
	vocab := loadVocab(t)
	dir := t.TempDir()
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			var g golden
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &g); err != nil {
				t.Fatal(err)
			}
			spec := modelgen.Spec{Preset: g.Model.Preset, Kind: g.Model.Kind, Labels: g.Model.Labels, Type: g.Model.Type, Seed: g.Model.Seed}
			path := filepath.Join(dir, spec.Name()+".gguf")
			if _, err := os.Stat(path); err != nil {
				if err := modelgen.Generate(path, spec, vocab); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			if got := hex.EncodeToString(sum[:]); got != g.SHA256 {
				t.Fatalf("generated %s has sha256 %s, golden was made from %s: the generator or GGUF writer changed; "+
					"if intended, regenerate with .venv/bin/python scripts/ref/golden.py", spec.Name(), got, g.SHA256)
			}
			cfg, ck, _, err := bert.ReadGGUF(path)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := bert.NewReference(cfg, ck, bert.WithGELUTanh(g.GELU == "tanh"))
			if err != nil {
				t.Fatal(err)
			}
			var maxOut, maxHidden float64
			for i, c := range g.Cases {
				var got, want []float64
				if cfg.CrossEncoder() {
					got, err = ref.Rerank(c.IDs, c.Types)
					want = c.Logits
				} else {
					got, err = ref.Embed(c.IDs, c.Types)
					want = c.Embedding
				}
				if err != nil {
					t.Fatalf("case %d: %v", i, err)
				}
				if len(got) != len(want) || len(want) == 0 {
					t.Fatalf("case %d: %d outputs, golden has %d", i, len(got), len(want))
				}
				for j := range got {
					maxOut = math.Max(maxOut, math.Abs(got[j]-want[j]))
					if !closeTo(got[j], want[j]) {
						t.Errorf("case %d (%d tokens) output %d: go %.17g, numpy %.17g (diff %.3g)", i, len(c.IDs), j, got[j], want[j], got[j]-want[j])
					}
				}
				if c.Hidden != nil {
					h, err := ref.Hidden(c.IDs, c.Types)
					if err != nil {
						t.Fatal(err)
					}
					for r := range c.Hidden {
						for j := range c.Hidden[r] {
							maxHidden = math.Max(maxHidden, math.Abs(h[r][j]-c.Hidden[r][j]))
							if !closeTo(h[r][j], c.Hidden[r][j]) {
								t.Fatalf("case %d hidden[%d][%d]: go %.17g, numpy %.17g", i, r, j, h[r][j], c.Hidden[r][j])
							}
						}
					}
				}
			}
			t.Logf("%d cases: max |go-numpy| %.3g on outputs, %.3g on hidden states", len(g.Cases), maxOut, maxHidden)

			// The f32 models also straight from the checkpoint, without
			// GGUF: the only difference is eps rounded to float32.
			if g.Model.Type == "f32" {
				cfg2, err := spec.Config()
				if err != nil {
					t.Fatal(err)
				}
				ref2, err := bert.NewReference(cfg2, modelgen.Random(cfg2, spec.Seed), bert.WithGELUTanh(g.GELU == "tanh"))
				if err != nil {
					t.Fatal(err)
				}
				for i, c := range g.Cases {
					var got, want []float64
					if cfg2.CrossEncoder() {
						got, err = ref2.Rerank(c.IDs, c.Types)
						want = c.Logits
					} else {
						got, err = ref2.Embed(c.IDs, c.Types)
						want = c.Embedding
					}
					if err != nil {
						t.Fatal(err)
					}
					for j := range got {
						if !closeTo(got[j], want[j]) {
							t.Errorf("checkpoint path, case %d output %d: go %.17g, numpy %.17g", i, j, got[j], want[j])
						}
					}
				}
			}
		})
	}
}

func loadVocab(t testing.TB) []string {
	t.Helper()
	v, err := modelgen.LoadVocab("")
	if err != nil {
		t.Fatal(err)
	}
	return v
}
