//go:build cgo && !quarry_nonative

package bindings_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/quarry-search/quarry/bindings"
	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/engine/modelgen"
)

// writeModel generates a tiny random model with the real vocabulary.
func writeModel(t testing.TB, kind string, typ string) string {
	t.Helper()
	vocab, err := modelgen.LoadVocab("")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "m.gguf")
	if err := modelgen.Generate(p, modelgen.Spec{Preset: "tiny", Kind: kind, Type: typ, Seed: 7}, vocab); err != nil {
		t.Fatal(err)
	}
	return p
}

func seqs() (ids, types, start []int32) {
	lens := []int{3, 17, 5, 40, 9, 2, 33}
	start = []int32{0}
	for i, l := range lens {
		for j := 0; j < l; j++ {
			switch {
			case j == 0:
				ids = append(ids, 101)
			case j == l-1:
				ids = append(ids, 102)
			default:
				ids = append(ids, int32(1000+(i*131+j*17)%20000))
			}
			ty := int32(0)
			if j > l/2 {
				ty = 1
			}
			types = append(types, ty)
		}
		start = append(start, int32(len(ids)))
	}
	return
}

func cosine(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return d / math.Sqrt(na*nb)
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	notGGUF := filepath.Join(dir, "x.gguf")
	os.WriteFile(notGGUF, []byte("hello, this is not a model"), 0o644)
	good := writeModel(t, "mean", "f32")
	b, _ := os.ReadFile(good)
	trunc := filepath.Join(dir, "trunc.gguf")
	os.WriteFile(trunc, b[:len(b)/2], 0o644)
	for name, c := range map[string]struct{ path, want string }{
		"missing":   {filepath.Join(dir, "nope.gguf"), "cannot open"},
		"not gguf":  {notGGUF, "not a GGUF file"},
		"truncated": {trunc, "truncated"},
		"directory": {dir, "GGUF"},
	} {
		m, err := bindings.Load(c.path, bindings.DefaultParams())
		if err == nil {
			m.Close()
			t.Errorf("%s: loaded", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	p := bindings.DefaultParams()
	p.Threads = -3
	if _, err := bindings.Load(good, p); err == nil || !strings.Contains(err.Error(), "n_threads") {
		t.Errorf("negative threads: %v", err)
	}
}

func TestEmbedBasics(t *testing.T) {
	m, err := bindings.Load(writeModel(t, "mean", "f32"), bindings.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	info := m.Info()
	if info.Kind != bindings.BiEncoder || info.Pooling != bindings.PoolingMean || info.NumLabels != 0 || info.Vocab != 30522 {
		t.Fatalf("info %+v", info)
	}
	ids, types, start := seqs()
	out, ntr, err := m.Embed(ids, types, start, true)
	if err != nil {
		t.Fatal(err)
	}
	if ntr != 0 || len(out) != (len(start)-1)*info.Dim {
		t.Fatalf("%d truncated, %d floats", ntr, len(out))
	}
	for i := 0; i < len(start)-1; i++ {
		v := out[i*info.Dim : (i+1)*info.Dim]
		if n := cosine(v, v); math.Abs(n-1) > 1e-6 {
			t.Errorf("seq %d not finite/normalized", i)
		}
		var ss float64
		for _, x := range v {
			ss += float64(x) * float64(x)
		}
		if math.Abs(ss-1) > 1e-5 {
			t.Errorf("seq %d norm² %g", i, ss)
		}
	}
	if _, _, err := m.Rerank(ids, types, start); err == nil || !strings.Contains(err.Error(), "bi-encoder") {
		t.Errorf("rerank on a bi-encoder: %v", err)
	}
	// Bad inputs are errors, never crashes.
	bad := []struct {
		name              string
		ids, types, start []int32
		want              string
	}{
		{"id out of vocab", []int32{101, 40000, 102}, nil, []int32{0, 3}, "outside the vocabulary"},
		{"negative id", []int32{101, -1, 102}, nil, []int32{0, 3}, "outside the vocabulary"},
		{"type out of range", []int32{101, 5, 102}, []int32{0, 2, 0}, []int32{0, 3}, "token type"},
		{"empty sequence", []int32{101, 102}, nil, []int32{0, 0, 2}, "empty"},
		{"start beyond ids", []int32{101, 102}, nil, []int32{0, 5}, "spans"},
		{"decreasing start", []int32{101, 102, 103}, nil, []int32{0, 2, 1}, "decreases"},
		{"types length", []int32{101, 102}, []int32{0}, []int32{0, 2}, "token types"},
	}
	for _, c := range bad {
		if _, _, err := m.Embed(c.ids, c.types, c.start, true); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if out, _, err := m.Embed(nil, nil, nil, true); err != nil || out != nil {
		t.Errorf("no sequences: %v %v", out, err)
	}
}

func TestTruncation(t *testing.T) {
	m, err := bindings.Load(writeModel(t, "mean", "f32"), bindings.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	max := m.Info().MaxTokens
	long := make([]int32, 3*max)
	for i := range long {
		long[i] = int32(2000 + i%5000)
	}
	long[0], long[len(long)-1] = 101, 102
	cut := append(append([]int32{}, long[:max-1]...), 102)
	out, ntr, err := m.Embed(append(append([]int32{}, long...), cut...), nil, []int32{0, int32(len(long)), int32(len(long) + len(cut))}, true)
	if err != nil {
		t.Fatal(err)
	}
	if ntr != 1 {
		t.Fatalf("%d truncated, want 1", ntr)
	}
	d := m.Info().Dim
	if c := cosine(out[:d], out[d:]); c < 0.999999 {
		t.Errorf("truncated input differs from its first %d-1 tokens + [SEP]: cos %f", max, c)
	}
}

func TestBatchIndependence(t *testing.T) {
	for _, typ := range []string{"f32", "f16"} {
		m, err := bindings.Load(writeModel(t, "mean", typ), bindings.DefaultParams())
		if err != nil {
			t.Fatal(err)
		}
		ids, types, start := seqs()
		batch, _, err := m.Embed(ids, types, start, true)
		if err != nil {
			t.Fatal(err)
		}
		d := m.Info().Dim
		for i := 0; i < len(start)-1; i++ {
			a, b := start[i], start[i+1]
			one, _, err := m.Embed(ids[a:b], types[a:b], []int32{0, b - a}, true)
			if err != nil {
				t.Fatal(err)
			}
			if c := cosine(one, batch[i*d:(i+1)*d]); c < 0.99999 {
				t.Errorf("%s seq %d: batched vs alone cos %.7f", typ, i, c)
			}
		}
		m.Close()
	}
}

func TestGraphMatchesLlama(t *testing.T) {
	for _, kind := range []string{"mean", "cls", "rank"} {
		path := writeModel(t, kind, "f32")
		ids, types, start := seqs()
		var res [2][]float32
		for i, impl := range []bindings.Impl{bindings.ImplGraph, bindings.ImplLlama} {
			p := bindings.DefaultParams()
			p.Impl = impl
			p.GELU = bindings.GELUTanh // llama.cpp's BERT uses the tanh form
			m, err := bindings.Load(path, p)
			if err != nil {
				t.Fatal(err)
			}
			if kind == "rank" {
				res[i], _, err = m.Rerank(ids, types, start)
			} else {
				res[i], _, err = m.Embed(ids, types, start, true)
			}
			m.Close()
			if err != nil {
				t.Fatalf("%s %v: %v", kind, impl, err)
			}
		}
		n := len(start) - 1
		d := len(res[0]) / n
		for i := 0; i < n; i++ {
			a, b := res[0][i*d:(i+1)*d], res[1][i*d:(i+1)*d]
			if kind == "rank" {
				for j := range a {
					if math.Abs(float64(a[j]-b[j])) > 1e-3*math.Max(1, math.Abs(float64(a[j]))) {
						t.Errorf("rank seq %d: graph %g llama %g", i, a[j], b[j])
					}
				}
			} else if c := cosine(a, b); c < 0.99999 {
				t.Errorf("%s seq %d: graph vs llama cos %.7f", kind, i, c)
			}
		}
	}
}

func TestConcurrentAndClose(t *testing.T) {
	p := bindings.DefaultParams()
	p.Workers = 2
	p.Threads = 1
	m, err := bindings.Load(writeModel(t, "cls", "f32"), p)
	if err != nil {
		t.Fatal(err)
	}
	ids, types, start := seqs()
	want, _, err := m.Embed(ids, types, start, false)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 3; k++ {
				got, _, err := m.Embed(ids, types, start, false)
				if err != nil {
					t.Error(err)
					return
				}
				for i := range got {
					if got[i] != want[i] {
						t.Errorf("concurrent result differs at %d", i)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, _, err := m.Embed(ids, types, start, true); !errors.Is(err, bindings.ErrClosed) {
		t.Errorf("embed after close: %v", err)
	}
}

func TestQuantizeQ8_0(t *testing.T) {
	src := make([]float32, 64)
	for i := range src {
		src[i] = float32(i-32) / 7
	}
	q, err := bindings.Quantize(8, src, 2, 32)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 2*34 {
		t.Fatalf("%d bytes", len(q))
	}
	goq, err := bert.QuantizeQ8_0(src, 2, 32)
	if err != nil {
		t.Fatal(err)
	}
	if string(goq) != string(q) {
		t.Error("ggml's Q8_0 differs from the Go reference quantizer")
	}
	if _, err := bindings.Quantize(8, src[:40], 1, 40); err == nil {
		t.Error("row of 40 accepted for Q8_0")
	}
	if bindings.RowSize(0, 10) != 40 || bindings.RowSize(8, 31) != -1 {
		t.Error("RowSize")
	}
	if bindings.SystemInfo() == "" {
		t.Log("no SIMD features reported")
	}
}
