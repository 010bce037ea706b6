package main

// quarry bench: times quarry's own paths (exact top-k search, encoding,
// reranking, indexing) and prints one JSON object on stdout (for scripts:
// scripts/bench/*.py read it) and a readable summary on stderr. The peers
// (numpy, faiss, sentence-transformers) live in scripts/bench and run on the
// same data in the same run.

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/modelgen"
	"github.com/quarry-search/quarry/engine/search"
	"github.com/quarry-search/quarry/engine/store"
	"github.com/quarry-search/quarry/internal/benchtext"
	"github.com/quarry-search/quarry/internal/fsx"
	"github.com/urfave/cli/v2"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "time quarry's own paths: search, encode, rerank, index, and a running server (JSON on stdout, a summary on stderr)",
		Description: "Each subcommand prints one JSON object on stdout (machine, parameters, results) and a readable summary on\n" +
			"stderr; --json FILE writes the JSON to FILE too. scripts/bench/*.py run the peers (numpy, faiss,\n" +
			"sentence-transformers) on the same data and print the ratios. quarry has no approximate (ANN) index:\n" +
			"every search here is exact (int8/binary scans are rescored with full-precision vectors).",
		Subcommands: []*cli.Command{benchSearchCommand(), benchEncodeCommand(), benchRerankCommand(), benchIndexCommand(), benchServeCommand(), benchANNCommand()},
	}
}

// ---- shared ----

type benchMachine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Arch       string `json:"arch"`
	Go         string `json:"go"`
	Native     bool   `json:"native"`
	Kernels    string `json:"kernels,omitempty"`
	Version    string `json:"quarry_version"`
}

func machineInfo() benchMachine {
	m := benchMachine{CPU: "?", Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Arch: runtime.GOARCH,
		Go: runtime.Version(), Native: search.Native(), Version: version}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				if _, v, ok := strings.Cut(line, ":"); ok {
					m.CPU = strings.TrimSpace(v)
				}
				break
			}
		}
	}
	if search.Native() {
		m.Kernels = search.Kernels()
	}
	return m
}

func (m benchMachine) String() string {
	return fmt.Sprintf("%s, %d cores, GOMAXPROCS %d", m.CPU, m.Cores, m.GOMAXPROCS)
}

// emitJSON prints v as one line on stdout and, when path is set, indented
// into path.
func emitJSON(c *cli.Context, v any, path string) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(output(c), string(b)); err != nil {
		return err
	}
	if path != "" {
		ib, _ := json.MarshalIndent(v, "", " ")
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		return os.WriteFile(path, append(ib, '\n'), 0o644)
	}
	return nil
}

// procStatusMB returns a field of /proc/self/status (VmRSS, VmHWM) in MB, or
// -1.
func procStatusMB(field string) int64 { return pidStatusMB("self", field) }

// pidStatusMB returns a field of /proc/PID/status in MB ("self": this
// process), or -1 when the process or the field is not there.
func pidStatusMB(pid, field string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return kb / 1024
			}
		}
	}
	return -1
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	return out, nil
}

type wordRange struct{ Lo, Hi int }

func (w wordRange) String() string { return fmt.Sprintf("%d-%d", w.Lo, w.Hi) }

// parseWordRanges parses "10-60" or "5-10,20-30,50-60" (or single numbers).
func parseWordRanges(s string) ([]wordRange, error) {
	var out []wordRange
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		a, b, ok := strings.Cut(f, "-")
		if !ok {
			b = a
		}
		lo, err1 := strconv.Atoi(a)
		hi, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil || lo < 1 || hi < lo {
			return nil, fmt.Errorf("word range %q: want LO-HI with 1 <= LO <= HI", f)
		}
		out = append(out, wordRange{lo, hi})
	}
	if len(out) == 0 {
		return nil, errors.New("empty word range list")
	}
	return out, nil
}

func benchVocab(path string) ([]string, error) {
	v, err := modelgen.LoadVocab(path)
	if err != nil {
		return nil, fmt.Errorf("benchmark sentences need the BERT vocabulary (run from the repository, or pass --vocab testdata/vocab/bert-base-uncased-vocab.txt): %w", err)
	}
	return v, nil
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(len(sorted)-1, i))]
}

// ---- search ----

