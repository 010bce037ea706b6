package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"unicode/utf8"

	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/internal/fsx"
)

// record is one input text with where it came from.
type record struct {
	Line int    // 1-based line number in the input
	ID   string // "id" or "_id" of a JSONL record, if any
	Text string
}

// maxLine bounds one input line (a whole document may be long; 64 MiB is
// far beyond any model context and protects memory).
const maxLine = 64 << 20

// openInput opens path (a regular file), or stdin for "" and "-".
func openInput(path string, stdin io.Reader) (io.Reader, string, func(), error) {
	if path == "" || path == "-" {
		return stdin, "stdin", func() {}, nil
	}
	f, err := fsx.OpenRegular(path, "text or JSONL file") // a FIFO or device never blocks
	if err != nil {
		return nil, path, nil, markBadInput(err) // a file the caller named
	}
	return f, path, func() { f.Close() }, nil
}

// readRecords reads texts one per line, or JSONL objects with a "text" field
// when format is "jsonl" (or "auto" and the first non-blank line starts with
// '{'). Blank lines of plain text are skipped; invalid UTF-8, invalid JSON or
// a missing text field is an error naming the line.
func readRecords(r io.Reader, name, format string) ([]record, int, error) {
	rr := newRecordReader(r, name, format)
	var recs []record
	for {
		rec, ok, err := rr.next()
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			break
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return nil, rr.skipped, badInput("%s: no input texts", name)
	}
	return recs, rr.skipped, nil
}

// recordReader reads the records of readRecords one at a time, so a huge
// file is processed in bounded memory.
type recordReader struct {
	sc      *bufio.Scanner
	name    string
	mode    string
	line    int
	skipped int // blank lines
}

func newRecordReader(r io.Reader, name, format string) *recordReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	return &recordReader{sc: sc, name: name, mode: format}
}

// next is the next record; ok is false at the end of the input.
func (rr *recordReader) next() (rec record, ok bool, err error) {
	name := rr.name
	for rr.sc.Scan() {
		rr.line++
		line := rr.line
		b := rr.sc.Bytes()
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // UTF-8 BOM
		}
		// bufio.ScanLines already dropped one "\r" before the "\n" (and
		// one at the end of the input): stripping another would eat a
		// text's own carriage return.
		if !utf8.Valid(b) {
			return record{}, false, badInput("%s:%d: invalid UTF-8", name, line)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			rr.skipped++
			continue
		}
		if rr.mode == "auto" || rr.mode == "" {
			rr.mode = "text"
			if bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
				rr.mode = "jsonl"
			}
		}
		if rr.mode == "text" {
			return record{Line: line, Text: string(b)}, true, nil
		}
		var obj map[string]any
		if err := json.Unmarshal(b, &obj); err != nil {
			return record{}, false, badInput("%s:%d: invalid JSON: %v", name, line, err)
		}
		t, ok := obj["text"].(string)
		if !ok {
			return record{}, false, badInput(`%s:%d: no string field "text"`, name, line)
		}
		rec := record{Line: line, Text: t}
		for _, k := range []string{"id", "_id"} {
			if rec.ID != "" {
				break
			}
			switch v := obj[k].(type) {
			case string:
				rec.ID = v
			case float64:
				rec.ID = strconv.FormatFloat(v, 'f', -1, 64)
			}
		}
		return rec, true, nil
	}
	if err := rr.sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return record{}, false, badInput("%s:%d: line longer than %d bytes", name, rr.line+1, maxLine)
		}
		return record{}, false, fmt.Errorf("read %s: %w", name, err)
	}
	return record{}, false, nil
}

// createOutput opens path for writing, or stdout for "" and "-".
func createOutput(path string, stdout io.Writer) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, errs.Mark(errs.BadInput, err) // a path the caller named
	}
	return f, f.Close, nil
}
