package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wellFormedSVG parses path as XML and returns its text content; the root
// element must be <svg>.
func wellFormedSVG(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	var text strings.Builder
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: not well-formed XML: %v", path, err)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = v.Name.Local
			}
		case xml.CharData:
			text.Write(v)
			text.WriteByte('\n')
		}
	}
	if root != "svg" {
		t.Fatalf("%s: root element %q, want svg", path, root)
	}
	return text.String()
}

func TestFixtures(t *testing.T) {
	out := t.TempDir()
	var log bytes.Buffer
	n, err := run("testdata", out, &log)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"encode_batch.svg":          {"Encode throughput vs batch size", "quarry bench encode, 10-60 words", "sentence-transformers (encode.py, batch 32)", "Test CPU & co <fixture>, 2 cores, 2 threads"},
		"encode_length.svg":         {"sentences/s, batch 8", "tokens/s, batch 8", "mean tokens per sentence"},
		"search_qps_b1.svg":         {"1 query per call", "quarry f32", "quarry int8 + f16 rescoring", "faiss IndexFlatIP", "numpy (q @ X.T, argpartition)", "corpus size (vectors)"},
		"search_qps_b100.svg":       {"100 queries per call", "quarry binary + f16 rescoring"},
		"search_recall_qps.svg":     {"Recall@10 vs QPS", "quarry int8 + f16 rescoring (labels: candidates rescored)", "500", "quarry f32 (exact)"},
		"index_rss.svg":             {"peak RSS while indexing", "documents indexed"},
		"peers.svg":                 {"vs CrossEncoder", "1.86x", "vs faiss"},
		"ann_debian_recall_qps.svg": {"HNSW recall@10 vs QPS", "62.7k × 384", "quarry f16 index (int8 traversal, f16 rescoring)", "hnswlib", "128"},
	}
	if n != len(want) {
		t.Errorf("wrote %d files, want %d; log:\n%s", n, len(want), log.String())
	}
	for name, strs := range want {
		text := wellFormedSVG(t, filepath.Join(out, name))
		for _, s := range strs {
			if !strings.Contains(text, s) {
				t.Errorf("%s: no text %q", name, s)
			}
		}
	}
}

func TestMissingAndBrokenInputs(t *testing.T) {
	// Nothing there: every plot skipped with a message, no error.
	out := t.TempDir()
	var log bytes.Buffer
	n, err := run(t.TempDir(), out, &log)
	if err != nil || n != 0 {
		t.Fatalf("empty input: %d files, %v", n, err)
	}
	for _, s := range []string{"skip encode_batch.svg", "skip index_rss.svg", "skip peers.svg"} {
		if !strings.Contains(log.String(), s) {
			t.Errorf("log has no %q:\n%s", s, log.String())
		}
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("empty input wrote %d files", len(ents))
	}

	// A broken file is skipped; the others are drawn.
	in := t.TempDir()
	for _, name := range []string{"rerank.json", "index.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(in, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(in, "search.json"), []byte(`{"results": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	n, err = run(in, out, &log)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 { // index_rss.svg and peers.svg (rerank only)
		t.Errorf("wrote %d files, want 2; log:\n%s", n, log.String())
	}
	if !strings.Contains(log.String(), "skip search.json:") {
		t.Errorf("broken search.json not reported:\n%s", log.String())
	}
	wellFormedSVG(t, filepath.Join(out, "peers.svg"))
}
