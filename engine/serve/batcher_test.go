package serve_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quarry-search/quarry/engine/encoder"
	"github.com/quarry-search/quarry/engine/encoder/fake"
	"github.com/quarry-search/quarry/engine/serve"
	"github.com/quarry-search/quarry/engine/tokenize"
)

// slowModel is the fake model with a gate: each encoder call waits for a
// token on gate (when set) and counts calls and inputs.
type slowModel struct {
	*fake.Encoder
	gate    chan struct{}
	entered chan int // inputs of each call, when set
	calls   atomic.Int64
	inputs  atomic.Int64
	delay   time.Duration
}

func (m *slowModel) EmbedEncodings(encs []tokenize.Encoding) ([][]float32, error) {
	m.calls.Add(1)
	m.inputs.Add(int64(len(encs)))
	if m.entered != nil {
		m.entered <- len(encs)
	}
	if m.gate != nil {
		<-m.gate
	}
	if m.delay > 0 {
		time.Sleep(m.delay)
	}
	return m.Encoder.EmbedEncodings(encs)
}

func encodeAll(e *fake.Encoder, texts ...string) []tokenize.Encoding {
	out := make([]tokenize.Encoding, len(texts))
	for i, t := range texts {
		out[i] = e.Tokenizer().Encode(t, e.Info().MaxTokens)
	}
	return out
}

// TestBatcherConcurrent: many goroutines embed through one batcher, some
// canceling; every answer is its own input's vector (bit for bit), the
// model is called far fewer times than there are requests, and canceled
// requests return their context's error. Run with -race.
func TestBatcherConcurrent(t *testing.T) {
	m := &slowModel{Encoder: fakeModel(t, encoder.BiEncoder, "dense"), delay: 200 * time.Microsecond}
	b, err := serve.NewBatcher(m, nil, serve.BatchOptions{MaxBatchTokens: 256, Merge: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const n = 400
	var wg sync.WaitGroup
	var canceled, ok atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx := context.Background()
			if i%7 == 3 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Duration(rand.IntN(300))*time.Microsecond)
				defer cancel()
			}
			texts := []string{fmt.Sprintf("text number %d", i), strings.Repeat("word ", i%30)}
			vecs, _, err := b.Embed(ctx, encodeAll(m.Encoder, texts...))
			if err != nil {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("request %d: %v", i, err)
				}
				canceled.Add(1)
				return
			}
			for j, text := range texts {
				want := fakeVec(m.Encoder, text)
				for d := range want {
					if vecs[j][d] != want[d] {
						t.Errorf("request %d input %d: another input's vector", i, j)
						return
					}
				}
			}
			ok.Add(1)
		}(i)
	}
	wg.Wait()
	if ok.Load()+canceled.Load() != n {
		t.Fatalf("%d ok + %d canceled != %d", ok.Load(), canceled.Load(), n)
	}
	if calls := m.calls.Load(); calls >= n/2 {
		t.Fatalf("%d encoder calls for %d requests: no batching", calls, n)
	}
	t.Logf("%d requests (%d canceled) in %d encoder calls", n, canceled.Load(), m.calls.Load())
}

