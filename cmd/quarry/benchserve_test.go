package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// TestSummarizeLoad checks the generator's statistics on hand-made samples:
// the measured window, nearest-rank percentiles over successes only, and
// errors counted by kind over the whole point.
func TestSummarizeLoad(t *testing.T) {
	var s []loadSample
	// 100 successes in the window with latencies 1..100 ms.
	for i := 1; i <= 100; i++ {
		start := ms(1000 + float64(i))
		s = append(s, loadSample{Start: start, End: start + ms(float64(i))})
	}
	// Started in the warm-up, ended in the window: measured (latency 1500 ms).
	s = append(s, loadSample{Start: ms(500), End: ms(2000)})
	// Not measured: ended in the warm-up, at the window's start, after it.
	s = append(s, loadSample{Start: ms(10), End: ms(900)}, loadSample{Start: ms(10), End: ms(1000)}, loadSample{Start: ms(2900), End: ms(3500)})
	// Errors: fast 429s in the window (not in the latencies), one in the
	// warm-up, a transport error in the tail.
	s = append(s, loadSample{Start: ms(1500), End: ms(1500.5), Err: "status 429"}, loadSample{Start: ms(1600), End: ms(1600.5), Err: "status 429"},
		loadSample{Start: ms(20), End: ms(30), Err: "status 503"}, loadSample{Start: ms(2990), End: ms(3100), Err: "transport"})

	st := summarizeLoad(s, ms(1000), ms(3000))
	if st.OK != 101 || st.Requests != 103 {
		t.Errorf("ok %d, measured requests %d; want 101, 103", st.OK, st.Requests)
	}
	if st.PerS != 50.5 { // 101 successes in 2 s
		t.Errorf("per_s %v, want 50.5", st.PerS)
	}
	// Latencies 1..100 and 1500 ms: nearest rank 51 of 101 is 51, rank 100 is 100.
	if st.P50 != 51 || st.P99 != 100 || st.Max != 1500 || st.Mean != (5050+1500)/101.0 {
		t.Errorf("p50 %v p99 %v max %v mean %v; want 51 100 1500 %v", st.P50, st.P99, st.Max, st.Mean, (5050+1500)/101.0)
	}
	if st.Errors != 4 || st.ErrorKinds["status 429"] != 2 || st.ErrorKinds["status 503"] != 1 || st.ErrorKinds["transport"] != 1 || len(st.ErrorKinds) != 3 {
		t.Errorf("errors %d %v; want 4: 2×429, 1×503, 1 transport", st.Errors, st.ErrorKinds)
	}

	// No success at all: zero latencies, no division by zero.
	st = summarizeLoad([]loadSample{{Start: ms(1), End: ms(2), Err: "body"}}, 0, ms(10))
	if st.OK != 0 || st.PerS != 0 || st.P50 != 0 || st.Errors != 1 || st.Requests != 1 {
		t.Errorf("all failed: %+v", st)
	}
	if st := summarizeLoad(nil, 0, 0); st.Errors != 0 || st.PerS != 0 || st.ErrorKinds != nil {
		t.Errorf("empty: %+v", st)
	}
}

