package ingest

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// readSource reads a JSONL source to the end through the Reader logic.
func readSource(t *testing.T, data []byte, opts Options, skip int64) ([]Document, []string, int64) {
	r := &reader{src: newJSONLSource(bytes.NewReader(data), "fuzz.jsonl", opts, false), opts: opts}
	if skip > 0 {
		if err := r.Skip(skip); err != nil {
			t.Fatalf("Skip(%d): %v", skip, err)
		}
	}
	var docs []Document
	var bad []string
	for {
		doc, err := r.Next()
		if err == io.EOF {
			break
		}
		var b *BadRecord
		if errors.As(err, &b) {
			if b.File != "fuzz.jsonl" || b.Line < 1 || b.Msg == "" {
				t.Fatalf("bad record without a place or message: %+v", b)
			}
			bad = append(bad, b.Error())
			continue
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		docs = append(docs, doc)
	}
	return docs, bad, r.Records()
}

// FuzzJSONL feeds arbitrary bytes to the JSONL reader: it never panics or
// hangs, counts every non-blank line as a record, yields only documents
// with a unique non-empty id and valid non-blank text, and Skip(n) gives
// the same rest as reading from the start.
func FuzzJSONL(f *testing.F) {
	for _, s := range []string{
		`{"_id": "a", "text": "x"}` + "\n" + `{"id": 1, "text": "y", "m": [1, {"k": null}]}`,
		"\ufeff{\"_id\": \"a\", \"text\": \"x\"}\r\n\r\n{\"_id\": \"a\", \"text\": \"dup\"}",
		`{"_id": "a"`, `[]`, `null`, `{"_id": 1e999, "text": "big"}`, "{\"_id\": \"\xff\", \"text\": \"x\"}",
		`{"_id": "s", "text": "\ud800"}`, strings.Repeat("x", 300), "\n\n  \t\n", `{"text": "no id"}`,
		`{"_id": "t", "text": "x", "title": 5}`, `{} {}`, `{"_id":"a","text":"x"}` + strings.Repeat(" ", 290),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := Options{maxRecord: 256}
		docs, bad, records := readSource(t, data, opts, 0)
		// Records: non-blank lines, and lines over the record size (their
		// bytes without a byte order mark and "\r\n"), blank or not.
		want := int64(0)
		for i, line := range bytes.Split(data, []byte("\n")) {
			if i == 0 {
				line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
			}
			if !isBlank(line) || len(bytes.TrimSuffix(line, []byte("\r"))) > opts.maxRecord {
				want++
			}
		}
		if records != want || int64(len(docs)+len(bad)) != records {
			t.Fatalf("Records %d, %d docs + %d bad, want %d records", records, len(docs), len(bad), want)
		}
		seen := map[string]bool{}
		for _, d := range docs {
			if d.ID == "" || seen[d.ID] || strings.TrimSpace(d.Text) == "" || !utf8.ValidString(d.Text) || !utf8.ValidString(d.ID) || !utf8.ValidString(d.Title) {
				t.Fatalf("bad document %+v", d)
			}
			seen[d.ID] = true
		}
		// Resume from the middle.
		n := records / 2
		rest, restBad, total := readSource(t, data, opts, n)
		var wantRest []Document
		var wantBad []string
		k := int64(0)
		// Map documents and bad records back to record order by line.
		all := map[int64]any{}
		for _, d := range docs {
			all[lineOf(d.Source)] = d
		}
		for _, b := range bad {
			all[lineOf(b)] = b
		}
		for line := int64(1); k < records; line++ {
			v, ok := all[line]
			if !ok {
				continue
			}
			k++
			if k <= n {
				continue
			}
			switch v := v.(type) {
			case Document:
				wantRest = append(wantRest, v)
			case string:
				wantBad = append(wantBad, v)
			}
		}
		if total != records || !reflect.DeepEqual(rest, wantRest) || !reflect.DeepEqual(restBad, wantBad) {
			t.Fatalf("Skip(%d): %d docs %d bad (records %d), want %d docs %d bad (%d)", n, len(rest), len(restBad), total, len(wantRest), len(wantBad), records)
		}
	})
}

