package eval

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/bindings"
	"github.com/quarry-search/quarry/engine/modelgen"
)

const debianDir = "../../testdata/beir/debian"

func TestParseModes(t *testing.T) {
	ms, err := ParseModes("bm25, dense,hybrid,dense+rerank,hybrid+rerank")
	if err != nil || len(ms) != 5 || ms[3].Retrieval != "dense" || !ms[3].Rerank || ms[0].Rerank || ms[4].Name != "hybrid+rerank" {
		t.Fatalf("%+v %v", ms, err)
	}
	ms, err = ParseModes("hybrid-weighted,sparse+rerank,hybrid")
	if err != nil || ms[0].Retrieval != "hybrid" || ms[0].Fusion != "weighted" || ms[1].Retrieval != "sparse" || !ms[1].Rerank || ms[2].Fusion != "rrf" {
		t.Fatalf("%+v %v", ms, err)
	}
	for _, bad := range []string{"", "splade", "bm25,bm25", "dense+rerank+rerank", "rerank", "hybrid-rrf"} {
		if _, err := ParseModes(bad); err == nil {
			t.Errorf("ParseModes(%q) accepted", bad)
		}
	}
}

func writeBEIR(t *testing.T, corpus, queries, qrels string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "qrels"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{"corpus.jsonl": corpus, "queries.jsonl": queries, "qrels/test.tsv": qrels} {
		if s == "-" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadBEIR(t *testing.T) {
	ds, err := LoadBEIR(debianDir, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Queries) != 54 || ds.Judgments != 652 || len(ds.UnknownQueries) != 0 || ds.NoRelevant != 0 || ds.Split != "test" {
		t.Fatalf("debian: %d queries, %d judgments, unknown %v", len(ds.Queries), ds.Judgments, ds.UnknownQueries)
	}
	corpus := `{"_id":"d1","text":"a"}` + "\n"
	queries := `{"_id":"q1","text":"x"}` + "\n" + `{"_id":2,"text":"y"}` + "\n"
	ds, err = LoadBEIR(writeBEIR(t, corpus, queries, "query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\n2\td1\t0\r\nq9\td1\t2\r\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Queries) != 2 || ds.Queries[0].ID != "2" || len(ds.UnknownQueries) != 1 || ds.UnknownQueries[0] != "q9" || ds.NoRelevant != 1 {
		t.Fatalf("%+v", ds)
	}
	for _, c := range []struct {
		corpus, queries, qrels, split, want string
		notExist                            bool
	}{
		{"-", queries, "q1\td1\t1\n", "test", "corpus.jsonl", true},
		{corpus, "-", "q1\td1\t1\n", "test", "queries.jsonl", true},
		{corpus, queries, "q1\td1\t1\n", "dev", `split "dev"`, true},
		{corpus, queries, "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td1\n", "test", "test.tsv:3: want 3 tab-separated fields", false},
		{corpus, queries, "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\tyes\n", "test", `test.tsv:3: score "yes" is not an integer`, false},
		{corpus, "{\"_id\":\"q1\",\"text\":\"x\"}\n{oops\n", "q1\td1\t1\n", "test", "queries.jsonl:2: invalid JSON", false},
		{corpus, "{\"_id\":\"q1\"}\n", "q1\td1\t1\n", "test", "queries.jsonl:1: text: missing", false},
		{corpus, queries, "query-id\tcorpus-id\tscore\nq7\td1\t1\n", "test", "none of the 1 queries", false},
	} {
		_, err := LoadBEIR(writeBEIR(t, c.corpus, c.queries, c.qrels), c.split)
		if err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, os.ErrNotExist) != c.notExist {
			t.Errorf("want error with %q (not exist %v), got %v", c.want, c.notExist, err)
		}
	}
}

func TestReadQrelsFormats(t *testing.T) {
	q, err := ParseQrels(strings.NewReader("\ufeffq1 0 d1 2\nq1 0 d2 0\n\nq2 Q0 d1 -1\nq1 0 d1 1\n"), "x.qrels")
	if err != nil {
		t.Fatal(err)
	}
	if q.Judgments != 4 || q.Qrels["q1"]["d1"] != 1 || q.Qrels["q2"]["d1"] != -1 || len(q.Warnings) != 1 || !strings.Contains(q.Warnings[0], "x.qrels:5") {
		t.Fatalf("%+v", q)
	}
	// a first line with an integer score is data, not a header
	q, err = ParseQrels(strings.NewReader("q1\td1\t1\n"), "y")
	if err != nil || q.Judgments != 1 {
		t.Fatalf("%+v %v", q, err)
	}
	if _, err := ParseQrels(strings.NewReader("q1\td1\t1\n\t d2\t1\n"), "z"); err == nil || !strings.Contains(err.Error(), "z:2: empty") {
		t.Fatalf("empty id: %v", err)
	}
}

func TestRunFileRoundTrip(t *testing.T) {
	run := Run{"q1": {"d1": 0.1 + 0.2, "d2": 1e-300, "d3": -2.5}, "q2": {}}
	p := filepath.Join(t.TempDir(), "r.trec")
	if err := writeRunFile(p, run, "t"); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRun(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got["q1"]) != 3 || got["q1"]["d1"] != 0.1+0.2 || got["q1"]["d2"] != 1e-300 {
		t.Fatalf("%v", got)
	}
	if err := WriteRun(new(strings.Builder), Run{"q": {"a b": 1}}, "t"); err == nil {
		t.Fatal("an id with a space was written")
	}
	bad := filepath.Join(t.TempDir(), "bad.trec")
	os.WriteFile(bad, []byte("q1 Q0 d1 1 0.5 t\nq1 Q0 d1 2 0.4 t\n"), 0o644)
	if _, err := ReadRun(bad); err == nil || !strings.Contains(err.Error(), "bad.trec:2: query q1 lists document d1 twice") {
		t.Fatalf("duplicate: %v", err)
	}
}

func genModel(t *testing.T, kind string) string {
	t.Helper()
	vocab, err := modelgen.LoadVocab("")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "tiny-"+kind+".gguf")
	if err := modelgen.Generate(p, modelgen.Spec{Preset: "tiny", Kind: kind, Type: "f32", Seed: 5}, vocab); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunBEIRMechanics runs the whole pipeline on the Debian set with
// generated tiny models (random weights: the figures mean nothing, the
// mechanics are checked).
func TestRunBEIRMechanics(t *testing.T) {
	if !bindings.Available {
		t.Skip("built without the native core")
	}
	ctx := context.Background()
	bi, ce := genModel(t, "mean"), genModel(t, "rank")
	modes, _ := ParseModes("bm25,dense,hybrid,dense+rerank,hybrid+rerank")
	if _, err := RunBEIR(ctx, BEIRConfig{Dir: debianDir, Model: bi, Modes: modes}); !errors.Is(err, ErrNoReranker) {
		t.Fatalf("rerank without a cross-encoder: %v", err)
	}
	if _, err := RunBEIR(ctx, BEIRConfig{Dir: debianDir, Model: bi, RerankModel: bi, Modes: modes[3:4]}); err == nil || !strings.Contains(err.Error(), "bi-encoder") {
		t.Fatalf("bi-encoder as reranker: %v", err)
	}
	idx := filepath.Join(t.TempDir(), "ix")
	runs := filepath.Join(t.TempDir(), "runs")
	var lines []string
	cfg := BEIRConfig{Dir: debianDir, Model: bi, RerankModel: ce, Modes: modes, Index: idx, RunsDir: runs, RerankTop: 20,
		Batch: 16, Progress: func(s string) { lines = append(lines, s) }}
	rep, err := RunBEIR(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Documents != 4236 || rep.Queries != 54 || rep.Analyzer != "english" || rep.IndexReused || len(rep.Modes) != 5 || len(lines) == 0 {
		t.Fatalf("report %+v", rep)
	}
	ds, _ := LoadBEIR(debianDir, "test")
	for _, m := range rep.Modes {
		if m.Queries != 54 || m.QueriesPerSecond <= 0 {
			t.Fatalf("%s: %+v", m.Mode, m.Summary)
		}
		for _, v := range []float64{m.NDCG10, m.MAP100, m.Recall10, m.Recall100, m.MRR10, m.P10, m.Hits10} {
			if v < 0 || v > 1 || math.IsNaN(v) {
				t.Fatalf("%s: metric out of range: %+v", m.Mode, m.Metrics)
			}
		}
		depth := 100
		if strings.HasSuffix(m.Mode, "+rerank") {
			depth = 20
		}
		for q, res := range m.Run {
			if len(res) > depth {
				t.Fatalf("%s: query %s has %d results, want ≤ %d", m.Mode, q, len(res), depth)
			}
		}
		// the reported figures are the run's
		again, _ := Evaluate(ds.Qrels, m.Run, Options{})
		if again.Metrics != m.Metrics {
			t.Fatalf("%s: %+v vs %+v", m.Mode, again.Metrics, m.Metrics)
		}
		onDisk, err := ReadRun(filepath.Join(runs, m.Mode+".trec"))
		if err != nil {
			t.Fatal(err)
		}
		fromDisk, _ := Evaluate(ds.Qrels, onDisk, Options{})
		if fromDisk.Metrics != m.Metrics {
			t.Fatalf("%s: run file measures %+v, want %+v", m.Mode, fromDisk.Metrics, m.Metrics)
		}
	}
	// BM25 does not depend on the (random) model: a real BM25 figure
	if rep.Modes[0].NDCG10 < 0.2 {
		t.Fatalf("bm25 nDCG@10 %.4f", rep.Modes[0].NDCG10)
	}
	// the index is reused and gives the same figures
	cfg.Modes, cfg.RunsDir, cfg.Progress = modes[:2], "", nil
	rep2, err := RunBEIR(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !rep2.IndexReused || rep2.Modes[0].Metrics != rep.Modes[0].Metrics || rep2.Modes[1].Metrics != rep.Modes[1].Metrics {
		t.Fatalf("reuse: %+v", rep2)
	}
	// BM25 parameters reach the search
	p := rep.BM25
	p.K1 = 0
	cfg.BM25, cfg.Modes = &p, modes[:1]
	rep3, err := RunBEIR(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep3.Modes[0].Metrics == rep.Modes[0].Metrics {
		t.Fatal("k1 = 0 changed nothing")
	}
}

// TestRealModelDebian reports all-MiniLM-L6-v2's figures on the Debian set
// (skipped without models/all-MiniLM-L6-v2-f32.gguf, made by `make models`).
func TestRealModelDebian(t *testing.T) {
	model := filepath.Join("..", "..", "models", "all-MiniLM-L6-v2-f32.gguf")
	if _, err := os.Stat(model); err != nil || !bindings.Available {
		t.Skip("needs models/all-MiniLM-L6-v2-f32.gguf (make models) and the native core")
	}
	modes, _ := ParseModes(DefaultModes)
	rep, err := RunBEIR(context.Background(), BEIRConfig{Dir: debianDir, Model: model, Modes: modes})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rep.Modes {
		t.Logf("%-6s nDCG@10 %.4f  MAP@100 %.4f  R@10 %.4f  R@100 %.4f  MRR@10 %.4f  P@10 %.4f  hits@10 %.4f  %.1f q/s",
			m.Mode, m.NDCG10, m.MAP100, m.Recall10, m.Recall100, m.MRR10, m.P10, m.Hits10, m.QueriesPerSecond)
	}
	// regression guards, well below the figures measured (scripts/eval/README.md)
	if rep.Modes[0].NDCG10 < 0.25 || rep.Modes[1].NDCG10 < 0.55 || rep.Modes[2].NDCG10 < 0.45 {
		t.Fatalf("figures fell: %+v", rep.Modes)
	}
}
