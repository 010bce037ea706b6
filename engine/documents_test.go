package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/encoder"
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/ingest"
	"github.com/quarry-search/quarry/engine/meta"
)

// docSet generates documents with metadata of every facet type and keeps
// them, so that tests can count what the index should hold.
type docSet struct {
	ws   []string
	rng  *rand.Rand
	next int
	all  map[string]map[string]any // id → record as sent
}

func newDocSet(t testing.TB, seed uint64) *docSet {
	return &docSet{ws: words(t), rng: rand.New(rand.NewPCG(seed, 9)), all: map[string]map[string]any{}}
}

// batch makes n new records.
func (d *docSet) batch(n int) []map[string]any {
	var out []map[string]any
	for range n {
		i := d.next
		d.next++
		nw := 4 + d.rng.IntN(30)
		if d.rng.IntN(6) == 0 {
			nw = 80 // several passages
		}
		text := make([]string, nw)
		for j := range text {
			text[j] = d.ws[d.rng.IntN(len(d.ws))]
		}
		rec := map[string]any{
			"_id": fmt.Sprintf("m-%04d", i), "title": "title " + d.ws[i%len(d.ws)], "text": strings.Join(text, " "),
			"lib": []string{"torch", "jax", "onnx"}[d.rng.IntN(3)], "likes": d.rng.IntN(100),
			"tags":    []string{"t" + fmt.Sprint(d.rng.IntN(5)), "t" + fmt.Sprint(d.rng.IntN(5))},
			"private": d.rng.IntN(4) == 0,
		}
		if i%3 == 0 {
			rec["lastModified"] = time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour).Format(time.RFC3339)
		}
		d.all[rec["_id"].(string)] = rec
		out = append(out, rec)
	}
	return out
}

func jsonlBody(recs []map[string]any) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		line, _ := json.Marshal(r)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func arrayBody(recs []map[string]any) []byte {
	b, _ := json.Marshal(recs)
	return b
}

func body(t testing.TB, data []byte) ingest.Reader {
	t.Helper()
	r, err := ingest.NewBytesReader(data, "request", ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func idsOf(recs []map[string]any) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r["_id"].(string))
	}
	return out
}

// bruteFacets counts, from the records as sent, what Facets reports for
// the string fields (documents per value), and documents per field.
func bruteFacets(recs map[string]map[string]any, live map[string]bool) (map[string]map[string]int, map[string]int) {
	vals, docs := map[string]map[string]int{}, map[string]int{}
	for id, r := range recs {
		if !live[id] {
			continue
		}
		for k, v := range r {
			if k == "_id" || k == "title" || k == "text" {
				continue
			}
			docs[k]++
			if vals[k] == nil {
				vals[k] = map[string]int{}
			}
			seen := map[string]bool{}
			var scalars []any
			switch v := v.(type) {
			case []string:
				for _, s := range v {
					scalars = append(scalars, s)
				}
			default:
				scalars = []any{v}
			}
			for _, s := range scalars {
				var key string
				switch s := s.(type) {
				case string:
					key = s
				case bool:
					key = fmt.Sprint(s)
				default:
					continue
				}
				if !seen[key] {
					seen[key] = true
					vals[k][key]++
				}
			}
		}
	}
	return vals, docs
}

func checkFacets(t *testing.T, ix *engine.Index, set *docSet, live map[string]bool) {
	t.Helper()
	f, err := ix.Facets(0)
	if err != nil {
		t.Fatal(err)
	}
	if f.Generation != ix.Info().Generation {
		t.Errorf("facets of generation %d, index at %d", f.Generation, ix.Info().Generation)
	}
	vals, docs := bruteFacets(set.all, live)
	for field, n := range docs {
		got := f.Fields[field]
		if got.Documents != n {
			t.Errorf("%s: %d documents, want %d", field, got.Documents, n)
		}
		want := map[string]int{}
		for _, v := range got.Values {
			want[v.Value] = v.Count
		}
		if got.Type == meta.TypeString || got.Type == meta.TypeBool {
			if !reflect.DeepEqual(want, vals[field]) {
				t.Errorf("%s: values %v, want %v", field, want, vals[field])
			}
			if !sort.SliceIsSorted(got.Values, func(i, j int) bool {
				a, b := got.Values[i], got.Values[j]
				return a.Count > b.Count || a.Count == b.Count && a.Value < b.Value
			}) {
				t.Errorf("%s: values out of order: %v", field, got.Values)
			}
		}
	}
	types := map[string]meta.FieldType{"lib": meta.TypeString, "tags": meta.TypeString, "likes": meta.TypeNumber, "private": meta.TypeBool, "lastModified": meta.TypeTime}
	for field, ty := range types {
		if docs[field] > 0 && f.Fields[field].Type != ty {
			t.Errorf("%s: type %s, want %s", field, f.Fields[field].Type, ty)
		}
	}
	if len(f.Fields) != len(docs) {
		t.Errorf("%d fields, want %d", len(f.Fields), len(docs))
	}
}

