package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const hfData = "../../testdata/corpora/hf_data"

// write creates files (path → content) under dir.
func write(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// result is what reading a whole corpus gives.
type result struct {
	docs    []Document
	bad     []*BadRecord // as Next returned them (without SkipBad)
	seen    []*BadRecord // as OnBad saw them
	records int64
}

// readAll reads a corpus to the end, going on after bad records.
func readAll(t testing.TB, path string, opts Options) result {
	t.Helper()
	var res result
	opts.OnBad = func(b *BadRecord) { res.seen = append(res.seen, b) }
	r, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	defer r.Close()
	drain(t, r, &res)
	return res
}

func drain(t testing.TB, r Reader, res *result) {
	t.Helper()
	for {
		doc, err := r.Next()
		if err == io.EOF {
			break
		}
		var b *BadRecord
		if errors.As(err, &b) {
			res.bad = append(res.bad, b)
			continue
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		res.docs = append(res.docs, doc)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next after the end: %v", err)
	}
	res.records = r.Records()
}

func ids(docs []Document) []string {
	var out []string
	for _, d := range docs {
		out = append(out, d.ID)
	}
	return out
}

func TestHub(t *testing.T) {
	res := readAll(t, hfData, Options{})
	if len(res.bad) != 0 || len(res.seen) != 0 {
		t.Fatalf("bad records in the fixture: %v", res.bad)
	}
	want := []string{"example-org/asr-french-small", "example-org/bird-sound-classifier", "example-org/minilm-sentence-embeddings", "example-org/empty-card"}
	if got := ids(res.docs); !reflect.DeepEqual(got, want) {
		t.Fatalf("ids %q, want %q", got, want)
	}
	if res.records != 4 {
		t.Errorf("Records %d, want 4", res.records)
	}
	asr := res.docs[0]
	if asr.Title != asr.ID || asr.Source != filepath.Join(hfData, "models.jsonl")+":1" {
		t.Errorf("title %q source %q", asr.Title, asr.Source)
	}
	wantPassages := []string{"## Model description\n", "Transcribing your own audio files (in French)\n", "The model turns French speech sampled at 16 kHz into text.\n", "More information needed\n"}
	if !reflect.DeepEqual(asr.Passages, wantPassages) {
		t.Errorf("passages %q", asr.Passages)
	}
	if asr.Text != strings.Join(wantPassages, "") {
		t.Errorf("text %q", asr.Text)
	}
	md := asr.Metadata
	if _, ok := md["readme"]; ok {
		t.Error("readme is in the metadata")
	}
	if md["modelId"] != asr.ID || md["pipeline_tag"] != "automatic-speech-recognition" || md["likes"] != json.Number("12") || md["downloads"] != json.Number("1930") || md["private"] != false {
		t.Errorf("metadata %v", md)
	}
	if tags, _ := md["tags"].([]any); len(tags) != 4 || tags[0] != "wav2vec2" {
		t.Errorf("tags %v", md["tags"])
	}
	if cfg, _ := md["config"].(map[string]any); cfg["model_type"] != "wav2vec2" {
		t.Errorf("config %v", md["config"])
	}
	bird := res.docs[1]
	if v, ok := bird.Metadata["config"]; !ok || v != nil {
		t.Errorf("null config: %v %v", v, ok)
	}
	minilm := res.docs[2]
	if len(minilm.Passages) != 3 || minilm.Metadata["downloads"] != json.Number("51234567") {
		t.Errorf("minilm %+v", minilm)
	}
	empty := res.docs[3]
	if empty.Passages != nil || empty.Text != "" {
		t.Errorf("empty card: passages %q text %q", empty.Passages, empty.Text)
	}
	for _, k := range []string{"pipeline_tag", "library_name"} {
		if v, ok := empty.Metadata[k]; !ok || v != nil {
			t.Errorf("empty card %s = %v, %v; want a null", k, v, ok)
		}
	}
}

// hubModel writes one models.jsonl line.
func hubModel(id string, extra string) string {
	return fmt.Sprintf(`{"modelId": %q, "pipeline_tag": "fill-mask", "likes": 1, "downloads": 2.5, "lastModified": "2022-01-01T00:00:00.000Z", "tags": ["a"], "private": false%s}`, id, extra)
}

func hubPassage(line int, id, text string) string {
	return fmt.Sprintf(`{"id": %d, "modelId": %q, "passage": %q}`, line, id, text)
}

func TestHubUnsortedAndReadme(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"models.jsonl": strings.Join([]string{
			hubModel("m/a", `, "readme": "---\nlicense: mit\n---\n# A\nThe readme of a."`),
			hubModel("m/b", `, "readme": "ignored: b has passages"`),
			hubModel("m/c", `, "readme": "   "`),
			hubModel("m/d", `, "readme": "---\nonly: front matter\n---\n"`),
		}, "\n"), // no final newline
		"passages.jsonl": strings.Join([]string{
			hubPassage(1, "m/b", "b two\n"),
			"",
			hubPassage(1, "m/b", "b three\n"),
			hubPassage(1, "m/b", "b four\n"),
			hubPassage(3, "m/d", "d one\n"),
			hubPassage(1, "m/b", "b five\n"),
		}, "\r\n") + "\r\n",
	})
	// m/d's passages come first in the file: check that order is kept.
	res := readAll(t, dir, Options{Format: FormatHub})
	if len(res.bad) != 0 {
		t.Fatalf("bad: %v", res.bad)
	}
	a, b, c, d := res.docs[0], res.docs[1], res.docs[2], res.docs[3]
	if a.Passages != nil || a.Text != "# A\nThe readme of a." {
		t.Errorf("a: readme fallback without front matter: %q %q", a.Passages, a.Text)
	}
	if !reflect.DeepEqual(b.Passages, []string{"b two\n", "b three\n", "b four\n", "b five\n"}) {
		t.Errorf("b passages %q", b.Passages)
	}
	if c.Text != "" || d.Text != "d one\n" {
		t.Errorf("c text %q, d text %q", c.Text, d.Text)
	}
}