func benchSearchCommand() *cli.Command {
	return &cli.Command{
		Name:  "search",
		Usage: "exact top-k over N vectors: QPS at --batch queries per call, latency, recall@k against exact f32, bytes/vector",
		Description: "Data: N random unit vectors (deterministic from --seed), or float32 rows of a .npy file (--data; the first\n" +
			"--n rows when --n is given), so Python peers can search the very same vectors. int8 and binary scans rescore\n" +
			"their best --rescore candidates with --rescore-dtype rows (f16, as the index stores them). recall@k compares\n" +
			"with the exact f32 top-k of the same queries.",
		Flags: []cli.Flag{
			intIn(1, maxRows, &cli.IntFlag{Name: "n", Value: 100000, Usage: "corpus rows (random data), or the first N rows of --data"}),
			intIn(1, maxDim, &cli.IntFlag{Name: "dim", Value: 384, Usage: "dimension of random data"}),
			&cli.StringFlag{Name: "dtype", Value: "f32", Usage: "stored vectors: f32, f16, int8 or binary"},
			intIn(1, maxRows, &cli.IntFlag{Name: "queries", Value: 100, Usage: "queries timed per pass"}),
			intIn(1, maxBatch, &cli.IntFlag{Name: "batch", Value: 1, Usage: "queries per search call"}),
			intIn(1, maxResults, &cli.IntFlag{Name: "k", Value: 10, Usage: "results per query"}),
			&cli.StringFlag{Name: "data", Usage: "corpus: .npy float32 matrix (N × dim)"},
			&cli.StringFlag{Name: "query-file", Usage: "queries: .npy float32 matrix (Q × dim)"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the random data (queries use seed+1)"},
			intIn(0, maxResults, &cli.IntFlag{Name: "rescore", Usage: "int8/binary: candidates rescored with full precision (0 = max(10·k, 100))"}),
			&cli.StringFlag{Name: "rescore-dtype", Value: "f16", Usage: "int8/binary: rows used for rescoring: f16, f32 or none"},
			intIn(0, maxThreads, &cli.IntFlag{Name: "threads", Usage: "search threads (0 = all cores)"}),
			intIn(1, maxRepeat, &cli.IntFlag{Name: "repeat", Value: 3, Usage: "timed passes over the queries (the fastest is reported)"}),
			intIn(0, maxRows, &cli.IntFlag{Name: "segment", Usage: "split the corpus into segments of this many rows, searched one call each and merged (as an index does; 0 = one)"}),
			&cli.BoolFlag{Name: "no-recall", Usage: "skip the exact f32 ground truth (recall@k)"},
			&cli.BoolFlag{Name: "go", Usage: "use the pure-Go kernel even with the native core"},
			&cli.BoolFlag{Name: "serve", Usage: "load once, then answer one JSON request per stdin line ({\"batch\":1,\"queries\":50,\"repeat\":1,\"rescore\":100}) with one JSON result line"},
			&cli.StringFlag{Name: "json", Usage: "also write the JSON result to this file"},
		},
		Action: runBenchSearch,
	}
}

type latencyMs struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	Mean float64 `json:"mean"`
}

type searchBenchResult struct {
	Bench        string       `json:"bench"`
	Machine      benchMachine `json:"machine"`
	Time         string       `json:"time"`
	Data         string       `json:"data"`
	N            int          `json:"n"`
	Dim          int          `json:"dim"`
	DType        string       `json:"dtype"`
	RescoreDType string       `json:"rescore_dtype,omitempty"`
	Rescore      int          `json:"rescore,omitempty"`
	K            int          `json:"k"`
	Queries      int          `json:"queries"`
	Batch        int          `json:"batch"`
	Threads      int          `json:"threads"`
	Segment      int          `json:"segment,omitempty"`
	Kernel       string       `json:"kernel"`
	QPS          float64      `json:"qps"`
	Latency      latencyMs    `json:"latency_ms"`
	RecallAtK    *float64     `json:"recall_at_k,omitempty"`
	// ScanBytes is what one query call reads per vector (row + int8 scale);
	// ResidentBytes adds the rescoring copy.
	ScanBytes     int       `json:"scan_bytes_per_vector"`
	ResidentBytes int       `json:"resident_bytes_per_vector"`
	ScanGBs       float64   `json:"scan_gb_per_s"`    // corpus bytes scanned per second (calls/s × N × ScanBytes)
	CPUPerQueryMs float64   `json:"cpu_ms_per_query"` // process CPU time per query (all threads; less sensitive to other load than wall time)
	RSSMB         int64     `json:"rss_mb"`
	PeakRSSMB     int64     `json:"peak_rss_mb"`
	Passes        []float64 `json:"pass_seconds"`
}

// searchBench is a loaded corpus ready to be searched.
type searchBench struct {
	corpus   *search.Corpus
	queries  [][]float32
	truth    [][]search.Hit // exact f32 top-k (nil: --no-recall)
	opts     search.Options
	seg      int
	n, dim   int
	dt, rdt  store.DType
	dataName string
	threads  int
}

func runBenchSearch(c *cli.Context) error {
	sb, err := loadSearchBench(c)
	if err != nil {
		return err
	}
	if c.Bool("serve") {
		return serveSearchBench(c, sb)
	}
	res, err := sb.measure(c.Context, c.Int("batch"), c.Int("queries"), c.Int("repeat"), sb.opts.RescoreN)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.App.ErrWriter, res.summary())
	return emitJSON(c, res, c.String("json"))
}

// serveSearchBench answers one JSON request per stdin line
// ({"batch":B,"queries":Q,"repeat":R,"rescore":N}, omitted fields keep the
// flags' values) with one JSON result line on stdout, so a script can
// alternate passes of quarry and of its peers over the same loaded data.
func serveSearchBench(c *cli.Context, sb *searchBench) error {
	type request struct {
		Batch   int `json:"batch"`
		Queries int `json:"queries"`
		Repeat  int `json:"repeat"`
		Rescore int `json:"rescore"`
	}
	fmt.Fprintln(output(c), `{"ready":true}`)
	sc := bufio.NewScanner(c.App.Reader)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		req := request{Batch: c.Int("batch"), Queries: c.Int("queries"), Repeat: c.Int("repeat"), Rescore: sb.opts.RescoreN}
		if err := json.Unmarshal([]byte(line), &req); err != nil {
			return badInput("serve: bad request %q: %v", line, err)
		}
		if req.Rescore <= 0 {
			req.Rescore = sb.opts.RescoreN
		}
		res, err := sb.measure(c.Context, req.Batch, req.Queries, req.Repeat, req.Rescore)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.App.ErrWriter, res.summary())
		if err := emitJSON(c, res, ""); err != nil {
			return err
		}
	}
	return sc.Err()
}

