package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/eval"
	"github.com/quarry-search/quarry/engine/search"
)

// smallBEIR writes a BEIR folder of 60 documents and 3 queries.
func smallBEIR(t *testing.T, qrels string) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "qrels"), 0o755)
	var c strings.Builder
	words := []string{"image", "resize", "picture", "network", "monitor", "bandwidth", "password", "manager", "secret", "chess", "game", "engine"}
	for i := 0; i < 60; i++ {
		w := words[i%len(words)] + " " + words[(i*7+3)%len(words)] + " " + words[(i*5+1)%len(words)]
		b, _ := json.Marshal(map[string]string{"_id": "d" + itoa(i), "title": words[i%len(words)], "text": w})
		c.Write(b)
		c.WriteByte('\n')
	}
	os.WriteFile(filepath.Join(dir, "corpus.jsonl"), []byte(c.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "queries.jsonl"), []byte(`{"_id":"q1","text":"resize a picture"}
{"_id":"q2","text":"network bandwidth monitor"}
{"_id":"q3","text":"chess engine"}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "qrels", "test.tsv"), []byte(qrels), 0o644)
	return dir
}

func itoa(i int) string { return strconv.Itoa(i) }

const smallQrels = "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td13\t1\nq2\td3\t1\nq3\td9\t2\nq9\td1\t1\n"

func TestEvalBEIRCLI(t *testing.T) {
	if !search.Native() {
		t.Skip("no native core")
	}
	model, ce := tinyModel(t, "mean"), tinyModel(t, "rank")
	dir := smallBEIR(t, smallQrels)
	code, out, errOut := convRun("eval", "beir", dir, "--model", model, "-q")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"nDCG@10", "MAP@100", "Recall@100", "MRR@10", "hits@10", "queries/s", "index s", "bm25", "dense", "hybrid", "3 queries"} {
		if !strings.Contains(out, want) {
			t.Fatalf("table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "1 query id(s)") || !strings.Contains(errOut, "q9") {
		t.Fatalf("unknown query ids not reported: %s", errOut)
	}
	runs := filepath.Join(t.TempDir(), "runs")
	code, out, errOut = convRun("eval", "beir", dir, "-m", model, "--rerank-model", ce, "--json", "-q", "--runs", runs, "--rerank-top", "5", "--k1", "0.9", "--b", "0.4")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Queries int `json:"queries"`
		Modes   []struct {
			Mode string  `json:"mode"`
			NDCG float64 `json:"ndcg@10"`
			QPS  float64 `json:"queries_per_second"`
		} `json:"modes"`
		UnknownQueries []string `json:"unknown_query_ids"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Queries != 3 || len(rep.Modes) != 5 || rep.Modes[4].Mode != "hybrid+rerank" || len(rep.UnknownQueries) != 1 {
		t.Fatalf("%s", out)
	}
	for _, m := range []string{"bm25", "dense", "hybrid", "dense+rerank", "hybrid+rerank"} {
		if _, err := os.Stat(filepath.Join(runs, m+".trec")); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEvalExitCodes(t *testing.T) {
	dir := smallBEIR(t, smallQrels)
	bad := smallBEIR(t, "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1 d2\n")
	// every case fails before the model is loaded; without the native core
	// any existing file does
	model := filepath.Join(t.TempDir(), "placeholder.gguf")
	os.WriteFile(model, []byte("not read"), 0o644)
	if search.Native() {
		model = tinyModel(t, "mean")
	}
	sts := filepath.Join(t.TempDir(), "s.tsv")
	os.WriteFile(sts, []byte("score\ts1\ts2\n1\ta b\tc d\nx\te\tf\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "beir", dir, "--model", model, "--modes", "dense+rerank"}, "needs --rerank-model"},
		{[]string{"eval", "beir", dir, "--model", model, "--alpha", "1.5"}, "--alpha"},
		{[]string{"eval", "beir", dir, "--model", model, "--modes", "splade"}, "unknown mode"},
		{[]string{"eval", "beir", filepath.Join(dir, "nope"), "--model", model}, "corpus.jsonl"},
		{[]string{"eval", "beir", dir, "--model", model, "--split", "dev"}, `split "dev"`},
		{[]string{"eval", "beir", bad, "--model", model}, "test.tsv:3"},
		{[]string{"eval", "beir", dir}, "model"},
		{[]string{"eval", "beir", dir, "--model", filepath.Join(dir, "none.gguf")}, "none.gguf"},
		{[]string{"eval", "sts", sts, "--model", model}, "s.tsv:3"},
		{[]string{"eval", "sts", filepath.Join(dir, "none.tsv"), "--model", model}, "none.tsv"},
	} {
		code, _, errOut := convRun(c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

func TestEvalSTSCLI(t *testing.T) {
	if !search.Native() {
		t.Skip("no native core")
	}
	model := tinyModel(t, "mean")
	p := filepath.Join(t.TempDir(), "sts.tsv")
	os.WriteFile(p, []byte("score\tsentence1\tsentence2\n5\tA man is playing a guitar.\tA man plays the guitar.\n0.5\tA cat sleeps.\tThe stock market fell.\n3\tA dog runs.\tA dog is running fast.\n"), 0o644)
	code, out, errOut := convRun("eval", "sts", p, "--model", model, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Pairs    int     `json:"pairs"`
		Spearman float64 `json:"spearman"`
		Pearson  float64 `json:"pearson"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Pairs != 3 || rep.Spearman < -1 || rep.Spearman > 1 {
		t.Fatalf("%v %s", err, out)
	}
	code, out, _ = convRun("eval", "sts", p, "--model", model)
	if code != 0 || !strings.Contains(out, "spearman") || !strings.Contains(out, "3 pairs") {
		t.Fatalf("%d %s", code, out)
	}
	if code, _, errOut := convRun("eval", "sts", p, "--model", tinyModel(t, "rank")); code != 2 || !strings.Contains(errOut, "cross-encoder") {
		t.Fatalf("rank model: %d %s", code, errOut)
	}
}

// readTREC reads a TREC run file: query → document → score.
func readTREC(t *testing.T, path string) eval.Run {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	run := eval.Run{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) != 6 {
			t.Fatalf("%s: bad line %q", path, l)
		}
		s, err := strconv.ParseFloat(f[4], 64)
		if err != nil {
			t.Fatal(err)
		}
		if run[f[0]] == nil {
			run[f[0]] = map[string]float64{}
		}
		run[f[0]][f[2]] = s
	}
	return run
}

// TestEvalMeasuresSearch: for every mode, eval beir's run of each query is
// what `quarry search --json` returns for it on the same index (same ids,
// same scores), once BEIR's trimming (depth+1 retrieved, the query's own id
// dropped) is applied to the search output.
func TestEvalMeasuresSearch(t *testing.T) {
	needNative(t)
	dense, splade, ce := genModel(t, "mean", "f32"), genModel(t, "splade", "f32"), genModel(t, "rank", "f32")
	// Documents of 30 to 90 words: past 24 words Lucene's one-byte length
	// norms (--bm25 beir) round lengths, so BEIR's Elasticsearch scoring
	// differs from quarry search's.
	dir := smallBEIR(t, smallQrels)
	var corpus strings.Builder
	words := []string{"image", "resize", "picture", "network", "monitor", "bandwidth", "password", "manager", "secret", "chess", "game", "engine", "tool", "fast"}
	for i := 0; i < 60; i++ {
		ws := make([]string, 30+i)
		for j := range ws {
			ws[j] = words[(i*7+j*j*3+j)%len(words)]
		}
		b, _ := json.Marshal(map[string]string{"_id": "d" + itoa(i), "title": words[i%len(words)], "text": strings.Join(ws, " ")})
		corpus.Write(b)
		corpus.WriteByte('\n')
	}
	os.WriteFile(filepath.Join(dir, "corpus.jsonl"), []byte(corpus.String()), 0o644)
	queries := filepath.Join(dir, "queries.jsonl")
	const depth, rerankTop = 10, 5
	type mode struct {
		name   string
		search []string // quarry search flags that do what eval's mode does
	}
	for _, c := range []struct {
		model string
		eval  []string // extra eval flags
		modes []mode
	}{
		{dense, []string{"--alpha", "0.3"}, []mode{
			{"bm25", []string{"--mode", "bm25"}},
			{"dense", []string{"--mode", "dense"}},
			{"hybrid", []string{"--mode", "hybrid"}},
			{"hybrid-weighted", []string{"--mode", "hybrid", "--fusion", "weighted", "--alpha", "0.3"}},
			{"dense+rerank", []string{"--mode", "dense", "--rerank-model", ce}},
			{"hybrid+rerank", []string{"--mode", "hybrid", "--rerank-model", ce}},
		}},
		{dense, []string{"--k1", "0.9", "--b", "0.4", "--bm25-fields", "combined"}, []mode{
			{"bm25", []string{"--mode", "bm25", "--k1", "0.9", "--b", "0.4", "--bm25-fields", "combined"}},
			{"hybrid", []string{"--mode", "hybrid", "--k1", "0.9", "--b", "0.4", "--bm25-fields", "combined"}},
		}},
		{splade, nil, []mode{
			{"bm25", []string{"--mode", "bm25"}},
			{"sparse", []string{"--mode", "sparse"}},
			{"sparse+rerank", []string{"--mode", "sparse", "--rerank-model", ce}},
		}},
	} {
		ix, runs := filepath.Join(t.TempDir(), "ix"), t.TempDir()
		var names []string
		for _, m := range c.modes {
			names = append(names, m.name)
		}
		args := append([]string{"eval", "beir", dir, "-m", c.model, "--rerank-model", ce, "--index", ix, "--runs", runs, "-q",
			"--modes", strings.Join(names, ","), "--depth", itoa(depth), "--rerank-top", itoa(rerankTop)}, c.eval...)
		mustRun(t, args...)
		for _, m := range c.modes {
			d := depth
			if strings.HasSuffix(m.name, "+rerank") {
				d = rerankTop
				m.search = append(m.search, "--rerank-top", itoa(d+1))
			}
			// eval retrieves depth+1 (and fuses/reranks that many) to drop
			// the query's own id.
			out, _ := mustRun(t, append([]string{"search", ix, "--queries", queries, "--json", "--k", itoa(d + 1), "--pool", itoa(d + 1)}, m.search...)...)
			got := eval.Run{}
			for _, r := range decodeResponses(t, out) {
				got[r.QueryID] = map[string]float64{}
				for _, res := range r.Results {
					got[r.QueryID][res.ID] = res.Score
				}
			}
			got = eval.Trim(got, d, true)
			want := readTREC(t, filepath.Join(runs, m.name+".trec"))
			if len(want) == 0 {
				t.Fatalf("%s: empty run", m.name)
			}
			for q, docs := range want {
				if len(docs) == 0 || !maps.Equal(docs, got[q]) {
					t.Errorf("%s %v: query %s: eval measured\n%v\nsearch returns\n%v", filepath.Base(c.model), c.eval, q, docs, got[q])
				}
			}
		}
	}
	// --bm25 beir is BEIR's Elasticsearch baseline, and says so.
	out, _ := mustRun(t, "eval", "beir", dir, "-m", dense, "-q", "--modes", "bm25", "--bm25", "beir")
	if !strings.Contains(out, "BM25 english best_fields k1=1.2 b=0.75, Lucene norms") {
		t.Errorf("--bm25 beir:\n%s", out)
	}
	out, _ = mustRun(t, "eval", "beir", dir, "-m", dense, "-q", "--modes", "bm25")
	if !strings.Contains(out, "BM25 english best_fields k1=1.2 b=0.75\n") {
		t.Errorf("default BM25:\n%s", out)
	}
}
