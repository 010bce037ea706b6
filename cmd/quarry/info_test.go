package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quarry-search/quarry/engine"
)

func TestProgressLine(t *testing.T) {
	for _, c := range []struct {
		p    engine.Progress
		want []string
	}{
		{engine.Progress{Records: 2000, Committed: 1000, TotalRecords: 4000, Docs: 2000, Passages: 1500, Segments: 1, Elapsed: 10 * time.Second},
			[]string{"[======------            ]  25% committed", "2000/4000 records read, 1000 committed", "2000 docs read", "1500 passages encoded  150.0 passages/s", "ETA 30s"}},
		// Resumed records are committed but not this run's work: the ETA
		// counts this run's rate.
		{engine.Progress{Records: 1000, Committed: 1000, Resumed: 500, TotalRecords: 4000, Segments: 1, Elapsed: 10 * time.Second},
			[]string{"1000/4000 records read, 1000 committed", "ETA 1m0s"}},
		// Everything read, nothing committed yet: no ETA, an all-"-" bar.
		{engine.Progress{Records: 10, TotalRecords: 10, Elapsed: time.Second},
			[]string{"[------------------------]   0% committed", "10/10 records read, 0 committed"}},
		{engine.Progress{Records: 10, Committed: 10, TotalRecords: 10, Elapsed: time.Second},
			[]string{"[========================] 100% committed"}},
		// No total (no precheck): counts only.
		{engine.Progress{Records: 7, Committed: 5, Elapsed: time.Second}, []string{"7 records read, 5 committed"}},
	} {
		got := progressLine(c.p)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%+v: %q lacks %q", c.p, got, w)
			}
		}
		if c.p.TotalRecords == 0 && strings.Contains(got, "[") {
			t.Errorf("a bar without a total: %q", got)
		}
		if c.p.Committed >= c.p.TotalRecords && strings.Contains(got, "ETA") {
			t.Errorf("an ETA when all is committed: %q", got)
		}
	}
}

// TestIndexInfoCLI: the stored dtype defaults to the model's weight type
// and info says both; BM25 fields and title embedding are reported and
// kept by an existing index; a rejected first run leaves nothing.
func TestIndexInfoCLI(t *testing.T) {
	needNative(t)
	f16, f32 := genModel(t, "mean", "f16"), genModel(t, "mean", "f32")
	in := mixedCorpus(t, 40)
	tmp := t.TempDir()
	for _, c := range []struct {
		model string
		flags []string
		want  []string
	}{
		{f16, nil, []string{"f16 vectors (model weights f16)", "title + passage embedded", "fields best_fields"}},
		{f32, nil, []string{"f32 vectors (model weights f32)"}},
		{f32, []string{"--dtype", "int8"}, []string{"int8 vectors (model weights f32)"}},
		{f16, []string{"--embed-title=false", "--bm25-fields", "combined"}, []string{"passage embedded alone", "fields combined"}},
	} {
		dir := filepath.Join(tmp, "ix"+itoa(len(c.flags))+filepath.Base(c.model))
		_, errOut := mustRun(t, append([]string{"index", "-m", c.model, "-i", in, "-o", dir}, c.flags...)...)
		if !strings.Contains(errOut, "40/40 records read, 40 committed") {
			t.Errorf("%v: final progress line: %q", c.flags, errOut)
		}
		out, _ := mustRun(t, "info", dir)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s %v: info lacks %q:\n%s", filepath.Base(c.model), c.flags, w, out)
			}
		}
		js, _ := mustRun(t, "info", dir, "--json")
		var info struct {
			DType      string `json:"dtype"`
			Weights    string `json:"model_weight_type"`
			BM25Fields string `json:"bm25_fields"`
		}
		if err := json.Unmarshal([]byte(js), &info); err != nil || info.Weights == "" || info.BM25Fields == "" || !strings.Contains(out, info.DType+" vectors (model weights "+info.Weights+")") {
			t.Errorf("info --json: %v %+v", err, info)
		}
		// An existing index keeps what it recorded: a flag that agrees
		// appends (nothing new here), one that does not is rejected.
		title := strings.Contains(out, "title + passage embedded")
		fields := map[bool]string{true: "combined", false: "best_fields"}[strings.Contains(out, "fields combined")]
		for _, f := range []struct {
			flags  []string
			agrees bool
		}{
			{[]string{"--embed-title=false"}, !title},
			{[]string{"--embed-title=true"}, title},
			{[]string{"--bm25-fields", "combined"}, fields == "combined"},
			{[]string{"--bm25-fields", "best_fields"}, fields == "best_fields"},
		} {
			code, _, errOut := convRun(append([]string{"index", "-q", "-i", in, "-o", dir}, f.flags...)...)
			if want := map[bool]int{true: 0, false: 2}[f.agrees]; code != want {
				t.Errorf("%v on an index whose info is\n%s: exit %d (%s), want %d", f.flags, out, code, errOut, want)
			}
		}
	}

	// A first run that fails leaves no index: bad records, a cross-encoder.
	bad := filepath.Join(tmp, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"_id\":\"a\",\"text\":\"fine\"}\n{\"_id\":\"b\"}\n{\"_id\":\"a\",\"text\":\"dup\"}\n"), 0o644)
	for _, args := range [][]string{
		{"index", "-q", "-m", f32, "-i", bad, "-o", filepath.Join(tmp, "first")},
		{"index", "-q", "-m", genModel(t, "rank", "f32"), "-i", in, "-o", filepath.Join(tmp, "first")},
	} {
		code, _, errOut := convRun(args...)
		if code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, errOut)
		}
		if _, err := os.Stat(filepath.Join(tmp, "first")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v: a failed first run left %s (%v)", args, filepath.Join(tmp, "first"), err)
		}
	}
	if code, _, errOut := convRun("index", "-q", "-m", f32, "-i", bad, "-o", filepath.Join(tmp, "first"), "--skip-bad", "--embed-title=false"); code != 0 {
		t.Fatalf("retry with other options: exit %d: %s", code, errOut)
	}
	if out, _ := mustRun(t, "info", filepath.Join(tmp, "first")); !strings.Contains(out, "documents      1") || !strings.Contains(out, "passage embedded alone") {
		t.Errorf("retried index:\n%s", out)
	}
}
