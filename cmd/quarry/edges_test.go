package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
