package hf_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/engine/hf"
	"github.com/quarry-search/quarry/engine/hf/hftest"
)

// TestLoadSplade reads SPLADE folders: sentence-transformers 5's SparseEncoder
// layout (MLMTransformer + SpladePooling), 6's (Transformer with
// transformer_task fill-mask + SpladePooling) and a plain BertForMaskedLM with
// Options.Sparse; the MLM head must come back bit for bit, tied copies of the
// decoder accepted.
func TestLoadSplade(t *testing.T) {
	cases := []struct {
		f      hftest.Folder
		sparse bool
	}{
		{hftest.Folder{Kind: "splade", Format: "safetensors", DType: "F32", Seed: 31}, false},
		{hftest.Folder{Kind: "splade6", Format: "safetensors", DType: "F16", Seed: 32}, false},
		{hftest.Folder{Kind: "splade", Format: "pytorch", DType: "F32", Seed: 33, TiedCopies: true}, false},
		{hftest.Folder{Kind: "splade6", Format: "sharded", DType: "BF16", Seed: 34, SparseActivation: bert.SparseLog1pReLU}, false},
		{hftest.Folder{Kind: "mlm", Format: "safetensors", DType: "F32", Seed: 35}, true},
		{hftest.Folder{Kind: "mlm", Format: "pytorch", DType: "F32", Seed: 36, TiedCopies: true}, true},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s-%s-%s-%s", c.f.Kind, c.f.Format, c.f.DType, c.f.SparseActivation)
		t.Run(name, func(t *testing.T) {
			b := build(t, c.f)
			m, err := hf.LoadWith(context.Background(), b.Dir, hf.Options{Sparse: c.sparse})
			if err != nil {
				t.Fatal(err)
			}
			if !m.Config.Sparse() || m.Architecture != "BertForMaskedLM" {
				t.Fatalf("pooling %s, architecture %s", m.Config.Pooling, m.Architecture)
			}
			sameWeights(t, b.Checkpoint, m.Checkpoint)
			if _, ok := m.Checkpoint.Get("cls.predictions.transform.dense.weight"); !ok {
				t.Fatal("the MLM head was dropped")
			}
			got, want := m.Config, b.Config
			got.Source = nil
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("config\n got %+v\nwant %+v", got, want)
			}
			for _, ig := range m.Ignored {
				if strings.HasPrefix(ig, "cls.") {
					t.Errorf("MLM tensor %s ignored", ig)
				}
			}
		})
	}
}

// TestLoadSpladeErrors: what quarry cannot run is refused with a message
// naming the file and the field.
func TestLoadSpladeErrors(t *testing.T) {
	edit := func(f hftest.Folder, file string, e func(map[string]any)) func(t *testing.T) string {
		return func(t *testing.T) string {
			b := build(t, f)
			if file != "" {
				if err := hftest.EditJSON(filepath.Join(b.Dir, filepath.FromSlash(file)), e); err != nil {
					t.Fatal(err)
				}
			}
			return b.Dir
		}
	}
	splade := hftest.Folder{Kind: "splade", Seed: 40}
	cases := []struct {
		name   string
		dir    func(t *testing.T) string
		opts   hf.Options
		kind   error
		substr string
	}{
		{"sum pooling", edit(splade, "1_SpladePooling/config.json", func(m map[string]any) { m["pooling_strategy"] = "sum" }), hf.Options{}, hf.ErrUnsupported, `pooling_strategy "sum"`},
		{"activation", edit(splade, "1_SpladePooling/config.json", func(m map[string]any) { m["activation_function"] = "softplus" }), hf.Options{}, hf.ErrUnsupported, `activation_function "softplus"`},
		{"dimension", edit(splade, "1_SpladePooling/config.json", func(m map[string]any) { m["word_embedding_dimension"] = 7 }), hf.Options{}, hf.ErrInvalid, "word_embedding_dimension 7"},
		{"untied decoder", edit(hftest.Folder{Kind: "splade", Format: "pytorch", Seed: 41, UntieDecoder: true}, "", nil), hf.Options{}, hf.ErrUnsupported, "untied MLM decoder"},
		{"not fill-mask", edit(hftest.Folder{Kind: "splade6", Seed: 42}, "sentence_bert_config.json", func(m map[string]any) { m["transformer_task"] = "feature-extraction" }), hf.Options{}, hf.ErrUnsupported, "fill-mask"},
		{"no MLM head", edit(hftest.Folder{Kind: "plain", Seed: 43}, "", nil), hf.Options{Sparse: true}, hf.ErrUnsupported, "no MLM head"},
		{"dense st folder", edit(hftest.Folder{Kind: "mean", Seed: 44}, "", nil), hf.Options{Sparse: true}, hf.ErrUnsupported, "no MLM head"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := c.dir(t)
			_, err := hf.LoadWith(context.Background(), dir, c.opts)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.substr) {
				t.Fatalf("error %v: want %v containing %q", err, c.kind, c.substr)
			}
		})
	}
	// A missing MLM head tensor is named.
	b := build(t, hftest.Folder{Kind: "mlm", Seed: 45})
	ts := []hftest.Tensor{}
	for _, s := range b.Stored {
		if s.Name != "cls.predictions.transform.LayerNorm.weight" {
			ts = append(ts, s)
		}
	}
	if err := hftest.WriteSafetensors(filepath.Join(b.Dir, "model.safetensors"), ts, "F32", nil); err != nil {
		t.Fatal(err)
	}
	_, err := hf.LoadWith(context.Background(), b.Dir, hf.Options{Sparse: true})
	if !errors.Is(err, hf.ErrInvalid) || !strings.Contains(err.Error(), "cls.predictions.transform.LayerNorm.weight is missing") {
		t.Fatalf("error %v", err)
	}
	// Without --sparse the same BertForMaskedLM is a dense bi-encoder whose
	// MLM head is dropped (and said so).
	b = build(t, hftest.Folder{Kind: "mlm", Seed: 46})
	m, err := hf.Load(b.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Sparse() || !slices.ContainsFunc(m.Notes, func(s string) bool { return strings.Contains(s, "--sparse") }) {
		t.Fatalf("pooling %s, notes %v", m.Config.Pooling, m.Notes)
	}
}