func TestHubBadRecords(t *testing.T) {
	dir := t.TempDir()
	models := []string{
		hubModel("m/a", ""),                    // 1
		"",                                     // 2: blank, named by a passage
		`{"modelId": "m/b", "likes": "many"}`,  // 3: mistyped likes
		hubModel("m/a", ""),                    // 4: duplicate
		`{"modelId": null}`,                    // 5
		`{"pipeline_tag": "x"}`,                // 6
		`{"modelId": 7}`,                       // 7
		`not json`,                             // 8
		`{"modelId": "m/t", "tags": ["a", 1]}`, // 9
		`{"modelId": "m/d", "lastModified": "yday"}`, // 10
		`{"modelId": "m/p", "private": "no"}`,        // 11
		hubModel("m/ok", ""),                         // 12
		"{\"modelId\": \"m/\xff\"}",                  // 13
		`{"modelId": "m/r", "readme": 3}`,            // 14
		`[1, 2]`,                                     // 15
		hubModel("m/z", ""),                          // 16
	}
	passages := []string{
		hubPassage(0, "m/a", "a one\n"),                 // 1
		hubPassage(0, "m/other", "wrong\n"),             // 2: modelId disagrees
		hubPassage(1, "m/blank", "x\n"),                 // 3: names a blank line
		hubPassage(2, "m/b", "b one\n"),                 // 4: dropped with its model
		hubPassage(99, "m/a", "x\n"),                    // 5: out of range
		`{"id": "0", "modelId": "m/a", "passage": "x"}`, // 6
		`{"id": 0.5, "modelId": "m/a", "passage": "x"}`, // 7
		`{"id": -1, "modelId": "m/a", "passage": "x"}`,  // 8
		`{"modelId": "m/a", "passage": "x"}`,            // 9
		`{"id": 0, "passage": "x"}`,                     // 10
		`{"id": 0, "modelId": "m/a"}`,                   // 11
		`{"id": 0, "modelId": "m/a", "passage": " \n"}`, // 12
		`{"id": 0, "modelId": "m/a", "passage": 5}`,     // 13
		`{"id": 0`, // 14
		`null`,     // 15
		"{\"id\": 0, \"modelId\": \"m/a\", \"passage\": \"\xc3\"}", // 16
		hubPassage(11, "m/ok", "ok one\n"),                         // 17
		hubPassage(0, "m/a", "a two\n"),                            // 18
		hubPassage(15, "m/z", "z\n"),                               // 19
		`{"id": 0, "modelId": "", "passage": "x"}`,                 // 20
	}
	write(t, dir, map[string]string{
		"models.jsonl":   strings.Join(models, "\n") + "\n",
		"passages.jsonl": strings.Join(passages, "\n") + "\n",
	})
	mp, pp := filepath.Join(dir, "models.jsonl"), filepath.Join(dir, "passages.jsonl")
	res := readAll(t, dir, Options{})
	type want struct {
		file  string
		line  int
		field string
		msg   string
	}
	wantBad := []want{
		// Passages that name no model, first.
		{pp, 5, "id", "99 names no line"},
		{pp, 6, "id", `not "\"0\""`},
		{pp, 7, "id", "not \"0.5\""},
		{pp, 8, "id", "-1 names no line"},
		{pp, 9, "id", "missing"},
		{pp, 10, "modelId", "missing"},
		{pp, 11, "passage", "missing"},
		{pp, 12, "passage", "empty"},
		{pp, 13, "passage", "must be a string, not a number"},
		{pp, 14, "", "invalid JSON"},
		{pp, 15, "", "null, not a JSON object"},
		{pp, 16, "", "invalid UTF-8"},
		{pp, 20, "modelId", "empty"},
		// Then in model order.
		{pp, 2, "modelId", `"m/other" disagrees with "m/a"`},
		{pp, 3, "id", "which is blank (1 passages)"},
		{mp, 3, "likes", "must be a number or null, not a string (its 1 passages are dropped)"},
		{mp, 4, "modelId", `duplicate model "m/a"`},
		{mp, 5, "modelId", "is null"},
		{mp, 6, "modelId", "missing"},
		{mp, 7, "modelId", "must be a string, not a number"},
		{mp, 8, "", "invalid JSON"},
		{mp, 9, "tags", "element 1 must be a string"},
		{mp, 10, "lastModified", "not an ISO 8601 date"},
		{mp, 11, "private", "must be a boolean or null"},
		{mp, 13, "", "invalid UTF-8 at byte 16"},
		{mp, 14, "readme", "must be a string or null"},
		{mp, 15, "", "a JSON array"},
	}
	if len(res.bad) != len(wantBad) {
		for _, b := range res.bad {
			t.Log(b)
		}
		t.Fatalf("%d bad records, want %d", len(res.bad), len(wantBad))
	}
	for i, w := range wantBad {
		b := res.bad[i]
		if b.File != w.file || b.Line != w.line || b.Field != w.field || !strings.Contains(b.Msg, w.msg) {
			t.Errorf("bad %d = %v, want %s:%d: %s: ...%s...", i, b, w.file, w.line, w.field, w.msg)
		}
		if !strings.HasPrefix(b.Error(), fmt.Sprintf("%s:%d: ", w.file, w.line)) {
			t.Errorf("Error() = %q", b.Error())
		}
	}
	if !reflect.DeepEqual(res.seen, res.bad) {
		t.Errorf("OnBad saw %d, Next returned %d", len(res.seen), len(res.bad))
	}
	if got := ids(res.docs); !reflect.DeepEqual(got, []string{"m/a", "m/ok", "m/z"}) {
		t.Errorf("docs %q", got)
	}
	if !reflect.DeepEqual(res.docs[0].Passages, []string{"a one\n", "a two\n"}) {
		t.Errorf("m/a passages %q", res.docs[0].Passages)
	}
	// 15 non-blank model lines.
	if res.records != 15 {
		t.Errorf("Records %d, want 15", res.records)
	}
	// With SkipBad: the same documents, every bad record seen by OnBad.
	skip := readAll(t, dir, Options{SkipBad: true})
	if len(skip.bad) != 0 || len(skip.seen) != len(wantBad) || !reflect.DeepEqual(ids(skip.docs), ids(res.docs)) || skip.records != 15 {
		t.Errorf("SkipBad: %d returned, %d seen, docs %q, records %d", len(skip.bad), len(skip.seen), ids(skip.docs), skip.records)
	}
}

