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
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	var recs []record
	skipped := 0
	line := 0
	mode := format
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // UTF-8 BOM
		}
		b = bytes.TrimSuffix(b, []byte("\r"))
		if !utf8.Valid(b) {
			return nil, 0, badInput("%s:%d: invalid UTF-8", name, line)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			skipped++
			continue
		}
		if mode == "auto" || mode == "" {
			mode = "text"
			if bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
				mode = "jsonl"
			}
		}
		if mode == "text" {
			recs = append(recs, record{Line: line, Text: string(b)})
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal(b, &obj); err != nil {
			return nil, 0, badInput("%s:%d: invalid JSON: %v", name, line, err)
		}
		t, ok := obj["text"].(string)
		if !ok {
			return nil, 0, badInput(`%s:%d: no string field "text"`, name, line)
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
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return nil, 0, badInput("%s:%d: line longer than %d bytes", name, line+1, maxLine)
		}
		return nil, 0, fmt.Errorf("read %s: %w", name, err)
	}
	if len(recs) == 0 {
		return nil, skipped, badInput("%s: no input texts", name)
	}
	return recs, skipped, nil
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
