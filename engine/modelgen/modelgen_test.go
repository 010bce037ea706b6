package modelgen

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/bert"
)

// checkpointHash is sha256 over every tensor's name, shape and float32 bits,
// in Layout order.
func checkpointHash(cfg bert.Config, ck *bert.Checkpoint) string {
	h := sha256.New()
	for _, s := range bert.Layout(cfg) {
		t, _ := ck.Get(s.Name)
		h.Write([]byte(s.Name))
		for _, d := range t.Shape {
			binary.Write(h, binary.LittleEndian, int64(d))
		}
		for _, v := range t.Data {
			binary.Write(h, binary.LittleEndian, math.Float32bits(v))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// The weights are a pure function of (config, seed) on every platform and Go
// version: the goldens in testdata/golden depend on it. If this hash changes,
// the generator changed and the goldens must be regenerated
// (scripts/ref/golden.py).
func TestRandomIsPinned(t *testing.T) {
	cfg, err := WithKind(Tiny(), "rank", 3)
	if err != nil {
		t.Fatal(err)
	}
	const want = "65bfedca86ee24e310be31b1ce5a46787794f42b4cc8874111b0aca7fad0f33b"
	got := checkpointHash(cfg, Random(cfg, 42))
	if got != want {
		t.Errorf("Random(tiny rank3, 42) hash %s, want %s", got, want)
	}
}

func TestRandomDeterministic(t *testing.T) {
	cfg := Tiny()
	a, b, c := Random(cfg, 1), Random(cfg, 1), Random(cfg, 2)
	if checkpointHash(cfg, a) != checkpointHash(cfg, b) {
		t.Fatal("same seed, different weights")
	}
	for _, name := range a.Names() {
		x, _ := a.Get(name)
		y, _ := c.Get(name)
		if slices.Equal(x.Data, y.Data) {
			t.Errorf("%s: seeds 1 and 2 give the same values", name)
		}
	}
	// Each tensor has its own stream: more layers or labels leave the
	// shared tensors unchanged.
	deeper := cfg
	deeper.Layers = 4
	d := Random(deeper, 1)
	for _, name := range a.Names() {
		x, _ := a.Get(name)
		y, _ := d.Get(name)
		if !slices.Equal(x.Data, y.Data) {
			t.Errorf("%s changed when layers were added", name)
		}
	}
	if err := a.Validate(cfg); err != nil {
		t.Fatal(err)
	}
}

func stats(d []float32) (mean, std float64) {
	for _, v := range d {
		mean += float64(v)
	}
	mean /= float64(len(d))
	for _, v := range d {
		std += (float64(v) - mean) * (float64(v) - mean)
	}
	return mean, math.Sqrt(std / float64(len(d)))
}

func TestRandomScales(t *testing.T) {
	cfg, _ := WithKind(Small(), "rank", 1)
	ck := Random(cfg, 3)
	for _, tc := range []struct {
		name      string
		mean, std float64
	}{
		{"embeddings.word_embeddings.weight", 0, 0.5},
		{"embeddings.position_embeddings.weight", 0, 0.1},
		{"embeddings.token_type_embeddings.weight", 0, 0.2},
		{"embeddings.LayerNorm.weight", 1, 0.1},
		{"encoder.layer.1.attention.self.query.weight", 0, 1.4 / math.Sqrt(128)},
		{"encoder.layer.1.attention.self.value.weight", 0, 0.8 / math.Sqrt(128)},
		{"encoder.layer.1.output.dense.weight", 0, 0.8 / math.Sqrt(512)},
		{"encoder.layer.1.output.dense.bias", 0, 0.05},
		{"classifier.weight", 0, 2 / math.Sqrt(128)},
	} {
		tt, ok := ck.Get(tc.name)
		if !ok {
			t.Fatalf("%s missing", tc.name)
		}
		m, s := stats(tt.Data)
		if math.Abs(m-tc.mean) > 0.1*tc.std+4*tc.std/math.Sqrt(float64(len(tt.Data))) || math.Abs(s-tc.std) > 0.1*tc.std {
			t.Errorf("%s: mean %.4f std %.4f, want %.4f %.4f", tc.name, m, s, tc.mean, tc.std)
		}
	}
	// The two token type rows differ clearly.
	tt, _ := ck.Get("embeddings.token_type_embeddings.weight")
	var diff float64
	for j := 0; j < cfg.Hidden; j++ {
		diff += math.Abs(float64(tt.Data[j] - tt.Data[cfg.Hidden+j]))
	}
	if diff/float64(cfg.Hidden) < 0.1 {
		t.Errorf("token type rows differ by %.3f on average", diff/float64(cfg.Hidden))
	}
}

func TestPresetsAndKinds(t *testing.T) {
	for _, name := range []string{"tiny", "small", "minilm"} {
		c, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, kind := range []string{"mean", "cls", "rank"} {
			k, err := WithKind(c, kind, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := k.Validate(); err != nil {
				t.Errorf("%s %s: %v", name, kind, err)
			}
		}
	}
	m := MiniLML6()
	if m.Layers != 6 || m.Hidden != 384 || m.Heads != 12 || m.Intermediate != 1536 || m.MaxPositions != 512 ||
		m.MaxSeqLength != 256 || m.LayerNormEps != 1e-12 || m.VocabSize != 30522 {
		t.Errorf("MiniLML6 is not all-MiniLM-L6-v2's shape: %+v", m)
	}
	r3, _ := WithKind(Tiny(), "rank", 3)
	if !slices.Equal(r3.Labels, []string{"LABEL_0", "LABEL_1", "LABEL_2"}) || r3.Normalize || r3.Pooling != bert.PoolingRank {
		t.Errorf("rank 3: %+v", r3)
	}
	if _, err := WithKind(Tiny(), "max", 0); err == nil {
		t.Error("kind max accepted")
	}
	if _, err := WithKind(Tiny(), "mean", 2); err == nil {
		t.Error("labels on a bi-encoder accepted")
	}
	if _, err := Preset("huge"); err == nil {
		t.Error("preset huge accepted")
	}
	names := map[string]bool{}
	for _, s := range Standard() {
		if names[s.Name()] {
			t.Errorf("duplicate standard model %s", s.Name())
		}
		names[s.Name()] = true
	}
	for _, want := range []string{"tiny-mean-f32", "tiny-mean-f16", "tiny-cls-f32", "tiny-rank-f32", "tiny-rank-f16", "tiny-rank3-f32", "small-mean-f32", "minilm-mean-f16"} {
		if !names[want] {
			t.Errorf("standard set lacks %s", want)
		}
	}
	if _, err := (Spec{Preset: "tiny", Kind: "mean", Type: "q4_0"}).TensorType(); err == nil {
		t.Error("type q4_0 accepted")
	}
}

func TestGenerate(t *testing.T) {
	vocab, err := LoadVocab("")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, s := range Standard() {
		if (testing.Short() || raceEnabled) && s.Preset != "tiny" {
			continue
		}
		path := filepath.Join(dir, s.Name()+".gguf")
		if err := Generate(path, s, vocab); err != nil {
			t.Fatal(err)
		}
		cfg, ck, v, err := bert.ReadGGUF(path)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := s.Config()
		if cfg.Hidden != want.Hidden || cfg.Pooling != want.Pooling || len(cfg.Labels) != len(want.Labels) ||
			cfg.Source["seed"] != want.Source["seed"] || cfg.Name != "quarry-"+s.Name() || len(v) != VocabSize {
			t.Errorf("%s read back as %+v", s.Name(), cfg)
		}
		if len(ck.Tensors) != len(bert.Layout(want)) {
			t.Errorf("%s: %d tensors", s.Name(), len(ck.Tensors))
		}
	}
}

func TestVocabPath(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	p, err := DefaultVocabPath()
	if err != nil || !strings.HasSuffix(p, filepath.Join("testdata", "vocab", "bert-base-uncased-vocab.txt")) {
		t.Fatalf("DefaultVocabPath = %q, %v", p, err)
	}
	short := filepath.Join(t.TempDir(), "v.txt")
	os.WriteFile(short, []byte("[PAD]\n[UNK]\n"), 0o644)
	if _, err := LoadVocab(short); err == nil || !strings.Contains(err.Error(), "has 2 tokens") {
		t.Errorf("short vocab: %v", err)
	}
}

// The command testdata/gen writes the same bytes as Generate.
func TestGenCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	root, _ := ModuleRoot()
	dir := t.TempDir()
	cmd := exec.Command(goBin, "run", "./testdata/gen", "-out", dir, "-preset", "tiny", "-kind", "rank", "-labels", "3", "-type", "q8_0", "-seed", "4")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	path := filepath.Join(dir, "tiny-rank3-q8_0.gguf")
	if strings.TrimSpace(string(out)) != path {
		t.Errorf("printed %q, want %q", out, path)
	}
	vocab, _ := LoadVocab("")
	ref := filepath.Join(dir, "ref.gguf")
	if err := Generate(ref, Spec{Preset: "tiny", Kind: "rank", Labels: 3, Type: "q8_0", Seed: 4}, vocab); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(ref)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("command output differs from Generate")
	}
	cmd = exec.Command(goBin, "run", "./testdata/gen", "-out", dir, "-kind", "bogus")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), `unknown kind "bogus"`) {
		t.Errorf("bad kind: %v %s", err, out)
	}
}
