package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quarry-search/quarry/engine/gguf"
	"github.com/urfave/cli/v2"
)

// runWithin runs quarry in-process and fails the test if it has not
// returned after d (a FIFO opened for reading blocks until a writer comes).
func runWithin(t *testing.T, d time.Duration, args ...string) (int, string, string) {
	t.Helper()
	type result struct {
		code        int
		out, errOut string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := convRun(args...)
		done <- result{code, out, errOut}
	}()
	select {
	case r := <-done:
		return r.code, r.out, r.errOut
	case <-time.After(d):
		t.Fatalf("%v: still running after %v (blocked on a special file?)", args, d)
		return 0, "", ""
	}
}

func mkfifo(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	return p
}

// TestSpecialFilesRefused: a FIFO, a device, a directory or a symlink loop
// named as the model, the input or the queries file exits 2 at once with a
// message saying what it is; nothing blocks.
func TestSpecialFilesRefused(t *testing.T) {
	dir := t.TempDir()
	loop := filepath.Join(dir, "loop.gguf")
	os.Symlink(loop, loop)
	ix := filepath.Join(t.TempDir(), "ix")
	texts := filepath.Join(dir, "texts.txt")
	if err := os.WriteFile(texts, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"embed", "--model", mkfifo(t, "m.gguf"), texts}, "named pipe"},
		{[]string{"model", "info", mkfifo(t, "m2.gguf")}, "named pipe"},
		{[]string{"embed", "--model", dir, texts}, "is a directory"},
		{[]string{"embed", "--model", loop, texts}, "loop of symbolic links"},
		{[]string{"embed", "--model", "/dev/zero", texts}, "character device"},
		{[]string{"embed", "--model", "m.gguf", "--input", mkfifo(t, "texts.txt")}, "named pipe"},
		{[]string{"search", ix, "--queries", mkfifo(t, "q.jsonl")}, "named pipe"},
		{[]string{"search", ix, "--queries", dir}, "is a directory"},
	} {
		code, out, errOut := runWithin(t, 20*time.Second, c.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", c.args, code, out, errOut, c.want)
		}
	}
	if !testing.Short() {
		needNative(t)
		model := genModel(t, "mean", "f32")
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"index", "-q", "-m", model, "-i", mkfifo(t, "in.jsonl"), "-o", ix}, "named pipe"},
			{[]string{"index", "-q", "-m", model, "-i", "/dev/null", "--format", "jsonl", "-o", ix}, "character device"},
			{[]string{"index", "-q", "-m", model, "-i", mkfifo(t, "docs.txt"), "-o", ix}, "named pipe"},
		} {
			code, out, errOut := runWithin(t, 20*time.Second, c.args...)
			if code != 2 || out != "" || !strings.Contains(errOut, c.want) {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", c.args, code, out, errOut, c.want)
			}
		}
	}
	if _, err := os.Stat(ix); err == nil {
		t.Errorf("a refused input created %s", ix)
	}
}

