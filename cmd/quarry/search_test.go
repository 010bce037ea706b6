package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/modelgen"
	"github.com/quarry-search/quarry/engine/search"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func needNative(t *testing.T) {
	t.Helper()
	if !search.Native() {
		t.Skip("no native core")
	}
}

// genModel writes a tiny generated model of kind (mean, rank, splade) with
// weights of type typ (f32, f16).
func genModel(t testing.TB, kind, typ string) string {
	t.Helper()
	vocab, err := modelgen.LoadVocab("")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "tiny-"+kind+"-"+typ+".gguf")
	if err := modelgen.Generate(p, modelgen.Spec{Preset: "tiny", Kind: kind, Type: typ, Seed: 5}, vocab); err != nil {
		t.Fatal(err)
	}
	return p
}

// mixedCorpus writes n documents about a few topics: every 5th has no
// title, every 7th no metadata, the others a section and a size.
func mixedCorpus(t testing.TB, n int) string {
	t.Helper()
	topics := []string{"image viewer for photos", "network bandwidth monitor", "password manager secret store", "chess game engine", "picture resize tool"}
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		d := map[string]any{"_id": fmt.Sprintf("d%03d", i), "text": fmt.Sprintf("%s number %d %s", topics[i%len(topics)], i, topics[(i*3+1)%len(topics)])}
		if i%5 != 0 {
			d["title"] = strings.Fields(topics[i%len(topics)])[0]
		}
		if i%7 != 0 {
			d["section"] = []string{"graphics", "net", "utils"}[i%3]
			d["size"] = (i * 37) % 101
		}
		line, _ := json.Marshal(d)
		b.Write(line)
		b.WriteByte('\n')
	}
	p := filepath.Join(t.TempDir(), "corpus.jsonl")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mustRun runs quarry in-process and fails unless it exits 0.
func mustRun(t *testing.T, args ...string) (string, string) {
	t.Helper()
	code, out, errOut := convRun(args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, errOut)
	}
	return out, errOut
}

func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

type jsonResult struct {
	ID        string              `json:"id"`
	Score     float64             `json:"score"`
	ScoreKind string              `json:"score_kind"`
	Title     *string             `json:"title"`
	Metadata  map[string]any      `json:"metadata"`
	Scores    map[string]*float64 `json:"scores"`
}

type jsonResponse struct {
	QueryID         string       `json:"query_id"`
	Results         []jsonResult `json:"results"`
	QueryActiveDims *int         `json:"query_active_dims"`
}

func decodeResponses(t *testing.T, out string) []jsonResponse {
	t.Helper()
	var rs []jsonResponse
	for _, l := range lines(out) {
		var r jsonResponse
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		rs = append(rs, r)
	}
	return rs
}

