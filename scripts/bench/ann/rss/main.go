// Command rss measures what a searching process holds in memory for an
// index whose segments have HNSW graphs: the graph files are mapped, so the
// resident set is the pages searches touch, not the rows' f32 size, and the
// index still answers in a memory cgroup smaller than its files
// (scripts/bench/ann/rss.sh runs it that way; docs/bench/ann.md has the
// numbers).
//
//	go run ./scripts/bench/ann/rss -dir DIR [-n 1000000] [-dim 384] [-dtype int8] build
//	go run ./scripts/bench/ann/rss -dir DIR [-queries 1000] [-recall 100] search
//
// The corpus is synthetic but clustered as text is: each document is 12
// words, 9 of them from one of 2,000 topics of 40 words and 3 from the whole
// vocabulary, embedded by the engine's pure-Go fake encoder (each word a
// fixed random direction, the document their normalized sum). Queries are
// more documents of the same generator; recall@10 is against the exact
// scan of the same index. The build goes through the engine's indexing path
// (segments, graphs, manifest commits) as quarry index does.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/encoder/fake"
	"github.com/quarry-search/quarry/engine/modelgen"
	_ "github.com/quarry-search/quarry/internal/nativelink"
)

const (
	topics     = 2000
	topicWords = 40
)

type gen struct {
	words  []string
	topics [][]string
}

func newGen(vocab []string) *gen {
	g := &gen{}
	for _, w := range vocab {
		if len(w) >= 3 && !strings.HasPrefix(w, "##") && !strings.HasPrefix(w, "[") && strings.Trim(w, "abcdefghijklmnopqrstuvwxyz") == "" {
			g.words = append(g.words, w)
		}
	}
	r := rand.New(rand.NewPCG(7, 7))
	for t := 0; t < topics; t++ {
		ws := make([]string, topicWords)
		for i := range ws {
			ws[i] = g.words[r.IntN(len(g.words))]
		}
		g.topics = append(g.topics, ws)
	}
	return g
}

// doc is document i's text (deterministic).
func (g *gen) doc(i int) string {
	r := rand.New(rand.NewPCG(uint64(i), 11))
	t := g.topics[r.IntN(topics)]
	var b strings.Builder
	for j := 0; j < 12; j++ {
		if j > 0 {
			b.WriteByte(' ')
		}
		if j%4 == 3 {
			b.WriteString(g.words[r.IntN(len(g.words))])
		} else {
			b.WriteString(t[r.IntN(len(t))])
		}
	}
	return b.String()
}

// memory is the process's resident set from /proc/self/status, in MB.
type memory struct {
	RSS, Anon, File float64
}

func readMemory() memory {
	var m memory
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			m.RSS = kb / 1024
		case "RssAnon:":
			m.Anon = kb / 1024
		case "RssFile:":
			m.File = kb / 1024
		}
	}
	return m
}

type report struct {
	Dir           string  `json:"dir"`
	N             int64   `json:"passages"`
	Dim           int     `json:"dim"`
	DType         string  `json:"dtype"`
	F32MB         float64 `json:"f32_mb"`
	GraphFilesMB  float64 `json:"graph_files_mb"`
	CgroupLimitMB float64 `json:"cgroup_limit_mb,omitempty"`
	Opened        memory  `json:"rss_after_open_mb"`
	Searched      memory  `json:"rss_after_queries_mb"`
	Queries       int     `json:"queries"`
	QPS           float64 `json:"qps"`
	P50ms         float64 `json:"p50_ms"`
	Recall        float64 `json:"recall_at_10"`
	RecallQueries int     `json:"recall_queries"`
	Threads       int     `json:"threads"`
	GoHeapMB      float64 `json:"go_heap_mb"`
}

