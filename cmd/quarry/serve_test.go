package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/serve"
)

// post sends a JSON body and returns the answer's body (failing unless 200).
func post(t *testing.T, url, body string) []byte {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("POST %s: %d %s", url, res.StatusCode, b)
	}
	return b
}

func bitsEqual(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: value %d: %v, want %v (the CLI's)", what, i, got[i], want[i])
		}
	}
}

// TestServeOneCodePath: a text gets bit-identical vectors from `quarry
// embed`, the Go API and every HTTP route (TEI /embed, POST /, OpenAI
// float and base64, token ids), alone or batched with concurrent requests;
// a search over HTTP prints `quarry search --json`'s line byte for byte;
// /rerank's raw scores are `quarry rerank`'s.
func TestServeOneCodePath(t *testing.T) {
	needNative(t)
	model, ce := genModel(t, "mean", "f32"), genModel(t, "rank", "f32")
	texts := []string{"transcribe french audio", "a", "the quick brown fox jumps over the lazy dog " + strings.Repeat("again ", 30), "Übersetzung ins Deutsche", "image viewer"}
	in := filepath.Join(t.TempDir(), "texts.txt")
	if err := os.WriteFile(in, []byte(strings.Join(texts, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := mustRun(t, "embed", "--model", model, in, "-q")
	var cli [][]float32
	for _, l := range lines(out) {
		var rec struct{ Embedding []float32 }
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		cli = append(cli, rec.Embedding)
	}
	m, err := engine.LoadModel(model, engine.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	api, err := m.Embed(context.Background(), texts)
	m.Close()
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		bitsEqual(t, "Go API", api[i], cli[i])
	}

	dir := filepath.Join(t.TempDir(), "ix")
	mustRun(t, "index", "--model", model, "-i", mixedCorpus(t, 30), "--out", dir)
	srv, err := serve.New(serve.Config{
		Indexes:      []serve.IndexSpec{{Name: "ix", Dir: dir}},
		Models:       []serve.ModelSpec{{Name: "m", Path: model}},
		RerankModels: []serve.ModelSpec{{Name: "ce", Path: ce}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	all, _ := json.Marshal(map[string]any{"inputs": texts})
	var batch [][]float32
	json.Unmarshal(post(t, ts.URL+"/embed", string(all)), &batch)
	var wg sync.WaitGroup
	for round := 0; round < 3; round++ {
		for i, text := range texts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				one, _ := json.Marshal(map[string]any{"inputs": text})
				var tei, root [][]float32
				json.Unmarshal(post(t, ts.URL+"/embed", string(one)), &tei)
				json.Unmarshal(post(t, ts.URL+"/", string(one)), &root)
				var oa, ob struct {
					Data []struct {
						Embedding json.RawMessage `json:"embedding"`
					} `json:"data"`
				}
				inp, _ := json.Marshal(map[string]any{"input": text, "model": "m"})
				json.Unmarshal(post(t, ts.URL+"/v1/embeddings", string(inp)), &oa)
				inp, _ = json.Marshal(map[string]any{"input": []string{text}, "encoding_format": "base64"})
				json.Unmarshal(post(t, ts.URL+"/v1/embeddings", string(inp)), &ob)
				var fl []float32
				json.Unmarshal(oa.Data[0].Embedding, &fl)
				var s string
				json.Unmarshal(ob.Data[0].Embedding, &s)
				raw, _ := base64.StdEncoding.DecodeString(s)
				b64 := make([]float32, len(raw)/4)
				for j := range b64 {
					b64[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
				}
				for name, v := range map[string][]float32{"/embed": tei[0], "POST /": root[0], "/v1/embeddings": fl, "base64": b64, "/embed batch": batch[i]} {
					bitsEqual(t, fmt.Sprintf("%s %q", name, text), v, cli[i])
				}
			}()
		}
	}
	wg.Wait()

	// The same search through the CLI and the server.
	for _, args := range [][]string{{"--mode", "dense"}, {"--mode", "hybrid", "--filter", "section=net", "--sort", "size:desc"}, {"--mode", "bm25", "--k", "3"}} {
		out, _ := mustRun(t, append([]string{"search", dir, "network bandwidth monitor", "--json"}, args...)...)
		body := map[string]any{"query": "network bandwidth monitor"}
		for i := 0; i+1 < len(args); i += 2 {
			switch args[i] {
			case "--mode":
				body["mode"] = args[i+1]
			case "--filter":
				body["filters"] = []string{args[i+1]}
			case "--sort":
				body["sort"] = args[i+1]
			case "--k":
				body["k"] = 3
			}
		}
		js, _ := json.Marshal(body)
		if got := post(t, ts.URL+"/v1/indexes/ix/search", string(js)); !bytes.Equal(got, []byte(out)) {
			t.Fatalf("search %v:\n http %s\n  cli %s", args, got, out)
		}
	}
	// Rerank: the raw logits of `quarry rerank`.
	docs := filepath.Join(t.TempDir(), "docs.txt")
	os.WriteFile(docs, []byte(strings.Join(texts, "\n")+"\n"), 0o644)
	out, _ = mustRun(t, "rerank", "--model", ce, "--query", "french audio", "--format", "jsonl", docs, "-q")
	want := map[int]float32{}
	for _, l := range lines(out) {
		var r struct {
			Line  int
			Score float32
		}
		json.Unmarshal([]byte(l), &r)
		want[r.Line-1] = r.Score
	}
	rb, _ := json.Marshal(map[string]any{"query": "french audio", "texts": texts, "raw_scores": true})
	var ranks []struct {
		Index int
		Score float32
	}
	json.Unmarshal(post(t, ts.URL+"/rerank", string(rb)), &ranks)
	for _, r := range ranks {
		if math.Float32bits(r.Score) != math.Float32bits(want[r.Index]) {
			t.Fatalf("rerank %d: %v over HTTP, %v from the CLI", r.Index, r.Score, want[r.Index])
		}
	}
}

// TestServeCommand: `quarry serve` starts, answers, and stops on its
// context (the CLI's first SIGINT/SIGTERM) with exit status 0; bad flags
// exit 2.
func TestServeCommand(t *testing.T) {
	needNative(t)
	model := genModel(t, "mean", "f32")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, []string{"quarry", "serve", "--model", "m=" + model, "--addr", addr, "--log-format", "json"}, strings.NewReader(""), io.Discard, &syncWriter{w: &stderr})
	}()
	var res *http.Response
	for i := 0; i < 100; i++ {
		if res, err = http.Post("http://"+addr+"/embed", "application/json", strings.NewReader(`{"inputs": "hello"}`)); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), `"msg":"request"`) || !strings.Contains(stderr.String(), "listening on http://") {
		t.Fatalf("logs: %s", stderr.String())
	}
	for _, args := range [][]string{
		{"serve"},
		{"serve", "--index", "nodir"},
		{"serve", "--model", model, "--payload-limit", "lots"},
		{"serve", "--model", model, "--log-format", "xml"},
		{"serve", "--index", "x=" + t.TempDir()},
		{"serve", "--rerank-model", model},
	} {
		if code, _, errOut := convRun(args...); code != exitBadInput {
			t.Errorf("%v: exit %d, want 2: %s", args, code, errOut)
		}
	}
}

// syncWriter serializes writes (the server logs from many goroutines).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// TestServeConfig: a --config file sets serve's flags (paths relative to the
// file, NAME: PATH mappings), the command line wins over it, and a bad file
// is exit 2 naming its line.
func TestServeConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct{ text, want string }{
		{"adr: \":0\"\n", `c.yaml:1: unknown key "adr"`},
		{"addr: \":0\"\nmax-batch-tokens: 0\n", "c.yaml:2: --max-batch-tokens 0"},
		{"addr: [\":0\"]\n", "c.yaml:1: addr: want a single value"},
		{"quiet: true\nquiet: false\n", `c.yaml:2: key "quiet" given twice`},
		{"- addr\n", "c.yaml:1: want a mapping"},
		{"index:\n  demo:\n", "c.yaml:1: index: line 2: want NAME: PATH"},
		{"payload-limit: lots\n", `c.yaml:1: --payload-limit: "lots" is not a size`},
		{"addr: [\n", "c.yaml: yaml:"},
	} {
		p := write("c.yaml", c.text)
		if code, _, errOut := convRun("serve", "--config", p); code != exitBadInput || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d, %q; want exit 2 with %q", c.text, code, errOut, c.want)
		}
	}
	if code, _, errOut := convRun("serve", "--config", "/dev/zero"); code != exitBadInput || !strings.Contains(errOut, "character device") {
		t.Errorf("--config /dev/zero: exit %d, %q", code, errOut)
	}

	needNative(t)
	model := genModel(t, "mean", "f32")
	if err := os.Symlink(model, filepath.Join(dir, "tiny.gguf")); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := write("serve.yaml", "# quarry serve --config\nmodel:\n  tiny: tiny.gguf\naddr: \"127.0.0.1:1\"\nquiet: true\nmax-client-batch-size: 2\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, []string{"quarry", "serve", "--config", cfg, "--addr", addr}, strings.NewReader(""), io.Discard, &syncWriter{w: &stderr})
	}()
	var res *http.Response
	for i := 0; i < 200; i++ {
		if res, err = http.Post("http://"+addr+"/embed", "application/json", strings.NewReader(`{"inputs": ["a", "b", "c"]}`)); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the server did not listen on the command line's --addr: %v; %s", err, stderr.String())
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("3 inputs with max-client-batch-size: 2 from the file: status %d, want 413", res.StatusCode)
	}
	res, err = http.Get("http://" + addr + "/info")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(info), `"tiny"`) {
		t.Errorf("/info does not name the file's model tiny: %s", info)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if strings.Contains(stderr.String(), "request") && strings.Contains(stderr.String(), "/info") {
		t.Errorf("quiet: true from the file, but requests were logged: %s", stderr.String())
	}
}
