package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/quarry-search/quarry/engine/search"
	"github.com/quarry-search/quarry/engine/store"
)

func benchANNCommand() *cli.Command {
	return &cli.Command{
		Name:  "ann",
		Usage: "HNSW graph: build time, bytes per vector, then recall@k and QPS at each --ef against exact search",
		Description: "Data: --data X.npy (float32 rows, normalized here) and --query-file Q.npy, or --n clustered random unit\n" +
			"vectors (--clusters centres, deterministic from --seed; queries are drawn the same way from seed+1).\n" +
			"The graph is built over the --dtype copy of the rows (f32, f16 or int8) on --build-threads; every query is\n" +
			"then one search call on --threads (1 = the single-thread figure of the ANN benchmarks), against the exact\n" +
			"f32 top-k. With --rescore R (f16/int8) the graph returns R candidates that are rescored with the f32 rows.",
		Flags: []cli.Flag{
			intIn(1, maxRows, &cli.IntFlag{Name: "n", Value: 100000, Usage: "rows of generated data, or the first N rows of --data"}),
			intIn(1, maxDim, &cli.IntFlag{Name: "dim", Value: 384, Usage: "dimension of generated data"}),
			intIn(1, maxRows, &cli.IntFlag{Name: "clusters", Value: 1000, Usage: "centres of generated data"}),
			&cli.Float64Flag{Name: "spread", Value: 0.6, Usage: "generated data: noise norm around a centre (relative)"},
			&cli.StringFlag{Name: "data", Usage: "corpus: .npy float32 matrix (N × dim)"},
			&cli.StringFlag{Name: "query-file", Usage: "queries: .npy float32 matrix (Q × dim)"},
			intIn(1, maxRows, &cli.IntFlag{Name: "queries", Value: 1000, Usage: "queries (the first of --query-file)"}),
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of generated data and of the graph's levels"},
			&cli.StringFlag{Name: "dtype", Value: "f32", Usage: "rows the graph traverses: f32, f16 or int8"},
			intIn(0, 128, &cli.IntFlag{Name: "m", Value: 16, Usage: "HNSW M (neighbours per node; 2·M on layer 0)"}),
			intIn(1, 1<<16, &cli.IntFlag{Name: "ef-construction", Value: 200, Usage: "beam width while building"}),
			intIn(0, maxThreads, &cli.IntFlag{Name: "build-threads", Usage: "threads of the build (0 = all cores)"}),
			intIn(0, maxThreads, &cli.IntFlag{Name: "threads", Value: 1, Usage: "threads of each search call (0 = all cores)"}),
			&cli.StringFlag{Name: "ef", Value: "10,16,24,32,48,64,96,128,192,256", Usage: "beam widths measured, comma-separated"},
			intIn(1, maxResults, &cli.IntFlag{Name: "k", Value: 10, Usage: "results per query (recall@k)"}),
			intIn(0, maxResults, &cli.IntFlag{Name: "rescore", Usage: "f16/int8: candidates rescored with the f32 rows (0 = none)"}),
			intIn(1, maxRepeat, &cli.IntFlag{Name: "repeat", Value: 2, Usage: "timed passes per ef (the fastest is reported)"}),
			&cli.StringFlag{Name: "json", Usage: "also write the JSON result to this file"},
		},
		Action: runBenchANN,
	}
}

type annPoint struct {
	Ef      int       `json:"ef"`
	QPS     float64   `json:"qps"`
	Recall  float64   `json:"recall_at_k"`
	Latency latencyMs `json:"latency_ms"`
}

type annBenchResult struct {
	Bench          string       `json:"bench"`
	Machine        benchMachine `json:"machine"`
	Time           string       `json:"time"`
	Data           string       `json:"data"`
	N              int          `json:"n"`
	Dim            int          `json:"dim"`
	DType          string       `json:"dtype"`
	M              int          `json:"m"`
	EfConstruction int          `json:"ef_construction"`
	BuildThreads   int          `json:"build_threads"`
	BuildSeconds   float64      `json:"build_s"`
	GraphBytes     int64        `json:"graph_bytes"`
	Edges          int64        `json:"edges"`
	MaxLevel       int          `json:"max_level"`
	// BytesPerVector is the graph's share plus the traversal row (and its
	// int8 scale); the f32 rows used for rescoring are not counted.
	BytesPerVector float64    `json:"bytes_per_vector"`
	K              int        `json:"k"`
	Rescore        int        `json:"rescore,omitempty"`
	Queries        int        `json:"queries"`
	Threads        int        `json:"threads"`
	Points         []annPoint `json:"points"`
	RSSMB          int64      `json:"rss_mb"`
	PeakRSSMB      int64      `json:"peak_rss_mb"`
}