// TestSearchJSONSchema validates every line of real --json output, in every
// mode and score kind, against docs/search-output.schema.json, and checks
// that the runs exercised what the schema says is optional.
func TestSearchJSONSchema(t *testing.T) {
	needNative(t)
	sch, err := jsonschema.NewCompiler().Compile(filepath.Join("..", "..", "docs", "search-output.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	model, ce, splade := genModel(t, "mean", "f32"), genModel(t, "rank", "f32"), genModel(t, "splade", "f32")
	in := mixedCorpus(t, 80)
	dir, sdir := filepath.Join(t.TempDir(), "dense"), filepath.Join(t.TempDir(), "sparse")
	mustRun(t, "index", "-q", "-m", model, "-i", in, "-o", dir)
	mustRun(t, "index", "-q", "-m", splade, "-i", in, "-o", sdir)
	qf := filepath.Join(t.TempDir(), "q.jsonl")
	os.WriteFile(qf, []byte("{\"_id\":\"q1\",\"text\":\"photo viewer\"}\n{\"_id\":\"q2\",\"text\":\"chess\"}\n"), 0o644)
	q := "image viewer"
	runs := [][]string{
		{"search", dir, q, "--mode", "dense"},
		{"search", dir, q, "--mode", "bm25"},
		{"search", dir, q, "--mode", "hybrid", "--k", "20"},
		{"search", dir, q, "--mode", "hybrid", "--fusion", "weighted", "--alpha", "0"},
		{"search", dir, q, "--mode", "dense", "--rerank-model", ce, "--rerank-top", "3", "--pool", "8", "--k", "8", "--sort", "size:desc"},
		{"search", dir, "--queries", qf, "--mode", "hybrid", "--rerank-model", ce, "--rerank-top", "5"},
		{"search", dir, q, "--filter", "section=nothing"},
		{"search", sdir, q},
		{"search", sdir, q, "--rerank-model", ce, "--rerank-top", "2", "--k", "4", "--filter", "section=graphics,net"},
	}
	kinds := map[string]bool{}
	var noTitle, noMetadata, activeDims, empty, sparseScore bool
	for _, args := range runs {
		out, _ := mustRun(t, append(args, "--json")...)
		if len(lines(out)) == 0 {
			t.Fatalf("%v: no output", args)
		}
		for _, l := range lines(out) {
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(l))
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(inst); err != nil {
				t.Errorf("%v: output does not match the schema: %v\n%s", args, err, l)
			}
		}
		for _, r := range decodeResponses(t, out) {
			empty = empty || len(r.Results) == 0
			activeDims = activeDims || r.QueryActiveDims != nil
			for _, res := range r.Results {
				kinds[res.ScoreKind] = true
				noTitle = noTitle || res.Title == nil
				noMetadata = noMetadata || res.Metadata == nil
				sparseScore = sparseScore || res.Scores["sparse"] != nil
			}
		}
	}
	for _, k := range []string{"dense", "bm25", "sparse", "rrf", "weighted", "rerank"} {
		if !kinds[k] {
			t.Errorf("no result with score_kind %s", k)
		}
	}
	if !noTitle || !noMetadata || !activeDims || !empty || !sparseScore {
		t.Errorf("optional parts not exercised: title omitted %v, metadata omitted %v, query_active_dims %v, empty results %v, scores.sparse %v",
			noTitle, noMetadata, activeDims, empty, sparseScore)
	}
	// The schema is not vacuous: it rejects an unknown field and a missing one.
	for _, bad := range []string{
		`{"query_id":"1","results":[],"took":3}`,
		`{"query_id":"1","results":[{"id":"a","score":1,"passage":"p","scores":{"dense":1,"bm25":null,"rerank":null},"passage_index":0}]}`,
		`{"query_id":"1","results":[{"id":"a","score":1,"score_kind":"rerank","passage":"p","scores":{"dense":1,"bm25":null,"rerank":null},"passage_index":0}]}`,
		`{"query_id":"1","results":[{"id":"a","score":1,"score_kind":"dense","title":"","passage":"p","scores":{"dense":1,"bm25":null,"rerank":null},"passage_index":0}]}`,
	} {
		inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(bad))
		if sch.Validate(inst) == nil {
			t.Errorf("schema accepts %s", bad)
		}
	}
}