func loadSearchBench(c *cli.Context) (*searchBench, error) {
	ctx := c.Context
	dt, err := store.ParseDType(c.String("dtype"))
	if err != nil {
		return nil, badInput("--dtype: %v", err)
	}
	var rdt store.DType
	if dt == store.Int8 || dt == store.Binary {
		if s := c.String("rescore-dtype"); s != "none" {
			if rdt, err = store.ParseDType(s); err != nil || (rdt != store.F16 && rdt != store.F32) {
				return nil, badInput("--rescore-dtype %q: want f16, f32 or none", s)
			}
		}
	}
	k, nq := c.Int("k"), c.Int("queries")
	if k <= 0 || c.Int("batch") <= 0 || nq <= 0 || c.Int("repeat") <= 0 || c.Int("n") <= 0 || c.Int("dim") <= 0 || c.Int("segment") < 0 {
		return nil, badInput("--n, --dim, --k, --batch, --queries and --repeat must be positive")
	}
	sb := &searchBench{dt: dt, rdt: rdt, seg: c.Int("segment"), dataName: "random"}

	// Corpus and queries as float32 rows.
	var base []float32
	var n, dim int
	if p := c.String("data"); p != "" {
		limit := 0
		if c.IsSet("n") {
			limit = c.Int("n")
		}
		if base, n, dim, err = loadNpyF32(p, limit); err != nil {
			return nil, badInput("--data: %v", err)
		}
		sb.dataName = filepath.Base(p)
	} else {
		n, dim = c.Int("n"), c.Int("dim")
		base = randomUnit(n, dim, c.Uint64("seed"))
	}
	var qflat []float32
	if p := c.String("query-file"); p != "" {
		var qn, qd int
		if qflat, qn, qd, err = loadNpyF32(p, 0); err != nil {
			return nil, badInput("--query-file: %v", err)
		}
		if qd != dim {
			return nil, badInput("--query-file has dimension %d, the corpus %d", qd, dim)
		}
		nq = qn
	} else {
		qflat = randomUnit(nq, dim, c.Uint64("seed")+1)
	}
	sb.n, sb.dim = n, dim
	sb.queries = make([][]float32, nq)
	for i := range sb.queries {
		sb.queries[i] = qflat[i*dim : (i+1)*dim : (i+1)*dim]
	}

	f32 := search.Vectors{Type: search.VecF32, Dim: dim, N: n, Data: f32Bytes(base)}
	corpus := &search.Corpus{}
	switch dt {
	case store.F32:
		corpus.Vectors = f32
	default:
		v, err := quantizeParallel(dt, base, n, dim)
		if err != nil {
			return nil, badInput("%v", err)
		}
		corpus.Vectors = search.Vectors{Type: search.VecType(dt - 1), Dim: dim, N: n, Data: v.Data, Scales: v.Scales}
	}
	switch rdt {
	case store.F32:
		corpus.Rescore = &f32
	case store.F16:
		v, err := quantizeParallel(store.F16, base, n, dim)
		if err != nil {
			return nil, badInput("%v", err)
		}
		corpus.Rescore = &search.Vectors{Type: search.VecF16, Dim: dim, N: n, Data: v.Data}
	}
	sb.corpus = corpus
	sb.opts = search.Options{K: k, RescoreN: c.Int("rescore"), Threads: c.Int("threads"), ForceGo: c.Bool("go")}
	if sb.opts.RescoreN <= 0 {
		sb.opts.RescoreN = max(10*k, 100)
	}
	sb.threads = sb.opts.Threads
	if sb.threads <= 0 {
		sb.threads = runtime.NumCPU()
	}

	// Ground truth: exact f32 top-k (the f32 kernel is exact; tested
	// against a float64 brute force).
	if !c.Bool("no-recall") {
		truthCorpus := &search.Corpus{Vectors: f32}
		for lo := 0; lo < nq; lo += 256 {
			h, err := search.TopK(ctx, truthCorpus, sb.queries[lo:min(nq, lo+256)], search.Options{K: k, Threads: sb.opts.Threads, ForceGo: sb.opts.ForceGo})
			if err != nil {
				return nil, err
			}
			sb.truth = append(sb.truth, h...)
		}
	}
	// Drop the f32 rows when the search does not use them, so RSS shows what
	// this dtype holds.
	base, f32 = nil, search.Vectors{}
	runtime.GC()
	debug.FreeOSMemory()
	_, _ = base, f32
	return sb, nil
}

// quantizeParallel converts n rows of base to dtype d on all cores.
func quantizeParallel(d store.DType, base []float32, n, dim int) (store.Vectors, error) {
	out, err := store.NewVectors(d, dim, n)
	if err != nil {
		return store.Vectors{}, err
	}
	rb := out.RowBytes()
	const chunk = 16384
	var wg sync.WaitGroup
	var once sync.Once
	var ferr error
	next := make(chan int)
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows := make([][]float32, 0, chunk)
			for lo := range next {
				hi := min(n, lo+chunk)
				rows = rows[:0]
				for i := lo; i < hi; i++ {
					rows = append(rows, base[i*dim:(i+1)*dim:(i+1)*dim])
				}
				v, err := store.Quantize(d, dim, rows)
				if err != nil {
					once.Do(func() { ferr = fmt.Errorf("rows %d..%d: %w", lo, hi-1, err) })
					continue
				}
				copy(out.Data[lo*rb:hi*rb], v.Data)
				if v.Scales != nil {
					copy(out.Scales[lo:hi], v.Scales)
				}
			}
		}()
	}
	for lo := 0; lo < n; lo += chunk {
		next <- lo
	}
	close(next)
	wg.Wait()
	return out, ferr
}