func runBenchANN(c *cli.Context) error {
	dt, err := store.ParseDType(c.String("dtype"))
	if err != nil || (dt != store.F32 && dt != store.F16 && dt != store.Int8) {
		return badInput("--dtype %q: want f32, f16 or int8", c.String("dtype"))
	}
	efs, err := parseInts(c.String("ef"))
	if err == nil && slices.Max(efs) > 1<<16 {
		err = fmt.Errorf("%d is above %d", slices.Max(efs), 1<<16)
	}
	if err != nil {
		return badInput("--ef: %v", err)
	}
	k, nq := c.Int("k"), c.Int("queries")
	var base, qflat []float32
	var n, dim int
	name := ""
	if p := c.String("data"); p != "" {
		if c.String("query-file") == "" {
			return badInput("--data needs --query-file")
		}
		if base, n, dim, err = loadNpyF32(p, c.Int("n")); err != nil {
			return badInput("--data: %v", err)
		}
		var qn, qd int
		if qflat, qn, qd, err = loadNpyF32(c.String("query-file"), nq); err != nil {
			return badInput("--query-file: %v", err)
		}
		if qd != dim {
			return badInput("--query-file: dimension %d, the data's is %d", qd, dim)
		}
		nq, name = qn, p
		if err := normalizeRows(base, dim, p); err != nil {
			return badInput("%v", err)
		}
		if err := normalizeRows(qflat, dim, c.String("query-file")); err != nil {
			return badInput("%v", err)
		}
	} else {
		n, dim = c.Int("n"), c.Int("dim")
		cl, spread := c.Int("clusters"), c.Float64("spread")
		if !(spread >= 0 && spread <= 10) {
			return badInput("--spread %v: want 0..10", spread)
		}
		centres := randomUnit(min(cl, n), dim, c.Uint64("seed")^0x9e3779b97f4a7c15)
		base = clustered(centres, n, dim, spread, c.Uint64("seed"))
		qflat = clustered(centres, nq, dim, spread, c.Uint64("seed")+1)
		name = fmt.Sprintf("clustered: %d centres, spread %.2f, seed %d", min(cl, n), spread, c.Uint64("seed"))
	}
	f32 := search.Vectors{Type: search.VecF32, Dim: dim, N: n, Data: f32Bytes(base)}
	trav := f32
	if dt != store.F32 {
		v, err := quantizeParallel(dt, base, n, dim)
		if err != nil {
			return badInput("%v", err)
		}
		trav = search.Vectors{Type: search.VecType(dt - 1), Dim: dim, N: n, Data: v.Data, Scales: v.Scales}
	}
	// Ground truth: the exact f32 top-k, all cores.
	qs := make([][]float32, nq)
	for i := range qs {
		qs[i] = qflat[i*dim : (i+1)*dim : (i+1)*dim]
	}
	truth, err := search.TopK(c.Context, &search.Corpus{Vectors: f32}, qs, search.Options{K: k})
	if err != nil {
		return err
	}
	start := time.Now()
	g, err := search.BuildHNSW(c.Context, &trav, search.HNSWParams{M: c.Int("m"), EfConstruction: c.Int("ef-construction"),
		Threads: c.Int("build-threads"), Seed: c.Uint64("seed")})
	if err != nil {
		return err
	}
	defer g.Close()
	st := g.Stats()
	res := annBenchResult{Bench: "ann", Machine: machineInfo(), Time: time.Now().UTC().Format(time.RFC3339), Data: name,
		N: n, Dim: dim, DType: dt.String(), M: st.M, EfConstruction: st.EfConstruction, BuildThreads: c.Int("build-threads"),
		BuildSeconds: time.Since(start).Seconds(), GraphBytes: st.Bytes, Edges: st.Edges, MaxLevel: st.MaxLevel, K: k,
		Queries: nq, Threads: c.Int("threads")}
	res.BytesPerVector = float64(st.Bytes)/float64(max(n, 1)) + float64(trav.Type.RowBytes(dim))
	if trav.Type == search.VecInt8 {
		res.BytesPerVector += 4
	}
	if dt != store.F32 {
		res.Rescore = c.Int("rescore")
	}
	fmt.Fprintf(c.App.ErrWriter, "ann %s: %d × %d %s, M %d, ef_construction %d: built in %.1f s, %.1f bytes/vector, %d queries, %d thread(s); %s\n",
		name, n, dim, dt, st.M, st.EfConstruction, res.BuildSeconds, res.BytesPerVector, nq, res.Threads, res.Machine)
	for _, ef := range efs {
		p, err := annMeasure(c, g, &search.Corpus{Vectors: trav, Rescore: &f32}, qs, k, ef, res.Rescore, truth)
		if err != nil {
			return err
		}
		res.Points = append(res.Points, p)
		fmt.Fprintf(c.App.ErrWriter, "  ef %4d: recall@%d %.4f  %9.1f QPS  p50 %.3f ms  p99 %.3f ms\n", ef, k, p.Recall, p.QPS, p.Latency.P50, p.Latency.P99)
	}
	res.RSSMB, res.PeakRSSMB = procStatusMB("VmRSS"), procStatusMB("VmHWM")
	return emitJSON(c, res, c.String("json"))
}