// TestBenchServeEmbed drives a fake OpenAI server through the real client
// loop: the bodies it sends, the answers it counts as errors (a status, a body
// of the wrong shape) and the report's consistency.
func TestBenchServeEmbed(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Input          string `json:"input"`
			Model          string `json:"model"`
			EncodingFormat string `json:"encoding_format"`
		}
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/embeddings" || json.Unmarshal(b, &body) != nil || body.Model != "m1" || body.EncodingFormat != "base64" ||
			r.Header.Get("Authorization") != "Bearer k" {
			http.Error(w, "bad request "+string(b), http.StatusBadRequest)
			return
		}
		mu.Lock()
		seen[body.Input]++
		mu.Unlock()
		switch body.Input {
		case "busy":
			http.Error(w, `{"error":"overloaded"}`, http.StatusTooManyRequests)
		case "broken":
			io.WriteString(w, `{"data": []}`)
		default:
			io.WriteString(w, `{"object":"list","data":[{"object":"embedding","embedding":"AACAPw==","index":0}]}`)
		}
	}))
	defer srv.Close()
	texts := filepath.Join(t.TempDir(), "texts.txt")
	if err := os.WriteFile(texts, []byte("first text\nbusy\nsecond text\nbroken\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "serve.json")
	code, _, stderr := convRun("bench", "serve", "--url", srv.URL+"/v1/embeddings", "--clients", "1,3", "--duration", "300ms", "--warmup", "50ms",
		"--texts", texts, "--model-name", "m1", "--encoding-format", "base64", "--api-key", "k", "--pid", strconv.Itoa(os.Getpid()),
		"--label", "fake", "--json", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res serveBenchResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Bench != "serve" || res.Label != "fake" || res.Workload != "embed" || res.Texts != 4 || len(res.Points) != 2 {
		t.Fatalf("report %s", b)
	}
	for i, p := range res.Points {
		if p.Clients != []int{1, 3}[i] {
			t.Errorf("point %d: clients %d", i, p.Clients)
		}
		// Round-robin over 4 texts: about half the requests fail, of two kinds.
		if p.OK == 0 || p.ErrorKinds["status 429"] == 0 || p.ErrorKinds["body"] == 0 || len(p.ErrorKinds) != 2 ||
			p.Errors != p.ErrorKinds["status 429"]+p.ErrorKinds["body"] {
			t.Errorf("point %d: ok %d, errors %d %v", i, p.OK, p.Errors, p.ErrorKinds)
		}
		if p.Requests < p.OK || p.PerS <= 0 || !(p.P50 > 0 && p.P50 <= p.P99 && p.P99 <= p.Max) {
			t.Errorf("point %d: inconsistent stats %+v", i, p.loadStats)
		}
		if p.RSS == nil || p.RSS.StartMB <= 0 || p.RSS.MaxMB < p.RSS.EndMB || p.RSS.HWMMB < p.RSS.MaxMB {
			t.Errorf("point %d: rss %+v", i, p.RSS)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 4 || seen["first text"] == 0 || seen["broken"] == 0 {
		t.Errorf("texts sent: %v", seen)
	}
	if !strings.Contains(stderr, "status 429") || !strings.Contains(stderr, "sentences/s") {
		t.Errorf("summary lacks the error kinds or the unit:\n%s", stderr)
	}
}

// TestBenchServeSearch: the search workload's bodies per mode, and bad
// flags refused before any load.
func TestBenchServeSearch(t *testing.T) {
	var mu sync.Mutex
	modes := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body["query"] == "" || body["k"] != 7.0 {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		key, _ := body["mode"].(string)
		if body["rerank"] == true && body["rerank_top"] == 20.0 {
			key += "+rerank"
		}
		mu.Lock()
		modes[key]++
		mu.Unlock()
		io.WriteString(w, `{"query_id":"1","results":[]}`)
	}))
	defer srv.Close()
	q := filepath.Join(t.TempDir(), "q.jsonl")
	if err := os.WriteFile(q, []byte(`{"_id":"q1","text":"image viewer"}`+"\n"+`{"_id":"q2","text":"chess"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := convRun("bench", "serve", "--workload", "search", "--url", srv.URL+"/v1/indexes/demo/search", "--queries", q,
		"--modes", "bm25,hybrid+rerank", "--k", "7", "--clients", "2", "--duration", "100ms", "--warmup", "0s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res serveBenchResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Points) != 2 || res.Points[0].Mode != "bm25" || res.Points[1].Mode != "hybrid+rerank" || res.Texts != 2 {
		t.Fatalf("report %s", stdout)
	}
	for _, p := range res.Points {
		if p.Errors != 0 || p.OK == 0 {
			t.Errorf("%s: ok %d errors %d %v", p.Mode, p.OK, p.Errors, p.ErrorKinds)
		}
	}
	mu.Lock()
	if modes["bm25"] == 0 || modes["hybrid+rerank"] == 0 || len(modes) != 2 {
		t.Errorf("modes sent: %v", modes)
	}
	mu.Unlock()

	for _, args := range [][]string{
		{"--url", "localhost:1/x"},                 // no scheme
		{"--workload", "search", "--url", srv.URL}, // no --queries
		{"--workload", "search", "--queries", q},   // no target
		{"--in-process", "dir", "--url", srv.URL},  // embed in-process
		{"--url", srv.URL, "--clients", "0"},       // no clients
		{"--url", srv.URL, "--duration", "0s"},     // no duration
		{"--workload", "search", "--url", srv.URL, "--queries", q, "--modes", "fuzzy"},
	} {
		if code, _, stderr := convRun(append([]string{"bench", "serve"}, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, stderr)
		}
	}
}
