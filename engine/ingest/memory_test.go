package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/errs"
)

// badLines are records of every kind of problem the jsonl rules find (the
// lines of TestJSONLBadRecords, valid JSON ones first so that they can be
// array elements too).
var badLines = []string{
	`{"_id": "ok1", "text": "fine", "likes": 3, "tags": ["a", "b"]}`,
	`{"_id": "ok1", "text": "again"}`,
	`{"text": "no id"}`,
	`{"_id": "", "text": "x"}`,
	`{"_id": null, "text": "x"}`,
	`{"_id": true, "text": "x"}`,
	`{"_id": "a"}`,
	`{"_id": "b", "text": null}`,
	`{"_id": "c", "text": ""}`,
	`{"_id": "d", "text": " \t\n "}`,
	`{"_id": "e", "text": ["x"]}`,
	`{"_id": "f", "text": "x", "title": 3}`,
	`"just a string"`,
	"{\"_id\": \"i\", \"text\": \"\xe2\x82\"}",
	`{"_id": 42, "title": "T", "text": "fine", "nested": {"k": 1.50}}`,
	`[]`,
	`{"_id": {"x": 1}, "text": "x"}`,
	`{"id": "other", "text": "id field"}`,
}

func collect(t *testing.T, r Reader) result {
	t.Helper()
	var res result
	drain(t, r, &res)
	return res
}

// sameDoc compares what two readers made of one record.
func sameDoc(a, b Document) bool {
	return a.ID == b.ID && a.Title == b.Title && a.Text == b.Text && reflect.DeepEqual(a.Metadata, b.Metadata) && reflect.DeepEqual(a.Passages, b.Passages)
}