// TestFlagBounds: every integer flag of every command has bounds, and a
// value above them (urfave/cli parses int64) is a one-line usage error, exit
// 2, before anything is opened.
func TestFlagBounds(t *testing.T) {
	var walk func(path []string, cmds []*cli.Command)
	walk = func(path []string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			p := append(append([]string{}, path...), cmd.Name)
			for _, f := range cmd.Flags {
				if f, ok := f.(*cli.IntFlag); ok && f.Action == nil {
					t.Errorf("quarry %s --%s: no bounds", strings.Join(p, " "), f.Name)
				}
			}
			walk(p, cmd.Subcommands)
		}
	}
	walk(nil, newApp(nil, io.Discard, io.Discard).Commands)

	dir := filepath.Join(t.TempDir(), "no-index")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"search", dir, "q", "--k", "4611686018427387904"}, "--k 4611686018427387904: want ≤ 10000"},
		{[]string{"search", dir, "q", "--k", "2147483648"}, "--k 2147483648: want ≤ 10000"},
		{[]string{"search", dir, "q", "--k", "99999999999999999999"}, "value out of range"},
		{[]string{"search", dir, "q", "--pool", "1099511627776"}, "--pool 1099511627776: want ≤ 10000"},
		{[]string{"search", dir, "q", "--rerank-top", "10001"}, "--rerank-top 10001"},
		{[]string{"search", dir, "q", "--rescore", "10001"}, "--rescore 10001"},
		{[]string{"search", dir, "q", "--max-query-bytes", "1099511627776"}, "--max-query-bytes"},
		{[]string{"search", dir, "q", "--threads", "100000"}, "--threads 100000: want ≤ 1024"},
		{[]string{"index", "-i", "x", "-o", dir, "-m", "m.gguf", "--batch", "1000000000"}, "--batch 1000000000"},
		{[]string{"index", "-i", "x", "-o", dir, "-m", "m.gguf", "--window", "1000000000"}, "--window 1000000000"},
		{[]string{"eval", "beir", "d", "-m", "m.gguf", "--depth", "10001"}, "--depth 10001"},
		{[]string{"bench", "search", "--n", "4611686018427387904"}, "--n 4611686018427387904"},
		{[]string{"bench", "search", "--dim", "0"}, "--dim 0"},
		{[]string{"embed", "--model", "m.gguf", "--batch-tokens", "4611686018427387904"}, "--batch-tokens"},
		{[]string{"search", dir, "q", "--k", "abc"}, `invalid value "abc" for flag -k`},
		{[]string{"search", dir, "q", "--alpha", "2"}, "--alpha 2"},
		{[]string{"search", dir, "q", "--b", "2"}, "--b 2"},
		{[]string{"search", dir, "q", "--k1", "-1"}, "--k1 -1"},
	} {
		code, out, errOut := convRun(c.args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and one line with %q", c.args, code, out, errOut, c.want)
		}
	}
}