// measure times repeat passes of nq queries, batch queries per call.
func (sb *searchBench) measure(ctx context.Context, batch, nq, repeat, rescore int) (*searchBenchResult, error) {
	if batch <= 0 || nq <= 0 || repeat <= 0 {
		return nil, badInput("batch, queries and repeat must be positive")
	}
	nq = min(nq, len(sb.queries))
	batch = min(batch, nq)
	queries := sb.queries[:nq]
	opts := sb.opts
	opts.RescoreN = rescore
	run := func(qs [][]float32) ([][]search.Hit, error) {
		if sb.seg <= 0 || sb.seg >= sb.n {
			return search.TopK(ctx, sb.corpus, qs, opts)
		}
		return searchSegments(ctx, sb.corpus, qs, opts, sb.seg)
	}
	// Warm-up: one call (page faults, thread start-up).
	if _, err := run(queries[:batch]); err != nil {
		return nil, err
	}
	var lat, passes, cpu []float64
	got := make([][]search.Hit, nq)
	for p := 0; p < repeat; p++ {
		var total time.Duration
		c0 := cpuSeconds()
		for lo := 0; lo < nq; lo += batch {
			hi := min(nq, lo+batch)
			t0 := time.Now()
			h, err := run(queries[lo:hi])
			d := time.Since(t0)
			if err != nil {
				return nil, err
			}
			total += d
			lat = append(lat, d.Seconds()*1000)
			copy(got[lo:hi], h)
		}
		passes = append(passes, total.Seconds())
		cpu = append(cpu, cpuSeconds()-c0)
	}
	best := slices.Min(passes)
	slices.Sort(lat)
	var mean float64
	for _, l := range lat {
		mean += l
	}
	mean /= float64(len(lat))

	c := sb.corpus
	scanBytes := c.Vectors.Type.RowBytes(sb.dim)
	if sb.dt == store.Int8 {
		scanBytes += 4
	}
	resident := scanBytes
	if c.Rescore != nil {
		resident += c.Rescore.Type.RowBytes(sb.dim)
	}
	kernel := "native"
	if !search.Native() || opts.ForceGo {
		kernel = "go"
	}
	res := &searchBenchResult{
		Bench: "search", Machine: machineInfo(), Time: time.Now().UTC().Format(time.RFC3339), Data: sb.dataName,
		N: sb.n, Dim: sb.dim, DType: sb.dt.String(), K: opts.K, Queries: nq, Batch: batch, Threads: sb.threads, Segment: sb.seg, Kernel: kernel,
		QPS:           float64(nq) / best,
		Latency:       latencyMs{P50: percentile(lat, 50), P99: percentile(lat, 99), Mean: mean},
		ScanBytes:     scanBytes,
		ResidentBytes: resident,
		ScanGBs:       float64(nq) / float64(batch) / best * float64(sb.n) * float64(scanBytes) / 1e9,
		CPUPerQueryMs: 1000 * slices.Min(cpu) / float64(nq),
		RSSMB:         procStatusMB("VmRSS"),
		PeakRSSMB:     procStatusMB("VmHWM"),
		Passes:        passes,
	}
	if c.Rescore != nil {
		res.RescoreDType = sb.rdt.String()
		res.Rescore = opts.RescoreN
	}
	if sb.truth != nil {
		r := recallAtK(got, sb.truth[:nq], opts.K)
		res.RecallAtK = &r
	}
	return res, nil
}

func (r *searchBenchResult) summary() string {
	rec := "-"
	if r.RecallAtK != nil {
		rec = fmt.Sprintf("%.4f", *r.RecallAtK)
	}
	resc := ""
	if r.RescoreDType != "" {
		resc = fmt.Sprintf(" +rescore %d (%s)", r.Rescore, r.RescoreDType)
	}
	return fmt.Sprintf("search %s%s n=%d dim=%d k=%d batch=%d threads=%d: %.1f QPS, p50 %.2f ms, p99 %.2f ms per call, recall@%d %s, %d B/vector scanned (%d resident), %.1f GB/s, RSS %d MB; %s",
		r.DType, resc, r.N, r.Dim, r.K, r.Batch, r.Threads, r.QPS, r.Latency.P50, r.Latency.P99, r.K, rec, r.ScanBytes, r.ResidentBytes, r.ScanGBs, r.RSSMB, r.Machine)
}

// cpuSeconds is the process's user + system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// searchSegments searches consecutive segments of seg rows one call each
// and merges the hits, as engine.Index does over its segments.
func searchSegments(ctx context.Context, c *search.Corpus, qs [][]float32, o search.Options, seg int) ([][]search.Hit, error) {
	v := &c.Vectors
	out := make([][]search.Hit, len(qs))
	rbv := v.Type.RowBytes(v.Dim)
	for lo := 0; lo < v.N; lo += seg {
		hi := min(v.N, lo+seg)
		sc := &search.Corpus{Vectors: search.Vectors{Type: v.Type, Dim: v.Dim, N: hi - lo, Data: v.Data[lo*rbv : hi*rbv]}}
		if v.Scales != nil {
			sc.Vectors.Scales = v.Scales[lo:hi]
		}
		if c.Rescore != nil {
			r := c.Rescore
			rbr := r.Type.RowBytes(r.Dim)
			sc.Rescore = &search.Vectors{Type: r.Type, Dim: r.Dim, N: hi - lo, Data: r.Data[lo*rbr : hi*rbr]}
		}
		hits, err := search.TopK(ctx, sc, qs, o)
		if err != nil {
			return nil, err
		}
		for qi := range qs {
			for _, h := range hits[qi] {
				h.Row += int64(lo)
				h.Group += int64(lo)
				out[qi] = append(out[qi], h)
			}
		}
	}
	for qi := range out {
		slices.SortFunc(out[qi], func(a, b search.Hit) int {
			switch {
			case a.Score > b.Score:
				return -1
			case a.Score < b.Score:
				return 1
			}
			return int(a.Group - b.Group)
		})
		if len(out[qi]) > o.K {
			out[qi] = out[qi][:o.K]
		}
	}
	return out, nil
}

