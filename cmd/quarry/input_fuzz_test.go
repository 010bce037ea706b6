package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/quarry-search/quarry/engine/errs"
)

// FuzzReadRecords feeds arbitrary input files to the reader of `quarry
// embed` / `rerank` / `search --queries`: it never panics; it fails with a
// bad-input error naming the input, or every line is a record or a skipped
// blank line, in order; what it read, written back in the format it was read
// in, reads back the same; "auto" reads as "text" or "jsonl" would.
func FuzzReadRecords(f *testing.F) {
	f.Add([]byte("first query\n\nsecond query\r\n"), uint8(0))
	f.Add([]byte(`{"id": "q1", "text": "a"}`+"\n"+`{"_id": 7, "text": "b\nc"}`+"\n"), uint8(0))
	f.Add([]byte("\xef\xbb\xbf{\"text\": 1}\n"), uint8(2))
	f.Add([]byte("a\r\r\n\xef\xbb\xbf\n"), uint8(1))
	formats := []string{"auto", "text", "jsonl"}
	f.Fuzz(func(t *testing.T, data []byte, fm uint8) {
		format := formats[int(fm)%len(formats)]
		recs, skipped, err := readRecords(bytes.NewReader(data), "fuzz.txt", format)
		if err != nil {
			if !errs.Is(err, errs.BadInput) || !strings.HasPrefix(err.Error(), "fuzz.txt") {
				t.Fatalf("error of kind %v: %v", errs.KindOf(err), err)
			}
			return
		}
		lines := bytes.Count(data, []byte("\n"))
		if len(data) > 0 && data[len(data)-1] != '\n' {
			lines++
		}
		if len(recs)+skipped != lines {
			t.Fatalf("%d records + %d skipped for %d lines", len(recs), skipped, lines)
		}
		for i, r := range recs {
			if i > 0 && r.Line <= recs[i-1].Line || !utf8.ValidString(r.Text) {
				t.Fatalf("record %d: %+v", i, r)
			}
		}
		if format == "auto" {
			for _, m := range []string{"text", "jsonl"} {
				if again, n, err := readRecords(bytes.NewReader(data), "fuzz.txt", m); err == nil && n == skipped && reflect.DeepEqual(again, recs) {
					return
				}
			}
			t.Fatalf("auto read %+v, as neither text nor jsonl would", recs)
		}
		// Written back: a byte order mark (the reader strips one) and
		// "\r\n" line ends (it strips one "\r").
		out := []byte("\xef\xbb\xbf")
		for _, r := range recs {
			if format == "text" {
				out = append(out, r.Text...)
			} else {
				obj := map[string]string{"text": r.Text}
				if r.ID != "" {
					obj["id"] = r.ID
				}
				b, _ := json.Marshal(obj)
				out = append(out, b...)
			}
			out = append(out, "\r\n"...)
		}
		back, _, err := readRecords(bytes.NewReader(out), "back.txt", format)
		if err != nil || len(back) != len(recs) {
			t.Fatalf("written back: %d records, %v; want %d", len(back), err, len(recs))
		}
		for i := range back {
			if back[i].Text != recs[i].Text || back[i].ID != recs[i].ID {
				t.Fatalf("record %d written back: %+v, want %+v", i, back[i], recs[i])
			}
		}
	})
}
