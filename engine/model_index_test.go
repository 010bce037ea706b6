package engine_test

// A property test of the index against a simple in-memory model: random
// sequences of add batches, deletes, compactions and reopens; after every
// step every search mode returns what the model computes independently
// (brute-force dot products, a from-scratch BM25 over the live documents,
// RRF of the two, filters and sort), scores equal to 1e-6. It runs with the
// pure-Go fake encoder, so it needs no native core (CGO_ENABLED=0 too).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/encoder"
	"github.com/quarry-search/quarry/engine/encoder/fake"
	"github.com/quarry-search/quarry/engine/fusion"
	"github.com/quarry-search/quarry/engine/lexical"
	"github.com/quarry-search/quarry/engine/modelgen"
)

// mdoc is a document of the model.
type mdoc struct {
	id, title, text string
	likes           int
	lib             string
	passages        []string // as stored (checked once against the index)
	seq             int      // insertion order = ordinal order
}

type model struct {
	docs  map[string]*mdoc
	order []string // ids in insertion order (deleted ones removed)
	next  int
}

func (m *model) live() []*mdoc {
	out := make([]*mdoc, 0, len(m.order))
	for _, id := range m.order {
		out = append(out, m.docs[id])
	}
	return out
}

var fakeVocab []string

func vocab(t testing.TB) []string {
	t.Helper()
	if fakeVocab == nil {
		v, err := modelgen.LoadVocab("")
		if err != nil {
			t.Fatal(err)
		}
		fakeVocab = v
	}
	return fakeVocab
}