// TestHubManyOrphans: passages that name no model come in batches, all
// before the first model, and a resumed run skips them.
func TestHubManyOrphans(t *testing.T) {
	dir := t.TempDir()
	var passages []string
	for i := range 600 {
		passages = append(passages, hubPassage(1000+i, "m/x", "orphan\n"))
	}
	passages = append(passages, hubPassage(0, "m/a", "a\n"), strings.Repeat("x", 300))
	write(t, dir, map[string]string{
		"models.jsonl":   hubModel("m/a", "") + "\n",
		"passages.jsonl": strings.Join(passages, "\n"),
	})
	res := readAll(t, dir, Options{maxRecord: 200})
	if len(res.bad) != 601 || len(res.docs) != 1 || res.records != 1 {
		t.Fatalf("%d bad, %d docs, %d records", len(res.bad), len(res.docs), res.records)
	}
	if b := res.bad[600]; b.Line != 602 || b.Msg != "line longer than 200 bytes" || res.bad[599].Line != 600 {
		t.Errorf("last bad records: %v, %v", res.bad[599], b)
	}
	if !reflect.DeepEqual(res.docs[0].Passages, []string{"a\n"}) {
		t.Errorf("passages %q", res.docs[0].Passages)
	}
	skip := readAll(t, dir, Options{maxRecord: 200, SkipBad: true})
	if len(skip.seen) != 601 || len(skip.docs) != 1 {
		t.Errorf("SkipBad: %d seen, %d docs", len(skip.seen), len(skip.docs))
	}
	r, err := Open(dir, Options{maxRecord: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Skip(1); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after Skip(1): %v", err)
	}
}

func TestJSONL(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.jsonl")
	write(t, dir, map[string]string{"c.jsonl": "\ufeff" + strings.Join([]string{
		`{"_id": "d1", "title": "T1", "text": "first", "n": 12345678901234567890, "f": 1.50, "nested": {"a": [1, {"b": null}]}, "flag": true, "nil": null}`,
		`{"id": 42, "text": "second"}`,
		"",
		"   ",
		`{"_id": "d3", "id": "other", "text": "third", "title": null}`,
		`{"id": 4.0, "text": "x"}`,
	}, "\r\n") + "\r\n\r\n"})
	res := readAll(t, p, Options{})
	if len(res.bad) != 0 {
		t.Fatal(res.bad)
	}
	if got := ids(res.docs); !reflect.DeepEqual(got, []string{"d1", "42", "d3", "4.0"}) {
		t.Fatalf("ids %q", got)
	}
	d1 := res.docs[0]
	if d1.Title != "T1" || d1.Text != "first" || d1.Source != p+":1" {
		t.Errorf("d1 %+v", d1)
	}
	wantMD := map[string]any{
		"n": json.Number("12345678901234567890"), "f": json.Number("1.50"),
		"nested": map[string]any{"a": []any{json.Number("1"), map[string]any{"b": nil}}},
		"flag":   true, "nil": nil,
	}
	if !reflect.DeepEqual(d1.Metadata, wantMD) {
		t.Errorf("metadata %#v", d1.Metadata)
	}
	if res.docs[1].Metadata != nil || res.docs[1].Source != p+":2" {
		t.Errorf("doc 2 %+v", res.docs[1])
	}
	// "_id" wins; "id" is then metadata.
	if d3 := res.docs[2]; d3.Metadata["id"] != "other" || d3.Title != "" || d3.Source != p+":5" {
		t.Errorf("d3 %+v", d3)
	}
	if res.records != 4 {
		t.Errorf("Records %d", res.records)
	}
	// Custom fields.
	write(t, dir, map[string]string{"custom.jsonl": `{"key": "k1", "body": "b", "name": "n", "text": "kept"}` + "\n"})
	res = readAll(t, filepath.Join(dir, "custom.jsonl"), Options{Format: "jsonl", IDField: "key", TextField: "body", TitleField: "name"})
	if len(res.docs) != 1 || res.docs[0].ID != "k1" || res.docs[0].Text != "b" || res.docs[0].Title != "n" || res.docs[0].Metadata["text"] != "kept" {
		t.Errorf("custom fields: %+v %v", res.docs, res.bad)
	}
}

func TestJSONLBadRecords(t *testing.T) {
	dir := t.TempDir()
	lines := []string{
		`{"_id": "ok1", "text": "fine"}`,           // 1
		`{"_id": "ok1", "text": "again"}`,          // 2 duplicate
		`{"text": "no id"}`,                        // 3
		`{"_id": "", "text": "x"}`,                 // 4
		`{"_id": null, "text": "x"}`,               // 5
		`{"_id": true, "text": "x"}`,               // 6
		`{"_id": "a"}`,                             // 7
		`{"_id": "b", "text": null}`,               // 8
		`{"_id": "c", "text": ""}`,                 // 9
		`{"_id": "d", "text": " \t\n "}`,           // 10
		`{"_id": "e", "text": ["x"]}`,              // 11
		`{"_id": "f", "text": "x", "title": 3}`,    // 12
		`{"_id": "g", "text": "x"`,                 // 13
		`{"_id": "h", "text": "x"} {}`,             // 14
		`"just a string"`,                          // 15
		"{\"_id\": \"i\", \"text\": \"\xe2\x82\"}", // 16
		strings.Repeat(" ", 10) + `{"_id": "j", "text": "` + strings.Repeat("y", 200) + `"}`, // 17 too long
		`{"_id": "ok2", "text": "fine"}`,  // 18
		`{"_id": "ok1x", "text": "fine"}`, // 19
		`[]`,                              // 20
		`{"_id": {"x": 1}, "text": "x"}`,  // 21
		`{"_id": "a", "text": "ids of bad records are not taken"}`, // 22
	}
	write(t, dir, map[string]string{"bad.jsonl": strings.Join(lines, "\n")})
	p := filepath.Join(dir, "bad.jsonl")
	res := readAll(t, p, Options{maxRecord: 150})
	want := []struct {
		line  int
		field string
		msg   string
	}{
		{2, "_id", `duplicate id "ok1"`},
		{3, "_id", `missing: the record has neither "_id" nor "id"`},
		{4, "_id", "empty id"},
		{5, "_id", "id is null"},
		{6, "_id", "must be a string or a number, not a boolean"},
		{7, "text", "missing"},
		{8, "text", "is null"},
		{9, "text", "empty"},
		{10, "text", "empty"},
		{11, "text", "must be a string, not an array"},
		{12, "title", "must be a string or null, not a number"},
		{13, "", "invalid JSON"},
		{14, "", "data after the object"},
		{15, "", "a string, not a JSON object"},
		{16, "", "invalid UTF-8 at byte 23"},
		{17, "", "line longer than 150 bytes"},
		{20, "", "a JSON array, not an object"},
		{21, "_id", "not an object"},
	}
	if len(res.bad) != len(want) {
		for _, b := range res.bad {
			t.Log(b)
		}
		t.Fatalf("%d bad records, want %d", len(res.bad), len(want))
	}
	for i, w := range want {
		b := res.bad[i]
		if b.File != p || b.Line != w.line || b.Field != w.field || !strings.Contains(b.Msg, w.msg) {
			t.Errorf("bad %d = %v, want line %d field %q msg ...%s...", i, b, w.line, w.field, w.msg)
		}
	}
	if got := ids(res.docs); !reflect.DeepEqual(got, []string{"ok1", "ok2", "ok1x", "a"}) {
		t.Errorf("docs %q", got)
	}
	if res.records != int64(len(lines)) {
		t.Errorf("Records %d, want %d", res.records, len(lines))
	}
	// Explicit id field missing.
	res = readAll(t, p, Options{IDField: "key", maxRecord: 150})
	if res.bad[0].Field != "key" || res.bad[0].Msg != "missing" {
		t.Errorf("missing explicit id field: %v", res.bad[0])
	}
	// SkipBad: the same documents; OnBad counts every bad record.
	res = readAll(t, p, Options{SkipBad: true, maxRecord: 150})
	if len(res.bad) != 0 || len(res.seen) != len(want) || len(res.docs) != 4 || res.records != int64(len(lines)) {
		t.Errorf("SkipBad: returned %d, seen %d, docs %d, records %d", len(res.bad), len(res.seen), len(res.docs), res.records)
	}
}

func TestBEIR(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"corpus.jsonl": strings.Join([]string{
			`{"_id": "4983", "title": "Microstructural development", "text": "Alterations of the architecture.", "metadata": {"url": "http://x", "year": 2001}}`,
			`{"_id": "5836", "title": "Title only", "text": ""}`,
			`{"_id": "7", "title": "", "text": ""}`,
			`{"_id": "8", "text": "t", "metadata": {"year": 1}, "year": 2}`,
		}, "\n") + "\n",
		"queries.jsonl": `{"_id": "q1", "text": "not read"}` + "\n",
	})
	res := readAll(t, dir, Options{})
	if got := ids(res.docs); !reflect.DeepEqual(got, []string{"4983", "5836", "8"}) {
		t.Fatalf("docs %q bad %v", got, res.bad)
	}
	if md := res.docs[0].Metadata; md["url"] != "http://x" || md["year"] != json.Number("2001") || len(md) != 2 {
		t.Errorf("metadata %v", md)
	}
	if res.docs[2].Metadata["year"] != json.Number("2") {
		t.Errorf("top-level field should win: %v", res.docs[2].Metadata)
	}
	if len(res.bad) != 1 || res.bad[0].Line != 3 || res.bad[0].Msg != "empty, and no title" {
		t.Errorf("bad %v", res.bad)
	}
	// The corpus.jsonl itself, with the format named.
	res2 := readAll(t, filepath.Join(dir, "corpus.jsonl"), Options{Format: FormatBEIR})
	if !reflect.DeepEqual(ids(res2.docs), ids(res.docs)) {
		t.Errorf("corpus.jsonl: %q", ids(res2.docs))
	}
}