func recallAtK(got, truth [][]search.Hit, k int) float64 {
	var sum float64
	for qi := range truth {
		want := map[int64]bool{}
		for _, h := range truth[qi][:min(k, len(truth[qi]))] {
			want[h.Group] = true
		}
		if len(want) == 0 {
			sum++
			continue
		}
		hit := 0
		for _, h := range got[qi][:min(k, len(got[qi]))] {
			if want[h.Group] {
				hit++
			}
		}
		sum += float64(hit) / float64(len(want))
	}
	return sum / float64(len(truth))
}

// alignedF32 returns n zeroed floats starting at a 64-byte boundary.
func alignedF32(n int) []float32 {
	if n == 0 {
		return nil
	}
	v, err := store.NewVectors(store.F32, 1, n) // 4n aligned bytes
	if err != nil {
		panic(err)
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&v.Data[0])), n)
}

func f32Bytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
}

// randomUnit returns n deterministic random unit vectors (Gaussian
// directions): blocks of rows are drawn in parallel, each from its own
// stream, so the data does not depend on the number of cores.
func randomUnit(n, dim int, seed uint64) []float32 {
	out := alignedF32(n * dim)
	const block = 4096
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				r := rand.New(rand.NewPCG(seed, uint64(b)))
				for i := b * block; i < min(n, (b+1)*block); i++ {
					row := out[i*dim : (i+1)*dim]
					var ss float64
					for j := range row {
						x := r.NormFloat64()
						row[j] = float32(x)
						ss += x * x
					}
					inv := 1 / math.Sqrt(ss)
					for j := range row {
						row[j] = float32(float64(row[j]) * inv)
					}
				}
			}
		}()
	}
	for b := 0; b*block < n; b++ {
		next <- b
	}
	close(next)
	wg.Wait()
	return out
}

var npyShape = regexp.MustCompile(`'shape':\s*\(\s*(\d+)\s*,\s*(\d+)\s*,?\s*\)`)

// loadNpyF32 reads a 2-D little-endian float32 C-order .npy file (the first
// limit rows when limit > 0) into 64-byte aligned memory.
func loadNpyF32(path string, limit int) ([]float32, int, int, error) {
	f, err := fsx.OpenRegular(path, ".npy file")
	if err != nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var magic [8]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil || string(magic[:6]) != "\x93NUMPY" {
		return nil, 0, 0, fmt.Errorf("%s is not a .npy file", path)
	}
	var hlen int
	switch magic[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, 0, 0, err
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, 0, 0, err
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
	default:
		return nil, 0, 0, fmt.Errorf("%s: unsupported .npy version %d", path, magic[6])
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, 0, 0, fmt.Errorf("%s: truncated header", path)
	}
	h := string(hdr)
	if !strings.Contains(h, "'descr': '<f4'") || !strings.Contains(h, "'fortran_order': False") {
		return nil, 0, 0, fmt.Errorf("%s: want a C-order little-endian float32 matrix, header %s", path, strings.TrimSpace(h))
	}
	m := npyShape.FindStringSubmatch(h)
	if m == nil {
		return nil, 0, 0, fmt.Errorf("%s: want a 2-D matrix, header %s", path, strings.TrimSpace(h))
	}
	n, _ := strconv.Atoi(m[1])
	dim, _ := strconv.Atoi(m[2])
	if dim <= 0 || n <= 0 {
		return nil, 0, 0, fmt.Errorf("%s: empty matrix %d × %d", path, n, dim)
	}
	if limit > 0 {
		if limit > n {
			return nil, 0, 0, fmt.Errorf("%s holds %d rows, fewer than the %d asked for", path, n, limit)
		}
		n = limit
	}
	out := alignedF32(n * dim)
	if _, err := io.ReadFull(br, f32Bytes(out)); err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %v", path, err)
	}
	if !littleEndian() {
		return nil, 0, 0, errors.New("big-endian hosts are not supported")
	}
	for i, x := range out {
		if x != x || math.IsInf(float64(x), 0) {
			return nil, 0, 0, fmt.Errorf("%s: row %d has a non-finite value", path, i/dim)
		}
	}
	return out, n, dim, nil
}

func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// ---- encode ----

