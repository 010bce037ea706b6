// Command searchhttp measures what HTTP adds to a search: the same queries
// on the same index, in-process (engine.Index.Search) and through
// `quarry serve`'s POST /v1/indexes/{name}/search on loopback, at 1 and 16
// concurrent clients, for dense, bm25, hybrid and hybrid + rerank top 20.
//
//	go run ./scripts/bench/searchhttp -index build/demo/packages.idx \
//	    -model models/all-MiniLM-L6-v2-f16.gguf -rerank-model CE.gguf [-duration 5s]
//
// It prints queries/s, p50 and p99 per mode and client count, each side,
// and the HTTP/in-process ratios. The server runs in this process
// (engine/serve, the handler quarry serve runs), with its own copy of the
// index and the models, so both sides do the same work.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/serve"
	_ "github.com/quarry-search/quarry/internal/nativelink"
)

// queries are short needs phrased as people type them (not copied from the
// corpus).
var queries = []string{
	"program to shrink pictures", "python library for http requests", "video editor", "read pdf files",
	"terminal file manager", "compress files with zstd", "music player for the command line",
	"library to parse json in c", "tool to convert audio formats", "spell checker dictionary",
	"database server", "monitor network traffic", "fonts for programming", "backup tool with encryption",
	"game with puzzles", "image viewer", "vpn client", "screen recorder", "markdown to html", "ssh server",
}

type point struct {
	Mode    string  `json:"mode"`
	Clients int     `json:"clients"`
	Side    string  `json:"side"`
	QPS     float64 `json:"qps"`
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`
	Errors  int     `json:"errors"`
}

func main() {
	dir := flag.String("index", "build/demo/packages.idx", "index directory")
	modelPath := flag.String("model", "", "the index's model (default: the one it records)")
	rerankPath := flag.String("rerank-model", "", "a cross-encoder for the hybrid+rerank point (skipped without)")
	dur := flag.Duration("duration", 5*time.Second, "time per point")
	threads := flag.Int("threads", 0, "compute threads of each model (0 = all cores)")
	jsonOut := flag.String("json", "", "also write the points as JSON to this file")
	flag.Parse()
	if err := run(*dir, *modelPath, *rerankPath, *dur, *threads, *jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "searchhttp:", err)
		os.Exit(1)
	}
}

func run(dir, modelPath, rerankPath string, dur time.Duration, threads int, jsonOut string) error {
	ctx := context.Background()
	mopts := engine.ModelOptions{Threads: threads}
	ix, err := engine.Open(dir, engine.OpenOptions{Model: modelPath, ModelOptions: mopts})
	if err != nil {
		return err
	}
	defer ix.Close()
	var ce *engine.Model
	cfg := serve.Config{Indexes: []serve.IndexSpec{{Name: "b", Dir: dir}}, ModelOptions: mopts, MaxWait: -1}
	if modelPath != "" {
		cfg.Models = []serve.ModelSpec{{Name: "m", Path: modelPath}}
	}
	if rerankPath != "" {
		if ce, err = engine.LoadModel(rerankPath, mopts); err != nil {
			return err
		}
		defer ce.Close()
		cfg.RerankModels = []serve.ModelSpec{{Name: "ce", Path: rerankPath}}
	}
	srv, err := serve.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go srv.Serve(sctx, ln)
	url := "http://" + ln.Addr().String() + "/v1/indexes/b/search"

	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	info := ix.Summary()
	fmt.Printf("search through HTTP vs in-process: %s (%d documents), %d CPUs (%s), %s per point, %s\n",
		dir, info.Documents, runtime.NumCPU(), cpu, dur, time.Now().UTC().Format("2006-01-02"))
	type mode struct {
		name string
		req  func(q string) engine.Request
		body func(q string) map[string]any
	}
	modes := []mode{
		{"dense", func(q string) engine.Request { return engine.Request{Text: q, Mode: engine.ModeDense} },
			func(q string) map[string]any { return map[string]any{"query": q, "mode": "dense"} }},
		{"bm25", func(q string) engine.Request { return engine.Request{Text: q, Mode: engine.ModeBM25} },
			func(q string) map[string]any { return map[string]any{"query": q, "mode": "bm25"} }},
		{"hybrid", func(q string) engine.Request { return engine.Request{Text: q, Mode: engine.ModeHybrid} },
			func(q string) map[string]any { return map[string]any{"query": q, "mode": "hybrid"} }},
	}
	if ce != nil {
		modes = append(modes, mode{"hybrid+rerank20",
			func(q string) engine.Request {
				return engine.Request{Text: q, Mode: engine.ModeHybrid, Rerank: &engine.Rerank{Model: ce, Top: 20}}
			},
			func(q string) map[string]any {
				return map[string]any{"query": q, "mode": "hybrid", "rerank": "ce", "rerank_top": 20}
			}})
	}
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var all []point
	fmt.Printf("%-16s %7s  %12s %9s %9s  %12s %9s %9s  %9s %9s\n", "mode", "clients", "in-proc q/s", "p50 ms", "p99 ms",
		"HTTP q/s", "p50 ms", "p99 ms", "q/s ratio", "p50 +ms")
	for _, m := range modes {
		for _, clients := range []int{1, 16} {
			in := measure(clients, dur, func(i int) error {
				_, err := ix.Search(ctx, m.req(queries[i%len(queries)]))
				return err
			})
			in.Mode, in.Clients, in.Side = m.name, clients, "in-process"
			ht := measure(clients, dur, func(i int) error {
				b, _ := json.Marshal(m.body(queries[i%len(queries)]))
				res, err := cl.Post(url, "application/json", bytes.NewReader(b))
				if err != nil {
					return err
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					return fmt.Errorf("status %d", res.StatusCode)
				}
				return nil
			})
			ht.Mode, ht.Clients, ht.Side = m.name, clients, "http"
			all = append(all, in, ht)
			fmt.Printf("%-16s %7d  %12.1f %9.2f %9.2f  %12.1f %9.2f %9.2f  %9.2f %9.2f\n", m.name, clients, in.QPS, in.P50ms, in.P99ms,
				ht.QPS, ht.P50ms, ht.P99ms, ht.QPS/in.QPS, ht.P50ms-in.P50ms)
			if in.Errors+ht.Errors > 0 {
				fmt.Printf("  errors: in-process %d, HTTP %d\n", in.Errors, ht.Errors)
			}
		}
	}
	if jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{"bench": "search-http", "index": dir, "cpu": cpu, "points": all}, "", "  ")
		return os.WriteFile(jsonOut, append(b, '\n'), 0o644)
	}
	return nil
}

// measure runs f from clients goroutines for dur (after a short warm-up)
// and returns the rate and latency percentiles.
func measure(clients int, dur time.Duration, f func(i int) error) point {
	for i := 0; i < 3; i++ {
		f(i)
	}
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	end := time.Now().Add(dur)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for i := c; time.Now().Before(end); i += clients {
				t0 := time.Now()
				if err := f(i); err != nil {
					bad++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	el := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	return point{QPS: float64(len(lat)) / el.Seconds(), P50ms: pct(0.50), P99ms: pct(0.99), Errors: errs}
}
