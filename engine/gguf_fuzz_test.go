package engine_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/quarry-search/quarry/bindings"
	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/gguf"
	"github.com/quarry-search/quarry/engine/modelgen"
	"github.com/quarry-search/quarry/engine/tokenize"
)

// tinyGGUF is a valid model of a few kilobytes: the tiny preset with a
// 40-token vocabulary, in f16.
func tinyGGUF(tb testing.TB) []byte {
	vocab := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "of", "and", "##s", "##ing"}
	for c := 'a'; len(vocab) < 40; c++ {
		vocab = append(vocab, string(c))
	}
	cfg := modelgen.Tiny()
	cfg.VocabSize = len(vocab)
	cfg.PADID, cfg.UNKID, cfg.CLSID, cfg.SEPID, cfg.MaskID = 0, 1, 2, 3, 4
	p := filepath.Join(tb.TempDir(), "tiny.gguf")
	if err := bert.WriteGGUF(p, cfg, modelgen.Random(cfg, 1), vocab, bert.WriteOptions{Type: gguf.F16}); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzGGUFModel mutates a small valid model (bytes overwritten at an
// offset, then a possible truncation) and reads it the way LoadModel does:
// gguf.Parse, bert.ConfigFromGGUF and tokenize.FromGGUF never panic and a
// malformed file is errs.BadInput; where the native core is linked,
// engine.LoadModel returns a kinded error or a model that embeds, and never
// crashes the process, including on files the Go readers accept.
func FuzzGGUFModel(f *testing.F) {
	valid := tinyGGUF(f)
	f.Add(uint32(0), []byte{}, uint32(0))
	f.Add(uint32(4), []byte{0xff, 0xff}, uint32(0))       // version
	f.Add(uint32(8), []byte{0xff, 0xff, 0xff}, uint32(0)) // tensor count
	f.Add(uint32(24), []byte("\x10\x00\x00\x00\x00\x00\x00\x00"), uint32(0))
	f.Add(uint32(0), []byte{}, uint32(len(valid)/2))
	f.Add(uint32(len(valid)-64), []byte{0x7c, 0x00, 0xfc, 0x00}, uint32(0)) // weights: inf, -inf
	f.Fuzz(func(t *testing.T, off uint32, patch []byte, trunc uint32) {
		b := bytes.Clone(valid)
		if len(patch) > 0 {
			o := int(off % uint32(len(b)))
			copy(b[o:], patch)
		}
		if trunc > 0 {
			b = b[:trunc%uint32(len(b))]
		}
		goOK := false
		if gf, err := gguf.Parse(bytes.NewReader(b), int64(len(b))); err != nil {
			if !errs.Is(err, errs.BadInput) {
				t.Fatalf("gguf.Parse: error of kind %v: %v", errs.KindOf(err), err)
			}
		} else {
			_, _, cerr := bert.ConfigFromGGUF(gf)
			_, terr := tokenize.FromGGUF(gf)
			goOK = cerr == nil && terr == nil
		}
		if !bindings.Available {
			return
		}
		p := filepath.Join(t.TempDir(), "m.gguf")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := engine.LoadModel(p, engine.ModelOptions{Threads: 1})
		if err != nil {
			if k := errs.KindOf(err); k == errs.Internal {
				t.Fatalf("LoadModel: error of kind %v: %v", k, err)
			}
			return
		}
		defer m.Close()
		if !goOK {
			t.Fatalf("LoadModel accepted a file the Go readers refuse")
		}
		if m.CrossEncoder() || m.SparseEncoder() {
			return // a mutated pooling key; the kinds have their own tests
		}
		vecs, err := m.Embed(context.Background(), []string{"the a of and"})
		if err == nil && (len(vecs) != 1 || len(vecs[0]) != m.Dim()) {
			t.Fatalf("Embed: %d vectors of %d, want 1 of %d", len(vecs), len(vecs[0]), m.Dim())
		}
	})
}
