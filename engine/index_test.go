package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/encoder"
	"github.com/quarry-search/quarry/engine/encoder/fake"
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/ingest"
	"github.com/quarry-search/quarry/engine/modelgen"
	"github.com/quarry-search/quarry/engine/tokenize"
)

// corpus writes a JSONL corpus of n documents with metadata; some are long
// enough to be split into several passages by the tiny model's window.
func corpus(t testing.TB, dir string, n int, from int) string {
	t.Helper()
	vocab, err := modelgen.LoadVocab("")
	if err != nil {
		t.Fatal(err)
	}
	words := vocab[2000:12000]
	var b bytes.Buffer
	for i := from; i < from+n; i++ {
		nw := 5 + (i*37)%60
		if i%13 == 0 {
			nw = 200 // several passages
		}
		ws := make([]string, nw)
		for j := range ws {
			ws[j] = words[(i*131+j*j*7+j)%len(words)]
		}
		rec := map[string]any{
			"_id": fmt.Sprintf("doc-%04d", i), "title": fmt.Sprintf("title %d %s", i, words[i%len(words)]),
			"text": strings.Join(ws, " "), "likes": (i * 7919) % 500, "lib": []string{"a", "b", "c"}[i%3],
		}
		line, _ := json.Marshal(rec)
		b.Write(line)
		b.WriteByte('\n')
	}
	p := filepath.Join(dir, fmt.Sprintf("corpus-%d-%d.jsonl", from, n))
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tmodel is the model an index test runs with: the pure-Go fake encoder
// (always) or a generated GGUF run by the native core (when linked in).
type tmodel struct {
	name string
	path string         // the GGUF (native)
	enc  engine.Encoder // the fake
	emb  interface {
		Embed(ctx context.Context, texts []string) ([][]float32, error)
	}
	tok *tokenize.Tokenizer
}

// testModels are the models the index tests run with.
func testModels(t *testing.T) []tmodel {
	t.Helper()
	f := newFake(t, encoder.BiEncoder)
	out := []tmodel{{name: "fake", enc: f, emb: f, tok: f.Tokenizer()}}
	if engine.NativeAvailable() {
		p := genModel(t, "tiny", "mean", "f32")
		m, err := engine.LoadModel(p, engine.ModelOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		out = append(out, tmodel{name: "native", path: p, emb: m, tok: m.Tokenizer()})
	}
	return out
}

// create fills the model of CreateOptions.
func (m tmodel) create(o engine.CreateOptions) engine.CreateOptions {
	if m.enc != nil {
		o.Encoder = m.enc
	} else {
		o.Model = m.path
	}
	return o
}

// open fills the model of OpenOptions.
func (m tmodel) open(o engine.OpenOptions) engine.OpenOptions {
	if m.enc != nil {
		o.Encoder = m.enc
	}
	return o
}

// eachModel runs f once per test model.
func eachModel(t *testing.T, f func(t *testing.T, m tmodel)) {
	for _, m := range testModels(t) {
		t.Run(m.name, func(t *testing.T) { f(t, m) })
	}
}

func newIndex(t *testing.T, m tmodel, dtype string) (string, *engine.Index) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ix")
	ix, err := engine.Create(dir, m.create(engine.CreateOptions{DType: dtype, EmbedTitle: new(bool)}))
	if err != nil {
		t.Fatal(err)
	}
	return dir, ix
}

func TestIndexSearchModes(t *testing.T) { eachModel(t, testIndexSearchModes) }

func testIndexSearchModes(t *testing.T, model tmodel) {
	ctx := context.Background()
	_, ix := newIndex(t, model, "f32")
	defer ix.Close()
	in := corpus(t, t.TempDir(), 300, 0)
	st, err := ix.Add(ctx, engine.AddOptions{Input: in, SegmentPassages: 100})
	if err != nil {
		t.Fatal(err)
	}
	if st.Docs != 300 || st.Segments < 3 || st.Passages <= 300 || st.Truncated != 0 {
		t.Fatalf("add stats %+v", st)
	}
	info := ix.Info()
	if info.Documents != 300 || info.Passages != st.Passages {
		t.Fatalf("info %+v", info)
	}
	m := model.emb
	// Brute force over every stored passage: the best passage per document.
	type pv struct {
		id  string
		vec []float32
	}
	var all []pv
	r, _ := ingest.Open(in, ingest.Options{})
	for {
		d, err := r.Next()
		if err != nil {
			break
		}
		res, err := ix.Search(ctx, engine.Request{Text: d.Title, K: 1, Mode: engine.ModeBM25})
		if err != nil || len(res.Results) == 0 {
			t.Fatalf("bm25 on a title: %v %+v", err, res)
		}
		_ = res
		all = append(all, pv{id: d.ID})
	}
	r.Close()
	query := "search engines rank documents by relevance"
	want := bruteDense(t, ix, m, query, 10)
	got, err := ix.Search(ctx, engine.Request{Text: query, K: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Results) != 10 {
		t.Fatalf("%d results", len(got.Results))
	}
	for i := range want {
		if got.Results[i].ID != want[i].id || math.Abs(got.Results[i].Score-want[i].score) > 1e-5 {
			t.Fatalf("rank %d: got %s %.6f want %s %.6f", i, got.Results[i].ID, got.Results[i].Score, want[i].id, want[i].score)
		}
	}
	// Filters: exact filtered top-k.
	fres, err := ix.Search(ctx, engine.Request{Text: query, K: 10, Filters: []string{"lib=b", "likes>=100"}})
	if err != nil {
		t.Fatal(err)
	}
	fwant := bruteDenseFiltered(t, ix, m, query, 10, func(md map[string]any) bool {
		l, _ := md["likes"].(json.Number).Int64()
		return md["lib"] == "b" && l >= 100
	})
	for i := range fwant {
		if fres.Results[i].ID != fwant[i].id {
			t.Fatalf("filtered rank %d: got %s want %s", i, fres.Results[i].ID, fwant[i].id)
		}
	}
	// Hybrid and sort run and carry both scores.
	h, err := ix.Search(ctx, engine.Request{Text: query, K: 5, Mode: engine.ModeHybrid, Sort: "likes:desc"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(h.Results); i++ {
		var a, b map[string]any
		json.Unmarshal(h.Results[i-1].Metadata, &a)
		json.Unmarshal(h.Results[i].Metadata, &b)
		if a["likes"].(float64) < b["likes"].(float64) {
			t.Fatalf("not sorted by likes desc: %v then %v", a["likes"], b["likes"])
		}
	}
	_ = all
}

type scored struct {
	id    string
	score float64
}

type embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

func bruteDense(t *testing.T, ix *engine.Index, m embedder, q string, k int) []scored {
	return bruteDenseFiltered(t, ix, m, q, k, nil)
}

// bruteDenseFiltered re-embeds every stored passage and ranks documents by
// their best passage in float64.
func bruteDenseFiltered(t *testing.T, ix *engine.Index, m embedder, q string, k int, keep func(map[string]any) bool) []scored {
	t.Helper()
	ctx := context.Background()
	qv, err := m.Embed(ctx, []string{q})
	if err != nil {
		t.Fatal(err)
	}
	docs, err := ix.Documents()
	if err != nil {
		t.Fatal(err)
	}
	var out []scored
	for _, d := range docs {
		if keep != nil {
			var md map[string]any
			dec := json.NewDecoder(bytes.NewReader(d.Metadata))
			dec.UseNumber()
			dec.Decode(&md)
			if !keep(md) {
				continue
			}
		}
		var texts []string
		for _, p := range d.Passages {
			texts = append(texts, p.Text)
		}
		if len(texts) == 0 {
			continue
		}
		vs, err := m.Embed(ctx, texts)
		if err != nil {
			t.Fatal(err)
		}
		best := math.Inf(-1)
		for _, v := range vs {
			var s float64
			for j := range v {
				s += float64(v[j]) * float64(qv[0][j])
			}
			best = math.Max(best, s)
		}
		out = append(out, scored{d.ID, best})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].score > out[b].score })
	return out[:min(k, len(out))]
}

func TestIndexResumeAndAppend(t *testing.T) { eachModel(t, testIndexResumeAndAppend) }

func testIndexResumeAndAppend(t *testing.T, model tmodel) {
	data := t.TempDir()
	in := corpus(t, data, 250, 0)
	// Uninterrupted run.
	dirA, a := newIndex(t, model, "int8")
	if _, err := a.Add(context.Background(), engine.AddOptions{Input: in, SegmentPassages: 64}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	// Interrupted after the second commit, then resumed.
	dirB, b := newIndex(t, model, "int8")
	ctx, cancel := context.WithCancel(context.Background())
	commits := 0
	_, err := b.Add(ctx, engine.AddOptions{Input: in, SegmentPassages: 64, Progress: func(p engine.Progress) {
		if p.Segments == 2 && commits == 0 {
			commits = p.Segments
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted add: %v", err)
	}
	b.Close()
	b, err = engine.Open(dirB, model.open(engine.OpenOptions{Writable: true}))
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.Add(context.Background(), engine.AddOptions{Input: in, SegmentPassages: 64})
	if err != nil {
		t.Fatal(err)
	}
	if st.Resumed == 0 {
		t.Fatal("nothing resumed")
	}
	b.Close()
	// Same segment files, byte for byte.
	for _, pat := range []string{"seg-*.qvec", "docs-*.zst", "lex-*.bm25"} {
		fa, _ := filepath.Glob(filepath.Join(dirA, pat))
		fb, _ := filepath.Glob(filepath.Join(dirB, pat))
		if len(fa) != len(fb) || len(fa) == 0 {
			t.Fatalf("%s: %d vs %d files", pat, len(fa), len(fb))
		}
		for i := range fa {
			x, _ := os.ReadFile(fa[i])
			y, _ := os.ReadFile(fb[i])
			if !bytes.Equal(x, y) {
				t.Fatalf("%s differs after resume", filepath.Base(fa[i]))
			}
		}
	}
	// Re-running a completed input is a no-op; a new input appends.
	c, err := engine.Open(dirB, model.open(engine.OpenOptions{Writable: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err = c.Add(context.Background(), engine.AddOptions{Input: in})
	if err != nil || !st.AlreadyDone {
		t.Fatalf("re-add: %+v %v", st, err)
	}
	more := corpus(t, data, 20, 250)
	if st, err = c.Add(context.Background(), engine.AddOptions{Input: more}); err != nil || st.Docs != 20 {
		t.Fatalf("append: %+v %v", st, err)
	}
	if c.Info().Documents != 270 {
		t.Fatalf("documents %d", c.Info().Documents)
	}
	// Duplicates against the index are bad records; nothing is committed.
	dup := corpus(t, t.TempDir(), 5, 0)
	_, err = c.Add(context.Background(), engine.AddOptions{Input: dup})
	var bad *engine.BadInputError
	if !errors.As(err, &bad) || bad.Count != 5 || !strings.Contains(err.Error(), "duplicate id") {
		t.Fatalf("duplicates: %v", err)
	}
	if c.Info().Documents != 270 {
		t.Fatal("documents changed after a rejected add")
	}
}

func TestDeleteCompact(t *testing.T) { eachModel(t, testDeleteCompact) }

func testDeleteCompact(t *testing.T, model tmodel) {
	ctx := context.Background()
	dir, ix := newIndex(t, model, "f16")
	if _, err := ix.Add(ctx, engine.AddOptions{Input: corpus(t, t.TempDir(), 120, 0), SegmentPassages: 50}); err != nil {
		t.Fatal(err)
	}
	n, missing, err := ix.Delete(ctx, []string{"doc-0003", "doc-0004", "nope"})
	if err != nil || n != 2 || len(missing) != 1 {
		t.Fatalf("delete: %d %v %v", n, missing, err)
	}
	for _, mode := range []engine.Mode{engine.ModeDense, engine.ModeBM25, engine.ModeHybrid} {
		res, err := ix.Search(ctx, engine.Request{Text: "title 3", K: 200, Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Results {
			if r.ID == "doc-0003" || r.ID == "doc-0004" {
				t.Fatalf("%s: deleted document returned", mode)
			}
		}
	}
	before, _ := ix.Search(ctx, engine.Request{Text: "title 7", K: 5})
	cs, err := ix.Compact(ctx)
	if err != nil || cs.Dropped != 2 {
		t.Fatalf("compact: %+v %v", cs, err)
	}
	after, _ := ix.Search(ctx, engine.Request{Text: "title 7", K: 5})
	for i := range before.Results {
		if before.Results[i].ID != after.Results[i].ID {
			t.Fatalf("results changed by compaction at %d", i)
		}
	}
	ix.Close()
	ro, err := engine.Open(dir, model.open(engine.OpenOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if in := ro.Info(); in.Documents != 118 || in.Deleted != 0 {
		t.Fatalf("after compact: %+v", in)
	}
}

func TestIndexErrors(t *testing.T) { eachModel(t, testIndexErrors) }

func testIndexErrors(t *testing.T, model tmodel) {
	ctx := context.Background()
	dir, ix := newIndex(t, model, "f32")
	if _, err := ix.Add(ctx, engine.AddOptions{Input: corpus(t, t.TempDir(), 30, 0)}); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	// Another model cannot query this index.
	oo := engine.OpenOptions{}
	if model.enc != nil {
		other, err := fake.New(vocab(t), fake.Options{Dim: 24, MaxTokens: 40, Seed: 8})
		if err != nil {
			t.Fatal(err)
		}
		oo.Encoder = other
	} else {
		oo.Model = genModel(t, "tiny", "cls", "f32")
	}
	ro, err := engine.Open(dir, oo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Search(ctx, engine.Request{Text: "x"}); !errors.Is(err, engine.ErrModelMismatch) || errs.KindOf(err) != errs.Conflict {
		t.Fatalf("other model: %v", err)
	}
	ro.Close()
	// Bad records: default stops before anything is committed; --skip-bad counts.
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte("{\"_id\":\"x1\",\"text\":\"ok\"}\n{not json\n{\"_id\":\"x2\"}\n{\"_id\":\"x3\",\"text\":\"fine\"}\n"), 0o644)
	w, err := engine.Open(dir, model.open(engine.OpenOptions{Writable: true}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Add(ctx, engine.AddOptions{Input: bad})
	var be *engine.BadInputError
	if !errors.As(err, &be) || be.Count != 2 || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Fatalf("bad records: %v", err)
	}
	if w.Info().Documents != 30 {
		t.Fatal("a rejected input committed documents")
	}
	st, err := w.Add(ctx, engine.AddOptions{Input: bad, Ingest: ingest.Options{SkipBad: true}})
	if err != nil || st.Docs != 2 || st.Bad != 2 {
		t.Fatalf("skip-bad: %+v %v", st, err)
	}
	w.Close()
	// A flipped byte in a segment is detected at open.
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.qvec"))
	b, _ := os.ReadFile(segs[0])
	b[len(b)/2] ^= 0x40
	os.WriteFile(segs[0], b, 0o644)
	if _, err := engine.Open(dir, engine.OpenOptions{}); err == nil || !strings.Contains(err.Error(), filepath.Base(segs[0])) || errs.KindOf(err) != errs.Corrupt {
		t.Fatalf("corrupt segment: %v (kind %v)", err, errs.KindOf(err))
	}
	// A truncated manifest is detected.
	mf, _ := filepath.Glob(filepath.Join(dir, "manifest-*.json"))
	sort.Strings(mf)
	os.Truncate(mf[len(mf)-1], 10)
	if _, err := engine.Open(dir, engine.OpenOptions{}); err == nil {
		t.Fatal("truncated manifest accepted")
	}
	if _, err := engine.Open(t.TempDir(), engine.OpenOptions{}); !errors.Is(err, engine.ErrNoIndex) || errs.KindOf(err) != errs.NotFound {
		t.Fatalf("empty dir: %v", err)
	}
}

// TestEmbedTitle: an index created with EmbedTitle embeds title + " " +
// passage, so its dense ranking equals a brute force over those texts (and
// not over the passages alone); the setting survives a reopen and an append.
func TestEmbedTitle(t *testing.T) { eachModel(t, testEmbedTitle) }

func testEmbedTitle(t *testing.T, model tmodel) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "ix")
	ix, err := engine.Create(dir, model.create(engine.CreateOptions{})) // titles embedded by default
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	if _, err := ix.Add(ctx, engine.AddOptions{Input: corpus(t, tmp, 40, 0)}); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	if ix, err = engine.Open(dir, model.open(engine.OpenOptions{Writable: true})); err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if !ix.Info().Chunking.Title {
		t.Fatal("Chunking.Title not recorded")
	}
	if _, err := ix.Add(ctx, engine.AddOptions{Input: corpus(t, tmp, 20, 40)}); err != nil {
		t.Fatal(err)
	}
	m := model.emb
	docs, err := ix.Documents()
	if err != nil || len(docs) != 60 {
		t.Fatalf("%d documents, %v", len(docs), err)
	}
	query := "title 7 search engines rank documents"
	qv, err := m.Embed(ctx, []string{query})
	if err != nil {
		t.Fatal(err)
	}
	tokMax := 0
	brute := func(withTitle bool) map[string]float64 {
		out := map[string]float64{}
		for _, d := range docs {
			var texts []string
			for _, p := range d.Passages {
				s := p.Text
				if withTitle {
					s = d.Title + " " + s
				}
				texts = append(texts, s)
				tokMax = max(tokMax, len(model.tok.Tokenize(s)))
			}
			vs, err := m.Embed(ctx, texts)
			if err != nil {
				t.Fatal(err)
			}
			best := math.Inf(-1)
			for _, v := range vs {
				var s float64
				for j := range v {
					s += float64(v[j]) * float64(qv[0][j])
				}
				best = math.Max(best, s)
			}
			out[d.ID] = best
		}
		return out
	}
	plain := brute(false)
	titled := brute(true)
	if tokMax > ix.Info().Chunking.Window {
		t.Errorf("an embedded title + passage has %d word pieces, over the window %d", tokMax, ix.Info().Chunking.Window)
	}
	res, err := ix.Search(ctx, engine.Request{Text: query, K: 60})
	if err != nil || len(res.Results) != 60 {
		t.Fatalf("%v %d results", err, len(res.Results))
	}
	differs := 0
	for _, r := range res.Results {
		if math.Abs(r.Score-titled[r.ID]) > 1e-4 {
			t.Errorf("%s: score %.6f, title + passage brute force %.6f", r.ID, r.Score, titled[r.ID])
		}
		if math.Abs(titled[r.ID]-plain[r.ID]) > 1e-3 {
			differs++
		}
	}
	if differs < 30 {
		t.Errorf("only %d of 60 documents score differently with the title: the title is not embedded", differs)
	}
}