func benchEncodeCommand() *cli.Command {
	return &cli.Command{
		Name:  "encode",
		Usage: "encode throughput (sentences/s, tokens/s) per batch size and per text length",
		Description: "Sentences are the deterministic benchmark texts (internal/benchtext: whole vocabulary words, Zipf-like),\n" +
			"--n of them per word-count range; each (range, batch size) is timed --repeat times, the fastest kept.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "bi-encoder GGUF", Required: true},
			&cli.StringFlag{Name: "batch", Value: "1,8,32,128,512", Usage: "batch sizes (sentences per call), comma-separated"},
			&cli.StringFlag{Name: "words", Value: "10-60", Usage: "words per sentence: ranges LO-HI, comma-separated (one measurement each)"},
			intIn(1, maxRows, &cli.IntFlag{Name: "n", Value: 512, Usage: "sentences per measurement"}),
			intIn(1, maxRepeat, &cli.IntFlag{Name: "repeat", Value: 2, Usage: "timed passes (the fastest is reported)"}),
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "sentence seed"},
			&cli.StringFlag{Name: "vocab", Usage: "vocab.txt for the sentences (default: the repository's bert-base-uncased vocabulary)"},
			&cli.StringFlag{Name: "json", Usage: "also write the JSON result to this file"},
		}, modelFlags()...),
		Action: runBenchEncode,
	}
}

type encodePoint struct {
	Words       string    `json:"words"`
	Batch       int       `json:"batch"`
	Sentences   int       `json:"sentences"`
	Tokens      int       `json:"tokens"`
	MeanTokens  float64   `json:"mean_tokens"`
	Seconds     float64   `json:"seconds"`
	SentPerS    float64   `json:"sentences_per_s"`
	TokPerS     float64   `json:"tokens_per_s"`
	MsPerCall   float64   `json:"ms_per_call"`
	PassSeconds []float64 `json:"pass_seconds"`
}

type encodeBenchResult struct {
	Bench     string        `json:"bench"`
	Machine   benchMachine  `json:"machine"`
	Time      string        `json:"time"`
	Model     string        `json:"model"`
	Dim       int           `json:"dim"`
	Threads   int           `json:"threads"`
	Impl      string        `json:"impl"`
	Points    []encodePoint `json:"points"`
	PeakRSSMB int64         `json:"peak_rss_mb"`
}

func runBenchEncode(c *cli.Context) error {
	batches, err := parseInts(c.String("batch"))
	if err != nil {
		return badInput("--batch: %v", err)
	}
	ranges, err := parseWordRanges(c.String("words"))
	if err != nil {
		return badInput("--words: %v", err)
	}
	n, repeat := c.Int("n"), c.Int("repeat")
	if n <= 0 || repeat <= 0 {
		return badInput("--n and --repeat must be positive")
	}
	vocab, err := benchVocab(c.String("vocab"))
	if err != nil {
		return err
	}
	m, err := loadModel(c, c.String("model"), engine.ModelOptions{})
	if err != nil {
		return err
	}
	defer m.Close()
	if m.CrossEncoder() {
		return badInput("%s is a cross-encoder: use `quarry bench rerank`", c.String("model"))
	}
	threads := c.Int("threads")
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	res := encodeBenchResult{Bench: "encode", Machine: machineInfo(), Time: time.Now().UTC().Format(time.RFC3339),
		Model: filepath.Base(c.String("model")), Dim: m.Dim(), Threads: threads, Impl: c.String("impl")}
	w := c.App.ErrWriter
	fmt.Fprintf(w, "encode %s (dim %d), %d threads; %s\n", res.Model, res.Dim, threads, res.Machine)
	for _, wr := range ranges {
		sents := benchtext.Sentences(vocab, n, wr.Lo, wr.Hi, c.Uint64("seed"))
		for _, b := range batches {
			b = min(b, n)
			if _, err := m.Embed(c.Context, sents[:b]); err != nil { // warm-up
				return err
			}
			pt := encodePoint{Words: wr.String(), Batch: b, Sentences: n}
			for p := 0; p < repeat; p++ {
				tokens := 0
				t0 := time.Now()
				for lo := 0; lo < n; lo += b {
					_, st, err := m.EmbedWithStats(c.Context, sents[lo:min(n, lo+b)])
					if err != nil {
						return err
					}
					tokens += st.Tokens
				}
				pt.PassSeconds = append(pt.PassSeconds, time.Since(t0).Seconds())
				pt.Tokens = tokens
			}
			pt.Seconds = slices.Min(pt.PassSeconds)
			pt.MeanTokens = float64(pt.Tokens) / float64(n)
			pt.SentPerS = float64(n) / pt.Seconds
			pt.TokPerS = float64(pt.Tokens) / pt.Seconds
			pt.MsPerCall = 1000 * pt.Seconds / math.Ceil(float64(n)/float64(b))
			res.Points = append(res.Points, pt)
			fmt.Fprintf(w, "  words %-7s batch %4d: %8.1f sentences/s %9.0f tokens/s (%.1f tokens each, %.2f ms per call)\n",
				pt.Words, b, pt.SentPerS, pt.TokPerS, pt.MeanTokens, pt.MsPerCall)
		}
	}
	res.PeakRSSMB = procStatusMB("VmHWM")
	return emitJSON(c, res, c.String("json"))
}

// ---- rerank ----

func benchRerankCommand() *cli.Command {
	return &cli.Command{
		Name:  "rerank",
		Usage: "cross-encoder throughput (pairs/s) over one query and --pairs documents",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "cross-encoder GGUF", Required: true},
			intIn(1, maxRows, &cli.IntFlag{Name: "pairs", Value: 256, Usage: "(query, document) pairs per pass"}),
			intIn(1, maxBatch, &cli.IntFlag{Name: "batch", Value: 32, Usage: "pairs per call"}),
			&cli.StringFlag{Name: "query", Value: "how do i make a program run faster on many cores", Usage: "the query"},
			&cli.StringFlag{Name: "input", Usage: "documents, one per line (default: benchmark sentences of --words words)"},
			&cli.StringFlag{Name: "words", Value: "10-60", Usage: "words per generated document (LO-HI)"},
			intIn(1, maxRepeat, &cli.IntFlag{Name: "repeat", Value: 2, Usage: "timed passes (the fastest is reported)"}),
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "sentence seed"},
			&cli.StringFlag{Name: "vocab", Usage: "vocab.txt for generated documents"},
			&cli.StringFlag{Name: "scores", Usage: "write the scores (raw logits, one per document, JSON array) to this file"},
			&cli.StringFlag{Name: "json", Usage: "also write the JSON result to this file"},
		}, modelFlags()...),
		Action: runBenchRerank,
	}
}