func TestText(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"b.txt":                  "plain text\n",
		"a.md":                   "---\ntitle: \"Front: matter\"\n---\n# Heading\nbody",
		"sub/c.md":               "intro\n\n```\n# not a heading\n```\n\n## Real heading ##\ntext",
		"sub/d.MD":               "Setext title\n===\n\ntext",
		"sub/e.markdown":         "no heading at all",
		"sub/deeper/f.txt":       "# not a title in a .txt\n",
		".hidden/g.txt":          "hidden dir",
		"sub/.h.txt":             "hidden file",
		"other.json":             "{}",
		"empty.txt":              " \n\t",
		"bad-utf8.txt":           "line one\nok \xff bad",
		"zz/big.txt":             strings.Repeat("x", 300),
		"sub/deeper/front.md":    "---\nauthor: x\n---\n\nSome text\n",
		"sub/deeper/unclosed.md": "---\nnot closed\n# Title\n",
	})
	// Links: a loop back to the root, a second path to sub/, a linked file
	// and a broken link.
	for _, l := range [][2]string{{"..", "sub/loop"}, {"sub", "alias"}, {"../b.txt", "sub/link.txt"}, {"missing.txt", "broken.txt"}} {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Skip("symlinks:", err)
		}
	}
	res := readAll(t, dir, Options{maxRecord: 200})
	var got []string
	for _, d := range res.docs {
		got = append(got, d.ID+" | "+d.Title)
	}
	want := []string{
		"a.md | Front: matter",
		"alias/c.md | Real heading",
		"alias/d.MD | Setext title",
		"alias/deeper/f.txt | f",
		"alias/deeper/front.md | front",
		"alias/deeper/unclosed.md | Title",
		"alias/e.markdown | e",
		"alias/link.txt | link",
		"b.txt | b",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("docs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	byID := map[string]Document{}
	for _, d := range res.docs {
		byID[d.ID] = d
	}
	if d := byID["a.md"]; d.Text != "# Heading\nbody" || d.Source != filepath.Join(dir, "a.md")+":1" {
		t.Errorf("a.md %+v", d)
	}
	if d := byID["alias/deeper/front.md"]; d.Text != "\nSome text\n" {
		t.Errorf("front matter kept: %q", d.Text)
	}
	if d := byID["b.txt"]; d.Metadata["size"] != json.Number("11") {
		t.Errorf("b.txt metadata %v", d.Metadata)
	} else if _, err := time.Parse(time.RFC3339Nano, d.Metadata["modified"].(string)); err != nil {
		t.Errorf("modified: %v", err)
	}
	var bad []string
	for _, b := range res.bad {
		rel, _ := filepath.Rel(dir, b.File)
		bad = append(bad, fmt.Sprintf("%s:%d:%s:%s", rel, b.Line, b.Field, b.Msg))
	}
	wantBad := []string{
		"bad-utf8.txt:2:text:invalid UTF-8 at byte 4 of the line",
		"broken.txt:0::cannot read: ",
		"empty.txt:0:text:no text",
		"zz/big.txt:0::file larger than 200 bytes",
	}
	if len(bad) != len(wantBad) {
		t.Fatalf("bad:\n%s", strings.Join(bad, "\n"))
	}
	for i := range bad {
		if !strings.HasPrefix(bad[i], wantBad[i]) {
			t.Errorf("bad %d = %s, want %s...", i, bad[i], wantBad[i])
		}
	}
	if res.records != int64(len(want)+len(wantBad)) {
		t.Errorf("Records %d", res.records)
	}
	// One file.
	one := readAll(t, filepath.Join(dir, "sub", "c.md"), Options{})
	if len(one.docs) != 1 || one.docs[0].ID != "c.md" || one.docs[0].Title != "Real heading" {
		t.Errorf("single file: %+v", one.docs)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"x.csv": "a,b", "c.jsonl": "", "onlymodels/models.jsonl": ""})
	for _, tc := range []struct {
		path string
		opts Options
		msg  string
	}{
		{filepath.Join(dir, "nope"), Options{}, "no such file"},
		{filepath.Join(dir, "x.csv"), Options{}, "cannot tell the format"},
		{dir, Options{Format: "csv"}, `unknown format "csv"`},
		{dir, Options{Format: FormatJSONL}, "needs a file"},
		{filepath.Join(dir, "c.jsonl"), Options{Format: FormatHub}, "needs a directory"},
		{filepath.Join(dir, "onlymodels"), Options{Format: FormatHub}, "passages.jsonl"},
		{dir, Options{Format: FormatText, IDField: "x"}, "jsonl and beir only"},
		{filepath.Join(dir, "x.csv"), Options{Format: FormatText}, "reads .txt"},
	} {
		r, err := Open(tc.path, tc.opts)
		if err == nil {
			r.Close()
			t.Errorf("Open(%s, %+v): no error", tc.path, tc.opts)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "ingest: ") {
			t.Errorf("Open(%s): %v, want ...%s...", tc.path, err, tc.msg)
		}
	}
	// An empty file is an empty corpus.
	res := readAll(t, filepath.Join(dir, "c.jsonl"), Options{})
	if len(res.docs) != 0 || res.records != 0 {
		t.Errorf("empty file: %+v", res)
	}
	// onlymodels is read as text (no passages.jsonl), and has no .txt files.
	res = readAll(t, filepath.Join(dir, "onlymodels"), Options{})
	if len(res.docs) != 0 {
		t.Errorf("onlymodels: %+v", res)
	}
}

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"beir/corpus.jsonl": "", "hub/models.jsonl": "", "hub/passages.jsonl": "", "text/a.txt": "x",
		"f.jsonl": "", "f.json": "", "f.txt": "", "f.md": "", "f.MARKDOWN": "",
	})
	for path, want := range map[string]string{
		"beir": FormatBEIR, "hub": FormatHub, "text": FormatText, "f.jsonl": FormatJSONL, "f.json": FormatJSONL,
		"f.txt": FormatText, "f.md": FormatText, "f.MARKDOWN": FormatText, ".": FormatText,
	} {
		got, err := detect(filepath.Join(dir, path), FormatAuto)
		if err != nil || got != want {
			t.Errorf("detect(%s) = %q, %v; want %s", path, got, err, want)
		}
	}
}

