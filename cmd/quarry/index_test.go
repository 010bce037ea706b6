package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quarry-search/quarry/engine/modelgen"
	"github.com/quarry-search/quarry/engine/search"
)

// The test binary doubles as the quarry command: QUARRY_TEST_MAIN=1 runs
// main() with the remaining arguments, so tests can start real processes
// (and kill them).
func TestMain(m *testing.M) {
	if os.Getenv("QUARRY_TEST_MAIN") == "1" {
		os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func quarryCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "QUARRY_TEST_MAIN=1")
	return cmd
}

func tinyModel(t testing.TB, kind string) string {
	t.Helper()
	vocab, err := modelgen.LoadVocab("")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "tiny-"+kind+".gguf")
	if err := modelgen.Generate(p, modelgen.Spec{Preset: "tiny", Kind: kind, Type: "f32", Seed: 3}, vocab); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeCorpus(t testing.TB, n int) string {
	t.Helper()
	vocab, _ := modelgen.LoadVocab("")
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		ws := make([]string, 8+(i*17)%50)
		for j := range ws {
			ws[j] = vocab[2000+(i*97+j*31)%20000]
		}
		line, _ := json.Marshal(map[string]any{"_id": fmt.Sprintf("d%05d", i), "title": ws[0], "text": strings.Join(ws, " "),
			"section": []string{"utils", "games", "python"}[i%3], "size": i})
		b.Write(line)
		b.WriteByte('\n')
	}
	p := filepath.Join(t.TempDir(), "corpus.jsonl")
	os.WriteFile(p, b.Bytes(), 0o644)
	return p
}

// TestIndexKillResume kills `quarry index` with SIGKILL at random moments,
// re-runs the same command until it completes, and checks that the result is
// byte-for-byte the index an uninterrupted run produces.
func TestIndexKillResume(t *testing.T) {
	if !search.Native() {
		t.Skip("no native core")
	}
	ref, dir := killResume(t, 6000, "--segment-passages", "64")
	q := []string{"search", "--json", "--k", "5", "--mode", "hybrid"}
	x, err1 := quarryCmd(append(q, ref, "d00007")...).Output()
	y, err2 := quarryCmd(append(q, dir, "d00007")...).Output()
	if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
		t.Fatalf("searches differ: %v %v\n%s\n%s", err1, err2, x, y)
	}
}

// TestIndexKillResumeGraphs is TestIndexKillResume with an HNSW graph per
// segment, so that kills land during graph builds as well: the vectors,
// documents and BM25 files are byte-for-byte the uninterrupted run's, every
// segment has its graph and `quarry check` passes, exact searches answer
// identically, and searches through the graphs find the same documents
// (multi-threaded graph builds are not byte-identical).
func TestIndexKillResumeGraphs(t *testing.T) {
	if !search.Native() {
		t.Skip("no native core")
	}
	ref, dir := killResume(t, 3000, "--segment-passages", "400", "--ann", "hnsw", "--hnsw-ef-construction", "64")
	a, _ := filepath.Glob(filepath.Join(ref, "hnsw-*.qhnsw"))
	b, _ := filepath.Glob(filepath.Join(dir, "hnsw-*.qhnsw"))
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.qvec"))
	if len(a) == 0 || len(b) != len(a) || len(b) != len(segs) {
		t.Fatalf("%d graphs in the reference, %d after kills, %d segments", len(a), len(b), len(segs))
	}
	if out, err := quarryCmd("check", dir).CombinedOutput(); err != nil {
		t.Fatalf("check after kills: %v\n%s", err, out)
	}
	ids := func(out []byte) []string {
		var r struct {
			Results []struct {
				ID string `json:"id"`
			} `json:"results"`
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		var s []string
		for _, h := range r.Results {
			s = append(s, h.ID)
		}
		return s
	}
	for _, query := range []string{"d00007", "d01234", "d02999"} {
		q := []string{"search", "--json", "--k", "5", "--exact"}
		x, err1 := quarryCmd(append(q, ref, query)...).Output()
		y, err2 := quarryCmd(append(q, dir, query)...).Output()
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Fatalf("exact searches differ: %v %v\n%s\n%s", err1, err2, x, y)
		}
		g := quarryCmd("search", "--json", "--k", "5", "--ef", "400", dir, query)
		g.Env = append(g.Env, "QUARRY_HNSW_GRAPH_WORK=0") // through the graphs, not the cheaper scan
		z, err := g.Output()
		if err != nil || !slices.Equal(ids(z), ids(x)) {
			t.Fatalf("graph search %q: %v: %v, exact %v", query, err, ids(z), ids(x))
		}
	}
}

