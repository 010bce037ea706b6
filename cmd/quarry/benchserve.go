package main

// quarry bench serve: a load generator for a running embedding or search
// server on loopback (quarry serve, or any OpenAI-compatible /embeddings
// server: the same generator measures the peers), and the same search
// workload in-process for the HTTP overhead. scripts/bench/serve.sh runs it
// against quarry and infinity-emb and checks the targets of docs/serve.md.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/internal/benchtext"
	"github.com/quarry-search/quarry/internal/fsx"
	"github.com/urfave/cli/v2"
)

// Bounds of the load generator's flags.
const (
	maxClients      = 10000
	maxLoadDuration = time.Hour
	maxBodyRead     = 64 << 20 // bytes of one response read
	maxLoadSamples  = 1 << 24  // requests recorded per client and point
)

func benchServeCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "load a running server: N concurrent clients, one sentence (or query) per request: throughput, p50/p99, errors, the server's RSS",
		UsageText: "quarry bench serve --url http://127.0.0.1:8080/v1/embeddings [--clients 1,8,64,200] [--duration 10s] [--pid PID]\n" +
			"   quarry bench serve --workload search --url http://127.0.0.1:8080/v1/indexes/demo/search --queries Q.jsonl [--modes dense,bm25,hybrid,hybrid+rerank]\n" +
			"   quarry bench serve --workload search --in-process DIR --queries Q.jsonl [--rerank-model CE.gguf]   (the same searches without HTTP)",
		Description: "Each point runs --clients concurrent clients for --warmup then --duration; each client sends one request at a\n" +
			"time, back to back, over its own keep-alive connection. Throughput and latency count the requests that\n" +
			"ended within --duration, after the warm-up (latency: successful ones only); errors count every\n" +
			"failed request of the point, warm-up and tail included (a non-200 status, a transport error, a body of the\n" +
			"wrong shape). The embed workload POSTs OpenAI's body {\"input\": TEXT, \"model\": --model-name} to --url, so it\n" +
			"drives any OpenAI-compatible server; its texts are `quarry bench encode`'s (same --words, --n, --seed).\n" +
			"The search workload POSTs quarry's search body; with --in-process DIR it calls engine.Index.Search on DIR\n" +
			"from the same clients instead. --pid samples that process's VmRSS every 250 ms (start, end, max) and its\n" +
			"CPU time per point.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "url", Usage: "endpoint: http://HOST:PORT/v1/embeddings (embed) or …/v1/indexes/NAME/search (search)"},
			oneOf(&cli.StringFlag{Name: "workload", Value: "embed", Usage: "embed (one sentence per request) or search (one query per request)"}, "embed", "search"),
			&cli.StringFlag{Name: "clients", Value: "1,8,64,200", Usage: "concurrent clients of each point, comma-separated"},
			&cli.DurationFlag{Name: "duration", Value: 10 * time.Second, Usage: "measured time of each point"},
			&cli.DurationFlag{Name: "warmup", Value: 2 * time.Second, Usage: "unmeasured time before each point's measurement (same clients)"},
			&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: "deadline of one request"},
			intIn(0, 1<<30, &cli.IntFlag{Name: "pid", Usage: "the server's process id: its RSS (VmRSS, VmHWM) and CPU time per point"}),
			&cli.StringFlag{Name: "label", Value: "server", Usage: "name of the measured server in the summary and the JSON"},
			&cli.StringFlag{Name: "api-key", Usage: "send Authorization: Bearer KEY", EnvVars: []string{"QUARRY_API_KEY"}},
			// embed
			&cli.StringFlag{Name: "model-name", Usage: "embed: the request's \"model\" field (omitted when empty)"},
			oneOf(&cli.StringFlag{Name: "encoding-format", Value: "float", Usage: "embed: float or base64"}, "float", "base64"),
			&cli.StringFlag{Name: "words", Value: "10-60", Usage: "embed: words per sentence (LO-HI), as quarry bench encode"},
			intIn(1, maxRows, &cli.IntFlag{Name: "n", Value: 512, Usage: "embed: distinct sentences, sent round-robin"}),
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "embed: sentence seed"},
			&cli.StringFlag{Name: "vocab", Usage: "embed: vocab.txt for the sentences (default: the repository's bert-base-uncased vocabulary)"},
			&cli.StringFlag{Name: "texts", Usage: "embed: texts to send instead, one per line"},
			// search
			&cli.StringFlag{Name: "queries", Usage: "search: queries, JSONL with \"text\" (BEIR queries.jsonl) or one per line"},
			&cli.StringFlag{Name: "modes", Value: "dense,bm25,hybrid,hybrid+rerank", Usage: "search: modes measured (MODE or MODE+rerank), comma-separated"},
			intIn(1, maxResults, &cli.IntFlag{Name: "k", Value: 10, Usage: "search: results per query"}),
			intIn(1, maxResults, &cli.IntFlag{Name: "rerank-top", Value: 20, Usage: "search: candidates reranked in +rerank modes"}),
			&cli.StringFlag{Name: "in-process", Usage: "search: open this index directory and search it in this process instead of over HTTP"},
			&cli.StringFlag{Name: "rerank-model", Usage: "search --in-process: cross-encoder GGUF of the +rerank modes"},
			&cli.StringFlag{Name: "json", Usage: "also write the JSON result to this file"},
		}, modelFlags()...),
		Action: runBenchServe,
	}
}

