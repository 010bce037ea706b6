package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/search"
	"github.com/quarry-search/quarry/engine/store"
)

// overlap is the fraction of want's ids among got's (recall of got against
// want).
func overlap(got, want []engine.Result) float64 {
	if len(want) == 0 {
		return 1
	}
	in := map[string]bool{}
	for _, r := range got {
		in[r.ID] = true
	}
	n := 0
	for _, r := range want {
		if in[r.ID] {
			n++
		}
	}
	return float64(n) / float64(len(want))
}

// annRecall searches every query with the graphs and exactly, and returns
// the mean recall@k of the graph answers; every graph answer must obey keep.
func annRecall(t *testing.T, ix *engine.Index, queries []string, req engine.Request, keep func(engine.Result) bool) float64 {
	t.Helper()
	ctx := context.Background()
	var sum float64
	for _, q := range queries {
		req.Text = q
		req.Exact = false
		got, err := ix.Search(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		req.Exact = true
		want, err := ix.Search(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got.Results {
			if keep != nil && !keep(r) {
				t.Fatalf("query %q: graph search returned %s, which the filter or a deletion excludes", q, r.ID)
			}
		}
		sum += overlap(got.Results, want.Results)
	}
	return sum / float64(len(queries))
}

// TestANNIndex: an index with graphs (the graph forced on these small
// segments) answers like the exact scan, filtered and with 20 % deleted;
// Info reports the graphs; compaction rebuilds them; a damaged graph file
// fails graph searches with an error naming it, while exact and BM25
// searches still answer and Check reports it.
func TestANNIndex(t *testing.T) {
	if !search.Native() {
		t.Skip("HNSW graphs need the native core")
	}
	t.Setenv("QUARRY_HNSW_GRAPH_WORK", "0") // segments of 300 passages: the graph, not the cheaper scan
	for _, dtype := range []string{"f16", "int8"} {
		t.Run(dtype, func(t *testing.T) {
			model := testModels(t)[0]
			ctx := context.Background()
			dir := filepath.Join(t.TempDir(), "ix")
			ix, err := engine.Create(dir, model.create(engine.CreateOptions{DType: dtype, EmbedTitle: new(bool), ANN: engine.ANNHNSW, HNSWM: 8, HNSWEfConstruction: 64}))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { ix.Close() }()
			st, err := ix.Add(ctx, engine.AddOptions{Input: corpus(t, t.TempDir(), 900, 0), SegmentPassages: 300})
			if err != nil {
				t.Fatal(err)
			}
			in := ix.Info()
			if in.ANN == nil || in.ANN.Method != engine.ANNHNSW || in.ANN.M != 8 || in.ANN.EfConstruction != 64 ||
				in.ANN.GraphSegments != in.Segments || in.ANN.GraphRows != in.Passages || in.ANN.GraphBytes != in.Files["hnsw"] || in.ANN.BytesPerVector <= 0 {
				t.Fatalf("info: %+v, ann %+v", in, in.ANN)
			}
			if in.Segments < 3 || st.GraphSeconds <= 0 {
				t.Fatalf("%d segments, %.3f s of graph building", in.Segments, st.GraphSeconds)
			}
			var queries []string
			for i := 0; i < 30; i++ {
				queries = append(queries, fmt.Sprintf("title %d", i*29))
			}
			if r := annRecall(t, ix, queries, engine.Request{K: 10}, nil); r < 0.95 {
				t.Errorf("recall@10 of the graphs against the exact scan: %.3f", r)
			}
			lib := func(r engine.Result) bool { return strings.Contains(string(r.Metadata), `"lib":"b"`) }
			if r := annRecall(t, ix, queries, engine.Request{K: 10, Filters: []string{"lib=b"}}, lib); r < 0.95 {
				t.Errorf("filtered recall@10: %.3f", r)
			}
			// Hybrid, sort and pools on graph candidates.
			if r := annRecall(t, ix, queries, engine.Request{K: 10, Mode: engine.ModeHybrid}, nil); r < 0.95 {
				t.Errorf("hybrid recall@10: %.3f", r)
			}
			// 20 % deleted: never returned, recall holds.
			var del []string
			gone := map[string]bool{}
			for i := 0; i < 900; i += 5 {
				id := fmt.Sprintf("doc-%04d", i)
				del, gone[id] = append(del, id), true
			}
			if n, _, err := ix.Delete(ctx, del); err != nil || n != len(del) {
				t.Fatalf("delete: %d %v", n, err)
			}
			live := func(r engine.Result) bool { return !gone[r.ID] }
			if r := annRecall(t, ix, queries, engine.Request{K: 10}, live); r < 0.95 {
				t.Errorf("recall@10 with 20 %% deleted: %.3f", r)
			}
			// Compaction rebuilds every graph over the compacted vectors.
			if _, err := ix.Compact(ctx); err != nil {
				t.Fatal(err)
			}
			in = ix.Info()
			if in.ANN.GraphSegments != in.Segments || in.ANN.GraphRows != in.Passages || in.Documents != 720 {
				t.Fatalf("after compaction: %+v, ann %+v", in, in.ANN)
			}
			if r := annRecall(t, ix, queries, engine.Request{K: 10}, live); r < 0.95 {
				t.Errorf("recall@10 after compaction: %.3f", r)
			}
			if rep, err := engine.Check(dir, engine.CheckOptions{}); err != nil || !rep.OK() {
				t.Fatalf("check after compaction: %v %+v", err, rep)
			}
			// Damage a graph file.
			ix.Close()
			graphs, _ := filepath.Glob(filepath.Join(dir, "hnsw-*.qhnsw"))
			if len(graphs) < in.Segments {
				t.Fatalf("graph files %v for %d segments", graphs, in.Segments)
			}
			damaged := graphs[len(graphs)-1] // the compacted generation's last segment (the previous generation's files stay until the next commit)
			b, err := os.ReadFile(damaged)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x40
			if err := os.WriteFile(damaged, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if ix, err = engine.Open(dir, model.open(engine.OpenOptions{})); err != nil {
				t.Fatal(err)
			}
			_, err = ix.Search(ctx, engine.Request{Text: "title 3", K: 5})
			if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(damaged)) {
				t.Fatalf("search over a damaged graph: %v", err)
			}
			if res, err := ix.Search(ctx, engine.Request{Text: "title 3", K: 5, Exact: true}); err != nil || len(res.Results) != 5 {
				t.Fatalf("exact search past a damaged graph: %v", err)
			}
			if res, err := ix.Search(ctx, engine.Request{Text: "title 3", K: 5, Mode: engine.ModeBM25}); err != nil || len(res.Results) != 5 {
				t.Fatalf("bm25 search past a damaged graph: %v", err)
			}
			rep, err := engine.Check(dir, engine.CheckOptions{})
			if err == nil && rep.OK() {
				t.Fatal("check passed a damaged graph file")
			}
			if _, err := ix.Search(ctx, engine.Request{Text: "x", Ef: search.MaxEf + 1}); err == nil {
				t.Error("ef above MaxEf accepted")
			}
			if _, err := ix.Search(ctx, engine.Request{Text: "x", Ef: -1}); err == nil {
				t.Error("ef -1 accepted")
			}
		})
	}
}

// TestANNCreateOptions: the defaults and the refused combinations.
func TestANNCreateOptions(t *testing.T) {
	model := testModels(t)[0]
	for _, c := range []struct {
		o    engine.CreateOptions
		want string // "" = accepted
	}{
		{engine.CreateOptions{ANN: "annoy"}, "ann \"annoy\""},
		{engine.CreateOptions{ANN: engine.ANNHNSW, DType: "binary"}, "not binary"},
		{engine.CreateOptions{HNSWM: 1}, "hnsw m = 1"},
		{engine.CreateOptions{HNSWEfConstruction: 5000}, "ef_construction = 5000"},
		{engine.CreateOptions{DType: "binary"}, ""},
		{engine.CreateOptions{ANN: engine.ANNOff}, ""},
	} {
		ix, err := engine.Create(filepath.Join(t.TempDir(), "ix"), model.create(c.o))
		if c.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", c.o, err)
				continue
			}
			if in := ix.Info(); in.ANN != nil {
				t.Errorf("%+v: graphs %+v", c.o, in.ANN)
			}
			ix.Close()
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error with %q", c.o, err, c.want)
		}
		if ix != nil {
			ix.Close()
		}
	}
	ix, err := engine.Create(filepath.Join(t.TempDir(), "ix"), model.create(engine.CreateOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if in := ix.Info(); in.ANN == nil || in.ANN.Method != engine.ANNAuto || in.ANN.M != 16 || in.ANN.EfConstruction != 200 {
		t.Fatalf("default: %+v", in.ANN)
	}
}

// TestANNInterruptedGraphBuild: a run canceled while a segment's graph is
// being built commits nothing of that segment; the rerun resumes, builds
// the graphs, and the index answers as one built in a single run.
func TestANNInterruptedGraphBuild(t *testing.T) {
	if !search.Native() {
		t.Skip("HNSW graphs need the native core")
	}
	model := testModels(t)[0]
	in := corpus(t, t.TempDir(), 400, 0)
	build := func(dir string, cancelAt int64) (*engine.Index, error) {
		ix, err := engine.Create(dir, model.create(engine.CreateOptions{DType: "f16", EmbedTitle: new(bool), ANN: engine.ANNHNSW, HNSWM: 8, HNSWEfConstruction: 32}))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err = ix.Add(ctx, engine.AddOptions{Input: in, SegmentPassages: 200, Batch: 200, Progress: func(p engine.Progress) {
			if cancelAt > 0 && p.Segments == 1 && p.Passages >= cancelAt {
				cancel() // the second segment is encoded: its graph build is next
			}
		}})
		return ix, err
	}
	whole, err := build(filepath.Join(t.TempDir(), "whole"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer whole.Close()
	dir := filepath.Join(t.TempDir(), "cut")
	ix, err := build(dir, 400)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled run: %v", err)
	}
	if in := ix.Info(); in.Segments != 1 || in.ANN.GraphSegments != 1 {
		t.Fatalf("after the cancel: %d segments, %d graphs", in.Segments, in.ANN.GraphSegments)
	}
	if st, err := ix.Add(context.Background(), engine.AddOptions{Input: in, SegmentPassages: 200}); err != nil || st.Resumed == 0 {
		t.Fatalf("resume: %+v %v", st, err)
	}
	ix.Close()
	ix, err = engine.Open(dir, model.open(engine.OpenOptions{Writable: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if rep, err := engine.Check(dir, engine.CheckOptions{}); err != nil || !rep.OK() {
		t.Fatalf("check: %v %+v", err, rep)
	}
	a, b := whole.Info(), ix.Info()
	if a.Documents != b.Documents || a.Passages != b.Passages || b.ANN.GraphSegments != b.Segments {
		t.Fatalf("resumed %+v (ann %+v), whole %+v", b, b.ANN, a)
	}
	for i := 0; i < 20; i++ {
		req := engine.Request{Text: fmt.Sprintf("title %d", i*17), K: 10, Exact: true}
		x, err1 := whole.Search(context.Background(), req)
		y, err2 := ix.Search(context.Background(), req)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if overlap(x.Results, y.Results) != 1 {
			t.Fatalf("query %d: resumed index answers differently", i)
		}
		req.Exact = false
		if y, err = ix.Search(context.Background(), req); err != nil || overlap(y.Results, x.Results) < 0.9 {
			t.Fatalf("query %d through the graphs: %v", i, err)
		}
	}
}

// TestANNConcurrentSearchWhileCompacting: searches through the graphs from
// many goroutines while a delete and a compaction replace every segment
// (and close the old graphs once no search holds them); run under -race.
func TestANNConcurrentSearchWhileCompacting(t *testing.T) {
	if !search.Native() {
		t.Skip("HNSW graphs need the native core")
	}
	t.Setenv("QUARRY_HNSW_GRAPH_WORK", "0")
	model := testModels(t)[0]
	ctx := context.Background()
	ix, err := engine.Create(filepath.Join(t.TempDir(), "ix"), model.create(engine.CreateOptions{DType: "int8", EmbedTitle: new(bool), ANN: engine.ANNHNSW, HNSWM: 6, HNSWEfConstruction: 24}))
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if _, err := ix.Add(ctx, engine.AddOptions{Input: corpus(t, t.TempDir(), 300, 0), SegmentPassages: 100}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	errc := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					errc <- nil
					return
				default:
				}
				res, err := ix.Search(ctx, engine.Request{Text: fmt.Sprintf("title %d", (g*31+i)%300), K: 5, Ef: 20 + i%40})
				if err == nil && len(res.Results) == 0 {
					err = errors.New("no results")
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	if _, _, err := ix.Delete(ctx, []string{"doc-0001", "doc-0100", "doc-0201"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	close(done)
	for g := 0; g < 8; g++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}