type rerankBenchResult struct {
	Bench       string       `json:"bench"`
	Machine     benchMachine `json:"machine"`
	Time        string       `json:"time"`
	Model       string       `json:"model"`
	Threads     int          `json:"threads"`
	Pairs       int          `json:"pairs"`
	Batch       int          `json:"batch"`
	Tokens      int          `json:"tokens"`
	Seconds     float64      `json:"seconds"`
	PairsPerS   float64      `json:"pairs_per_s"`
	TokPerS     float64      `json:"tokens_per_s"`
	PassSeconds []float64    `json:"pass_seconds"`
	PeakRSSMB   int64        `json:"peak_rss_mb"`
}

func runBenchRerank(c *cli.Context) error {
	n, b, repeat := c.Int("pairs"), c.Int("batch"), c.Int("repeat")
	if n <= 0 || b <= 0 || repeat <= 0 {
		return badInput("--pairs, --batch and --repeat must be positive")
	}
	var docs []string
	if p := c.String("input"); p != "" {
		raw, err := fsx.ReadRegular(p, "documents file", 1<<30)
		if err != nil {
			return badInput("--input: %v", err)
		}
		for _, l := range strings.Split(strings.TrimRight(string(raw), "\n"), "\n") {
			docs = append(docs, l)
		}
		n = min(n, len(docs))
		docs = docs[:n]
	} else {
		wr, err := parseWordRanges(c.String("words"))
		if err != nil || len(wr) != 1 {
			return badInput("--words: want one range LO-HI")
		}
		vocab, err := benchVocab(c.String("vocab"))
		if err != nil {
			return err
		}
		docs = benchtext.Sentences(vocab, n, wr[0].Lo, wr[0].Hi, c.Uint64("seed"))
	}
	m, err := loadModel(c, c.String("model"), engine.ModelOptions{})
	if err != nil {
		return err
	}
	defer m.Close()
	if !m.CrossEncoder() {
		return badInput("%s is a bi-encoder: use `quarry bench encode`", c.String("model"))
	}
	q := c.String("query")
	if _, err := m.Rerank(c.Context, q, docs[:min(b, n)]); err != nil { // warm-up
		return err
	}
	threads := c.Int("threads")
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	res := rerankBenchResult{Bench: "rerank", Machine: machineInfo(), Time: time.Now().UTC().Format(time.RFC3339),
		Model: filepath.Base(c.String("model")), Threads: threads, Pairs: n, Batch: b}
	scores := make([]float32, 0, n)
	for p := 0; p < repeat; p++ {
		scores = scores[:0]
		tokens := 0
		t0 := time.Now()
		for lo := 0; lo < n; lo += b {
			all, st, err := m.RerankWithStats(c.Context, q, docs[lo:min(n, lo+b)])
			if err != nil {
				return err
			}
			tokens += st.Tokens
			for _, l := range all {
				scores = append(scores, l[0])
			}
		}
		res.PassSeconds = append(res.PassSeconds, time.Since(t0).Seconds())
		res.Tokens = tokens
	}
	res.Seconds = slices.Min(res.PassSeconds)
	res.PairsPerS = float64(n) / res.Seconds
	res.TokPerS = float64(res.Tokens) / res.Seconds
	res.PeakRSSMB = procStatusMB("VmHWM")
	if p := c.String("scores"); p != "" {
		sb, _ := json.Marshal(scores)
		if err := os.WriteFile(p, sb, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(c.App.ErrWriter, "rerank %s: %d pairs (%d tokens), batch %d, %d threads: %.1f pairs/s, %.0f tokens/s; %s\n",
		res.Model, n, res.Tokens, b, threads, res.PairsPerS, res.TokPerS, res.Machine)
	return emitJSON(c, res, c.String("json"))
}

// ---- index ----

func benchIndexCommand() *cli.Command {
	return &cli.Command{
		Name:  "index",
		Usage: "end-to-end indexing (read, chunk, encode, commit): docs/s and peak RSS",
		Description: "Indexes --input (or --synthetic N generated documents) into a fresh index (--out, default a temporary\n" +
			"directory that is removed) in this process. peak_rss_indexing_mb is VmHWM just before the final reload of\n" +
			"the searchable state; peak_rss_mb includes that reload (which holds every segment's vectors in memory).",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "bi-encoder GGUF", Required: true},
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "corpus path (any format quarry index reads)"},
			intIn(0, maxRows, &cli.IntFlag{Name: "synthetic", Usage: "generate this many JSONL documents instead of --input"}),
			&cli.StringFlag{Name: "words", Value: "20-120", Usage: "words per synthetic document (LO-HI)"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "index directory (default: a temporary one, removed afterwards)"},
			&cli.StringFlag{Name: "dtype", Value: "f32", Usage: "stored vectors: f32, f16, int8 or binary"},
			intIn(1, maxBatch, &cli.IntFlag{Name: "batch", Value: 256, Usage: "passages per native encode call"}),
			intIn(1, maxRows, &cli.IntFlag{Name: "segment-passages", Value: 8192, Usage: "passages per committed segment"}),
			&cli.StringFlag{Name: "vocab", Usage: "vocab.txt for synthetic documents"},
			&cli.StringFlag{Name: "json", Usage: "also write the JSON result to this file"},
		}, modelFlags()...),
		Action: runBenchIndex,
	}
}