// loadSample is one request: when it started and ended (since the point's
// start) and its error kind ("" = success).
type loadSample struct {
	Start, End time.Duration
	Err        string
}

// loadStats summarizes the samples of one point.
type loadStats struct {
	Requests   int            `json:"requests"` // measured: ended within the duration, after the warm-up
	OK         int            `json:"ok"`
	PerS       float64        `json:"per_s"` // successful measured requests per second
	P50        float64        `json:"p50_ms"`
	P99        float64        `json:"p99_ms"`
	Mean       float64        `json:"mean_ms"`
	Max        float64        `json:"max_ms"`
	Errors     int            `json:"errors"` // every failed request of the point
	ErrorKinds map[string]int `json:"error_kinds,omitempty"`
}

// summarizeLoad computes a point's statistics: throughput and latency over
// the successful samples that ended in (from, to] — wherever they started, so
// that requests longer than the window are counted at the rate they
// complete — and errors over every sample. Percentiles are nearest-rank.
func summarizeLoad(samples []loadSample, from, to time.Duration) loadStats {
	var st loadStats
	var lat []float64
	for _, s := range samples {
		if s.Err != "" {
			st.Errors++
			if st.ErrorKinds == nil {
				st.ErrorKinds = map[string]int{}
			}
			st.ErrorKinds[s.Err]++
		}
		if s.End <= from || s.End > to {
			continue
		}
		st.Requests++
		if s.Err == "" {
			lat = append(lat, float64(s.End-s.Start)/float64(time.Millisecond))
		}
	}
	st.OK = len(lat)
	if to > from {
		st.PerS = float64(st.OK) / (to - from).Seconds()
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		st.P50, st.P99, st.Max = percentile(lat, 50), percentile(lat, 99), lat[len(lat)-1]
		sum := 0.0
		for _, v := range lat {
			sum += v
		}
		st.Mean = sum / float64(len(lat))
	}
	return st
}

// rssStats is the server's memory during a point (MB).
type rssStats struct {
	StartMB int64 `json:"start_mb"`
	EndMB   int64 `json:"end_mb"`
	MaxMB   int64 `json:"max_mb"` // the largest 250 ms sample
	HWMMB   int64 `json:"hwm_mb"` // VmHWM at the end: the process's peak since it started
}

type servePoint struct {
	Mode    string `json:"mode,omitempty"`
	Clients int    `json:"clients"`
	loadStats
	RSS          *rssStats `json:"rss,omitempty"`
	ServerCPUS   float64   `json:"server_cpu_s,omitempty"` // the server's CPU seconds over the point (warm-up included)
	ClientCPUS   float64   `json:"client_cpu_s"`           // this process's CPU seconds over the point
	ElapsedS     float64   `json:"elapsed_s"`
	ServerCPUPer float64   `json:"server_cpu_ms_per_request,omitempty"`
}

type serveBenchResult struct {
	Bench    string       `json:"bench"`
	Machine  benchMachine `json:"machine"`
	Time     string       `json:"time"`
	Label    string       `json:"label"`
	Workload string       `json:"workload"`
	Target   string       `json:"target"` // the URL, or "in-process DIR"
	Texts    int          `json:"texts"`
	Words    string       `json:"words,omitempty"`
	Duration float64      `json:"duration_s"`
	Warmup   float64      `json:"warmup_s"`
	PID      int          `json:"pid,omitempty"`
	Points   []servePoint `json:"points"`
}

// loadFunc sends request i of client c and returns its error kind ("" =
// success).
type loadFunc func(ctx context.Context, c, i int) string