func TestAddDocumentsRoundTrip(t *testing.T) { eachModel(t, testAddDocumentsRoundTrip) }

func testAddDocumentsRoundTrip(t *testing.T, model tmodel) {
	ctx := context.Background()
	dir, ix := newIndex(t, model, "")
	set := newDocSet(t, 1)
	first := set.batch(30)
	res, err := ix.AddDocuments(ctx, body(t, jsonlBody(first)), engine.DocumentsOptions{SegmentPassages: 8})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Committed, idsOf(first)) || res.Generation != 1 || res.Documents != 30 || res.Stats.Segments < 2 || res.Stats.Passages < 30 {
		t.Fatalf("first add: %+v", res)
	}
	// A JSON array body; several segments, one generation.
	second := set.batch(12)
	res, err = ix.AddDocuments(ctx, body(t, arrayBody(second)), engine.DocumentsOptions{SegmentPassages: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Committed, idsOf(second)) || res.Generation != 2 || res.Documents != 42 {
		t.Fatalf("second add: %+v", res)
	}
	live := map[string]bool{}
	for id := range set.all {
		live[id] = true
	}
	checkSearch := func(ix *engine.Index) {
		t.Helper()
		for _, rec := range []map[string]any{first[4], second[5]} {
			for _, mode := range []engine.Mode{engine.ModeBM25, engine.ModeDense} {
				resp, err := ix.Search(ctx, engine.Request{Text: rec["text"].(string), K: 3, Mode: mode})
				if err != nil {
					t.Fatal(err)
				}
				i := slices.IndexFunc(resp.Results, func(r engine.Result) bool { return r.ID == rec["_id"] })
				if i < 0 || mode == engine.ModeDense && i != 0 {
					t.Fatalf("%s search for %s: %d results, it at %d", mode, rec["_id"], len(resp.Results), i)
				}
				top := resp.Results[i]
				if top.Title != rec["title"] {
					t.Fatalf("%s search for %s: title %q", mode, rec["_id"], top.Title)
				}
				var md map[string]any
				json.Unmarshal(top.Metadata, &md)
				if md["lib"] != rec["lib"] || md["likes"] != float64(rec["likes"].(int)) || md["private"] != rec["private"] || md["text"] != nil {
					t.Fatalf("metadata %s, sent %v", top.Metadata, rec)
				}
			}
		}
		// Filters see the new documents.
		resp, err := ix.Search(ctx, engine.Request{Text: "title", K: 100, Mode: engine.ModeBM25, Filters: []string{"lib=jax"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.Results {
			if set.all[r.ID]["lib"] != "jax" {
				t.Fatalf("filter lib=jax returned %s", r.ID)
			}
		}
	}
	checkSearch(ix)
	checkFacets(t, ix, set, live)

	// Delete reports the deleted and the missing ids.
	del, err := ix.DeleteDocuments(ctx, []string{"m-0003", "nope", "m-0003", "m-0040", "nope2"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(del.Deleted, []string{"m-0003", "m-0040"}) || !slices.Equal(del.Missing, []string{"nope", "nope2"}) || del.Generation != 3 || del.Documents != 40 {
		t.Fatalf("delete: %+v", del)
	}
	delete(live, "m-0003")
	delete(live, "m-0040")
	resp, err := ix.Search(ctx, engine.Request{Text: first[3]["text"].(string), K: 50, Mode: engine.ModeBM25})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Results {
		if r.ID == "m-0003" {
			t.Fatal("a deleted document is found")
		}
	}
	checkFacets(t, ix, set, live)
	// Deleting again: missing, nothing committed.
	del, err = ix.DeleteDocuments(ctx, []string{"m-0003"})
	if err != nil || len(del.Deleted) != 0 || !slices.Equal(del.Missing, []string{"m-0003"}) || del.Generation != 3 || del.Documents != 40 {
		t.Fatalf("delete again: %+v %v", del, err)
	}

	// Durable: a reopened index has all of it.
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix, err = engine.Open(dir, model.open(engine.OpenOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if in := ix.Info(); in.Documents != 40 || in.Generation != 3 || len(in.Inputs) != 0 {
		t.Fatalf("reopened: %+v", in)
	}
	checkSearch(ix)
	checkFacets(t, ix, set, live)
	s := ix.Summary()
	if s.Generation != 3 || s.Documents != 40 || s.Writable || s.Sparse || !slices.Equal(s.Modes, []engine.Mode{engine.ModeDense, engine.ModeBM25, engine.ModeHybrid}) ||
		s.Dim != ix.Info().Model.Dim || s.DType != ix.Info().DType || s.Model != ix.Info().Model.Name || s.Passages != ix.Info().Passages {
		t.Fatalf("summary %+v", s)
	}
	if _, err := ix.AddDocuments(ctx, body(t, jsonlBody(set.batch(1))), engine.DocumentsOptions{}); !errors.Is(err, engine.ErrReadOnly) {
		t.Fatalf("add to a read-only index: %v", err)
	}
	if _, err := ix.DeleteDocuments(ctx, []string{"m-0001"}); !errors.Is(err, engine.ErrReadOnly) {
		t.Fatalf("delete from a read-only index: %v", err)
	}
}

// dirState lists the files of dir with their sizes.
func dirState(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, _ := e.Info()
		out[e.Name()] = fi.Size()
	}
	return out
}

// TestAddDocumentsRejected: a request with bad records is rejected whole
// with the bad records and the messages `quarry index` (Add) gives for the
// same lines; nothing is written.
func TestAddDocumentsRejected(t *testing.T) {
	ctx := context.Background()
	enc := newFake(t, encoder.BiEncoder)
	dir := filepath.Join(t.TempDir(), "ix")
	ix, err := engine.Create(dir, engine.CreateOptions{Encoder: enc})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	set := newDocSet(t, 2)
	if _, err := ix.AddDocuments(ctx, body(t, jsonlBody(set.batch(10))), engine.DocumentsOptions{}); err != nil {
		t.Fatal(err)
	}
	lines := []string{
		`{"_id": "new1", "text": "fine"}`,
		`{"_id": "m-0002", "text": "already in the index"}`,
		`{"_id": "new1", "text": "twice in the request"}`,
		`{"text": "no id"}`,
		`{"_id": "x", "text": ""}`,
		`{"_id": "y", "text": "t", "title": 3}`,
		`{"_id": "z", "text": "t"`,
		`{"_id": 7, "text": "fine too"}`,
		`{"id": "m-0005", "text": "in the index, by its id field"}`,
	}
	data := []byte(strings.Join(lines, "\n") + "\n")
	file := filepath.Join(t.TempDir(), "req.jsonl")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	before, gen := dirState(t, dir), ix.Info().Generation
	_, fileErr := ix.Add(ctx, engine.AddOptions{Input: file})
	r, _ := ingest.NewBytesReader(data, file, ingest.Options{})
	_, memErr := ix.AddDocuments(ctx, r, engine.DocumentsOptions{})
	var fb, mb *engine.BadInputError
	if !errors.As(fileErr, &fb) || !errors.As(memErr, &mb) {
		t.Fatalf("file %v, memory %v", fileErr, memErr)
	}
	if mb.Count != 7 || len(mb.Records) != 7 || memErr.Error() != fileErr.Error() {
		t.Fatalf("memory:\n%v\nfile:\n%v", memErr, fileErr)
	}
	for i := range mb.Records {
		if !reflect.DeepEqual(mb.Records[i], fb.Records[i]) {
			t.Errorf("record %d: memory %+v, file %+v", i, mb.Records[i], fb.Records[i])
		}
	}
	wantDup := map[int]string{0: "m-0002", 1: "new1", 6: "m-0005"}
	for i, b := range mb.Records {
		if b.DuplicateID != wantDup[i] {
			t.Errorf("record %d (%v): DuplicateID %q, want %q", i, b, b.DuplicateID, wantDup[i])
		}
	}
	if got := mb.Records[0].Error(); got != file+`:2: id: duplicate id "m-0002": the index already holds it` {
		t.Errorf("in-index duplicate: %q", got)
	}
	// The same records as a JSON array: the same messages, by element.
	var objs []json.RawMessage
	for _, l := range lines[:6] {
		objs = append(objs, json.RawMessage(l))
	}
	arr, _ := json.Marshal(objs)
	_, err = ix.AddDocuments(ctx, body(t, arr), engine.DocumentsOptions{})
	var ab *engine.BadInputError
	if !errors.As(err, &ab) || ab.Count != 5 {
		t.Fatalf("array: %v", err)
	}
	for i, b := range ab.Records {
		m := mb.Records[i]
		if !b.InArray || b.Index != m.Line-1 || b.Field != m.Field || b.Msg != m.Msg {
			t.Errorf("array record %+v, jsonl %+v", b, m)
		}
	}
	if after := dirState(t, dir); !reflect.DeepEqual(after, before) || ix.Info().Generation != gen {
		t.Fatalf("a rejected request changed the index: %v -> %v", before, after)
	}
	// Empty and over-the-limit requests.
	if _, err := ix.AddDocuments(ctx, body(t, []byte(" \n")), engine.DocumentsOptions{}); !errors.Is(err, engine.ErrNoDocuments) || !errs.Is(err, errs.BadInput) {
		t.Fatalf("empty: %v", err)
	}
	if _, err := ix.AddDocuments(ctx, body(t, jsonlBody(set.batch(3))), engine.DocumentsOptions{MaxDocuments: 2}); !errs.Is(err, errs.Limit) {
		t.Fatalf("MaxDocuments: %v", err)
	}
	lim, _ := ingest.NewBytesReader(jsonlBody(set.batch(3)), "request", ingest.Options{MaxRecords: 2})
	if _, err := ix.AddDocuments(ctx, lim, engine.DocumentsOptions{}); !errs.Is(err, errs.Limit) {
		t.Fatalf("MaxRecords: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ix.AddDocuments(cctx, body(t, jsonlBody(set.batch(3))), engine.DocumentsOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
	if after := dirState(t, dir); !reflect.DeepEqual(after, before) || ix.Info().Documents != 10 {
		t.Fatalf("a rejected request changed the index: %v -> %v", before, after)
	}
}

// TestAddDocumentsNewIndex: a rejected first request leaves no index
// behind; an accepted one creates it.
func TestAddDocumentsNewIndex(t *testing.T) {
	ctx := context.Background()
	enc := newFake(t, encoder.BiEncoder)
	dir := filepath.Join(t.TempDir(), "ix")
	ix, err := engine.Create(dir, engine.CreateOptions{Encoder: enc})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ix.AddDocuments(ctx, body(t, []byte(`{"_id": "a", "text": ""}`)), engine.DocumentsOptions{})
	var bad *engine.BadInputError
	if !errors.As(err, &bad) || bad.Records[0].Error() != "request:1: text: empty" {
		t.Fatalf("bad first request: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 { // the lock only
		t.Fatalf("files after a rejected request: %v", ents)
	}
	ix.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a rejected first request left %s: %v", dir, err)
	}
	ix, err = engine.Create(dir, engine.CreateOptions{Encoder: enc})
	if err != nil {
		t.Fatal(err)
	}
	res, err := ix.AddDocuments(ctx, body(t, []byte(`[{"_id": "a", "text": "hello world"}]`)), engine.DocumentsOptions{})
	if err != nil || res.Generation != 1 || res.Documents != 1 {
		t.Fatalf("first request: %+v %v", res, err)
	}
	ix.Close()
	ix, err = engine.Open(dir, engine.OpenOptions{Encoder: enc})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if ix.Info().Documents != 1 {
		t.Fatal("not committed")
	}
}

// TestAddDocumentsKeepsResume: a request between an interrupted file Add
// and its resumption does not disturb the resume.
func TestAddDocumentsKeepsResume(t *testing.T) {
	ctx := context.Background()
	enc := newFake(t, encoder.BiEncoder)
	data := t.TempDir()
	in := corpus(t, data, 120, 0)
	dir := filepath.Join(t.TempDir(), "ix")
	ix, err := engine.Create(dir, engine.CreateOptions{Encoder: enc})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	_, err = ix.Add(cctx, engine.AddOptions{Input: in, SegmentPassages: 32, Progress: func(p engine.Progress) {
		if p.Segments == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted add: %v", err)
	}
	inputs := ix.Info().Inputs
	if len(inputs) != 1 || inputs[0].Done || inputs[0].Records == 0 {
		t.Fatalf("inputs %+v", inputs)
	}
	set := newDocSet(t, 3)
	if _, err := ix.AddDocuments(ctx, body(t, jsonlBody(set.batch(5))), engine.DocumentsOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := ix.Info().Inputs; !reflect.DeepEqual(got, inputs) {
		t.Fatalf("AddDocuments changed the input progress: %+v -> %+v", inputs, got)
	}
	st, err := ix.Add(ctx, engine.AddOptions{Input: in, SegmentPassages: 32})
	if err != nil || st.Resumed != inputs[0].Records {
		t.Fatalf("resume: %+v %v", st, err)
	}
	if n := ix.Info().Documents; n != 125 {
		t.Fatalf("%d documents, want 125", n)
	}
	ix.Close()
}

// TestAddDocumentsWhileSearching (run with -race): searches and facets in
// parallel with AddDocuments and DeleteDocuments never fail and only see
// documents live in the generation they read.
func TestAddDocumentsWhileSearching(t *testing.T) {
	ctx := context.Background()
	enc := newFake(t, encoder.BiEncoder)
	dir := filepath.Join(t.TempDir(), "ix")
	ix, err := engine.Create(dir, engine.CreateOptions{Encoder: enc})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	set := newDocSet(t, 4)
	var order []string
	res, err := ix.AddDocuments(ctx, body(t, jsonlBody(set.batch(20))), engine.DocumentsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	order = append(order, res.Committed...)
	var live sync.Map // generation → set of live ids
	record := func(gen uint64) {
		ids := map[string]bool{}
		for _, id := range order {
			ids[id] = true
		}
		live.Store(gen, ids)
	}
	record(res.Generation)
	type seen struct {
		gen     uint64
		ids     []string
		withLib int // facet "lib" documents (facets only)
		facets  bool
	}
	var mu sync.Mutex
	var seenAll []seen
	var searches atomic.Int64
	stop := make(chan struct{})
	errc := make(chan error, 8)
	var wg sync.WaitGroup
	ws := words(t)
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rr := rand.New(rand.NewPCG(uint64(r), 2))
			modes := []engine.Mode{engine.ModeDense, engine.ModeBM25, engine.ModeHybrid}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var s seen
				if r == 0 && i%2 == 0 {
					f, err := ix.Facets(10)
					if err != nil {
						errc <- err
						return
					}
					s = seen{gen: f.Generation, withLib: f.Fields["lib"].Documents, facets: true}
				} else {
					resp, err := ix.Search(ctx, engine.Request{Text: ws[rr.IntN(len(ws))] + " " + ws[rr.IntN(len(ws))], K: 20, Mode: modes[rr.IntN(3)], Filters: []string{"likes>=0"}})
					if err != nil {
						errc <- err
						return
					}
					s.gen = resp.Generation
					for _, x := range resp.Results {
						s.ids = append(s.ids, x.ID)
					}
				}
				mu.Lock()
				seenAll = append(seenAll, s)
				mu.Unlock()
				searches.Add(1)
			}
		}()
	}
	rng := rand.New(rand.NewPCG(8, 8))
	for op := range 30 {
		if op%3 == 2 {
			var del []string
			for range 3 {
				del = append(del, order[rng.IntN(len(order))])
			}
			res, err := ix.DeleteDocuments(ctx, del)
			if err != nil {
				t.Fatal(err)
			}
			order = slices.DeleteFunc(order, func(id string) bool { return slices.Contains(res.Deleted, id) })
			record(res.Generation)
			continue
		}
		recs := set.batch(1 + rng.IntN(8))
		data := jsonlBody(recs)
		if op%2 == 0 {
			data = arrayBody(recs)
		}
		res, err := ix.AddDocuments(ctx, body(t, data), engine.DocumentsOptions{SegmentPassages: 8})
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, res.Committed...)
		record(res.Generation)
		if res.Documents != int64(len(order)) {
			t.Fatalf("documents %d, want %d", res.Documents, len(order))
		}
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	for _, s := range seenAll {
		v, ok := live.Load(s.gen)
		if !ok {
			t.Fatalf("generation %d was never committed", s.gen)
		}
		ids := v.(map[string]bool)
		if s.facets && s.withLib != len(ids) {
			t.Fatalf("facets of generation %d: %d documents with lib, %d live", s.gen, s.withLib, len(ids))
		}
		for _, id := range s.ids {
			if !ids[id] {
				t.Fatalf("a search of generation %d returned %s, not live in it", s.gen, id)
			}
		}
	}
	if searches.Load() == 0 {
		t.Fatal("no search ran")
	}
	t.Logf("%d searches and facets", searches.Load())
}

func TestFacetsCacheAndLimits(t *testing.T) {
	ctx := context.Background()
	enc := newFake(t, encoder.BiEncoder)
	ix, err := engine.Create(filepath.Join(t.TempDir(), "ix"), engine.CreateOptions{Encoder: enc})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	f, err := ix.Facets(0)
	if err != nil || len(f.Fields) != 0 || f.Generation != 0 {
		t.Fatalf("facets of an empty index: %+v %v", f, err)
	}
	set := newDocSet(t, 5)
	if _, err := ix.AddDocuments(ctx, body(t, jsonlBody(set.batch(40))), engine.DocumentsOptions{}); err != nil {
		t.Fatal(err)
	}
	a, _ := ix.Facets(0)
	b, _ := ix.Facets(engine.DefaultFacetValues)
	if a != b {
		t.Error("facets of one generation are not cached")
	}
	two, _ := ix.Facets(2)
	if len(two.Fields["tags"].Values) != 2 || !two.Fields["tags"].Truncated || len(a.Fields["tags"].Values) != 5 || a.Fields["tags"].Truncated {
		t.Errorf("maxValues: %+v / %+v", two.Fields["tags"], a.Fields["tags"])
	}
	if _, err := ix.DeleteDocuments(ctx, []string{"m-0001"}); err != nil {
		t.Fatal(err)
	}
	c, _ := ix.Facets(0)
	if c == a || c.Fields["lib"].Documents != 39 {
		t.Errorf("facets after a delete: %+v", c.Fields["lib"])
	}
	for _, n := range []int{-1, engine.MaxFacetValues + 1} {
		if _, err := ix.Facets(n); !errs.Is(err, errs.Limit) {
			t.Errorf("Facets(%d): %v", n, err)
		}
	}
}

func TestSummarySparse(t *testing.T) {
	enc := newFake(t, encoder.SparseEncoder)
	ix, err := engine.Create(filepath.Join(t.TempDir(), "ix"), engine.CreateOptions{Encoder: enc})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	s := ix.Summary()
	if !s.Sparse || !s.Writable || !slices.Equal(s.Modes, []engine.Mode{engine.ModeSparse, engine.ModeBM25}) || s.Dim != enc.Info().Vocab {
		t.Fatalf("summary %+v", s)
	}
}

// BenchmarkIndexFacets: Index.Facets on a 64k-document index, first call of
// a generation (building the metadata table aside) and cached calls.
func BenchmarkIndexFacets(b *testing.B) {
	ctx := context.Background()
	enc := newFake(b, encoder.BiEncoder)
	ix, err := engine.Create(filepath.Join(b.TempDir(), "ix"), engine.CreateOptions{Encoder: enc})
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	set := newDocSet(b, 6)
	for range 8 {
		recs := set.batch(8192)
		for _, r := range recs {
			r["text"] = "short text " + r["_id"].(string)
		}
		r, _ := ingest.NewBytesReader(jsonlBody(recs), "request", ingest.Options{})
		if _, err := ix.AddDocuments(ctx, r, engine.DocumentsOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := ix.Facets(0); err != nil { // builds the table
		b.Fatal(err)
	}
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := ix.Facets(0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new-maxvalues", func(b *testing.B) {
		n := 0
		for b.Loop() {
			n++
			if _, err := ix.Facets(20 + n%2); err != nil { // misses the cache each time
				b.Fatal(err)
			}
		}
	})
}
