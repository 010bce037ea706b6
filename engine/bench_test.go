package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/modelgen"
	"github.com/quarry-search/quarry/internal/benchtext"
)

var (
	benchOnce  sync.Once
	benchModel string
	benchErr   error
)

// shapeTwin writes the MiniLM-L6-shaped generated model once per run
// (QUARRY_BENCH_MODEL overrides it with a real GGUF).
func shapeTwin(b *testing.B) string {
	if p := os.Getenv("QUARRY_BENCH_MODEL"); p != "" {
		return p
	}
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "quarry-bench-")
		if err != nil {
			benchErr = err
			return
		}
		vocab, err := modelgen.LoadVocab("")
		if err != nil {
			benchErr = err
			return
		}
		typ := os.Getenv("QUARRY_BENCH_TYPE")
		if typ == "" {
			typ = "f32"
		}
		benchModel = filepath.Join(dir, "minilm-mean-"+typ+".gguf")
		benchErr = modelgen.Generate(benchModel, modelgen.Spec{Preset: "minilm", Kind: "mean", Type: typ, Seed: 7}, vocab)
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchModel
}

func sentences(n int, seed uint64) []string {
	vocab, err := modelgen.LoadVocab("")
	if err != nil {
		panic(err)
	}
	return benchtext.Sentences(vocab, n, 10, 60, seed)
}

// BenchmarkEmbed encodes batches of sentences with the shape twin of
// all-MiniLM-L6-v2 (speed does not depend on the weights' values).
func BenchmarkEmbed(b *testing.B) {
	path := shapeTwin(b)
	m, err := engine.LoadModel(path, engine.ModelOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	texts := sentences(512, 1)
	for _, batch := range []int{1, 32, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			tokens, sents := 0, 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				lo := (i * batch) % len(texts)
				in := texts[lo:min(lo+batch, len(texts))]
				if len(in) < batch {
					in = texts[:batch]
				}
				_, st, err := m.EmbedWithStats(ctx, in)
				if err != nil {
					b.Fatal(err)
				}
				tokens += st.Tokens
				sents += st.Inputs
			}
			b.ReportMetric(float64(sents)/b.Elapsed().Seconds(), "sentences/s")
			b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