// runLoad runs clients concurrent loops of do for warmup+dur and returns
// every sample, times relative to the point's start.
func runLoad(ctx context.Context, clients int, warmup, dur time.Duration, do loadFunc) []loadSample {
	t0 := time.Now()
	stop := warmup + dur
	per := make([][]loadSample, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && len(per[c]) < maxLoadSamples; i++ {
				s := time.Since(t0)
				if s >= stop {
					return
				}
				kind := do(ctx, c, i)
				per[c] = append(per[c], loadSample{Start: s, End: time.Since(t0), Err: kind})
			}
		}()
	}
	wg.Wait()
	var all []loadSample
	for _, p := range per {
		all = append(all, p...)
	}
	return all
}

// rssSampler samples a process's VmRSS every 250 ms until stopped.
type rssSampler struct {
	pid  string
	st   rssStats
	done chan struct{}
	wg   sync.WaitGroup
}

func startRSS(pid int) *rssSampler {
	if pid <= 0 {
		return nil
	}
	r := &rssSampler{pid: strconv.Itoa(pid), done: make(chan struct{})}
	r.st.StartMB = pidStatusMB(r.pid, "VmRSS")
	r.st.MaxMB = r.st.StartMB
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-r.done:
				return
			case <-t.C:
				r.st.MaxMB = max(r.st.MaxMB, pidStatusMB(r.pid, "VmRSS"))
			}
		}
	}()
	return r
}

func (r *rssSampler) stop() *rssStats {
	if r == nil {
		return nil
	}
	close(r.done)
	r.wg.Wait()
	r.st.EndMB = pidStatusMB(r.pid, "VmRSS")
	r.st.MaxMB = max(r.st.MaxMB, r.st.EndMB)
	r.st.HWMMB = pidStatusMB(r.pid, "VmHWM")
	return &r.st
}

// pidCPUSeconds is the user + system CPU time of a process (all its
// threads), or -1.
func pidCPUSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return float64(ut+st) / 100 // USER_HZ, 100 on Linux
}

// httpLoad posts bodies[(offset of c + i) % len] to url and checks each
// answer with ok.
type httpLoad struct {
	client *http.Client
	url    string
	apiKey string
	bodies [][]byte
	ok     func([]byte) bool
	offset func(c int) int
}

func (h *httpLoad) do(ctx context.Context, c, i int) string {
	body := h.bodies[(h.offset(c)+i)%len(h.bodies)]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return "request"
	}
	req.Header.Set("Content-Type", "application/json")
	if h.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+h.apiKey)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return "transport"
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyRead))
	resp.Body.Close()
	switch {
	case resp.StatusCode != http.StatusOK:
		return "status " + strconv.Itoa(resp.StatusCode)
	case err != nil:
		return "transport"
	case !h.ok(b):
		return "body"
	}
	return ""
}

// embeddingOK checks an OpenAI embeddings answer for one input.
func embeddingOK(b []byte) bool {
	var r struct {
		Data []struct {
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
	}
	return json.Unmarshal(b, &r) == nil && len(r.Data) == 1 && len(r.Data[0].Embedding) > 2
}

// searchOK checks a search answer: an object with a results array.
func searchOK(b []byte) bool {
	var r struct {
		Results *[]json.RawMessage `json:"results"`
	}
	return json.Unmarshal(b, &r) == nil && r.Results != nil
}

// searchMode is one measured search: a mode and whether it reranks.
type searchMode struct {
	Mode   engine.Mode
	Rerank bool
}

func (m searchMode) String() string {
	if m.Rerank {
		return string(m.Mode) + "+rerank"
	}
	return string(m.Mode)
}

func parseSearchModes(s string) ([]searchMode, error) {
	var out []searchMode
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		m, rr := strings.CutSuffix(f, "+rerank")
		switch engine.Mode(m) {
		case engine.ModeDense, engine.ModeBM25, engine.ModeHybrid, engine.ModeSparse:
		default:
			return nil, fmt.Errorf("mode %q: want dense, bm25, hybrid or sparse, optionally +rerank", f)
		}
		out = append(out, searchMode{engine.Mode(m), rr})
	}
	if len(out) == 0 {
		return nil, errors.New("empty mode list")
	}
	return out, nil
}