// TestSkip checks, for every format and every n, that Skip(n) after Open
// gives exactly the documents and bad records that reading from the start
// gives after the n-th record, and the same Records.
func TestSkip(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for i := range 30 {
		switch i % 7 {
		case 3:
			lines = append(lines, `{"_id": "dup", "text": "x"}`) // the second and later are bad
		case 5:
			lines = append(lines, `{"_id": "broken"`)
		case 6:
			lines = append(lines, "")
		default:
			lines = append(lines, fmt.Sprintf(`{"_id": "d%d", "text": "text %d"}`, i, i))
		}
	}
	write(t, dir, map[string]string{"c.jsonl": strings.Join(lines, "\n")})
	var models, passages []string
	for i := range 12 {
		if i == 4 {
			models = append(models, "")
			passages = append(passages, hubPassage(i, "m/blank", "p\n"))
			continue
		}
		id := fmt.Sprintf("m/%d", i%9) // 9, 10, 11 duplicate 0, 1, 2
		models = append(models, hubModel(id, ""))
		for j := range i % 3 {
			passages = append(passages, hubPassage(i, id, fmt.Sprintf("passage %d of %d\n", j, i)))
		}
		if i%4 == 1 {
			passages = append(passages, hubPassage(i, "m/wrong", "wrong\n"))
		}
	}
	passages = append(passages, hubPassage(50, "m/x", "orphan\n"), "{oops")
	// Unsorted: reverse the passages.
	for i, j := 0, len(passages)-1; i < j; i, j = i+1, j-1 {
		passages[i], passages[j] = passages[j], passages[i]
	}
	write(t, filepath.Join(dir, "hub"), map[string]string{
		"models.jsonl":   strings.Join(models, "\n"),
		"passages.jsonl": strings.Join(passages, "\n"),
	})
	write(t, filepath.Join(dir, "text"), map[string]string{"a.txt": "a", "b/c.md": "# C\nc", "b/d.txt": "", "e.txt": "e"})

	for _, tc := range []struct {
		name string
		path string
	}{
		{"jsonl", filepath.Join(dir, "c.jsonl")},
		{"hub", filepath.Join(dir, "hub")},
		{"text", filepath.Join(dir, "text")},
		{"hf_data", hfData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, skipBad := range []bool{false, true} {
				opts := Options{SkipBad: skipBad}
				// The stream from the start, with Records after each item.
				type step struct {
					doc     Document
					bad     *BadRecord
					records int64
				}
				var steps []step
				r, err := Open(tc.path, opts)
				if err != nil {
					t.Fatal(err)
				}
				for {
					doc, err := r.Next()
					if err == io.EOF {
						break
					}
					var b *BadRecord
					if err != nil && !errors.As(err, &b) {
						t.Fatal(err)
					}
					steps = append(steps, step{doc, b, r.Records()})
				}
				total := r.Records()
				r.Close()
				if total < 3 {
					t.Fatalf("only %d records", total)
				}
				for n := int64(0); n <= total; n++ {
					r, err := Open(tc.path, opts)
					if err != nil {
						t.Fatal(err)
					}
					if err := r.Skip(n); err != nil {
						t.Fatalf("Skip(%d): %v", n, err)
					}
					if r.Records() != n {
						t.Fatalf("Skip(%d): Records %d", n, r.Records())
					}
					// What the first run yielded once the n-th record was
					// complete: documents of later records, and bad records
					// delivered after it (without SkipBad, steps are every
					// item, so the Records before a step is the previous
					// step's).
					var want []step
					for i, s := range steps {
						before := int64(0)
						if i > 0 {
							before = steps[i-1].records
						}
						if s.bad == nil && s.records > n || s.bad != nil && before >= n {
							want = append(want, s)
						}
					}
					var got []step
					for {
						doc, err := r.Next()
						if err == io.EOF {
							break
						}
						var b *BadRecord
						if err != nil && !errors.As(err, &b) {
							t.Fatal(err)
						}
						got = append(got, step{doc, b, r.Records()})
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("skipBad %v: Skip(%d) then Next: %d items, want %d\n got %+v\nwant %+v", skipBad, n, len(got), len(want), got, want)
					}
					r.Close()
				}
				r, _ = Open(tc.path, opts)
				if err := r.Skip(total + 1); err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("Skip past the end: %v", err)
				}
				if err := r.Skip(-1); err == nil {
					t.Error("Skip(-1): no error")
				}
				r.Close()
			}
		})
	}
}