// killResume indexes n generated documents with extra flags once without
// interruption (ref) and once killed with SIGKILL at random moments and
// re-run until it completes (dir), and checks that the vectors, documents
// and BM25 files of both are byte-for-byte equal.
func killResume(t *testing.T, n int, extra ...string) (ref, dir string) {
	model := tinyModel(t, "mean")
	in := writeCorpus(t, n)
	args := func(out string) []string {
		return append([]string{"index", "-m", model, "--input", in, "--out", out, "--threads", "1", "-q"}, extra...)
	}
	ref = filepath.Join(t.TempDir(), "ref")
	t0 := time.Now()
	if out, err := quarryCmd(args(ref)...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted index: %v\n%s", err, out)
	}
	full := time.Since(t0)
	dir = filepath.Join(t.TempDir(), "killed")
	r := rand.New(rand.NewPCG(1, 2))
	kills := 0
	for attempt := 0; attempt < 60; attempt++ {
		cmd := quarryCmd(args(dir)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("index run %d failed: %v\n%s", attempt, err, stderr.String())
			}
			attempt = 1 << 30
			continue
		case <-time.After(time.Duration(float64(full) * (0.03 + 0.25*r.Float64()))):
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			kills++
		}
		// Whatever was committed is readable at every kill.
		if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err == nil {
			if out, err := quarryCmd("info", dir).CombinedOutput(); err != nil {
				t.Fatalf("index unreadable after kill %d: %v\n%s", kills, err, out)
			}
		}
	}
	if kills < 3 {
		t.Errorf("only %d kills landed before a run completed", kills)
	}
	for _, pat := range []string{"seg-*.qvec", "docs-*.zst", "lex-*.bm25"} {
		a, _ := filepath.Glob(filepath.Join(ref, pat))
		b, _ := filepath.Glob(filepath.Join(dir, pat))
		if len(a) == 0 || len(a) != len(b) {
			t.Fatalf("%s: %d files in the reference, %d after kills", pat, len(a), len(b))
		}
		for i := range a {
			x, _ := os.ReadFile(a[i])
			y, _ := os.ReadFile(b[i])
			if !bytes.Equal(x, y) || filepath.Base(a[i]) != filepath.Base(b[i]) {
				t.Fatalf("%s differs from the uninterrupted run", filepath.Base(b[i]))
			}
		}
	}
	t.Logf("%d SIGKILLs, then identical files", kills)
	return ref, dir
}

func TestSearchCLI(t *testing.T) {
	if !search.Native() {
		t.Skip("no native core")
	}
	model := tinyModel(t, "mean")
	ce := tinyModel(t, "rank")
	in := writeCorpus(t, 200)
	dir := filepath.Join(t.TempDir(), "ix")
	if out, err := quarryCmd("index", "-m", model, "-i", in, "-o", dir, "-q", "--dtype", "int8").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := quarryCmd("search", dir, "d00010", "--json", "--k", "3", "--mode", "hybrid", "--filter", "section=games,python",
		"--rerank-model", ce, "--rerank-top", "10").Output()
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		QueryID string `json:"query_id"`
		Results []struct {
			ID       string         `json:"id"`
			Metadata map[string]any `json:"metadata"`
			Scores   map[string]any `json:"scores"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(resp.Results) != 3 {
		t.Fatalf("results: %s", out)
	}
	for _, r := range resp.Results {
		if r.Metadata["section"] == "utils" || r.Scores["rerank"] == nil {
			t.Fatalf("filter or rerank not applied: %+v", r)
		}
	}
	// Queries file: JSONL with _id/text, one response object per query.
	qf := filepath.Join(t.TempDir(), "q.jsonl")
	os.WriteFile(qf, []byte("{\"_id\":\"q1\",\"text\":\"alpha\"}\n{\"_id\":\"q2\",\"text\":\"beta\"}\n"), 0o644)
	out, err = quarryCmd("search", dir, "--queries", qf, "--json").Output()
	if err != nil || strings.Count(string(out), "\"query_id\"") != 2 || !strings.Contains(string(out), `"query_id":"q2"`) {
		t.Fatalf("queries file: %v %s", err, out)
	}
	// Bad input: exit status 2.
	for _, a := range [][]string{
		{"search", dir, "x", "--filter", "size>>3"},
		{"search", dir, "x", "--mode", "magic"},
		{"search", filepath.Join(t.TempDir(), "none"), "x"},
		{"search", dir, "x", "--rerank-model", model},
		{"index", "-m", ce, "-i", in, "-o", filepath.Join(t.TempDir(), "ce")},
		{"delete", dir, "--id", "nope"},
	} {
		err := quarryCmd(a...).Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit status 2", a, err)
		}
	}
	if out, err := quarryCmd("delete", dir, "--id", "d00001").CombinedOutput(); err != nil {
		t.Fatalf("delete: %v %s", err, out)
	}
	if out, err := quarryCmd("compact", dir).CombinedOutput(); err != nil {
		t.Fatalf("compact: %v %s", err, out)
	}
	out, _ = quarryCmd("info", dir, "--json").Output()
	if !strings.Contains(string(out), `"documents": 199`) {
		t.Fatalf("info after delete+compact: %s", out)
	}
}
