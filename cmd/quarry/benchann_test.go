package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/search"
)

// TestBenchANN runs `quarry bench ann` on small clustered data: the graph
// finds the exact top-10 almost always at a wide beam, recall does not drop
// as the beam grows, and the bytes per vector are the traversal row's plus
// the graph's share.
func TestBenchANN(t *testing.T) {
	if !search.Native() {
		t.Skip("the HNSW graph is in the native core")
	}
	for _, c := range []struct {
		dtype string
		row   float64 // traversal bytes per vector at dim 32
		extra []string
	}{
		{"f32", 128, nil},
		{"int8", 36, []string{"--rescore", "30"}},
		{"f16", 64 + 36, []string{"--traverse", "int8", "--rescore", "30"}}, // the engine's method: f16 rows and their int8 copy
		{"f32", 128, []string{"--batch", "--threads", "0"}},                 // all queries in one call
	} {
		out := filepath.Join(t.TempDir(), "a.json")
		args := append([]string{"bench", "ann", "--n", "3000", "--dim", "32", "--clusters", "40", "--queries", "60",
			"--ef", "8,64", "--repeat", "1", "--build-threads", "2", "--dtype", c.dtype, "--json", out}, c.extra...)
		code, _, errOut := convRun(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var r annBenchResult
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		if r.N != 3000 || r.Dim != 32 || r.DType != c.dtype || len(r.Points) != 2 || r.Edges <= 0 {
			t.Fatalf("%s: %+v", c.dtype, r)
		}
		lo, hi := r.Points[0], r.Points[1]
		if hi.Recall < 0.98 || hi.Recall < lo.Recall-0.01 || hi.QPS <= 0 {
			t.Errorf("%s: recall %.4f at ef 8, %.4f at ef 64 (QPS %.0f)", c.dtype, lo.Recall, hi.Recall, hi.QPS)
		}
		if graph := r.BytesPerVector - c.row; graph <= 0 || graph > 8*2*16+64 {
			t.Errorf("%s: %.1f bytes per vector: %.1f for the graph", c.dtype, r.BytesPerVector, graph)
		}
	}
	for _, bad := range [][]string{
		{"--dtype", "binary"},
		{"--ef", "0"},
		{"--ef", "70000"},
		{"--data", "x.npy"},
		{"--spread", "-1"},
		{"--traverse", "f16"},
	} {
		args := append([]string{"bench", "ann", "--n", "100", "--dim", "8"}, bad...)
		if code, _, errOut := convRun(args...); code != 2 || !strings.Contains(errOut, strings.TrimPrefix(bad[0], "--")) {
			t.Errorf("%v: exit %d, %q: want exit 2 naming the flag", bad, code, errOut)
		}
	}
}
