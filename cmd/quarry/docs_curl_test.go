package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// docExample is one ```sh block of a document that starts `quarry serve`:
// its serve command and the curl commands that follow it.
type docExample struct {
	file, serve string
	line        int // of the serve command
	curls       []string
}

// serveExamples reads the ```sh blocks of file that hold a `quarry serve`
// command (bin/quarry serve too).
func serveExamples(t *testing.T, file string) []docExample {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []docExample
	var cur *docExample
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(l, "```"):
			if in && cur != nil {
				out = append(out, *cur)
			}
			in, cur = !in && l == "```sh", nil
		case !in:
		case strings.HasPrefix(l, "quarry serve ") || strings.HasPrefix(l, "bin/quarry serve "):
			cur = &docExample{file: filepath.Base(file), serve: l, line: n}
		case cur != nil && strings.HasPrefix(l, "curl "):
			cur.curls = append(cur.curls, l)
		}
	}
	return out
}

// exampleArgs are the serve command's arguments with its files replaced by
// the test's: each --index NAME=DIR by index, each --model and
// --rerank-model by model and ce (their names kept), and a free --addr.
func exampleArgs(t *testing.T, ex docExample, index, model, ce, addr string) []string {
	t.Helper()
	cmd := ex.serve
	if i := strings.Index(cmd, " #"); i >= 0 {
		cmd = cmd[:i]
	}
	if strings.ContainsAny(cmd, `"'$|;&<>`+"`") {
		t.Fatalf("%s:%d: the serve command %q has shell syntax this test does not read: keep it plain words", ex.file, ex.line, cmd)
	}
	f := strings.Fields(cmd)[2:]
	args := []string{"quarry", "serve"}
	for i := 0; i < len(f); i++ {
		flag := f[i]
		if !strings.HasPrefix(flag, "--") || i+1 == len(f) {
			t.Fatalf("%s:%d: %q: want --flag VALUE pairs", ex.file, ex.line, cmd)
		}
		v := f[i+1]
		i++
		name, _, named := strings.Cut(v, "=")
		switch flag {
		case "--index":
			v = name + "=" + index
		case "--model", "--rerank-model":
			file := map[string]string{"--model": model, "--rerank-model": ce}[flag]
			if v = file; named {
				v = name + "=" + file
			}
		case "--addr":
			continue
		}
		args = append(args, flag, v)
	}
	return append(args, "--addr", addr, "--threads", "1", "--quiet")
}