func runBenchServe(c *cli.Context) error {
	clients, err := parseInts(c.String("clients"))
	if err != nil {
		return badInput("--clients: %v", err)
	}
	if slices.Max(clients) > maxClients {
		return badInput("--clients: at most %d", maxClients)
	}
	dur, warm, timeout := c.Duration("duration"), c.Duration("warmup"), c.Duration("timeout")
	if dur <= 0 || dur > maxLoadDuration || warm < 0 || warm > maxLoadDuration || timeout <= 0 {
		return badInput("--duration must be in (0, 1h], --warmup in [0, 1h], --timeout positive")
	}
	workload, url, inProc := c.String("workload"), c.String("url"), c.String("in-process")
	switch {
	case inProc != "" && workload != "search":
		return badInput("--in-process needs --workload search")
	case inProc != "" && url != "":
		return badInput("give --url or --in-process, not both")
	case inProc == "" && url == "":
		return badInput("--url is required (or --in-process DIR with --workload search)")
	case url != "" && !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://"):
		return badInput("--url %q: want http://HOST:PORT/PATH", url)
	}
	res := serveBenchResult{Bench: "serve", Machine: machineInfo(), Time: time.Now().UTC().Format(time.RFC3339),
		Label: c.String("label"), Workload: workload, Target: url, Duration: dur.Seconds(), Warmup: warm.Seconds(), PID: c.Int("pid")}
	if inProc != "" {
		res.Target = "in-process " + inProc
	}
	newHTTP := func(n int) *httpLoad {
		tr := &http.Transport{MaxIdleConns: n, MaxIdleConnsPerHost: n, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
		return &httpLoad{client: &http.Client{Transport: tr, Timeout: timeout}, url: url, apiKey: c.String("api-key")}
	}
	w := c.App.ErrWriter
	unit := "sentences/s"
	if workload == "search" {
		unit = "queries/s"
	}
	fmt.Fprintf(w, "bench serve: %s (%s), %s workload, %s measured after %s warm-up per point; %s\n",
		res.Label, res.Target, workload, dur, warm, res.Machine)

	// point runs one load point and prints its line.
	point := func(mode string, n int, do loadFunc) {
		pid := c.Int("pid")
		cpu0, scpu0 := cpuSeconds(), 0.0
		if pid > 0 {
			scpu0 = pidCPUSeconds(pid)
		}
		rs := startRSS(pid)
		t0 := time.Now()
		samples := runLoad(c.Context, n, warm, dur, do)
		pt := servePoint{Mode: mode, Clients: n, loadStats: summarizeLoad(samples, warm, warm+dur),
			ElapsedS: time.Since(t0).Seconds(), ClientCPUS: cpuSeconds() - cpu0, RSS: rs.stop()}
		if pid > 0 {
			if s1 := pidCPUSeconds(pid); s1 >= 0 && scpu0 >= 0 {
				pt.ServerCPUS = s1 - scpu0
				if len(samples) > 0 {
					pt.ServerCPUPer = 1000 * pt.ServerCPUS / float64(len(samples))
				}
			}
		}
		res.Points = append(res.Points, pt)
		line := fmt.Sprintf("  %-14s clients %4d: %8.1f %s  p50 %8.2f ms  p99 %8.2f ms  %d errors (%d requests measured)",
			mode, n, pt.PerS, unit, pt.P50, pt.P99, pt.Errors, pt.Requests)
		if pt.Errors > 0 {
			line += fmt.Sprintf(" %v", pt.ErrorKinds)
		}
		if pt.RSS != nil {
			line += fmt.Sprintf("  RSS %d→%d MB (max %d, peak %d)", pt.RSS.StartMB, pt.RSS.EndMB, pt.RSS.MaxMB, pt.RSS.HWMMB)
		}
		if pt.ServerCPUS > 0 {
			line += fmt.Sprintf("  server CPU %.2f ms/request", pt.ServerCPUPer)
		}
		fmt.Fprintln(w, line)
	}

	switch workload {
	case "embed":
		texts, words, err := serveTexts(c)
		if err != nil {
			return err
		}
		res.Texts, res.Words = len(texts), words
		bodies := make([][]byte, len(texts))
		for i, t := range texts {
			body := map[string]any{"input": t}
			if m := c.String("model-name"); m != "" {
				body["model"] = m
			}
			if f := c.String("encoding-format"); f != "float" {
				body["encoding_format"] = f
			}
			bodies[i], _ = json.Marshal(body)
		}
		for _, n := range clients {
			h := newHTTP(n)
			h.bodies, h.ok = bodies, embeddingOK
			h.offset = func(c int) int { return c * len(bodies) / n }
			point("embed", n, h.do)
			h.client.CloseIdleConnections()
		}
	case "search":
		queries, err := serveQueries(c)
		if err != nil {
			return err
		}
		res.Texts = len(queries)
		modes, err := parseSearchModes(c.String("modes"))
		if err != nil {
			return badInput("--modes: %v", err)
		}
		k, top := c.Int("k"), c.Int("rerank-top")
		if inProc != "" {
			return benchSearchInProcess(c, &res, inProc, queries, modes, clients, point)
		}
		for _, m := range modes {
			bodies := make([][]byte, len(queries))
			for i, q := range queries {
				body := map[string]any{"query": q, "k": k, "mode": m.Mode}
				if m.Rerank {
					body["rerank"], body["rerank_top"] = true, top
				}
				bodies[i], _ = json.Marshal(body)
			}
			for _, n := range clients {
				h := newHTTP(n)
				h.bodies, h.ok = bodies, searchOK
				h.offset = func(c int) int { return c * len(bodies) / n }
				point(m.String(), n, h.do)
				h.client.CloseIdleConnections()
			}
		}
	}
	if err := c.Context.Err(); err != nil {
		return err
	}
	return emitJSON(c, res, c.String("json"))
}

// benchSearchInProcess runs the search points on an index opened in this
// process: the same queries, modes and clients, engine.Index.Search instead
// of HTTP.
func benchSearchInProcess(c *cli.Context, res *serveBenchResult, dir string, queries []string, modes []searchMode, clients []int,
	point func(string, int, loadFunc)) error {
	ix, err := engine.Open(dir, engine.OpenOptions{ModelOptions: modelOptions(c)})
	if err != nil {
		return err
	}
	defer ix.Close()
	var rr *engine.Model
	if slices.ContainsFunc(modes, func(m searchMode) bool { return m.Rerank }) {
		p := c.String("rerank-model")
		if p == "" {
			return badInput("--modes has a +rerank mode: --in-process needs --rerank-model CE.gguf")
		}
		if rr, err = loadModel(c, p, engine.ModelOptions{}); err != nil {
			return err
		}
		defer rr.Close()
		if !rr.CrossEncoder() {
			return badInput("--rerank-model %s is a bi-encoder; reranking needs a cross-encoder", p)
		}
	}
	k, top := c.Int("k"), c.Int("rerank-top")
	var firstErr error
	var mu sync.Mutex
	for _, m := range modes {
		for _, n := range clients {
			do := func(ctx context.Context, cl, i int) string {
				req := engine.Request{Text: queries[(cl*len(queries)/n+i)%len(queries)], K: k, Mode: m.Mode}
				if m.Rerank {
					req.Rerank = &engine.Rerank{Model: rr, Top: top}
				}
				if _, err := ix.Search(ctx, req); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return "search"
				}
				return ""
			}
			point(m.String(), n, do)
		}
	}
	if firstErr != nil {
		fmt.Fprintf(c.App.ErrWriter, "bench serve: first search error: %v\n", firstErr)
	}
	if err := c.Context.Err(); err != nil {
		return err
	}
	return emitJSON(c, res, c.String("json"))
}

