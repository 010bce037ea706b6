package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/search"
)

// TestBenchSearchJSON runs `quarry bench search` on small random data for
// every dtype and checks what the report claims: exact dtypes find the exact
// top-k (recall 1), int8 with f16 rescoring does too on a corpus this small,
// and the bytes per vector are the dtype's.
func TestBenchSearchJSON(t *testing.T) {
	for _, c := range []struct {
		dtype      string
		scan       float64 // bytes per vector scanned (dim 64)
		minRecall  float64
		extraFlags []string
	}{
		{"f32", 256, 1, nil},
		{"f16", 128, 1, nil},
		{"int8", 68, 1, nil}, // 64 codes + a float32 scale
		{"binary", 8, 0, []string{"--rescore-dtype", "none"}},         // no rescoring: recall only reported
		{"f32", 256, 1, []string{"--batch", "7", "--segment", "700"}}, // batched calls, segments merged
	} {
		out := filepath.Join(t.TempDir(), "b.json")
		args := append([]string{"bench", "search", "--n", "2000", "--dim", "64", "--queries", "15", "--repeat", "1",
			"--dtype", c.dtype, "--json", out}, c.extraFlags...)
		code, stdout, errOut := convRun(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		if !strings.Contains(stdout+errOut, "QPS") {
			t.Errorf("%v: no QPS line in %q", args, stdout+errOut)
		}
		var r struct {
			Bench  string  `json:"bench"`
			DType  string  `json:"dtype"`
			N      int     `json:"n"`
			QPS    float64 `json:"qps"`
			Recall float64 `json:"recall_at_k"`
			Scan   float64 `json:"scan_bytes_per_vector"`
			Kernel string  `json:"kernel"`
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%v: %v in %s", args, err, b)
		}
		if r.Bench != "search" || r.DType != c.dtype || r.N != 2000 || r.QPS <= 0 {
			t.Errorf("%v: report %+v", args, r)
		}
		if r.Recall < c.minRecall || r.Recall > 1 {
			t.Errorf("%v: recall@10 %v, want ≥ %v", args, r.Recall, c.minRecall)
		}
		if r.Scan != c.scan {
			t.Errorf("%v: %v bytes/vector scanned, want %v", args, r.Scan, c.scan)
		}
		if want := map[bool]string{true: "native", false: "go"}[search.Native()]; r.Kernel != want {
			t.Errorf("%v: kernel %q, want %q", args, r.Kernel, want)
		}
	}
}

func TestBenchBadInput(t *testing.T) {
	npy := filepath.Join(t.TempDir(), "x.npy")
	os.WriteFile(npy, []byte("not an npy file"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "search", "--dtype", "f8"}, "f8"},
		{[]string{"bench", "search", "--n", "0"}, "--n"},
		{[]string{"bench", "search", "--data", npy}, "x.npy"},
		{[]string{"bench", "search", "--data", filepath.Join(t.TempDir(), "none.npy")}, "none.npy"},
		{[]string{"bench", "encode", "--model", filepath.Join(t.TempDir(), "none.gguf")}, "none.gguf"},
	} {
		code, _, errOut := convRun(c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}
