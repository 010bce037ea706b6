package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
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
			&cli.StringFlag{Name: "index", Usage: "real embeddings: the stored vectors of this quarry index, --queries of them (evenly spaced) held out as the queries; with --export, written as .npy instead of measured"},
			&cli.StringFlag{Name: "export", Usage: "with --index: write DIR/data.npy and DIR/queries.npy (float32) and stop (scripts/bench/ann/ann.py feeds them to every engine)"},
			intIn(1, maxRows, &cli.IntFlag{Name: "queries", Value: 1000, Usage: "queries (the first of --query-file)"}),
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of generated data and of the graph's levels"},
			&cli.StringFlag{Name: "dtype", Value: "f32", Usage: "rows the graph traverses: f32, f16 or int8"},
			intIn(0, 128, &cli.IntFlag{Name: "m", Value: 16, Usage: "HNSW M (neighbours per node; 2·M on layer 0)"}),
			intIn(1, 1<<16, &cli.IntFlag{Name: "ef-construction", Value: 200, Usage: "beam width while building"}),
			intIn(0, maxThreads, &cli.IntFlag{Name: "build-threads", Usage: "threads of the build (0 = all cores)"}),
			intIn(0, maxThreads, &cli.IntFlag{Name: "threads", Value: 1, Usage: "threads of each search call (0 = all cores)"}),
			&cli.BoolFlag{Name: "batch", Usage: "all queries in one search call on --threads (the all-threads throughput figure), not one call each"},
			&cli.StringFlag{Name: "ef", Value: "10,16,24,32,48,64,96,128,192,256", Usage: "beam widths measured, comma-separated"},
			intIn(1, maxResults, &cli.IntFlag{Name: "k", Value: 10, Usage: "results per query (recall@k)"}),
			intIn(0, maxResults, &cli.IntFlag{Name: "rescore", Usage: "f16/int8: candidates rescored with the f32 rows (0 = none); with --traverse int8, with the --dtype rows"}),
			&cli.StringFlag{Name: "traverse", Usage: "int8: the engine's method: the graph is built over the --dtype rows and traversed over their int8 copy, and the best --rescore candidates are rescored with the --dtype rows"},
			&cli.Float64Flag{Name: "allow", Value: 1, Usage: "filtered search: the fraction of rows allowed, drawn by allowedRow (splitmix64 of row xor seed; scripts/bench/ann/ann.py draws the same rows)"},
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
	Traverse       string       `json:"traverse,omitempty"` // "int8": the engine's method (--traverse)
	Batch          bool         `json:"batch,omitempty"`    // all queries in one call (--batch)
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
	Allow          float64    `json:"allow"`        // fraction of rows the filter allows (1: unfiltered)
	Allowed        int        `json:"allowed_rows"` // rows it allows
	ExactQPS       float64    `json:"exact_qps"`    // the exact scan of the traversal rows, one query per call on --threads
	ExactRecall    float64    `json:"exact_recall"` // its recall@k (below 1 only through f16/int8 rounding)
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
	if ixDir := c.String("index"); ixDir != "" {
		if base, qflat, dim, err = indexVectors(ixDir, nq, c.Int("n")); err != nil {
			return badInput("--index: %v", err)
		}
		n, name = len(base)/dim, "index "+ixDir
		if out := c.String("export"); out != "" {
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			if err := writeNpyF32(filepath.Join(out, "data.npy"), base, dim); err != nil {
				return err
			}
			if err := writeNpyF32(filepath.Join(out, "queries.npy"), qflat, dim); err != nil {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "wrote %s/data.npy (%d × %d) and queries.npy (%d)\n", out, n, dim, len(qflat)/dim)
			return nil
		}
	} else if p := c.String("data"); p != "" {
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
	// The rows searches traverse and rescore with (--traverse int8: as the
	// engine's graph files hold them).
	walk, resc := trav, &f32
	switch c.String("traverse") {
	case "":
	case "int8":
		if dt != store.Int8 {
			v, err := quantizeParallel(store.Int8, base, n, dim)
			if err != nil {
				return badInput("%v", err)
			}
			walk = search.Vectors{Type: search.VecInt8, Dim: dim, N: n, Data: v.Data, Scales: v.Scales}
			resc = &trav
		}
	default:
		return badInput("--traverse %q: want int8 or nothing", c.String("traverse"))
	}
	frac := c.Float64("allow")
	if !(frac > 0 && frac <= 1) {
		return badInput("--allow %v: want a fraction in (0, 1]", frac)
	}
	allowed := n
	if frac < 1 {
		bits := make([]uint64, (n+63)/64)
		allowed = 0
		for i := 0; i < n; i++ {
			if allowedRow(uint64(i), c.Uint64("seed"), frac) {
				bits[i/64] |= 1 << (i % 64)
				allowed++
			}
		}
		f32.Allow, f32.AllowBits = bits, n
		trav.Allow, trav.AllowBits = bits, n
		walk.Allow, walk.AllowBits = bits, n
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
	exactQPS, exactGot, err := annExact(c, &trav, qs, k)
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
		Queries: nq, Threads: c.Int("threads"), Allow: frac, Allowed: allowed, ExactQPS: exactQPS, ExactRecall: recallAtK(exactGot, truth, k)}
	res.BytesPerVector = float64(st.Bytes)/float64(max(n, 1)) + float64(trav.Type.RowBytes(dim))
	if trav.Type == search.VecInt8 {
		res.BytesPerVector += 4
	}
	res.Traverse, res.Batch = c.String("traverse"), c.Bool("batch")
	if walk.Type != trav.Type {
		res.BytesPerVector += float64(walk.Type.RowBytes(dim)) + 4 // the int8 copy beside the --dtype rows
	}
	if dt != store.F32 || res.Traverse != "" {
		res.Rescore = c.Int("rescore")
	}
	fmt.Fprintf(c.App.ErrWriter, "ann %s: %d × %d %s (traversed as %s), M %d, ef_construction %d: built in %.1f s, %.1f bytes/vector, %d queries, %d thread(s); %s\n",
		name, n, dim, dt, store.DType(walk.Type+1), st.M, st.EfConstruction, res.BuildSeconds, res.BytesPerVector, nq, res.Threads, res.Machine)
	fmt.Fprintf(c.App.ErrWriter, "  allowed rows %d (%.4g): exact scan of the %s rows %.1f QPS, recall@%d %.4f\n", allowed, frac, dt, exactQPS, k, res.ExactRecall)
	for _, ef := range efs {
		p, err := annMeasure(c, g, &search.Corpus{Vectors: walk, Rescore: resc}, qs, k, ef, res.Rescore, truth)
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
// --repeat passes; with --batch, all queries in one call) and scores
// recall@k against the exact hits. With rescore > k the graph's best
// rescore candidates are rescored with c.Rescore.
func annMeasure(c *cli.Context, g *search.HNSW, corpus *search.Corpus, qs [][]float32, k, ef, rescore int, truth [][]search.Hit) (annPoint, error) {
	want := max(k, rescore)
	got := make([][]search.Hit, len(qs))
	best := math.Inf(1)
	var lat []float64
	// answer searches qs[lo:hi] in one call.
	answer := func(lo, hi int) error {
		flat := qs[lo]
		if hi-lo > 1 {
			flat = make([]float32, 0, (hi-lo)*len(qs[lo]))
			for _, qv := range qs[lo:hi] {
				flat = append(flat, qv...)
			}
		}
		scores, rows, groups, err := g.Search(flat, hi-lo, &corpus.Vectors, want, max(ef, want), c.Int("threads"))
		if err != nil {
			return err
		}
		for q := lo; q < hi; q++ {
			hits := make([]search.Hit, 0, want)
			for i := (q - lo) * want; i < (q-lo+1)*want; i++ {
				if rows[i] >= 0 {
					hits = append(hits, search.Hit{Group: groups[i], Row: rows[i], Score: scores[i]})
				}
			}
			if want > k {
				hits = search.Rescore(qs[q], corpus, hits, k)
			}
			got[q] = hits
		}
		return nil
	}
	for r := 0; r < c.Int("repeat"); r++ {
		if err := c.Context.Err(); err != nil {
			return annPoint{}, err
		}
		pass := make([]float64, len(qs))
		t0 := time.Now()
		if c.Bool("batch") {
			if err := answer(0, len(qs)); err != nil {
				return annPoint{}, err
			}
			for q := range pass {
				pass[q] = time.Since(t0).Seconds() * 1000 / float64(len(qs))
			}
		} else {
			for q := range qs {
				s := time.Now()
				if err := answer(q, q+1); err != nil {
					return annPoint{}, err
				}
				pass[q] = float64(time.Since(s).Microseconds()) / 1000
			}
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

// indexVectors reads every stored vector of the index in dir as float32
// (at most limit rows before the hold-out; 0 = all) and holds out nq rows,
// evenly spaced, as queries.
func indexVectors(dir string, nq, limit int) (base, queries []float32, dim int, err error) {
	man, err := store.LoadManifest(dir)
	if err != nil {
		return nil, nil, 0, err
	}
	var all []float32
	rows := 0
	for _, s := range man.Segments {
		d, err := store.ReadSegment(filepath.Join(dir, s.Vectors.Name))
		if err != nil {
			return nil, nil, 0, err
		}
		v := &d.Vectors
		if d.Rescore != nil {
			v = d.Rescore // the full-precision copy of int8/binary rows
		}
		dim = v.Dim
		row := make([]float32, dim)
		for i := 0; i < v.N && (limit == 0 || rows < limit+nq); i++ {
			v.RowInto(row, i)
			all = append(all, row...)
			rows++
		}
	}
	if rows < 2*nq {
		return nil, nil, 0, fmt.Errorf("%s holds %d vectors, too few to hold out %d queries", dir, rows, nq)
	}
	step := rows / nq
	base = alignedF32((rows - nq) * dim)[:0]
	for i := 0; i < rows; i++ {
		r := all[i*dim : (i+1)*dim]
		if i%step == step/2 && len(queries) < nq*dim {
			queries = append(queries, r...)
		} else {
			base = append(base, r...)
		}
	}
	if err := normalizeRows(base, dim, dir); err != nil {
		return nil, nil, 0, err
	}
	return base, queries, dim, normalizeRows(queries, dim, dir)
}

// writeNpyF32 writes rows of dim float32 as a .npy file (format 1.0).
func writeNpyF32(path string, x []float32, dim int) error {
	hdr := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", len(x)/dim, dim)
	for (10+len(hdr)+1)%64 != 0 {
		hdr += " "
	}
	hdr += "\n"
	b := make([]byte, 0, 10+len(hdr)+4*len(x))
	b = append(b, "\x93NUMPY\x01\x00"...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(hdr)))
	b = append(b, hdr...)
	for _, v := range x {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return os.WriteFile(path, b, 0o644)
}

// allowedRow says whether the filtered benchmark allows row i: the top 53
// bits of splitmix64(i xor seed), as a fraction, below frac.
func allowedRow(i, seed uint64, frac float64) bool {
	z := (i ^ seed) + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11)/(1<<53) < frac
}

// annExact times the exact scan of x, one query per call on --threads (the
// best of --repeat passes), and returns its hits.
func annExact(c *cli.Context, x *search.Vectors, qs [][]float32, k int) (float64, [][]search.Hit, error) {
	got := make([][]search.Hit, len(qs))
	best := math.Inf(1)
	for r := 0; r < c.Int("repeat"); r++ {
		t0 := time.Now()
		for q, qv := range qs {
			h, err := search.TopK(c.Context, &search.Corpus{Vectors: *x}, [][]float32{qv}, search.Options{K: k, Threads: c.Int("threads")})
			if err != nil {
				return 0, nil, err
			}
			got[q] = h[0]
		}
		best = min(best, time.Since(t0).Seconds())
	}
	return float64(len(qs)) / best, got, nil
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