// TestDocsCurlExamples runs the curl examples of README.md and
// docs/serve.md as written, against the `quarry serve` command of their
// block (its flags as written, its files replaced by generated ones, the
// address by a free port): each must exit 0 with status 200 and a JSON
// body that is not an error.
func TestDocsCurlExamples(t *testing.T) {
	needNative(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed (apt-get install curl): the documents' curl examples are not run")
	}
	var exs []docExample
	for _, f := range []string{"../../README.md", "../../docs/serve.md"} {
		got := serveExamples(t, f)
		if len(got) == 0 {
			t.Fatalf("%s: no ```sh block with a quarry serve command", f)
		}
		exs = append(exs, got...)
	}
	model, ce := genModel(t, "mean", "f32"), genModel(t, "rank", "f32")
	dir := filepath.Join(t.TempDir(), "demo.idx")
	mustRun(t, "index", "-q", "--model", model, "-i", mixedCorpus(t, 40), "--out", dir)
	ran := 0
	for _, ex := range exs {
		if len(ex.curls) == 0 {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		args := exampleArgs(t, ex, dir, model, ce, addr)
		ctx, cancel := context.WithCancel(context.Background())
		var stderr bytes.Buffer
		done := make(chan int, 1)
		go func() { done <- runContext(ctx, args, strings.NewReader(""), io.Discard, &syncWriter{w: &stderr}) }()
		up := false
		for i := 0; i < 300 && !up; i++ {
			select {
			case code := <-done:
				cancel()
				t.Fatalf("%s:%d: %v exited %d: %s", ex.file, ex.line, args[1:], code, stderr.String())
			case <-time.After(20 * time.Millisecond):
			}
			if res, err := http.Get("http://" + addr + "/health"); err == nil {
				res.Body.Close()
				up = res.StatusCode == 200
			}
		}
		if !up {
			cancel()
			t.Fatalf("%s:%d: the server did not start: %s", ex.file, ex.line, stderr.String())
		}
		for _, c := range ex.curls {
			// As written, but to the test's address, and with the status
			// on a last line of its own.
			line := strings.ReplaceAll(c, "localhost:8080", addr)
			line = `curl -w '\n%{http_code}' ` + strings.TrimPrefix(line, "curl ")
			cctx, ccancel := context.WithTimeout(context.Background(), 60*time.Second)
			out, err := exec.CommandContext(cctx, "sh", "-c", line).Output()
			ccancel()
			if err != nil {
				t.Errorf("%s: %s: %v", ex.file, c, err)
				continue
			}
			body, status := "", string(out)
			if i := strings.LastIndexByte(status, '\n'); i >= 0 {
				body, status = status[:i], status[i+1:]
			}
			var v any
			if status != "200" || json.Unmarshal([]byte(body), &v) != nil {
				t.Errorf("%s: %s:\nstatus %s, body %.300s", ex.file, c, status, body)
				continue
			}
			if m, ok := v.(map[string]any); ok && m["error"] != nil {
				t.Errorf("%s: %s: an error body: %.300s", ex.file, c, body)
			}
			t.Logf("%s: %s → 200, %d bytes of JSON", ex.file, c, len(body))
			ran++
		}
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("%s:%d: the server exited %d after its context ended: %s", ex.file, ex.line, code, stderr.String())
		}
	}
	if ran == 0 {
		t.Fatal("no curl example ran")
	}
}

// TestReadmeServeStartsTheDemo: the README's two-line start serves what
// `make demo` indexed, with the model it used, and `make demo` ends by
// printing that command.
func TestReadmeServeStartsTheDemo(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z_]+) [?:]?= (.*)$`).FindAllStringSubmatch(string(mk), -1) {
		vars[m[1]] = strings.TrimSpace(m[2])
	}
	expand := func(s string) string {
		for i := 0; i < 4; i++ {
			s = regexp.MustCompile(`\$\(([A-Z_]+)\)`).ReplaceAllStringFunc(s, func(v string) string { return vars[v[2:len(v)-1]] })
		}
		return s
	}
	index, model := expand("$(DEMO)/packages.idx"), expand("$(DEMO_MODEL)")
	if index != "build/demo/packages.idx" || model == "" {
		t.Fatalf("the Makefile's demo index %q and model %q", index, model)
	}
	exs := serveExamples(t, "../../README.md")
	if len(exs) == 0 {
		t.Fatal("README.md: no quarry serve command")
	}
	want := "bin/quarry serve --index demo=" + index + " --model " + model
	if exs[0].serve != want {
		t.Errorf("README.md:%d: %q, want %q (the index and model of make demo)", exs[0].line, exs[0].serve, want)
	}
	// The demo target's recipe: its last command prints the serve command
	// of the index it made and the model it used.
	recipe := regexp.MustCompile(`(?ms)^demo:[^\n]*\n((?:\t[^\n]*\n)+)`).FindStringSubmatch(string(mk))
	if recipe == nil {
		t.Fatal("Makefile: no demo target")
	}
	cmds := strings.Split(strings.TrimRight(recipe[1], "\n"), "\n")
	first := len(cmds) - 1 // the last command starts after the last line without a continuation
	for first > 0 && strings.HasSuffix(cmds[first-1], `\`) {
		first--
	}
	last := strings.Join(cmds[first:], "\n")
	for _, s := range []string{"model=$(DEMO_MODEL)", "bin/quarry serve --index demo=$(DEMO)/packages.idx --model $$model", "http://localhost:8080/"} {
		if !strings.Contains(last, s) {
			t.Errorf("make demo's last command does not print %q:\n%s", s, last)
		}
	}
}
