package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/hf/hftest"
	"github.com/quarry-search/quarry/engine/hub/hubtest"
)

// hubFiles turns a generated Hugging Face folder into the files of a fake
// hub repository (weights as LFS files), plus an ONNX export quarry must
// not download.
func hubFiles(t *testing.T, f hftest.Folder) []hubtest.File {
	t.Helper()
	b := convFolder(t, f)
	var files []hubtest.File
	err := filepath.WalkDir(b.Dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(b.Dir, p)
		lfs := strings.HasSuffix(p, ".safetensors") || strings.HasSuffix(p, ".bin")
		files = append(files, hubtest.File{Path: filepath.ToSlash(rel), Data: data, LFS: lfs})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return append(files, hubtest.File{Path: "onnx/model.onnx", Data: []byte("not needed"), LFS: true})
}

// pullEnv points the hub environment at the fake hub and a fresh cache, and
// runs in a fresh working directory.
func pullEnv(t *testing.T, s *hubtest.Server) string {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("HF_HOME", filepath.Join(home, "hf"))
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HUGGINGFACE_HUB_CACHE", "")
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "")
	t.Setenv("HF_TOKEN_PATH", "")
	t.Setenv("HF_HUB_OFFLINE", "")
	t.Setenv("TRANSFORMERS_OFFLINE", "")
	t.Setenv("HF_ENDPOINT", s.URL())
	wd := t.TempDir()
	t.Chdir(wd)
	return wd
}

func TestPullCommand(t *testing.T) {
	s := hubtest.New(t)
	commit := s.AddRepo("acme/tiny-minilm", hubFiles(t, hftest.Folder{Kind: "mean", Seed: 1})...)
	wd := pullEnv(t, s)

	code, stdout, stderr := convRun("pull", "acme/tiny-minilm", "--type", "f32", "--threads", "2")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if stdout != "tiny-minilm-f32.gguf\n" {
		t.Errorf("stdout %q", stdout)
	}
	for _, w := range []string{"pulling acme/tiny-minilm@main from " + s.URL(), "model.safetensors", "snapshot " + commit, "passed", "-> f32"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(wd, "tiny-minilm-f32.gguf")); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(os.Getenv("HF_HOME"), "hub", "models--acme--tiny-minilm")
	if ref, err := os.ReadFile(filepath.Join(cache, "refs", "main")); err != nil || string(ref) != commit {
		t.Errorf("refs/main %q %v", ref, err)
	}
	for _, r := range s.Requests() {
		if strings.Contains(r.Path+r.Query, "onnx") {
			t.Errorf("downloaded %s", r.Path)
		}
	}

	code, stdout, stderr = convRun("model", "info", "tiny-minilm-f32.gguf")
	if code != 0 {
		t.Fatalf("model info: exit %d\n%s", code, stderr)
	}
	for _, w := range []string{"tiny-minilm", "quarry pull", "acme/tiny-minilm@" + commit} {
		if !strings.Contains(stdout, w) {
			t.Errorf("model info lacks %q:\n%s", w, stdout)
		}
	}

	// Again, flags first: everything comes from the cache.
	s.ResetLog()
	code, stdout, stderr = convRun("pull", "-o", "again.gguf", "--no-verify", "-q", "acme/tiny-minilm")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if stdout != "again.gguf\n" {
		t.Errorf("stdout %q", stdout)
	}
	for _, r := range s.Requests() {
		if !strings.HasPrefix(r.Path, "/api/") {
			t.Errorf("second pull requested %s", r.Path)
		}
	}

	// Offline, from the cache.
	t.Setenv("HF_HUB_OFFLINE", "1")
	s.Close()
	code, _, stderr = convRun("pull", "acme/tiny-minilm", "--no-verify", "-t", "q8_0")
	if code != 0 {
		t.Fatalf("offline: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(wd, "tiny-minilm-q8_0.gguf")); err != nil {
		t.Fatal(err)
	}
}

// A sharded cross-encoder with a revision other than main.
func TestPullCrossEncoderRevision(t *testing.T) {
	s := hubtest.New(t)
	s.AddRepo("acme/tiny-ce", hubFiles(t, hftest.Folder{Kind: "rank", Seed: 2})[:1]...)
	commit := s.Commit("acme/tiny-ce", "v1", hubFiles(t, hftest.Folder{Kind: "rank", Format: "sharded", Seed: 2})...)
	pullEnv(t, s)
	out := filepath.Join(t.TempDir(), "ce.gguf")
	code, stdout, stderr := convRun("pull", "acme/tiny-ce", "--revision", "v1", "-o", out, "--threads", "2")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if stdout != out+"\n" || !strings.Contains(stderr, "snapshot "+commit) || !strings.Contains(stderr, "cross-encoder") {
		t.Errorf("stdout %q\nstderr:\n%s", stdout, stderr)
	}
}

func TestPullErrors(t *testing.T) {
	s := hubtest.New(t)
	s.AddRepo("acme/tiny", hubFiles(t, hftest.Folder{Kind: "mean", Seed: 3})...)
	s.AddRepo("acme/roberta", hubFiles(t, hftest.Folder{Kind: "mean", Seed: 3, EditConfig: func(m map[string]any) {
		m["model_type"] = "xlm-roberta"
		m["architectures"] = []string{"XLMRobertaModel"}
	}})...)
	s.AddRepo("acme/onnx-only", hubtest.File{Path: "config.json", Data: []byte(`{"model_type": "bert"}`)},
		hubtest.File{Path: "vocab.txt", Data: []byte("[PAD]\n")},
		hubtest.File{Path: "onnx/model.onnx", Data: []byte("x"), LFS: true})
	s.AddRepo("acme/private", hubFiles(t, hftest.Folder{Kind: "mean", Seed: 3})...)
	s.Repo("acme/private").Private = true
	s.Token = "hf_right"
	pullEnv(t, s)
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		msg  string
	}{
		{"no repo", nil, []string{"pull"}, 2, "usage: quarry pull"},
		{"bad repo name", nil, []string{"pull", "acme/bad--name"}, 2, "invalid repository id"},
		{"extra argument", nil, []string{"pull", "acme/tiny", "more"}, 2, "extra arguments"},
		{"bad type", nil, []string{"pull", "acme/tiny", "--type", "q4_k"}, 2, `--type "q4_k"`},
		{"missing repo", nil, []string{"pull", "acme/nope"}, 2, "HF_TOKEN"},
		{"missing revision", nil, []string{"pull", "acme/tiny", "-r", "v9"}, 2, `no revision "v9"`},
		{"private without token", nil, []string{"pull", "acme/private"}, 2, "HF_TOKEN"},
		{"wrong token", map[string]string{"HF_TOKEN": "hf_wrong"}, []string{"pull", "acme/private"}, 2, "rejected the token"},
		{"not BERT", nil, []string{"pull", "acme/roberta"}, 2, "not a BERT model"},
		{"no weights", nil, []string{"pull", "acme/onnx-only"}, 2, "onnx/model.onnx"},
		{"offline, not cached", map[string]string{"HF_HUB_OFFLINE": "1"}, []string{"pull", "acme/tiny"}, 1, "HF_HUB_OFFLINE"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			code, _, stderr := convRun(c.args...)
			if code != c.code || !strings.Contains(stderr, c.msg) {
				t.Errorf("exit %d, want %d; stderr lacks %q?\n%s", code, c.code, c.msg, stderr)
			}
		})
	}
	if m, _ := filepath.Glob("*.gguf"); len(m) > 0 {
		t.Errorf("failed pulls wrote %v", m)
	}
}

