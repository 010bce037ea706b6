package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/quarry-search/quarry/engine/errs"
)

// FormatJSONArray is a JSON array of the objects that jsonl holds one per
// line: `[{"_id": "a", "text": "..."}, ...]`. NewReader and NewBytesReader
// read it (Open reads files as jsonl, beir, text or hub).
const FormatJSONArray = "json"

// DefaultMaxBytes bounds the input of NewReader and NewBytesReader: 64 MiB.
const DefaultMaxBytes = 64 << 20

// NewReader reads all of r (at most Options.MaxBytes) and returns a Reader
// over its records, as NewBytesReader does. It is for input that arrives in
// memory, such as the body of a request; name stands for the file in
// messages, Document.Source and BadRecord.File ("request").
func NewReader(r io.Reader, name string, opts Options) (Reader, error) {
	max := maxBytes(opts)
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("ingest: read %s: %w", name, err)
	}
	return NewBytesReader(data, name, opts)
}

// NewBytesReader returns a Reader over the records of data: JSONL (Format
// "jsonl") or a JSON array of the same objects (Format "json"); "" or "auto"
// is a JSON array when the first byte that is not white space (after a byte
// order mark) is '[', else JSONL. name stands for the file in messages.
//
// The records follow the jsonl rules of the package documentation, through
// the same code as Open's jsonl reader: the same fields, checks and
// messages. A bad JSONL record is named by its line ("request:3"); a bad
// array element by its 0-based index ("request[2]", BadRecord.InArray, with
// Line the line it starts on). An element that is not valid JSON ends the
// array (what follows cannot be told apart): it is the last record. Data
// after the array is one more bad record. The reader keeps data (the caller
// must not change it) and has nothing to close; Fingerprint hashes name,
// options and content.
func NewBytesReader(data []byte, name string, opts Options) (Reader, error) {
	if opts.maxRecord <= 0 {
		opts.maxRecord = DefaultMaxRecord
	}
	if max := maxBytes(opts); int64(len(data)) > max {
		return nil, errs.New(errs.Limit, "ingest: %s: more than %d bytes (the limit)", name, max)
	}
	if name == "" {
		name = "input"
	}
	format := opts.Format
	switch format {
	case "", FormatAuto:
		format = FormatJSONL
		if first := firstByte(data); first == '[' {
			format = FormatJSONArray
		}
	case FormatJSONL, FormatJSONArray:
	default:
		return nil, errs.New(errs.BadInput, "ingest: %s: format %q cannot be read from memory (want auto, jsonl or json)", name, format)
	}
	rules := newJSONLSource(bytes.NewReader(data), name, opts, false)
	var src source
	if format == FormatJSONL {
		src = &memSource{jsonlSource: rules, data: data, format: format, opts: opts}
	} else {
		src = newArraySource(rules, data, opts)
	}
	return &reader{src: src, opts: opts}, nil
}

func maxBytes(opts Options) int64 {
	if opts.MaxBytes > 0 {
		return opts.MaxBytes
	}
	return DefaultMaxBytes
}

// firstByte is the first byte of data that is not JSON white space, after
// a UTF-8 byte order mark (0 if none).
func firstByte(data []byte) byte {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	for _, c := range data {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// memSource is JSONL held in memory: the file reader's source over data.
type memSource struct {
	*jsonlSource
	data   []byte
	format string
	opts   Options
}

func (s *memSource) fingerprint() string { return memFingerprint(s.format, s.name, s.opts, s.data) }

func memFingerprint(format, name string, opts Options, data []byte) string {
	fp := newFingerprint(format, opts)
	fp.str(name)
	fp.int(int64(len(data)))
	fp.h.Write(data)
	return fp.sum()
}

// arraySource reads the elements of a JSON array held in memory; each goes
// through the jsonl record rules.
type arraySource struct {
	rules *jsonlSource
	data  []byte // without a byte order mark
	dec   *json.Decoder
	opts  Options

	started, done bool
	index         int
	line          int   // line number of byte lineOff
	lineOff       int64 // bytes counted for line
}

func newArraySource(rules *jsonlSource, data []byte, opts Options) *arraySource {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	return &arraySource{rules: rules, data: data, dec: json.NewDecoder(bytes.NewReader(data)), opts: opts, line: 1}
}

func (s *arraySource) label() string { return s.rules.name }
func (s *arraySource) close() error  { return nil }
func (s *arraySource) fingerprint() string {
	return memFingerprint(FormatJSONArray, s.rules.name, s.opts, s.data)
}

// lineAt is the 1-based line of byte off (offsets only grow).
func (s *arraySource) lineAt(off int64) int {
	off = min(max(off, s.lineOff), int64(len(s.data)))
	s.line += bytes.Count(s.data[s.lineOff:off], []byte("\n"))
	s.lineOff = off
	return s.line
}

// skipSpace returns the offset of the first byte at or after off that is
// neither white space nor a comma: where the next element starts.
func (s *arraySource) skipSpace(off int64) int64 {
	for off < int64(len(s.data)) {
		switch s.data[off] {
		case ' ', '\t', '\r', '\n', ',':
			off++
			continue
		}
		break
	}
	return off
}

// whole is a bad record about the input as a whole (not an element); it
// ends the input.
func (s *arraySource) whole(off int64, msg string) []item {
	s.done = true
	return []item{{bad: &BadRecord{File: s.rules.name, Line: s.lineAt(off), Msg: msg}, done: true}}
}

func (s *arraySource) read(skip bool) ([]item, error) {
	if s.done {
		return nil, io.EOF
	}
	if !s.started {
		s.started = true
		start := s.skipSpace(0)
		tok, err := s.dec.Token()
		if err == io.EOF {
			s.done = true
			return nil, io.EOF // no data at all: no records
		}
		if err != nil {
			return s.whole(start, jsonError(err).Error()), nil
		}
		if tok != json.Delim('[') {
			return s.whole(start, "not a JSON array: the input is JSONL or a JSON array of objects"), nil
		}
	}
	if !s.dec.More() {
		end := s.skipSpace(s.dec.InputOffset())
		if _, err := s.dec.Token(); err != nil { // the closing ']'
			msg := jsonError(err).Error()
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				msg = "invalid JSON: the input ends before the array is closed"
			}
			return s.whole(end, msg), nil
		}
		after := s.skipSpace(s.dec.InputOffset())
		s.done = true
		if after < int64(len(s.data)) {
			return s.whole(after, fmt.Sprintf("invalid JSON: data after the array at byte %d", after+1)), nil
		}
		return nil, io.EOF
	}
	start := s.skipSpace(s.dec.InputOffset())
	loc := location{file: s.rules.name, line: s.lineAt(start), index: s.index, array: true}
	s.index++
	var raw json.RawMessage
	if err := s.dec.Decode(&raw); err != nil {
		s.done = true // the decoder cannot go on after a syntax error
		return []item{{bad: loc.bad("", elementError(s.data[start:])), done: true}}, nil
	}
	tooLong := len(raw) > s.rules.max
	if tooLong {
		raw = nil
	}
	return s.rules.record(raw, tooLong, loc, skip), nil
}

// elementError describes why the element starting data cannot be read: the
// error of decoding it alone, with its offsets counted from its start as
// jsonl counts them from the start of the line. An element that decodes
// alone is not separated from the one before by a comma.
func elementError(data []byte) string {
	var raw json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&raw); err != nil {
		return jsonError(err).Error()
	}
	return "invalid JSON: a comma or ']' must come before this element"
}
