package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/encoder"
	"github.com/quarry-search/quarry/engine/errs"
)

// TestSearchLimits: sizes above MaxK and queries above the byte limit are
// errs.Limit errors naming the field; K and Pool beyond the corpus return
// the corpus (no allocation for results it cannot have); a batch whose
// pools exceed MaxBatchCandidates is searched in parts with the same
// results.
func TestSearchLimits(t *testing.T) {
	ctx := context.Background()
	m := tmodel{name: "fake", enc: newFake(t, encoder.BiEncoder)}
	_, ix := newIndex(t, m, "f32")
	defer ix.Close()
	if _, err := ix.Add(ctx, engine.AddOptions{Input: corpus(t, t.TempDir(), 40, 0)}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		req  engine.Request
		kind errs.Kind
		want string
	}{
		{engine.Request{Text: "x", K: 4611686018427387904}, errs.Limit, "k = 4611686018427387904: above the limit of 10000"},
		{engine.Request{Text: "x", K: engine.MaxK + 1}, errs.Limit, "k = 10001"},
		{engine.Request{Text: "x", Pool: 1099511627776}, errs.Limit, "pool = 1099511627776"},
		{engine.Request{Text: "x", Rescore: 1 << 40}, errs.Limit, "rescore = 1099511627776"},
		{engine.Request{Text: "x", Rerank: &engine.Rerank{Top: 1 << 33}}, errs.Limit, "rerank top = 8589934592"},
		{engine.Request{Text: "x", K: -2147483648}, errs.BadInput, "k = -2147483648"},
		{engine.Request{Text: strings.Repeat("a ", 9000)}, errs.Limit, "query of 18000 bytes: above the limit of 16384 bytes"},
		{engine.Request{Text: "abcdef", MaxQueryBytes: 5}, errs.Limit, "query of 6 bytes: above the limit of 5 bytes"},
		{engine.Request{Text: "x", MaxQueryBytes: -1}, errs.BadInput, "max query bytes = -1"},
	} {
		_, err := ix.Search(ctx, c.req)
		if err == nil || errs.KindOf(err) != c.kind || !strings.Contains(err.Error(), c.want) {
			t.Errorf("K %d Pool %d: got %v (kind %v), want %v with %q", c.req.K, c.req.Pool, err, errs.KindOf(err), c.kind, c.want)
		}
	}
	// A long query allowed by its request; BM25 over it is bounded.
	long := strings.Repeat("title 3 doc ", 3000)
	if _, err := ix.Search(ctx, engine.Request{Text: long, Mode: engine.ModeBM25, MaxQueryBytes: len(long)}); err != nil {
		t.Errorf("query under its own limit: %v", err)
	}
	for _, mode := range []engine.Mode{engine.ModeDense, engine.ModeBM25, engine.ModeHybrid} {
		res, err := ix.Search(ctx, engine.Request{Text: "title 3", K: engine.MaxK, Pool: engine.MaxK, Mode: mode})
		if err != nil {
			t.Fatalf("%s: K = MaxK: %v", mode, err)
		}
		if len(res.Results) == 0 || len(res.Results) > 40 || (mode != engine.ModeBM25 && len(res.Results) != 40) {
			t.Errorf("%s: K = MaxK over 40 documents: %d results", mode, len(res.Results))
		}
	}
	// 300 requests × pool 10,000 (capped to 40 each), searched in parts of
	// at most 100 candidates: the same answers as one by one.
	defer engine.SetBatchCandidates(100)()
	reqs := make([]engine.Request, 300)
	for i := range reqs {
		reqs[i] = engine.Request{ID: string(rune('a' + i%26)), Text: "title " + string(rune('0'+i%10)), K: 3, Pool: engine.MaxK, Mode: engine.ModeHybrid}
	}
	batch, err := ix.SearchBatch(ctx, reqs)
	if err != nil || len(batch) != len(reqs) {
		t.Fatalf("batch: %d responses, %v", len(batch), err)
	}
	for i := 0; i < len(reqs); i += 37 {
		one, err := ix.Search(ctx, reqs[i])
		if err != nil {
			t.Fatal(err)
		}
		if len(one.Results) != len(batch[i].Results) {
			t.Fatalf("request %d: %d results alone, %d in the batch", i, len(one.Results), len(batch[i].Results))
		}
		for j := range one.Results {
			if one.Results[j].ID != batch[i].Results[j].ID {
				t.Errorf("request %d result %d: %s alone, %s in the batch", i, j, one.Results[j].ID, batch[i].Results[j].ID)
			}
		}
	}
}

// TestBadRecordsBounded: the precheck keeps the first 20 bad records and a
// count, not every one.
func TestBadRecordsBounded(t *testing.T) {
	ctx := context.Background()
	m := tmodel{name: "fake", enc: newFake(t, encoder.BiEncoder)}
	_, ix := newIndex(t, m, "f32")
	defer ix.Close()
	var b strings.Builder
	b.WriteString(`{"_id":"ok","text":"a good document"}` + "\n")
	for i := 0; i < 5000; i++ {
		b.WriteString("{not json\n")
	}
	in := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ix.Add(ctx, engine.AddOptions{Input: in})
	var be *engine.BadInputError
	if !errors.As(err, &be) || errs.KindOf(err) != errs.BadInput {
		t.Fatalf("add: %v, want a BadInputError", err)
	}
	if be.Count != 5000 || len(be.Records) != 20 || !strings.Contains(err.Error(), "… and 4980 more") {
		t.Errorf("count %d, %d records kept; want 5000 and 20:\n%v", be.Count, len(be.Records), err)
	}
}

// TestDeletedIDs: ids deleted already are told apart from ids never held.
func TestDeletedIDs(t *testing.T) {
	ctx := context.Background()
	m := tmodel{name: "fake", enc: newFake(t, encoder.BiEncoder)}
	_, ix := newIndex(t, m, "f32")
	defer ix.Close()
	if _, err := ix.Add(ctx, engine.AddOptions{Input: corpus(t, t.TempDir(), 30, 0)}); err != nil {
		t.Fatal(err)
	}
	if got, err := ix.DeletedIDs(ctx, []string{"doc-0003", "nope"}); err != nil || len(got) != 0 {
		t.Fatalf("before any delete: %v %v", got, err)
	}
	if n, missing, err := ix.Delete(ctx, []string{"doc-0003"}); err != nil || n != 1 || len(missing) != 0 {
		t.Fatalf("delete: %d %v %v", n, missing, err)
	}
	n, missing, err := ix.Delete(ctx, []string{"doc-0003", "nope", "doc-0004"})
	if err != nil || n != 1 || len(missing) != 2 {
		t.Fatalf("second delete: %d %v %v", n, missing, err)
	}
	got, err := ix.DeletedIDs(ctx, missing)
	if err != nil || len(got) != 1 || got[0] != "doc-0003" {
		t.Errorf("DeletedIDs(%v) = %v, %v; want [doc-0003]", missing, got, err)
	}
}