// TestSearchFlags: --sort on a missing field, score_kind in the table,
// --alpha 0, and the BM25 overrides.
func TestSearchFlags(t *testing.T) {
	needNative(t)
	model, ce := genModel(t, "mean", "f32"), genModel(t, "rank", "f32")
	in := mixedCorpus(t, 60)
	dir := filepath.Join(t.TempDir(), "ix")
	mustRun(t, "index", "-q", "-m", model, "-i", in, "-o", dir)
	q := "image viewer photos"

	code, out, errOut := convRun("search", dir, q, "--sort", "stars:desc")
	if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, `"stars"`) || !strings.Contains(errOut, "sortable fields: section, size") {
		t.Errorf("--sort on a missing field: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// With --sort and a partial rerank every line says which score it shows.
	out, _ = mustRun(t, "search", dir, q, "--rerank-model", ce, "--rerank-top", "2", "--pool", "6", "--k", "6", "--sort", "size:asc")
	var rerank, dense int
	for _, l := range lines(out) {
		if !strings.HasPrefix(strings.TrimSpace(l), fmt.Sprint(rerank+dense+1)+".") {
			continue
		}
		switch {
		case strings.Contains(l, " rerank ("):
			rerank++
		case strings.Contains(l, " dense "):
			dense++
		default:
			t.Errorf("result line without its score kind: %q", l)
		}
	}
	if rerank != 2 || dense != 4 {
		t.Errorf("%d rerank and %d dense lines, want 2 and 4:\n%s", rerank, dense, out)
	}

	// --alpha 0 is BM25 only: results with a BM25 score first, by it.
	out, _ = mustRun(t, "search", dir, q, "--json", "--mode", "hybrid", "--fusion", "weighted", "--alpha", "0", "--k", "30")
	res := decodeResponses(t, out)[0].Results
	seenNoBM25 := false
	for i, r := range res {
		b := r.Scores["bm25"]
		if b == nil {
			seenNoBM25 = true
			continue
		}
		if seenNoBM25 || (i > 0 && res[i-1].Scores["bm25"] != nil && *res[i-1].Scores["bm25"] < *b) {
			t.Fatalf("--alpha 0 is not BM25 order at %d: %s", i, out)
		}
	}
	out5, _ := mustRun(t, "search", dir, q, "--json", "--mode", "hybrid", "--fusion", "weighted", "--k", "30")
	if out5 == out {
		t.Error("--alpha 0 gives the same results as the default 0.5")
	}

	// BM25: the index's field mode unless --bm25-fields; --k1/--b alone keep it.
	base, _ := mustRun(t, "search", dir, q, "--json", "--mode", "bm25")
	same, _ := mustRun(t, "search", dir, q, "--json", "--mode", "bm25", "--k1", "1.2", "--b", "0.75")
	best, _ := mustRun(t, "search", dir, q, "--json", "--mode", "bm25", "--bm25-fields", "best_fields")
	comb, _ := mustRun(t, "search", dir, q, "--json", "--mode", "bm25", "--bm25-fields", "combined")
	if same != base || best != base {
		t.Errorf("explicit defaults change BM25:\n%s\n%s\n%s", base, same, best)
	}
	if comb == base {
		t.Error("--bm25-fields combined scores as best_fields")
	}
	cdir := filepath.Join(t.TempDir(), "combined")
	mustRun(t, "index", "-q", "-m", model, "-i", in, "-o", cdir, "--bm25-fields", "combined")
	cbase, _ := mustRun(t, "search", cdir, q, "--json", "--mode", "bm25")
	if cbase != comb {
		t.Errorf("an index built --bm25-fields combined scores differently from --bm25-fields combined per query:\n%s\n%s", cbase, comb)
	}
	if out, _ := mustRun(t, "info", cdir); !strings.Contains(out, "fields combined") {
		t.Errorf("info lacks the BM25 fields:\n%s", out)
	}
	k1, _ := mustRun(t, "search", dir, q, "--json", "--mode", "bm25", "--k1", "0.5")
	if k1 == base {
		t.Error("--k1 0.5 has no effect")
	}
}

// TestSearchInterruptedAndCorrupt: a canceled run exits 130; a damaged
// segment file exits 3 with the error naming it.
func TestSearchInterruptedAndCorrupt(t *testing.T) {
	needNative(t)
	model := genModel(t, "mean", "f32")
	in := mixedCorpus(t, 30)
	dir := filepath.Join(t.TempDir(), "ix")
	mustRun(t, "index", "-q", "-m", model, "-i", in, "-o", dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	if code := runContext(ctx, []string{"quarry", "search", dir, "image"}, strings.NewReader(""), &out, &errb); code != 130 || !strings.Contains(errb.String(), "interrupted") {
		t.Errorf("canceled search: exit %d, stderr %q", code, errb.String())
	}
	fresh := filepath.Join(t.TempDir(), "fresh")
	errb.Reset()
	if code := runContext(ctx, []string{"quarry", "index", "-q", "-m", model, "-i", in, "-o", fresh}, strings.NewReader(""), &out, &errb); code != 130 {
		t.Errorf("canceled index: exit %d, stderr %q", code, errb.String())
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a canceled first index run left %s", fresh)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.qvec"))
	if len(segs) == 0 {
		t.Fatal("no segment file")
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	os.WriteFile(segs[0], b, 0o644)
	code, _, errOut := convRun("search", dir, "image")
	if code != 3 || !strings.Contains(errOut, filepath.Base(segs[0])) {
		t.Errorf("corrupt segment: exit %d, stderr %q; want 3 naming %s", code, errOut, filepath.Base(segs[0]))
	}
}