func newFake(t testing.TB, kind encoder.Kind) *fake.Encoder {
	t.Helper()
	e, err := fake.New(vocab(t), fake.Options{Kind: kind, Dim: 24, MaxTokens: 40, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// words is a small vocabulary of whole words so that texts share terms.
func words(t testing.TB) []string {
	v := vocab(t)
	var out []string
	for _, w := range v[2000:6000] {
		if !strings.HasPrefix(w, "##") && len(w) > 2 && strings.ToLower(w) == w {
			out = append(out, w)
		}
		if len(out) == 300 {
			break
		}
	}
	return out
}

func (m *model) addBatch(t *testing.T, rng *rand.Rand, ws []string, dir string, n int) string {
	t.Helper()
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		m.next++
		nw := 3 + rng.IntN(50)
		if rng.IntN(8) == 0 {
			nw = 90 // several passages
		}
		text := make([]string, nw)
		for j := range text {
			text[j] = ws[int(math.Abs(rng.NormFloat64()*60))%len(ws)]
		}
		title := ""
		if rng.IntN(3) > 0 {
			title = ws[rng.IntN(len(ws))] + " " + ws[rng.IntN(len(ws))]
		}
		d := &mdoc{id: fmt.Sprintf("d%04d", m.next), title: title, text: strings.Join(text, " "), likes: rng.IntN(50), lib: []string{"a", "b", "c"}[rng.IntN(3)], seq: m.next}
		m.docs[d.id] = d
		m.order = append(m.order, d.id)
		rec := map[string]any{"_id": d.id, "text": d.text, "likes": d.likes, "lib": d.lib}
		if title != "" {
			rec["title"] = title
		}
		line, _ := json.Marshal(rec)
		b.Write(line)
		b.WriteByte('\n')
	}
	p := filepath.Join(dir, fmt.Sprintf("batch-%d.jsonl", m.next))
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type want struct {
	id    string
	score float64
}

// dense is the model's dense ranking: the best passage's dot product.
func (m *model) dense(enc *fake.Encoder, q string, keep func(*mdoc) bool) []want {
	tok := enc.Tokenizer()
	qv := enc.Vector(tok.Encode(q, enc.Info().MaxTokens))
	var out []want
	for _, d := range m.live() {
		if keep != nil && !keep(d) {
			continue
		}
		best := math.Inf(-1)
		for _, p := range d.passages {
			text := p
			if strings.TrimSpace(d.title) != "" {
				text = strings.TrimSpace(d.title) + " " + p
			}
			v := enc.Vector(tok.Encode(text, enc.Info().MaxTokens))
			var s float64
			for i := range v {
				s += float64(float32(v[i])) * float64(float32(qv[i]))
			}
			best = max(best, s)
		}
		out = append(out, want{d.id, best})
	}
	return rank(m, out)
}

// sparseRank is the model's SPLADE ranking: the best passage's dot product.
func (m *model) sparseRank(enc *fake.Encoder, q string) []want {
	tok := enc.Tokenizer()
	qv := enc.SparseVector(tok.Encode(q, enc.Info().MaxTokens))
	var out []want
	for _, d := range m.live() {
		best := math.Inf(-1)
		for _, p := range d.passages {
			text := p
			if strings.TrimSpace(d.title) != "" {
				text = strings.TrimSpace(d.title) + " " + p
			}
			best = max(best, qv.Dot(enc.SparseVector(tok.Encode(text, enc.Info().MaxTokens))))
		}
		if best > 0 {
			out = append(out, want{d.id, best})
		}
	}
	return rank(m, out)
}

// bm25 is BM25 computed from scratch over the live documents: best_fields
// (title and text scored apart, best + 0.5 × other), k1 1.2, b 0.75.
func (m *model) bm25(q string, keep func(*mdoc) bool) []want {
	an := lexical.English()
	live := m.live()
	type fields struct {
		tf [2]map[string]int
		dl [2]int
	}
	fs := make([]fields, len(live))
	var docCount, sumTF [2]float64
	df := [2]map[string]int{{}, {}}
	for i, d := range live {
		for f, text := range []string{d.title, d.text} {
			terms := an.Analyze(text)
			fs[i].tf[f] = map[string]int{}
			for _, t := range terms {
				fs[i].tf[f][t]++
			}
			fs[i].dl[f] = len(terms)
			if len(terms) > 0 {
				docCount[f]++
			}
			sumTF[f] += float64(len(terms))
			for t := range fs[i].tf[f] {
				df[f][t]++
			}
		}
	}
	qterms := map[string]int{}
	for _, t := range an.Analyze(q) {
		qterms[t]++
	}
	names := make([]string, 0, len(qterms))
	for t := range qterms {
		names = append(names, t)
	}
	sort.Strings(names)
	var out []want
	for i, d := range live {
		if keep != nil && !keep(d) {
			continue
		}
		var acc [2]float64
		hit := false
		for _, t := range names {
			for f := range 2 {
				tf := float64(fs[i].tf[f][t])
				if tf == 0 {
					continue
				}
				hit = true
				idf := math.Log(1 + (docCount[f]-float64(df[f][t])+0.5)/(float64(df[f][t])+0.5))
				norm := 1.2 * (1 - 0.75 + 0.75*float64(fs[i].dl[f])/(sumTF[f]/docCount[f]))
				acc[f] += float64(qterms[t]) * idf * tf / (tf + norm)
			}
		}
		if hit {
			out = append(out, want{d.id, max(acc[0], acc[1]) + 0.5*min(acc[0], acc[1])})
		}
	}
	return rank(m, out)
}

// rank orders by score descending, then insertion order (the ordinal).
func rank(m *model, ws []want) []want {
	sort.SliceStable(ws, func(a, b int) bool {
		if ws[a].score != ws[b].score {
			return ws[a].score > ws[b].score
		}
		return m.docs[ws[a].id].seq < m.docs[ws[b].id].seq
	})
	return ws
}

func rrf(m *model, lists ...[]want) []want {
	ords := map[string]uint32{}
	ids := map[uint32]string{}
	var in [][]fusion.Hit
	for _, l := range lists {
		var hs []fusion.Hit
		for _, w := range l {
			o := uint32(m.docs[w.id].seq)
			ords[w.id], ids[o] = o, w.id
			hs = append(hs, fusion.Hit{Ord: o, Score: w.score})
		}
		in = append(in, hs)
	}
	f, _ := fusion.RRF(in, fusion.DefaultRRFK, nil)
	out := make([]want, len(f))
	for i, h := range f {
		out[i] = want{ids[h.Ord], h.Score}
	}
	return out
}

// sameRanking compares results with the model's top k: scores to 1e-6, ids
// in order except among scores tied to 1e-9.
func sameRanking(t *testing.T, what string, got []engine.Result, ws []want, k int) {
	t.Helper()
	if len(ws) > k {
		ws = ws[:k]
	}
	if len(got) != len(ws) {
		t.Fatalf("%s: %d results, model %d (%v)", what, len(got), len(ws), ws)
	}
	for i := range got {
		if math.Abs(got[i].Score-ws[i].score) > 1e-6 {
			t.Fatalf("%s: rank %d: %s score %.9f, model %s %.9f", what, i, got[i].ID, got[i].Score, ws[i].id, ws[i].score)
		}
		if got[i].ID != ws[i].id {
			tied := (i > 0 && math.Abs(ws[i-1].score-ws[i].score) < 1e-9) || (i+1 < len(ws) && math.Abs(ws[i+1].score-ws[i].score) < 1e-9)
			if !tied {
				t.Fatalf("%s: rank %d: %s, model %s (score %.9f)", what, i, got[i].ID, ws[i].id, ws[i].score)
			}
		}
	}
}

// learnPassages records the stored passages of newly added documents (the
// chunker has its own tests; the model needs the texts to score them).
func (m *model) learnPassages(t *testing.T, ix *engine.Index) {
	t.Helper()
	recs, err := ix.Documents()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(m.order) {
		t.Fatalf("index has %d live documents, model %d", len(recs), len(m.order))
	}
	for i, r := range recs {
		d := m.docs[r.ID]
		if d == nil || m.order[i] != r.ID {
			t.Fatalf("document %d: index has %q, model %q", i, r.ID, m.order[i])
		}
		if d.passages == nil {
			for _, p := range r.Passages {
				d.passages = append(d.passages, p.Text)
			}
			if len(d.passages) == 0 {
				t.Fatalf("%s: no passages", r.ID)
			}
		}
	}
}

func (m *model) check(t *testing.T, ix *engine.Index, enc *fake.Encoder, step string, queries []string) {
	t.Helper()
	ctx := context.Background()
	info := ix.Info()
	if info.Documents != int64(len(m.order)) {
		t.Fatalf("%s: info says %d documents, model %d", step, info.Documents, len(m.order))
	}
	const k = 10
	libA := func(d *mdoc) bool { return d.lib == "a" }
	for _, q := range queries {
		search := func(r engine.Request) []engine.Result {
			t.Helper()
			r.Text, r.K = q, k
			resp, err := ix.Search(ctx, r)
			if err != nil {
				t.Fatalf("%s: %q %s: %v", step, q, r.Mode, err)
			}
			return resp.Results
		}
		sparseIx := enc.Info().Kind == encoder.SparseEncoder
		bm := m.bm25(q, nil)
		sameRanking(t, step+" bm25 "+q, search(engine.Request{Mode: engine.ModeBM25}), bm, k)
		sameRanking(t, step+" bm25 filtered "+q, search(engine.Request{Mode: engine.ModeBM25, Filters: []string{"lib=a"}}), m.bm25(q, libA), k)
		if sparseIx {
			sameRanking(t, step+" sparse "+q, search(engine.Request{Mode: engine.ModeSparse}), m.sparseRank(enc, q), k)
			continue
		}
		dn := m.dense(enc, q, nil)
		sameRanking(t, step+" dense "+q, search(engine.Request{Mode: engine.ModeDense}), dn, k)
		sameRanking(t, step+" dense filtered "+q, search(engine.Request{Mode: engine.ModeDense, Filters: []string{"lib=a"}}), m.dense(enc, q, libA), k)
		sameRanking(t, step+" hybrid "+q, search(engine.Request{Mode: engine.ModeHybrid}), rrf(m, dn, bm), k)
		// Sorted: the pool (all documents here) ordered by likes, ties by relevance.
		got := search(engine.Request{Mode: engine.ModeDense, Sort: "likes:desc"})
		byLikes := append([]want(nil), dn...)
		sort.SliceStable(byLikes, func(a, b int) bool { return m.docs[byLikes[a].id].likes > m.docs[byLikes[b].id].likes })
		if len(got) != min(k, len(byLikes)) {
			t.Fatalf("%s sorted %q: %d results", step, q, len(got))
		}
		for i := range got {
			if m.docs[got[i].ID].likes != m.docs[byLikes[i].id].likes || math.Abs(got[i].Score-m.scoreOf(dn, got[i].ID)) > 1e-6 {
				t.Fatalf("%s sorted %q: rank %d %s (likes %d), model %s (likes %d)", step, q, i, got[i].ID, m.docs[got[i].ID].likes, byLikes[i].id, m.docs[byLikes[i].id].likes)
			}
		}
	}
}

func (m *model) scoreOf(ws []want, id string) float64 {
	for _, w := range ws {
		if w.id == id {
			return w.score
		}
	}
	return math.NaN()
}

func TestIndexAgainstModel(t *testing.T) {
	for _, kind := range []encoder.Kind{encoder.BiEncoder, encoder.SparseEncoder} {
		t.Run(kind.String(), func(t *testing.T) { runModelSequence(t, kind, 1) })
	}
	if !testing.Short() {
		t.Run("seed2", func(t *testing.T) { runModelSequence(t, encoder.BiEncoder, 2) })
	}
}

func runModelSequence(t *testing.T, kind encoder.Kind, seed uint64) {
	ctx := context.Background()
	enc := newFake(t, kind)
	rng := rand.New(rand.NewPCG(seed, 99))
	ws := words(t)
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "ix")
	m := &model{docs: map[string]*mdoc{}}
	ix, err := engine.Create(dir, engine.CreateOptions{Encoder: enc})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ix.Close() }()
	queries := []string{ws[0] + " " + ws[3], ws[1], ws[5] + " " + ws[8] + " " + ws[2], "nothing-matches-this"}
	steps := []string{"add", "add", "delete", "add", "compact", "delete", "reopen", "add", "delete", "delete", "compact", "add", "reopen", "delete", "compact"}
	for i := 0; i < 6; i++ {
		steps = append(steps, []string{"add", "delete", "compact", "reopen"}[rng.IntN(4)])
	}
	for si, op := range steps {
		step := fmt.Sprintf("step %d (%s)", si, op)
		switch op {
		case "add":
			in := m.addBatch(t, rng, ws, tmp, 5+rng.IntN(20))
			if _, err := ix.Add(ctx, engine.AddOptions{Input: in, SegmentPassages: 7 + rng.IntN(15)}); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			m.learnPassages(t, ix)
		case "delete":
			if len(m.order) == 0 {
				continue
			}
			var del []string
			for range 1 + rng.IntN(6) {
				del = append(del, m.order[rng.IntN(len(m.order))])
			}
			if rng.IntN(2) == 0 {
				// every document of the first segment-sized run, to empty a segment
				for _, id := range m.order[:min(len(m.order), 8)] {
					del = append(del, id)
				}
			}
			n, missing, err := ix.Delete(ctx, append(del, "no-such-id"))
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			gone := map[string]bool{}
			for _, id := range del {
				gone[id] = true
			}
			if n != len(gone) || len(missing) != 1 {
				t.Fatalf("%s: deleted %d (want %d), missing %v", step, n, len(gone), missing)
			}
			var keep []string
			for _, id := range m.order {
				if !gone[id] {
					keep = append(keep, id)
				}
			}
			m.order = keep
		case "compact":
			if _, err := ix.Compact(ctx); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
		case "reopen":
			if err := ix.Close(); err != nil {
				t.Fatal(err)
			}
			if ix, err = engine.Open(dir, engine.OpenOptions{Writable: true, Encoder: enc}); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
		}
		if len(m.order) == 0 && ix.Info().Generation == 0 {
			continue
		}
		qs := queries
		if len(m.order) > 0 { // words of a live document with several passages (overlaps)
			long := m.docs[m.order[0]]
			for _, id := range m.order {
				if d := m.docs[id]; len(d.passages) > len(long.passages) {
					long = d
				}
			}
			f := strings.Fields(long.text)
			qs = append(qs, strings.Join(f[len(f)/2:min(len(f), len(f)/2+6)], " "))
		}
		m.check(t, ix, enc, step, qs)
	}
}
