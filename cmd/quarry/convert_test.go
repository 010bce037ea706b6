package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/hf/hftest"
)

// convRun runs the CLI and returns the exit status, stdout and stderr.
func convRun(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(append([]string{"quarry"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func convFolder(t *testing.T, f hftest.Folder) *hftest.Built {
	t.Helper()
	b, err := f.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConvertCommand(t *testing.T) {
	b := convFolder(t, hftest.Folder{Kind: "mean", Seed: 1})
	out := filepath.Join(t.TempDir(), "m.gguf")
	code, stdout, stderr := convRun("convert", b.Dir, "-o", out, "--type", "f32", "--name", "tiny-minilm", "--threads", "2")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, w := range []string{"reading " + b.Dir, "verify", "passed", "cosine min", "-> f32"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing (the report goes to stderr)", stdout)
	}

	// quarry model info shows what the conversion recorded.
	code, stdout, stderr = convRun("model", "info", out)
	if code != 0 {
		t.Fatalf("model info: exit %d\n%s", code, stderr)
	}
	for _, w := range []string{"tiny-minilm", "pooling          mean", "normalize        true", "max seq length   256",
		"lowercase true, strip accents true, CJK spacing true", "weights          F32", "source.converter quarry convert",
		"source.sha256", "source.architecture BertModel", "source.weights   model.safetensors", "source.sentence_transformers_version 2.0.0"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("model info lacks %q:\n%s", w, stdout)
		}
	}

	// Flags before the folder work too, and --json prints the report.
	out2 := filepath.Join(t.TempDir(), "m.gguf")
	code, stdout, stderr = convRun("convert", "-o", out2, "--no-verify", "--json", "-q", b.Dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var rep struct {
		Type       string
		VerifySkip string
		Bytes      int64
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Type != "f16" || rep.VerifySkip == "" || rep.Bytes == 0 {
		t.Errorf("--json report %+v (%v):\n%s", rep, err, stdout)
	}
	if !strings.Contains(stderr, "SKIPPED") || strings.Contains(stderr, "reading") {
		t.Errorf("stderr with -q --no-verify:\n%s", stderr)
	}
}

func TestConvertCrossEncoderLabel(t *testing.T) {
	b := convFolder(t, hftest.Folder{Kind: "rank", Labels: 3, Format: "pytorch", Seed: 2})
	out := filepath.Join(t.TempDir(), "ce.gguf")
	code, _, stderr := convRun("convert", b.Dir, "-o", out, "--type", "q8_0", "--label", "LABEL_2", "-q")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "rank by 2: LABEL_2") || !strings.Contains(stderr, "max logit difference") {
		t.Errorf("report:\n%s", stderr)
	}
	code, stdout, _ := convRun("model", "info", out)
	if code != 0 || !strings.Contains(stdout, "kind             cross-encoder") || !strings.Contains(stdout, "rerank label     2") ||
		!strings.Contains(stdout, "labels           LABEL_0, LABEL_1, LABEL_2") || !strings.Contains(stdout, "source.weights   pytorch_model.bin") {
		t.Errorf("model info:\n%s", stdout)
	}
}

// Exit 2 for bad input, 1 when the conversion does not reproduce the source.
func TestConvertExitCodes(t *testing.T) {
	good := convFolder(t, hftest.Folder{Kind: "mean", Seed: 3})
	roberta := convFolder(t, hftest.Folder{Kind: "mean", Seed: 3, EditConfig: func(m map[string]any) {
		m["architectures"], m["model_type"] = []string{"XLMRobertaModel"}, "xlm-roberta"
	}})
	noWeights := convFolder(t, hftest.Folder{Kind: "mean", Seed: 3})
	os.Remove(filepath.Join(noWeights.Dir, "model.safetensors"))
	dir := t.TempDir()
	out := filepath.Join(dir, "m.gguf")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"missing folder", []string{"convert", filepath.Join(dir, "nope"), "-o", out}, "no such file"},
		{"no output", []string{"convert", good.Dir}, "--output"},
		{"no folder", []string{"convert", "-o", out}, "usage"},
		{"unsupported architecture", []string{"convert", roberta.Dir, "-o", out}, "XLMRobertaModel"},
		{"no weights", []string{"convert", noWeights.Dir, "-o", out}, "no weights"},
		{"bad type", []string{"convert", good.Dir, "-o", out, "--type", "q4_k"}, `type "q4_k"`},
		{"label on a bi-encoder", []string{"convert", good.Dir, "-o", out, "--label", "1"}, "bi-encoder"},
		{"unknown flag", []string{"convert", good.Dir, "-o", out, "--frobnicate"}, "frobnicate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := convRun(c.args...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, want 2; stderr:\n%s", code, stderr)
			}
		})
	}

	// Weights with outliers: Q8_0 keeps the outlier of each 32-value block
	// and rounds its neighbours to zero, so the quantized model no longer
	// computes what the source does. Verification must catch it: exit 1,
	// the worst text named, nothing written.
	b := convFolder(t, hftest.Folder{Kind: "mean", Seed: 4})
	for i := range b.Stored {
		s := &b.Stored[i]
		if len(s.Shape) == 2 && strings.HasPrefix(s.Name, "encoder.") {
			for j := 0; j < len(s.Data); j += 32 {
				s.Data[j] = 40
			}
		}
	}
	if err := hftest.WriteSafetensors(filepath.Join(b.Dir, "model.safetensors"), b.Stored, "F32", nil); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := convRun("convert", b.Dir, "-o", out, "--type", "q8_0", "-q")
	if code != 1 || !strings.Contains(stderr, "verification failed") || !strings.Contains(stderr, "on the text") || !strings.Contains(stderr, "FAILED") {
		t.Errorf("exit %d, want 1; stderr:\n%s", code, stderr)
	}
	t.Logf("verification failure:\n%s", stderr)
	if _, err := os.Stat(out); err == nil {
		t.Error("a model that failed verification was written")
	}
	// The same weights convert losslessly enough in F32.
	if code, _, stderr := convRun("convert", b.Dir, "-o", out, "--type", "f32", "-q"); code != 0 {
		t.Errorf("f32: exit %d\n%s", code, stderr)
	}

	// Weights beyond float16's range are refused before writing.
	for i := range b.Stored {
		if b.Stored[i].Name == "encoder.layer.0.output.dense.weight" {
			b.Stored[i].Data[5] = 1e6
		}
	}
	if err := hftest.WriteSafetensors(filepath.Join(b.Dir, "model.safetensors"), b.Stored, "F32", nil); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = convRun("convert", b.Dir, "-o", filepath.Join(dir, "f16.gguf"), "--type", "f16", "-q")
	if code != 2 || !strings.Contains(stderr, "encoder.layer.0.output.dense.weight holds 1e+06") || !strings.Contains(stderr, "--type f32") {
		t.Errorf("exit %d, want 2; stderr:\n%s", code, stderr)
	}
}