// --max-weights-size / --max-config-size reach the download: a weights file
// larger than the bound is refused (exit 4, errs.Limit) naming the flag's
// bound, before or after ORG/NAME; a bad size is a usage error.
func TestPullSizeFlags(t *testing.T) {
	s := hubtest.New(t)
	s.AddRepo("acme/tiny-minilm", hubFiles(t, hftest.Folder{Kind: "mean", Seed: 1})...)
	pullEnv(t, s)
	// First, while nothing is cached (a cached file is linked, not fetched).
	code, _, stderr := convRun("pull", "acme/tiny-minilm", "--max-config-size", "10", "--no-verify")
	if code != exitLimit || !strings.Contains(stderr, "too large") {
		t.Errorf("--max-config-size 10: exit %d\n%s", code, stderr)
	}
	for _, args := range [][]string{
		{"pull", "acme/tiny-minilm", "--max-weights-size", "1KiB"},
		{"pull", "--max-weights-size", "1000B", "acme/tiny-minilm"},
	} {
		code, _, stderr := convRun(args...)
		if code != exitLimit || !strings.Contains(stderr, "too large") || !strings.Contains(stderr, "model.safetensors") {
			t.Errorf("%v: exit %d, want %d\n%s", args, code, exitLimit, stderr)
		}
	}
	for _, bad := range []string{"lots", "5PB", "0", "99999999999999999999"} {
		code, _, stderr = convRun("pull", "acme/tiny-minilm", "--max-config-size", bad)
		if code != exitBadInput || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("--max-config-size %q: exit %d, want one usage line with %d:\n%s", bad, code, exitBadInput, stderr)
		}
	}
	code, _, stderr = convRun("pull", "acme/tiny-minilm", "--max-weights-size", "64MiB", "--no-verify", "-q")
	if code != 0 {
		t.Fatalf("a bound above the file's size: exit %d\n%s", code, stderr)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"2MB": 2_000_000, "64MiB": 64 << 20, "1048576": 1 << 20, "8 GiB": 8 << 30, "3kb": 3000, "7b": 7, "1TiB": 1 << 40} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MB", "-1", "1.5MB", "2XB", "9223372036854775807KiB"} {
		if n, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, n)
		}
	}
}