// lineOf returns the line number of "fuzz.jsonl:N..." .
func lineOf(s string) int64 {
	s = strings.TrimPrefix(s, "fuzz.jsonl:")
	n := int64(0)
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// FuzzMarkdown checks that front matter and title extraction never panic and
// that the body is a suffix of the text.
func FuzzMarkdown(f *testing.F) {
	for _, s := range []string{"---\ntitle: x\n---\n# T", "# a #", "T\n===", "```\n# x\n```\n## y", "---", "#\n-\n", "~~~~\n~~~\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fm, body := splitFrontMatter(s)
		if !strings.HasSuffix(s, body) || len(fm) > len(s) {
			t.Fatalf("front matter %q body %q of %q", fm, body, s)
		}
		frontMatterTitle(fm)
		markdownTitle(body)
	})
}

// FuzzHub feeds arbitrary models.jsonl and passages.jsonl files to the hub
// format reader: it never panics; bad lines are BadRecords naming one of the
// two files and a line; documents have unique non-empty ids, no blank
// passage, and a text that is the concatenation of their passages when they
// have any; every non-blank models.jsonl line is a record.
func FuzzHub(f *testing.F) {
	f.Add([]byte(hubModel("m/a", `, "readme": "---\nlicense: mit\n---\n# A\nThe readme."`)+"\n"+hubModel("m/b", "")),
		[]byte(hubPassage(1, "m/b", "b one\n")+"\r\n\r\n"+hubPassage(0, "m/a", "a")+"\n"+hubPassage(1, "m/b", "b two")))
	f.Add([]byte(hubModel("m/a", "")+"\n"+hubModel("m/a", "")+"\n\n"), []byte(hubPassage(0, "m/x", "x")+"\n"+hubPassage(2, "m/a", " ")+"\n{\"id\": -1}\n"))
	f.Add([]byte(`{"modelId": 7}`), []byte(`{"id": "0", "modelId": "m", "passage": null}`))
	f.Fuzz(func(t *testing.T, models, passages []byte) {
		dir := t.TempDir()
		write(t, dir, map[string]string{"models.jsonl": string(models), "passages.jsonl": string(passages)})
		r, err := Open(dir, Options{Format: FormatHub})
		if err != nil {
			return // an unreadable layout (too many lines, ...) is refused whole
		}
		defer r.Close()
		seen := map[string]bool{}
		for {
			doc, err := r.Next()
			if err == io.EOF {
				break
			}
			var b *BadRecord
			if errors.As(err, &b) {
				if (!strings.HasSuffix(b.File, "models.jsonl") && !strings.HasSuffix(b.File, "passages.jsonl")) || b.Line < 1 || b.Msg == "" {
					t.Fatalf("bad record without a place or message: %+v", b)
				}
				continue
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if doc.ID == "" || seen[doc.ID] {
				t.Fatalf("document id %q empty or repeated", doc.ID)
			}
			seen[doc.ID] = true
			for _, p := range doc.Passages {
				if strings.TrimSpace(p) == "" {
					t.Fatalf("%s: a blank passage", doc.ID)
				}
			}
			if doc.Passages != nil && doc.Text != strings.Join(doc.Passages, "") {
				t.Fatalf("%s: text %q is not its passages %q", doc.ID, doc.Text, doc.Passages)
			}
		}
		var lines int64
		for _, l := range bytes.Split(models, []byte("\n")) {
			if len(bytes.Trim(l, " \t\r")) > 0 { // JSON white space only: "\v" is a (bad) record
				lines++
			}
		}
		if r.Records() != lines {
			t.Fatalf("%d records for %d non-blank lines of models.jsonl", r.Records(), lines)
		}
	})
}
