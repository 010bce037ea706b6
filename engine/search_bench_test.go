package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/modelgen"
)

// benchIndex builds (once per directory in QUARRY_BENCH_INDEX_DIR, else in
// a temporary directory) a 10,000-document index with the tiny generated
// model: the search benchmarks measure the engine's search path (snapshot,
// filters, retrieval, fusion, documents), not the encoder.
func benchIndex(b *testing.B) string {
	b.Helper()
	root := os.Getenv("QUARRY_BENCH_INDEX_DIR")
	if root == "" {
		root = b.TempDir()
	}
	dir := filepath.Join(root, "ix10k")
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err == nil {
		return dir
	}
	vocab, err := modelgen.LoadVocab("")
	if err != nil {
		b.Fatal(err)
	}
	model := filepath.Join(root, "tiny-mean-f32.gguf")
	if err := modelgen.Generate(model, modelgen.Spec{Preset: "tiny", Kind: "mean", Type: "f32", Seed: 3}, vocab); err != nil {
		b.Fatal(err)
	}
	texts := sentences(10000, 5)
	var sb strings.Builder
	for i, t := range texts {
		line, _ := json.Marshal(map[string]any{"_id": fmt.Sprintf("doc-%05d", i), "title": strings.Join(strings.Fields(t)[:3], " "), "text": t, "lib": []string{"a", "b", "c", "d"}[i%4], "likes": i % 997})
		sb.Write(line)
		sb.WriteByte('\n')
	}
	in := filepath.Join(root, "corpus.jsonl")
	if err := os.WriteFile(in, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	ix, err := engine.Create(dir, engine.CreateOptions{Model: model})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ix.Add(context.Background(), engine.AddOptions{Input: in}); err != nil {
		b.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkSearch10k: one query per call on a 10k-document index, per mode
// (with -benchmem: allocations per search).
func BenchmarkSearch10k(b *testing.B) {
	if !engine.NativeAvailable() {
		b.Skip("needs the native core (the tiny model encodes the queries)")
	}
	dir := os.Getenv("QUARRY_BENCH_INDEX") // an existing index (e.g. make demo's), else a generated 10k one
	if dir == "" {
		dir = benchIndex(b)
	}
	ix, err := engine.Open(dir, engine.OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	ctx := context.Background()
	queries := sentences(64, 9)
	cases := []struct {
		name string
		req  engine.Request
	}{
		{"dense", engine.Request{Mode: engine.ModeDense}},
		{"bm25", engine.Request{Mode: engine.ModeBM25}},
		{"hybrid", engine.Request{Mode: engine.ModeHybrid}},
		{"dense-filter", engine.Request{Mode: engine.ModeDense, Filters: []string{"lib=b"}}},
		{"dense-sort", engine.Request{Mode: engine.ModeDense, Sort: "likes:desc"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r := c.req
			r.K = 10
			r.Text = queries[0]
			if _, err := ix.Search(ctx, r); err != nil { // warm: model, metadata table
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			var total, enc, ret, fin []time.Duration
			for b.Loop() {
				r.Text = queries[i%len(queries)]
				i++
				resp, err := ix.Search(ctx, r)
				if err != nil {
					b.Fatal(err)
				}
				total, enc = append(total, resp.Took), append(enc, resp.Timing.Encode)
				ret, fin = append(ret, resp.Timing.Retrieve), append(fin, resp.Timing.Finish)
			}
			// Medians of the stages (ms): encode + retrieve is the floor a
			// search cannot go below; finish is fusion, sort and documents.
			b.ReportMetric(p50ms(total), "p50-ms")
			b.ReportMetric(p50ms(enc), "encode-p50-ms")
			b.ReportMetric(p50ms(ret), "retrieve-p50-ms")
			b.ReportMetric(p50ms(fin), "finish-p50-ms")
		})
	}
}

func p50ms(d []time.Duration) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[len(s)/2]) / 1e6
}