// TestMemoryJSONLSameAsFile: the same bytes read from a file and from
// memory under the file's name give the same documents and the same bad
// records, message for message.
func TestMemoryJSONLSameAsFile(t *testing.T) {
	dir := t.TempDir()
	lines := append(append([]string{}, badLines...),
		`{"_id": "g", "text": "x"`, `{"_id": "h", "text": "x"} {}`, "", "   ", `{"_id": "ok2", "text": "fine"}`)
	data := []byte("\xef\xbb\xbf" + strings.Join(lines, "\r\n"))
	p := filepath.Join(dir, "c.jsonl")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	file := readAll(t, p, Options{})
	r, err := NewBytesReader(data, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mem := collect(t, r)
	if len(file.bad) != 17 || len(file.docs) != 4 {
		t.Fatalf("file: %d bad, %d docs", len(file.bad), len(file.docs))
	}
	if !reflect.DeepEqual(mem.bad, file.bad) {
		for i := range max(len(mem.bad), len(file.bad)) {
			if i < len(mem.bad) && i < len(file.bad) && !reflect.DeepEqual(mem.bad[i], file.bad[i]) {
				t.Errorf("bad %d: memory %+v, file %+v", i, mem.bad[i], file.bad[i])
			}
		}
		t.Fatalf("memory %d bad records, file %d", len(mem.bad), len(file.bad))
	}
	if len(mem.docs) != len(file.docs) || mem.records != file.records {
		t.Fatalf("memory %d docs %d records, file %d %d", len(mem.docs), mem.records, len(file.docs), file.records)
	}
	for i := range mem.docs {
		if !sameDoc(mem.docs[i], file.docs[i]) || mem.docs[i].Source != file.docs[i].Source {
			t.Errorf("doc %d: memory %+v, file %+v", i, mem.docs[i], file.docs[i])
		}
	}
	if file.bad[0].DuplicateID != "ok1" || file.bad[1].DuplicateID != "" {
		t.Errorf("DuplicateID %q %q", file.bad[0].DuplicateID, file.bad[1].DuplicateID)
	}
	// NewReader reads the same from an io.Reader.
	r, err = NewReader(bytes.NewReader(data), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := collect(t, r); !reflect.DeepEqual(got.bad, file.bad) || len(got.docs) != len(file.docs) {
		t.Errorf("NewReader differs from the file reader")
	}
}

// TestMemoryJSONArray: the records of a JSON array follow the same rules
// with the same messages as the same objects one per line; they are named
// by index.
func TestMemoryJSONArray(t *testing.T) {
	jsonl := []byte(strings.Join(badLines, "\n"))
	r, err := NewBytesReader(jsonl, "request", Options{})
	if err != nil {
		t.Fatal(err)
	}
	lines := collect(t, r)
	// One element a line, so that an element's line is its line in jsonl.
	arr := []byte("[" + strings.Join(badLines, ",\n") + "\n]\n")
	r, err = NewBytesReader(arr, "request", Options{})
	if err != nil {
		t.Fatal(err)
	}
	elems := collect(t, r)
	if len(elems.bad) != len(lines.bad) || len(elems.docs) != len(lines.docs) || elems.records != int64(len(badLines)) {
		t.Fatalf("array: %d bad %d docs %d records; jsonl %d %d", len(elems.bad), len(elems.docs), elems.records, len(lines.bad), len(lines.docs))
	}
	for i, b := range elems.bad {
		l := lines.bad[i]
		if !b.InArray || b.Index != l.Line-1 || b.Line != l.Line || b.Field != l.Field || b.Msg != l.Msg || b.DuplicateID != l.DuplicateID {
			t.Errorf("element bad %+v, line bad %+v", b, l)
		}
		if want := fmt.Sprintf("request[%d]: ", b.Index); !strings.HasPrefix(b.Error(), want) {
			t.Errorf("Error() = %q, want prefix %q", b.Error(), want)
		}
	}
	for i, d := range elems.docs {
		if !sameDoc(d, lines.docs[i]) {
			t.Errorf("doc %d: array %+v, jsonl %+v", i, d, lines.docs[i])
		}
	}
	if got := elems.docs[0].Source; got != "request[0]" {
		t.Errorf("Source %q", got)
	}
	// Document.Bad names the document's place.
	d := elems.docs[1]
	if b := d.Bad("id", "taken"); !b.InArray || b.Index != 14 || b.Error() != "request[14]: id: taken" {
		t.Errorf("Bad = %+v %q", b, b.Error())
	}
	if b := lines.docs[1].Bad("id", "taken"); b.InArray || b.Line != 15 || b.Error() != "request:15: id: taken" {
		t.Errorf("Bad = %+v %q", b, b.Error())
	}
}

func TestMemoryArrayEnds(t *testing.T) {
	read := func(data string, opts Options) result {
		t.Helper()
		r, err := NewBytesReader([]byte(data), "body", opts)
		if err != nil {
			t.Fatal(err)
		}
		return collect(t, r)
	}
	for _, tc := range []struct {
		name, data string
		docs       int
		bad        string // Error() of the only bad record, "" for none
	}{
		{"empty", "", 0, ""},
		{"blank", " \n\t", 0, ""},
		{"empty array", " [ ] ", 0, ""},
		{"bom", "\xef\xbb\xbf[{\"_id\":\"a\",\"text\":\"x\"}]", 1, ""},
		{"syntax error ends it", "[\n{\"_id\":\"a\",\"text\":\"x\"},\n{\"_id\": ]", 1, "body[1]: invalid JSON at byte 9: invalid character ']' looking for beginning of value"},
		{"missing comma", `[{"_id":"a","text":"x"} {"_id":"b","text":"y"}]`, 1, "body[1]: invalid JSON: a comma or ']' must come before this element"},
		{"data after", "[{\"_id\":\"a\",\"text\":\"x\"}]\n  x", 1, "body:2: invalid JSON: data after the array at byte 28"},
		{"unclosed", `[{"_id":"a","text":"x"}`, 1, "body:1: invalid JSON: the input ends before the array is closed"},
		{"element utf8", "[{\"_id\":\"a\",\"text\":\"\xff\"}]", 0, "body[0]: invalid UTF-8 at byte 20"},
		{"nested array", `[[{"_id":"a","text":"x"}]]`, 0, "body[0]: a JSON array, not an object: JSONL wants one object per line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := read(tc.data, Options{})
			if len(res.docs) != tc.docs {
				t.Errorf("%d docs, want %d", len(res.docs), tc.docs)
			}
			switch {
			case tc.bad == "" && len(res.bad) > 0:
				t.Errorf("bad %v", res.bad)
			case tc.bad != "" && (len(res.bad) != 1 || res.bad[0].Error() != tc.bad):
				t.Errorf("bad %v, want %q", res.bad, tc.bad)
			}
		})
	}
	// Format "json" insists on an array; format "jsonl" reads '[' as a bad line.
	if res := read(`{"_id":"a","text":"x"}`, Options{Format: FormatJSONArray}); len(res.bad) != 1 || !strings.Contains(res.bad[0].Msg, "not a JSON array") || res.bad[0].Line != 1 {
		t.Errorf("object as json: %v", res.bad)
	}
	if res := read(`[{"_id":"a","text":"x"}]`, Options{Format: FormatJSONL}); len(res.bad) != 1 || res.bad[0].Line != 1 || res.bad[0].InArray {
		t.Errorf("array as jsonl: %v", res.bad)
	}
	if _, err := NewBytesReader(nil, "body", Options{Format: FormatHub}); !errs.Is(err, errs.BadInput) {
		t.Errorf("format hub: %v", err)
	}
}

func TestMemoryLimits(t *testing.T) {
	var b strings.Builder
	for i := range 5 {
		fmt.Fprintf(&b, "{\"_id\": \"d%d\", \"text\": \"x\"}\n", i)
	}
	data := []byte(b.String())
	if _, err := NewBytesReader(data, "body", Options{MaxBytes: int64(len(data) - 1)}); !errs.Is(err, errs.Limit) || !strings.Contains(err.Error(), "body") {
		t.Errorf("MaxBytes: %v", err)
	}
	if _, err := NewReader(bytes.NewReader(data), "body", Options{MaxBytes: int64(len(data) - 1)}); !errs.Is(err, errs.Limit) {
		t.Errorf("NewReader MaxBytes: %v", err)
	}
	if _, err := NewBytesReader(data, "body", Options{MaxBytes: int64(len(data))}); err != nil {
		t.Errorf("at MaxBytes: %v", err)
	}
	arr := []byte("[" + strings.ReplaceAll(strings.TrimSpace(b.String()), "\n", ",") + "]")
	for _, in := range [][]byte{data, arr} {
		for _, max := range []int64{5, 3} {
			r, err := NewBytesReader(in, "body", Options{MaxRecords: max})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for {
				_, err = r.Next()
				if err != nil {
					break
				}
				n++
			}
			if max == 5 && (err != io.EOF || n != 5) {
				t.Errorf("at MaxRecords: %d docs, %v", n, err)
			}
			if max == 3 && (!errs.Is(err, errs.Limit) || n != 3 || !strings.Contains(err.Error(), "more than 3 records")) {
				t.Errorf("over MaxRecords: %d docs, %v", n, err)
			}
			if _, again := r.Next(); max == 3 && !errors.Is(again, err) {
				t.Errorf("the limit error is final: %v", again)
			}
		}
	}
	// Skip meets the limit too.
	r, _ := NewBytesReader(data, "body", Options{MaxRecords: 2})
	if err := r.Skip(4); !errs.Is(err, errs.Limit) {
		t.Errorf("Skip over MaxRecords: %v", err)
	}
}

func TestMemoryFingerprint(t *testing.T) {
	fp := func(data, name string) string {
		r, err := NewBytesReader([]byte(data), name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Fingerprint()
	}
	a := fp(`{"_id":"a","text":"x"}`, "r")
	if a != fp(`{"_id":"a","text":"x"}`, "r") || a == fp(`{"_id":"a","text":"y"}`, "r") || a == fp(`{"_id":"a","text":"x"}`, "s") || a == fp(`[{"_id":"a","text":"x"}]`, "r") {
		t.Error("fingerprints do not follow the content and name")
	}
}

// FuzzJSONArray: reading never panics, and the valid-JSON records of a
// JSONL input read as elements of an array give the same documents and the
// same bad-record messages.
func FuzzJSONArray(f *testing.F) {
	f.Add([]byte(strings.Join(badLines, "\n")))
	f.Add([]byte(`[{"_id":"a","text":"x"}]`))
	f.Add([]byte("{\"_id\": 1e3, \"text\": \"\\ud800\"}\n[1]\n{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		r, err := NewBytesReader(data, "f", Options{Format: FormatJSONArray})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 1<<16; i++ {
			if _, err := r.Next(); err == io.EOF {
				break
			} else if err != nil && !errors.As(err, new(*BadRecord)) {
				t.Fatalf("final error %v", err)
			}
		}
		var kept [][]byte
		for _, l := range bytes.Split(data, []byte("\n")) {
			l = bytes.TrimSpace(l)
			if len(l) > 0 && json.Valid(l) {
				kept = append(kept, l)
			}
		}
		if len(kept) == 0 {
			return
		}
		rl, _ := NewBytesReader(bytes.Join(kept, []byte("\n")), "f", Options{Format: FormatJSONL})
		ra, _ := NewBytesReader(append(append([]byte("["), bytes.Join(kept, []byte(","))...), ']'), "f", Options{})
		for i := 0; ; i++ {
			dl, el := rl.Next()
			da, ea := ra.Next()
			if el == io.EOF || ea == io.EOF {
				if el != ea {
					t.Fatalf("record %d: jsonl %v, array %v", i, el, ea)
				}
				break
			}
			var bl, ba *BadRecord
			errors.As(el, &bl)
			errors.As(ea, &ba)
			switch {
			case (bl == nil) != (ba == nil):
				t.Fatalf("record %d: jsonl %v, array %v", i, el, ea)
			case bl != nil && (bl.Msg != ba.Msg || bl.Field != ba.Field || ba.Index != i):
				t.Fatalf("record %d: jsonl %+v, array %+v", i, bl, ba)
			case bl == nil && !sameDoc(dl, da):
				t.Fatalf("record %d: jsonl %+v, array %+v", i, dl, da)
			}
		}
	})
}