// TestPanicExitsOne: a panic is recovered at the top: exit 1, a request
// for a bug report and the stack on stderr.
func TestPanicExitsOne(t *testing.T) {
	extraCommands = []*cli.Command{{Name: "boom", Action: func(*cli.Context) error {
		var m map[string]int
		m["x"]++ // a nil map: a runtime panic
		return nil
	}}}
	defer func() { extraCommands = nil }()
	code, out, errOut := convRun("boom")
	if code != 1 || out != "" || !strings.Contains(errOut, "internal error") || !strings.Contains(errOut, "please report it") ||
		!strings.Contains(errOut, "goroutine") {
		t.Errorf("panic: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestBadModelsExitTwo: a GGUF of another architecture or with invalid BERT
// values is bad input.
func TestBadModelsExitTwo(t *testing.T) {
	dir := t.TempDir()
	texts := filepath.Join(dir, "texts.txt")
	os.WriteFile(texts, []byte("hello\n"), 0o644)
	write := func(name string, set func(w *gguf.Writer)) string {
		w := gguf.NewWriter()
		set(w)
		p := filepath.Join(dir, name)
		if err := w.WriteFile(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	llama := write("llama.gguf", func(w *gguf.Writer) { w.SetString("general.architecture", "llama") })
	badCfg := write("bad.gguf", func(w *gguf.Writer) {
		w.SetString("general.architecture", "bert")
		w.SetUint32("bert.context_length", 512)
		w.SetUint32("bert.embedding_length", 10)
		w.SetUint32("bert.feed_forward_length", 0)
		w.SetUint32("bert.block_count", 1)
		w.SetUint32("bert.attention.head_count", 3)
		w.SetFloat32("bert.attention.layer_norm_epsilon", -1)
		w.SetStrings("tokenizer.ggml.tokens", []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"})
	})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"embed", "--model", llama, texts}, `"llama"`},
		{[]string{"model", "info", llama}, `"llama"`},
		{[]string{"embed", "--model", badCfg, texts}, "bad.gguf"},
		{[]string{"rerank", "--model", badCfg, "--query", "q", texts}, "bad.gguf"},
	} {
		code, out, errOut := convRun(c.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", c.args, code, out, errOut, c.want)
		}
	}
}

// TestIndexEdgesExitCodes: a file the manifest names that is missing is
// corrupt data (3) like a damaged one; a missing index directory is bad
// input (2); a query over the byte limit is a limit (4); an empty input is a
// clear error (2); re-running a delete is a note, exit 0; a --queries file
// larger than one chunk gives every answer, in order.
func TestIndexEdgesExitCodes(t *testing.T) {
	needNative(t)
	model := genModel(t, "mean", "f32")
	in := mixedCorpus(t, 30)
	dir := filepath.Join(t.TempDir(), "ix")
	mustRun(t, "index", "-q", "-m", model, "-i", in, "-o", dir)

	empty := filepath.Join(t.TempDir(), "empty.jsonl")
	os.WriteFile(empty, nil, 0o644)
	if code, _, errOut := convRun("index", "-q", "-m", model, "-i", empty, "-o", filepath.Join(t.TempDir(), "e")); code != 2 || !strings.Contains(errOut, "empty.jsonl") {
		t.Errorf("empty input: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := convRun("search", filepath.Join(t.TempDir(), "nothing"), "q"); code != 2 {
		t.Errorf("missing index directory: exit %d, stderr %q", code, errOut)
	}

	// Query length: 4 over the default 16 KiB, accepted under --max-query-bytes.
	long := strings.Repeat("image viewer ", 2000) // 26,000 bytes
	if code, out, errOut := convRun("search", dir, long, "--mode", "bm25"); code != 4 || out != "" || !strings.Contains(errOut, "above the limit of 16384 bytes") {
		t.Errorf("long query: exit %d, stdout %q, stderr %q; want 4", code, out, errOut)
	}
	mustRun(t, "search", dir, long, "--mode", "bm25", "--max-query-bytes", "30000")

	// --queries in chunks: --k 10000 makes chunks of 6 queries.
	var qb strings.Builder
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&qb, "{\"_id\":\"q%02d\",\"text\":\"picture resize %d\"}\n", i, i)
	}
	qf := filepath.Join(t.TempDir(), "q.jsonl")
	os.WriteFile(qf, []byte(qb.String()), 0o644)
	out, _ := mustRun(t, "search", dir, "--queries", qf, "--json", "--k", "10000")
	resps := decodeResponses(t, out)
	if len(resps) != 20 {
		t.Fatalf("%d responses for 20 queries", len(resps))
	}
	for i, r := range resps {
		if r.QueryID != fmt.Sprintf("q%02d", i) || len(r.Results) != 30 {
			t.Errorf("response %d: query %s, %d results; want q%02d and all 30 documents", i, r.QueryID, len(r.Results), i)
		}
	}
	table, _ := mustRun(t, "search", dir, "--queries", qf, "--k", "10000")
	if n := strings.Count(table, "\nquery q"); n != 20 {
		t.Errorf("table output: %d query headers, want 20", n)
	}

	// Delete twice: the second run notes the id and exits 0; an unknown id exits 2.
	mustRun(t, "delete", dir, "--id", "d003")
	code, _, errOut := convRun("delete", dir, "--id", "d003")
	if code != 0 || !strings.Contains(errOut, "already deleted: d003") {
		t.Errorf("re-run delete: exit %d, stderr %q; want 0 and a note", code, errOut)
	}
	code, _, errOut = convRun("delete", dir, "--id", "d004", "--id", "nope")
	if code != 2 || !strings.Contains(errOut, "deleted 1 document(s)") || !strings.Contains(errOut, "not in the index (never added, or dropped by a compaction): nope") {
		t.Errorf("delete of an unknown id: exit %d, stderr %q; want 2", code, errOut)
	}

	// A file the manifest names, removed: corrupt (3), naming it.
	docs, _ := filepath.Glob(filepath.Join(dir, "seg-*.qdoc"))
	if len(docs) == 0 {
		docs, _ = filepath.Glob(filepath.Join(dir, "seg-*"))
	}
	if len(docs) == 0 {
		t.Fatal("no segment files")
	}
	if err := os.Remove(docs[0]); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := convRun("search", dir, "image"); code != 3 || !strings.Contains(errOut, filepath.Base(docs[0])) {
		t.Errorf("missing %s: exit %d, stderr %q; want 3 naming it", filepath.Base(docs[0]), code, errOut)
	}
}