// annMeasure times one query per search call at beam width ef (the best of
// --repeat passes) and scores recall@k against the exact hits. With rescore
// > k the graph's best rescore candidates are rescored with c.Rescore.
func annMeasure(c *cli.Context, g *search.HNSW, corpus *search.Corpus, qs [][]float32, k, ef, rescore int, truth [][]search.Hit) (annPoint, error) {
	want := max(k, rescore)
	got := make([][]search.Hit, len(qs))
	best := math.Inf(1)
	var lat []float64
	for r := 0; r < c.Int("repeat"); r++ {
		if err := c.Context.Err(); err != nil {
			return annPoint{}, err
		}
		pass := make([]float64, len(qs))
		t0 := time.Now()
		for q, qv := range qs {
			s := time.Now()
			scores, rows, groups, err := g.Search(qv, 1, &corpus.Vectors, want, max(ef, want), c.Int("threads"))
			if err != nil {
				return annPoint{}, err
			}
			hits := make([]search.Hit, 0, want)
			for i, row := range rows {
				if row >= 0 {
					hits = append(hits, search.Hit{Group: groups[i], Row: row, Score: scores[i]})
				}
			}
			if want > k {
				hits = search.Rescore(qv, corpus, hits, k)
			}
			got[q] = hits
			pass[q] = float64(time.Since(s).Microseconds()) / 1000
		}
		if d := time.Since(t0).Seconds(); d < best {
			best, lat = d, pass
		}
	}
	slices.Sort(lat)
	var sum float64
	for _, v := range lat {
		sum += v
	}
	return annPoint{Ef: ef, QPS: float64(len(qs)) / best, Recall: recallAtK(got, truth, k),
		Latency: latencyMs{P50: percentile(lat, 50), P99: percentile(lat, 99), Mean: sum / float64(len(lat))}}, nil
}

// clustered draws n unit vectors, each a random centre plus Gaussian noise
// of norm ≈ spread, normalized (deterministic from seed).
func clustered(centres []float32, n, dim int, spread float64, seed uint64) []float32 {
	nc := len(centres) / dim
	out := alignedF32(n * dim)
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	sigma := spread / math.Sqrt(float64(dim))
	for i := 0; i < n; i++ {
		c := centres[r.IntN(nc)*dim:]
		row := out[i*dim : (i+1)*dim]
		var ss float64
		for j := range row {
			v := float64(c[j]) + sigma*r.NormFloat64()
			row[j] = float32(v)
			ss += v * v
		}
		inv := 1 / math.Sqrt(ss)
		for j := range row {
			row[j] = float32(float64(row[j]) * inv)
		}
	}
	return out
}

// normalizeRows scales every row to unit length (an all-zero or non-finite
// row is an error naming it).
func normalizeRows(x []float32, dim int, file string) error {
	for i := 0; i < len(x)/dim; i++ {
		row := x[i*dim : (i+1)*dim]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		if ss == 0 || math.IsNaN(ss) || math.IsInf(ss, 0) {
			return fmt.Errorf("%s: row %d is all zero or not finite", file, i)
		}
		inv := 1 / math.Sqrt(ss)
		for j := range row {
			row[j] = float32(float64(row[j]) * inv)
		}
	}
	return nil
}