// TestSkipMidStream checks Skip after some Next calls, as a caller that
// reads a little, then skips, would.
func TestSkipMidStream(t *testing.T) {
	full := readAll(t, hfData, Options{})
	r, err := Open(hfData, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if err := r.Skip(2); err != nil {
		t.Fatal(err)
	}
	doc, err := r.Next()
	if err != nil || doc.ID != full.docs[3].ID || r.Records() != 4 {
		t.Errorf("after Next, Skip(2), Next: %q %v records %d", doc.ID, err, r.Records())
	}
}

func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.jsonl")
	write(t, dir, map[string]string{"c.jsonl": `{"_id": "a", "text": "x"}` + "\n"})
	fp := func(path string, opts Options) string {
		r, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		return r.Fingerprint()
	}
	a := fp(p, Options{})
	if a != fp(p, Options{SkipBad: true}) {
		t.Error("fingerprint depends on SkipBad")
	}
	if a == fp(p, Options{TextField: "body"}) {
		t.Error("fingerprint ignores the text field")
	}
	if !strings.HasPrefix(a, "v1:") || len(a) != 35 {
		t.Errorf("fingerprint %q", a)
	}
	// Same size, same time, other content: the hash of the ends sees it.
	st, _ := os.Stat(p)
	write(t, dir, map[string]string{"c.jsonl": `{"_id": "b", "text": "x"}` + "\n"})
	os.Chtimes(p, st.ModTime(), st.ModTime())
	if fp(p, Options{}) == a {
		t.Error("content change not seen")
	}
	// An append.
	b := fp(p, Options{})
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"_id": "c", "text": "y"}` + "\n")
	f.Close()
	if fp(p, Options{}) == b {
		t.Error("append not seen")
	}
	// A middle edit of a large file with the time restored is the known miss.
	big := strings.Repeat(`{"_id": "z", "text": "padding"}`+"\n", 10000)
	write(t, dir, map[string]string{"big.jsonl": big})
	bp := filepath.Join(dir, "big.jsonl")
	st, _ = os.Stat(bp)
	c := fp(bp, Options{})
	if c != fp(bp, Options{}) {
		t.Error("fingerprint not stable")
	}
	write(t, dir, map[string]string{"big.jsonl": strings.Replace(big, "padding", "PADDING", 5000)})
	os.Chtimes(bp, st.ModTime(), st.ModTime())
	if fp(bp, Options{}) != c {
		t.Log("a middle edit was seen (more than documented)")
	}
	// Hub and text fingerprints change with any of their files.
	hub := t.TempDir()
	write(t, hub, map[string]string{"models.jsonl": hubModel("m/a", "") + "\n", "passages.jsonl": ""})
	h := fp(hub, Options{})
	write(t, hub, map[string]string{"passages.jsonl": hubPassage(0, "m/a", "p") + "\n"})
	if fp(hub, Options{}) == h {
		t.Error("hub: passages change not seen")
	}
	txt := t.TempDir()
	write(t, txt, map[string]string{"a.txt": "a"})
	x := fp(txt, Options{})
	write(t, txt, map[string]string{"sub/b.txt": "b"})
	if fp(txt, Options{}) == x {
		t.Error("text: new file not seen")
	}
}

func TestClose(t *testing.T) {
	r, err := Open(hfData, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := r.Next(); err == nil || err == io.EOF {
		t.Errorf("Next after Close: %v", err)
	}
}

func TestBadRecordError(t *testing.T) {
	for _, tc := range []struct {
		b    BadRecord
		want string
	}{
		{BadRecord{File: "f.jsonl", Line: 3, Field: "text", Msg: "empty"}, "f.jsonl:3: text: empty"},
		{BadRecord{File: "f.jsonl", Line: 3, Msg: "invalid JSON"}, "f.jsonl:3: invalid JSON"},
		{BadRecord{File: "d/a.txt", Msg: "file larger than 1 bytes"}, "d/a.txt: file larger than 1 bytes"},
		{BadRecord{File: "request", Line: 2, Index: 0, InArray: true, Field: "text", Msg: "empty"}, "request[0]: text: empty"},
	} {
		if got := tc.b.Error(); got != tc.want {
			t.Errorf("%q, want %q", got, tc.want)
		}
	}
}

func BenchmarkJSONL(b *testing.B) {
	dir := b.TempDir()
	var sb strings.Builder
	for i := 0; sb.Len() < 32<<20; i++ {
		fmt.Fprintf(&sb, `{"_id": "doc-%d", "title": "Title %d", "text": "%s", "url": "https://example.com/%d", "year": %d, "tags": ["a", "b"]}`+"\n",
			i, i, strings.Repeat("Some words of text in a document. ", 15), i, 1990+i%30)
	}
	write(b, dir, map[string]string{"c.jsonl": sb.String()})
	b.SetBytes(int64(sb.Len()))
	for b.Loop() {
		r, err := Open(filepath.Join(dir, "c.jsonl"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
		r.Close()
	}
}

func BenchmarkHub(b *testing.B) {
	dir := b.TempDir()
	var models, passages strings.Builder
	for i := range 20000 {
		id := fmt.Sprintf("org/model-%d", i)
		models.WriteString(hubModel(id, `, "readme": "# card"`) + "\n")
		for j := range 8 {
			passages.WriteString(hubPassage(i, id, fmt.Sprintf("Passage %d of the model card, with some words in it.\n", j)) + "\n")
		}
	}
	write(b, dir, map[string]string{"models.jsonl": models.String(), "passages.jsonl": passages.String()})
	b.SetBytes(int64(models.Len() + passages.Len()))
	for b.Loop() {
		r, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
		r.Close()
	}
}