// serveTexts returns the embed workload's texts: --texts lines, or the
// benchmark sentences of quarry bench encode.
func serveTexts(c *cli.Context) ([]string, string, error) {
	if p := c.String("texts"); p != "" {
		b, err := fsx.ReadRegular(p, "texts file", 1<<30)
		if err != nil {
			return nil, "", markBadInput(fmt.Errorf("--texts: %w", err))
		}
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
		if len(out) == 0 {
			return nil, "", badInput("--texts %s: no texts", p)
		}
		return out, "", nil
	}
	wr, err := parseWordRanges(c.String("words"))
	if err != nil || len(wr) != 1 {
		return nil, "", badInput("--words: want one range LO-HI")
	}
	vocab, err := benchVocab(c.String("vocab"))
	if err != nil {
		return nil, "", err
	}
	return benchtext.Sentences(vocab, c.Int("n"), wr[0].Lo, wr[0].Hi, c.Uint64("seed")), wr[0].String(), nil
}

// serveQueries reads --queries (JSONL with "text", or one per line).
func serveQueries(c *cli.Context) ([]string, error) {
	p := c.String("queries")
	if p == "" {
		return nil, badInput("--workload search needs --queries FILE")
	}
	f, err := fsx.OpenRegular(p, "queries file")
	if err != nil {
		return nil, markBadInput(fmt.Errorf("--queries: %w", err))
	}
	defer f.Close()
	rr := newRecordReader(f, filepath.Base(p), "auto")
	var out []string
	for len(out) < maxRows {
		rec, ok, err := rr.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if rec.Text != "" {
			out = append(out, rec.Text)
		}
	}
	if len(out) == 0 {
		return nil, badInput("--queries %s: no queries", p)
	}
	return out, nil
}
