package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// lineReader reads lines of at most max bytes, tracking line numbers and
// byte offsets.
type lineReader struct {
	r    *bufio.Reader
	max  int
	line int   // number of the line last returned, 1-based
	off  int64 // offset of the next line
	buf  []byte
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 1<<16), max: max}
}

// reset makes lr read from r, whose first byte is at offset off and starts
// line number line+1.
func (lr *lineReader) reset(r io.Reader, off int64, line int) {
	lr.r.Reset(r)
	lr.off, lr.line = off, line
}

// next returns the next line without its "\n" or "\r\n", and the offset where
// it starts. tooLong: the line has more than max bytes; it was consumed, and
// b is empty. The first line loses a UTF-8 byte order mark. b is valid until
// the next call.
func (lr *lineReader) next() (b []byte, start int64, tooLong bool, err error) {
	start = lr.off
	lr.buf = lr.buf[:0]
	n := 0 // bytes consumed, newline included
	for {
		chunk, err := lr.r.ReadSlice('\n')
		n += len(chunk)
		if !tooLong {
			// An early out only (room for a byte order mark and "\r\n"):
			// the length that decides is the one without them, below.
			if len(lr.buf)+len(chunk) > lr.max+5 {
				tooLong = true
				lr.buf = lr.buf[:0]
			} else {
				lr.buf = append(lr.buf, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && err != io.EOF {
			return nil, start, false, err
		}
		if n == 0 { // io.EOF with nothing read
			return nil, start, false, io.EOF
		}
		break
	}
	lr.off += int64(n)
	lr.line++
	b = bytes.TrimSuffix(lr.buf, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if lr.line == 1 && start == 0 {
		b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	}
	if !tooLong && len(b) > lr.max {
		tooLong, b = true, nil
	}
	if tooLong {
		b = nil
	}
	return b, start, tooLong, nil
}

// isBlank reports whether b is only JSON white space (space, tab, CR, LF):
// a line of anything else, a vertical tab or form feed included, is a record.
func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// lineProblem checks a line for what makes any JSONL record bad before
// parsing: length and UTF-8. It returns "" if there is none.
func lineProblem(b []byte, tooLong bool, max int) string {
	if tooLong {
		return fmt.Sprintf("line longer than %d bytes", max)
	}
	if !utf8.Valid(b) {
		return fmt.Sprintf("invalid UTF-8 at byte %d", firstInvalid(b)+1)
	}
	return ""
}

// firstInvalid returns the offset of the first invalid UTF-8 byte of b.
func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// decodeObject parses one JSON object, numbers as json.Number.
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("invalid JSON: data after the object at byte %d", dec.InputOffset()+1)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		what := kindOf(v)
		if what == "an array" {
			return nil, errors.New("a JSON array, not an object: JSONL wants one object per line")
		}
		return nil, fmt.Errorf("%s, not a JSON object", what)
	}
	return obj, nil
}

// decodeRaw parses one JSON object into its raw fields.
func decodeRaw(b []byte) (map[string]json.RawMessage, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		// Unmarshal of null into a map succeeds: refuse anything but an object.
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, jsonError(err)
		}
		return nil, fmt.Errorf("%s, not a JSON object", kindOf(v))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, jsonError(err)
	}
	return m, nil
}

func jsonError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, err)
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errors.New("invalid JSON: unexpected end of line")
	}
	return fmt.Errorf("invalid JSON: %v", err)
}

// kindOf names the JSON type of a decoded value, for messages.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

// quote shortens s for a message.
func quote(s string) string {
	const max = 60
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q...", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}