// TestBatcherCancelQueued: a request canceled while queued leaves the queue
// at once (its inputs are never encoded) and frees its caller.
func TestBatcherCancelQueued(t *testing.T) {
	m := &slowModel{Encoder: fakeModel(t, encoder.BiEncoder, "dense"), gate: make(chan struct{}), entered: make(chan int, 10)}
	b, err := serve.NewBatcher(m, nil, serve.BatchOptions{Merge: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	first := make(chan error, 1)
	go func() {
		_, _, err := b.Embed(context.Background(), encodeAll(m.Encoder, "first"))
		first <- err
	}()
	<-m.entered // the first batch is in the model
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() {
		_, _, err := b.Embed(ctx, encodeAll(m.Encoder, "second", "queued"))
		second <- err
	}()
	time.Sleep(5 * time.Millisecond) // queued behind the first
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled request: %v", err)
	}
	m.gate <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// A third request runs alone: the canceled inputs were dropped.
	go func() { m.gate <- struct{}{} }()
	if _, _, err := b.Embed(context.Background(), encodeAll(m.Encoder, "third")); err != nil {
		t.Fatal(err)
	}
	if got := <-m.entered; got != 1 {
		t.Fatalf("the next batch has %d inputs, want 1 (the canceled request's were encoded)", got)
	}
	if m.inputs.Load() != 2 {
		t.Fatalf("%d inputs encoded, want 2", m.inputs.Load())
	}
}

// TestBatcherBudget: a batch never holds more than MaxBatchTokens tokens
// (but a single bigger request runs alone), and requests of one batch are
// answered from one call.
func TestBatcherBudget(t *testing.T) {
	m := &slowModel{Encoder: fakeModel(t, encoder.BiEncoder, "dense"), gate: make(chan struct{}), entered: make(chan int, 100)}
	b, err := serve.NewBatcher(m, nil, serve.BatchOptions{MaxBatchTokens: 12, Merge: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	run := func(texts ...string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := b.Embed(context.Background(), encodeAll(m.Encoder, texts...)); err != nil {
				t.Error(err)
			}
		}()
	}
	run("hold") // occupies the model while the others queue
	<-m.entered
	for i := 0; i < 6; i++ {
		run("a b c") // 5 tokens each
	}
	run("one two three four five six seven eight nine ten eleven twelve") // 14 tokens: alone
	time.Sleep(10 * time.Millisecond)
	go func() {
		for i := 0; i < 10; i++ {
			m.gate <- struct{}{}
		}
	}()
	m.gate <- struct{}{}
	wg.Wait()
	close(m.entered)
	var sizes []int
	for n := range m.entered {
		sizes = append(sizes, n)
	}
	total := 0
	for _, n := range sizes {
		total += n
		if n > 2 {
			t.Fatalf("a batch of %d inputs (%v): over the 12-token budget", n, sizes)
		}
	}
	if total != 7 || len(sizes) != 4 {
		t.Fatalf("batches %v: want 3 batches of two 5-token inputs and one of the long input", sizes)
	}
	drain(m.gate)
}

func drain(c chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// TestConcurrencyLimit: with every permit taken, a request is answered 429
// with Retry-After; once a permit frees, requests are served again.
func TestConcurrencyLimit(t *testing.T) {
	m := &slowModel{Encoder: fakeModel(t, encoder.BiEncoder, "dense"), gate: make(chan struct{}), entered: make(chan int, 1)}
	f := newFixture(t, func(c *serve.Config) {
		c.MaxConcurrentRequests = 1
		c.Models = []serve.ModelSpec{{Name: "slow", Encoder: m}}
		c.Indexes, c.RerankModels = nil, nil
	})
	done := make(chan resp, 1)
	go func() { done <- f.do(t, "POST", "/embed", `{"inputs": "held"}`) }()
	<-m.entered
	r := f.do(t, "POST", "/embed", `{"inputs": "rejected"}`)
	wantError(t, r, 429, "Overloaded", "--max-concurrent-requests")
	if r.header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After: %v", r.header)
	}
	// Routes without inference (health, metrics, info) still answer.
	if h := f.do(t, "GET", "/health", nil); h.status != 200 {
		t.Fatal(h.status)
	}
	m.gate <- struct{}{}
	if r := <-done; r.status != 200 {
		t.Fatalf("held request: %d %s", r.status, r.body)
	}
	go func() { <-m.entered; m.gate <- struct{}{} }()
	if r := f.do(t, "POST", "/embed", `{"inputs": "after"}`); r.status != 200 {
		t.Fatalf("after: %d", r.status)
	}
}

// TestRequestDeadline: a request queued past its deadline is answered 503
// with Retry-After, and leaves the queue.
func TestRequestDeadline(t *testing.T) {
	m := &slowModel{Encoder: fakeModel(t, encoder.BiEncoder, "dense"), gate: make(chan struct{}), entered: make(chan int, 4)}
	f := newFixture(t, func(c *serve.Config) {
		c.RequestTimeout = 50 * time.Millisecond
		c.Models = []serve.ModelSpec{{Name: "slow", Encoder: m}}
		c.Indexes, c.RerankModels = nil, nil
	})
	go func() { f.do(t, "POST", "/embed", `{"inputs": "held"}`) }()
	<-m.entered
	r := f.do(t, "POST", "/embed", `{"inputs": "late"}`)
	wantError(t, r, 503, "Overloaded", "deadline")
	m.gate <- struct{}{}
}

// TestGracefulShutdown: when Serve's context ends, a request in flight is
// answered, new connections are refused, Serve returns nil and the server
// is closed (its batchers stopped).
func TestGracefulShutdown(t *testing.T) {
	m := &slowModel{Encoder: fakeModel(t, encoder.BiEncoder, "dense"), gate: make(chan struct{}), entered: make(chan int, 1)}
	srv, err := serve.New(serve.Config{Models: []serve.ModelSpec{{Name: "slow", Encoder: m}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	inflight := make(chan int, 1)
	go func() {
		res, err := http.Post(url+"/embed", "application/json", strings.NewReader(`{"inputs": "in flight"}`))
		if err != nil {
			t.Error(err)
			inflight <- 0
			return
		}
		res.Body.Close()
		inflight <- res.StatusCode
	}()
	<-m.entered
	cancel()
	time.Sleep(50 * time.Millisecond)
	if _, err := http.Get(url + "/health"); err == nil {
		t.Fatal("a new connection was accepted during shutdown")
	}
	m.gate <- struct{}{}
	if code := <-inflight; code != 200 {
		t.Fatalf("request in flight: %d", code)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	// Closed: the handler answers 503.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/embed", strings.NewReader(`{"inputs": "x"}`))
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != 503 {
		t.Fatalf("after shutdown: %d", rec.Code)
	}
	if err := srv.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
}

// overlapModel counts the encoder calls running at once, over every model
// sharing its counters.
type overlapModel struct {
	*fake.Encoder
	running, peak *atomic.Int64
}

func (m *overlapModel) EmbedEncodings(encs []tokenize.Encoding) ([][]float32, error) {
	n := m.running.Add(1)
	defer m.running.Add(-1)
	for {
		p := m.peak.Load()
		if n <= p || m.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(2 * time.Millisecond)
	return m.Encoder.EmbedEncodings(encs)
}

// TestBatchersShareCompute: two models' batchers given one Compute slot
// never run their models at the same time; without it they do (so the
// test sees overlap when there is some).
func TestBatchersShareCompute(t *testing.T) {
	for _, shared := range []bool{true, false} {
		var running, peak atomic.Int64
		var compute chan struct{}
		if shared {
			compute = make(chan struct{}, 1)
		}
		var bs []*serve.Batcher
		for _, name := range []string{"a", "b"} {
			m := &overlapModel{Encoder: fakeModel(t, encoder.BiEncoder, name), running: &running, peak: &peak}
			b, err := serve.NewBatcher(m, nil, serve.BatchOptions{Merge: true, Compute: compute})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			bs = append(bs, b)
		}
		var wg sync.WaitGroup
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				b := bs[i%2]
				if _, _, err := b.Embed(context.Background(), encodeAll(fakeModel(t, encoder.BiEncoder, "x"), fmt.Sprintf("text %d", i))); err != nil {
					t.Error(err)
				}
			}(i)
		}
		wg.Wait()
		switch p := peak.Load(); {
		case shared && p != 1:
			t.Errorf("one shared compute slot: %d model calls ran at once", p)
		case !shared && p != 2:
			t.Errorf("no shared slot: peak %d calls at once, want 2 (the test would not see overlap)", p)
		}
	}
}