func main() {
	dir := flag.String("dir", "build/bench/ann-rss.idx", "index directory")
	n := flag.Int("n", 1000000, "documents (build)")
	dim := flag.Int("dim", 384, "dimension (the fake encoder's)")
	dtype := flag.String("dtype", "int8", "stored dtype (build)")
	queries := flag.Int("queries", 1000, "queries (search)")
	recallN := flag.Int("recall", 100, "queries also run exactly, for recall@10 (search)")
	threads := flag.Int("threads", 1, "search threads")
	limit := flag.Float64("cgroup-limit-mb", 0, "the memory cgroup's limit the caller set (reported only)")
	flag.Parse()
	if flag.NArg() != 1 || (flag.Arg(0) != "build" && flag.Arg(0) != "search") {
		fmt.Fprintln(os.Stderr, "usage: rss [flags] build|search")
		os.Exit(2)
	}
	vocab, err := modelgen.LoadVocab("")
	if err != nil {
		fail(err)
	}
	g := newGen(vocab)
	ctx := context.Background()
	if flag.Arg(0) == "build" {
		enc, err := fake.New(vocab, fake.Options{Dim: *dim})
		if err != nil {
			fail(err)
		}
		if err := build(ctx, g, enc, *dir, *n, *dtype); err != nil {
			fail(err)
		}
		return
	}
	r, err := search(ctx, g, vocab, *dir, *dim, *queries, *recallN, *threads)
	if err != nil {
		fail(err)
	}
	r.CgroupLimitMB = *limit
	out, _ := json.MarshalIndent(r, "", "  ")
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "rss:", err)
	os.Exit(1)
}

func build(ctx context.Context, g *gen, enc *fake.Encoder, dir string, n int, dtype string) error {
	in := dir + ".jsonl"
	f, err := os.Create(in)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := 0; i < n; i++ {
		b, _ := json.Marshal(map[string]string{"_id": "d" + strconv.Itoa(i), "text": g.doc(i)})
		w.Write(b)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	defer os.Remove(in)
	ix, err := engine.Create(dir, engine.CreateOptions{Encoder: enc, DType: dtype, ANN: engine.ANNHNSW})
	if err != nil {
		return err
	}
	defer ix.Close()
	t0 := time.Now()
	st, err := ix.Add(ctx, engine.AddOptions{Input: in})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "built %s: %d documents in %.1f s (graphs %.1f s) on %d cores\n", dir, st.Docs, time.Since(t0).Seconds(), st.GraphSeconds, runtime.NumCPU())
	return nil
}

func search(ctx context.Context, g *gen, vocab []string, dir string, dim, nq, nrecall, threads int) (*report, error) {
	enc, err := fake.New(vocab, fake.Options{Dim: dim})
	if err != nil {
		return nil, err
	}
	ix, err := engine.Open(dir, engine.OpenOptions{Encoder: enc, ModelOptions: engine.ModelOptions{Threads: threads}})
	if err != nil {
		return nil, err
	}
	defer ix.Close()
	info := ix.Info()
	r := &report{Dir: dir, N: info.Passages, Dim: info.Model.Dim, DType: info.DType, Queries: nq, RecallQueries: min(nrecall, nq), Threads: threads}
	r.F32MB = float64(info.Passages) * float64(info.Model.Dim) * 4 / 1e6
	if info.ANN != nil {
		r.GraphFilesMB = float64(info.ANN.GraphBytes) / 1e6
	}
	runtime.GC()
	r.Opened = readMemory()
	texts := make([]string, nq)
	for i := range texts {
		texts[i] = g.doc(1<<40 + i)
	}
	lat := make([]float64, nq)
	got := make([][]string, nq)
	t0 := time.Now()
	for i, q := range texts {
		t := time.Now()
		res, err := ix.Search(ctx, engine.Request{Text: q, K: 10})
		if err != nil {
			return nil, err
		}
		lat[i] = time.Since(t).Seconds() * 1000
		for _, h := range res.Results {
			got[i] = append(got[i], h.ID)
		}
	}
	r.QPS = float64(nq) / time.Since(t0).Seconds()
	r.Searched = readMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.GoHeapMB = float64(ms.HeapInuse) / 1e6
	slices.Sort(lat)
	r.P50ms = lat[len(lat)/2]
	hit, total := 0, 0
	for i := 0; i < r.RecallQueries; i++ {
		res, err := ix.Search(ctx, engine.Request{Text: texts[i], K: 10, Exact: true})
		if err != nil {
			return nil, err
		}
		want := map[string]bool{}
		for _, h := range res.Results {
			want[h.ID] = true
		}
		for _, id := range got[i] {
			if want[id] {
				hit++
			}
		}
		total += len(want)
	}
	if total > 0 {
		r.Recall = float64(hit) / float64(total)
	}
	return r, nil
}