type indexBenchResult struct {
	Bench           string       `json:"bench"`
	Machine         benchMachine `json:"machine"`
	Time            string       `json:"time"`
	Model           string       `json:"model"`
	Input           string       `json:"input"`
	DType           string       `json:"dtype"`
	Threads         int          `json:"threads"`
	Batch           int          `json:"batch"`
	SegmentPassages int          `json:"segment_passages"`
	Docs            int64        `json:"docs"`
	Passages        int64        `json:"passages"`
	Tokens          int64        `json:"tokens"`
	Segments        int          `json:"segments"`
	Seconds         float64      `json:"seconds"`
	EncodeSeconds   float64      `json:"encode_seconds"`
	DocsPerS        float64      `json:"docs_per_s"`
	PassagesPerS    float64      `json:"passages_per_s"`
	IndexMB         float64      `json:"index_mb"`
	PeakRSSIndexing int64        `json:"peak_rss_indexing_mb"`
	PeakRSSMB       int64        `json:"peak_rss_mb"`
	RSSBeforeMB     int64        `json:"rss_before_mb"`
}

func runBenchIndex(c *cli.Context) error {
	in := c.String("input")
	work, err := os.MkdirTemp("", "quarry-bench-index-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if (in == "") == (c.Int("synthetic") <= 0) {
		return badInput("give --input PATH or --synthetic N")
	}
	if in == "" {
		wr, err := parseWordRanges(c.String("words"))
		if err != nil || len(wr) != 1 {
			return badInput("--words: want one range LO-HI")
		}
		vocab, err := benchVocab(c.String("vocab"))
		if err != nil {
			return err
		}
		in = filepath.Join(work, "docs.jsonl")
		if err := writeSyntheticDocs(in, vocab, c.Int("synthetic"), wr[0]); err != nil {
			return err
		}
	} else if _, err := os.Stat(in); err != nil {
		return badInput("--input %s: %v", in, err)
	}
	dir := c.String("out")
	if dir == "" {
		dir = filepath.Join(work, "index")
	}
	runtime.GC()
	debug.FreeOSMemory()
	before := procStatusMB("VmRSS")
	mo := modelOptions(c)
	ix, err := engine.Create(dir, engine.CreateOptions{Model: c.String("model"), DType: c.String("dtype"), ModelOptions: mo})
	if err != nil {
		return err
	}
	defer ix.Close()
	var hwmIndexing int64
	st, err := ix.Add(c.Context, engine.AddOptions{Input: in, SegmentPassages: c.Int("segment-passages"), Batch: c.Int("batch"),
		Progress: func(engine.Progress) { hwmIndexing = procStatusMB("VmHWM") }})
	if err != nil {
		return err
	}
	threads := c.Int("threads")
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	info := ix.Info()
	secs := st.Elapsed.Seconds()
	res := indexBenchResult{Bench: "index", Machine: machineInfo(), Time: time.Now().UTC().Format(time.RFC3339),
		Model: filepath.Base(c.String("model")), Input: filepath.Base(in), DType: info.DType, Threads: threads,
		Batch: c.Int("batch"), SegmentPassages: c.Int("segment-passages"),
		Docs: st.Docs, Passages: st.Passages, Tokens: st.Tokens, Segments: st.Segments, Seconds: secs, EncodeSeconds: st.EncodeSeconds,
		DocsPerS: float64(st.Docs) / secs, PassagesPerS: float64(st.Passages) / secs, IndexMB: float64(info.Bytes) / 1e6,
		PeakRSSIndexing: hwmIndexing, PeakRSSMB: procStatusMB("VmHWM"), RSSBeforeMB: before}
	fmt.Fprintf(c.App.ErrWriter, "index %s with %s: %d docs, %d passages, %d tokens, %d segments in %.1fs: %.1f docs/s, %.1f passages/s; peak RSS %d MB while indexing, %d MB with the searchable state loaded; index %.1f MB; %s\n",
		res.Input, res.Model, res.Docs, res.Passages, res.Tokens, res.Segments, secs, res.DocsPerS, res.PassagesPerS,
		res.PeakRSSIndexing, res.PeakRSSMB, res.IndexMB, res.Machine)
	return emitJSON(c, res, c.String("json"))
}

// writeSyntheticDocs streams n JSONL documents of benchmark sentences to
// path, generated in small chunks so the generator's memory does not grow
// with n.
func writeSyntheticDocs(path string, vocab []string, n int, wr wordRange) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	const chunk = 1000
	for lo := 0; lo < n; lo += chunk {
		texts := benchtext.Sentences(vocab, min(chunk, n-lo)+1, wr.Lo, wr.Hi, uint64(lo/chunk+1))
		for i, t := range texts[1:] {
			title := texts[0]
			if sp := strings.Fields(t); len(sp) > 3 {
				title = strings.Join(sp[:3], " ")
			}
			b, _ := json.Marshal(map[string]any{"_id": fmt.Sprintf("doc%08d", lo+i), "title": title, "text": t})
			w.Write(b)
			w.WriteByte('\n')
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
