package serve_test

import (
	"context"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/serve"
)

type addAnswer struct {
	Committed  []string `json:"committed"`
	Generation uint64   `json:"generation"`
	Documents  int64    `json:"documents"`
}

type badAnswer struct {
	Error      string `json:"error"`
	ErrorType  string `json:"error_type"`
	BadRecords []struct {
		Line    int    `json:"line"`
		InArray bool   `json:"in_array"`
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"bad_records"`
}

// TestDocuments: with --writable, JSONL and JSON array writes commit
// (durably: a fresh open sees them) and are searched at once; a body with
// any bad record or an id the index holds commits nothing and names the
// records; deletes report deleted and missing ids.
func TestDocuments(t *testing.T) {
	f := newFixture(t, func(c *serve.Config) { c.Writable = true })
	var sum struct{ Indexes []struct{ Generation uint64 } }
	f.do(t, "GET", "/v1/indexes", nil).json(t, &sum)
	gen := sum.Indexes[0].Generation

	jsonl := `{"_id": "new/one", "text": "a zebra crossing detector", "pipeline_tag": "object-detection", "likes": 5}
{"_id": "new/two", "title": "Two", "text": "zebra stripes classifier"}
`
	var a addAnswer
	r := f.do(t, "POST", "/v1/indexes/hub/documents", jsonl, "Content-Type", "application/x-ndjson")
	r.json(t, &a)
	if r.status != 200 || strings.Join(a.Committed, ",") != "new/one,new/two" || a.Generation != gen+1 || a.Documents != 42 {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	var res struct{ Results []struct{ ID string } }
	f.do(t, "POST", "/v1/indexes/hub/search", `{"query": "zebra", "mode": "bm25", "k": 2}`).json(t, &res)
	if len(res.Results) != 2 || !strings.HasPrefix(res.Results[0].ID, "new/") {
		t.Fatalf("search after add: %+v", res)
	}
	r = f.do(t, "POST", "/v1/indexes/hub/documents", `[{"id": "new/three", "text": "zebra three"}]`, "Content-Type", "application/json")
	r.json(t, &a)
	if r.status != 200 || len(a.Committed) != 1 || a.Documents != 43 {
		t.Fatalf("array add: %d %s", r.status, r.body)
	}

	// Bad records: nothing committed, every one named.
	var bad badAnswer
	r = f.do(t, "POST", "/v1/indexes/hub/documents", `[{"_id": "ok", "text": "fine"}, {"_id": "x"}, {"_id": "new/one", "text": "again"}]`)
	r.json(t, &bad)
	if r.status != 422 || bad.ErrorType != "Validation" || len(bad.BadRecords) != 2 {
		t.Fatalf("bad records: %d %s", r.status, r.body)
	}
	if !bad.BadRecords[0].InArray || bad.BadRecords[0].Line != 1 || bad.BadRecords[0].Field != "text" || bad.BadRecords[1].Line != 2 || !strings.Contains(bad.BadRecords[1].Message, "new/one") {
		t.Fatalf("bad records: %s", r.body)
	}
	bad = badAnswer{}
	r = f.do(t, "POST", "/v1/indexes/hub/documents", "{\"_id\": \"ok2\", \"text\": \"fine\"}\n{\"_id\": \"y\", \"text\": 5}\n", "Content-Type", "text/plain")
	r.json(t, &bad)
	if r.status != 422 || len(bad.BadRecords) != 1 || bad.BadRecords[0].Line != 2 || bad.BadRecords[0].InArray || strings.Contains(bad.Error, "--skip-bad") || !strings.Contains(bad.Error, "request:2: text:") {
		t.Fatalf("bad JSONL: %d %s", r.status, r.body)
	}
	f.do(t, "GET", "/v1/indexes", nil).json(t, &sum)
	if sum.Indexes[0].Generation != gen+2 {
		t.Fatalf("a rejected write committed: generation %d", sum.Indexes[0].Generation)
	}
	wantError(t, f.do(t, "POST", "/v1/indexes/hub/documents", ``), 400, "Empty", "empty")
	wantError(t, f.do(t, "POST", "/v1/indexes/hub/documents", `[]`), 400, "Empty", "no documents")
	wantError(t, f.do(t, "POST", "/v1/indexes/nope/documents", `[]`), 404, "NotFound", "nope")

	// Deletes.
	var d struct {
		Deleted, Missing []string
		Generation       uint64
		Documents        int64
	}
	r = f.do(t, "DELETE", "/v1/indexes/hub/documents", `{"ids": ["new/two", "nope", "new/two"]}`)
	r.json(t, &d)
	if r.status != 200 || strings.Join(d.Deleted, ",") != "new/two" || strings.Join(d.Missing, ",") != "nope" || d.Documents != 42 || d.Generation != gen+3 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	r = f.do(t, "DELETE", "/v1/indexes/hub/documents", `{"ids": ["nope"]}`)
	r.json(t, &d)
	if len(d.Deleted) != 0 || d.Deleted == nil || d.Generation != gen+3 {
		t.Fatalf("delete of nothing: %s", r.body)
	}
	wantError(t, f.do(t, "DELETE", "/v1/indexes/hub/documents", `{"ids": []}`), 400, "Empty", "ids")
	wantError(t, f.do(t, "DELETE", "/v1/indexes/hub/documents", `{}`), 422, "Validation", "ids")
	wantError(t, f.do(t, "DELETE", "/v1/indexes/hub/documents", `{"ids": [""]}`), 422, "Validation", "ids[0]")

	// Durable: closed and opened again, the index holds the writes.
	f.srv.Close()
	ix, err := engine.Open(f.dir, engine.OpenOptions{Encoder: f.dense})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if info := ix.Info(); info.Documents != 42 {
		t.Fatalf("reopened: %d documents", info.Documents)
	}
	got, err := ix.Search(context.Background(), engine.Request{Text: "zebra", Mode: engine.ModeBM25, K: 3})
	if err != nil || len(got.Results) != 2 || got.Results[0].ID == "new/two" || got.Results[1].ID == "new/two" { // new/two was deleted
		t.Fatalf("%v %+v", err, got)
	}
}

func TestFacets(t *testing.T) {
	f := newFixture(t, nil)
	var d struct {
		Name   string
		Modes  []string
		Facets map[string]struct {
			Type      string
			Documents int
			Values    []struct {
				Value string
				Count int
			}
			Min, Max any
			Sortable bool
		}
	}
	f.do(t, "GET", "/v1/indexes/hub", nil).json(t, &d)
	pt := d.Facets["pipeline_tag"]
	if d.Name != "hub" || pt.Type != "string" || pt.Documents != 40 || len(pt.Values) != 4 || pt.Values[0].Count != 10 || !pt.Sortable {
		t.Fatalf("pipeline_tag facet: %+v", pt)
	}
	if l := d.Facets["likes"]; l.Type != "number" || l.Min == nil || l.Max == nil {
		t.Fatalf("likes facet: %+v", l)
	}
	if tg := d.Facets["tags"]; len(tg.Values) != 4 || tg.Values[0].Value != "common" || tg.Values[0].Count != 40 {
		t.Fatalf("tags facet: %+v", tg)
	}
	f.do(t, "GET", "/v1/indexes/hub?values=2", nil).json(t, &d)
	if len(d.Facets["pipeline_tag"].Values) != 2 {
		t.Fatalf("values=2: %+v", d.Facets["pipeline_tag"])
	}
	wantError(t, f.do(t, "GET", "/v1/indexes/hub?values=0", nil), 422, "Validation", "values")
}
