package ingest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/quarry-search/quarry/engine/errs"
)

// Document is one document of a corpus.
type Document struct {
	ID    string
	Title string
	// Text is the document's text. For a hub model with passages it is their
	// concatenation; it may be empty for a hub model with neither passages
	// nor readme.
	Text string
	// Passages are the pre-split passages of a hub model, in file order; nil
	// for the other formats.
	Passages []string
	// Metadata are the record's other fields; numbers are json.Number. Nil
	// when there are none.
	Metadata map[string]any
	// Source is where the record starts: "file:line", or "name[i]" for
	// element i (0-based) of a JSON array (NewReader).
	Source string

	loc location // where the record is, for Bad (zero: only Source is known)
}

// Bad returns a bad record at the document's place in the input: what a
// caller that rejects a good record for its own reasons (an id the index
// already holds) reports, in the same form as the reader's own.
func (d *Document) Bad(field, msg string) *BadRecord {
	if d.loc.file == "" {
		return &BadRecord{File: d.Source, Field: field, Msg: msg}
	}
	return d.loc.bad(field, msg)
}

// location is where a record is: a line of a file, or an element of a JSON
// array (with the line it starts on).
type location struct {
	file  string
	line  int
	index int
	array bool
}

func (l location) bad(field, msg string) *BadRecord {
	return &BadRecord{File: l.file, Line: l.line, Index: l.index, InArray: l.array, Field: field, Msg: msg}
}

func (l location) source() string {
	if l.array {
		return l.file + "[" + strconv.Itoa(l.index) + "]"
	}
	return l.file + ":" + strconv.Itoa(l.line)
}

// Options configure Open. The zero value reads any format with its default
// fields and stops at the first bad record.
type Options struct {
	// Format is "auto" (or ""), "jsonl", "beir", "text" or "hub".
	Format string
	// IDField, TextField and TitleField name the fields of jsonl and beir
	// records; defaults "_id" then "id", "text", "title". Setting them for
	// the text or hub format is an error.
	IDField, TextField, TitleField string
	// SkipBad makes Next go past bad records instead of returning them.
	SkipBad bool
	// OnBad, if set, is called with every bad record Next meets, with or
	// without SkipBad (not with those Skip passes over). The record is the
	// callee's to keep.
	OnBad func(*BadRecord)
	// MaxRecords, when positive, bounds the records of the input (good and
	// bad): meeting one more is a final errs.Limit error of Next or Skip,
	// after the first MaxRecords were delivered.
	MaxRecords int64
	// MaxBytes bounds the input of NewReader and NewBytesReader; 0 =
	// DefaultMaxBytes. A larger input is an errs.Limit error. Open, which
	// streams files, ignores it.
	MaxBytes int64

	// maxRecord bounds a line or a text file, bytes (tests lower it).
	maxRecord int
}

// DefaultMaxRecord bounds one JSONL line or one text file: 64 MiB, far more
// than any model reads of a document, and a guard for memory.
const DefaultMaxRecord = 64 << 20

// BadRecord is a record that cannot become a document. It is an error.
type BadRecord struct {
	// File is the file, or the name given to NewReader.
	File string
	// Line is 1-based; 0 when the problem is the whole file. For an element
	// of a JSON array it is the line the element starts on.
	Line int
	// Index is the 0-based element of a JSON array input, when InArray.
	Index   int
	InArray bool
	Field   string // the field at fault; "" when it is the record as a whole
	Msg     string
	// DuplicateID is set when the record is bad because its id was seen
	// before: in an earlier record of the input, or (engine Add) in the index.
	DuplicateID string
}

// Error returns "file:line: field: msg", leaving out the line and field
// where there are none; an element of a JSON array is "name[index]".
func (b *BadRecord) Error() string {
	var sb strings.Builder
	sb.WriteString(b.File)
	if b.InArray {
		sb.WriteByte('[')
		sb.WriteString(strconv.Itoa(b.Index))
		sb.WriteByte(']')
	} else if b.Line > 0 {
		sb.WriteByte(':')
		sb.WriteString(strconv.Itoa(b.Line))
	}
	sb.WriteString(": ")
	if b.Field != "" {
		sb.WriteString(b.Field)
		sb.WriteString(": ")
	}
	sb.WriteString(b.Msg)
	return sb.String()
}

// Reader is a stream of documents. It is not safe for concurrent use.
type Reader interface {
	// Next returns the next document, io.EOF at the end, a *BadRecord for a
	// bad record (without SkipBad; the stream goes on after it), or another
	// error, which is final.
	Next() (Document, error)
	// Records is the number of records consumed so far, good and bad.
	Records() int64
	// Skip consumes the next n records without returning them, as a resumed
	// run does; it fails if fewer than n records are left.
	Skip(n int64) error
	// Fingerprint identifies the input (see the package documentation).
	Fingerprint() string
	// Close releases the files. It is idempotent.
	Close() error
}

// Formats Open knows.
const (
	FormatAuto  = "auto"
	FormatJSONL = "jsonl"
	FormatBEIR  = "beir"
	FormatText  = "text"
	FormatHub   = "hub"
)

// Open opens the corpus at path.
func Open(path string, opts Options) (Reader, error) {
	if opts.maxRecord <= 0 {
		opts.maxRecord = DefaultMaxRecord
	}
	format, err := detect(path, opts.Format)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	if format == FormatText || format == FormatHub {
		if opts.IDField != "" || opts.TextField != "" || opts.TitleField != "" {
			return nil, fmt.Errorf("ingest: %s: the id, text and title fields can be chosen for jsonl and beir only, not for format %s", path, format)
		}
	}
	var src source
	switch format {
	case FormatJSONL:
		src, err = openJSONL(path, opts, false)
	case FormatBEIR:
		if st, serr := os.Stat(path); serr == nil && st.IsDir() {
			path = filepath.Join(path, "corpus.jsonl")
		}
		src, err = openJSONL(path, opts, true)
	case FormatText:
		src, err = openText(path, opts)
	case FormatHub:
		src, err = openHub(path, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	return &reader{src: src, opts: opts}, nil
}

// detect resolves the format of path.
func detect(path, format string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	switch format {
	case "", FormatAuto:
	case FormatJSONL, FormatText, FormatHub, FormatBEIR:
		if format == FormatJSONL && st.IsDir() {
			return "", fmt.Errorf("%s: format jsonl needs a file, not a directory", path)
		}
		if format == FormatHub && !st.IsDir() {
			return "", fmt.Errorf("%s: format hub needs a directory with models.jsonl and passages.jsonl", path)
		}
		return format, nil
	default:
		return "", fmt.Errorf("unknown format %q (want auto, jsonl, beir, text or hub)", format)
	}
	if st.IsDir() {
		if isFile(filepath.Join(path, "corpus.jsonl")) {
			return FormatBEIR, nil
		}
		if isFile(filepath.Join(path, "models.jsonl")) && isFile(filepath.Join(path, "passages.jsonl")) {
			return FormatHub, nil
		}
		return FormatText, nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".json":
		return FormatJSONL, nil
	case ".txt", ".md", ".markdown":
		return FormatText, nil
	}
	return "", fmt.Errorf("%s: cannot tell the format from the name (want .jsonl, .json, .txt, .md or a directory); give it with --format", path)
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// source is one format's record parser.
type source interface {
	// read consumes the next record, and with it any bad records that
	// belong before it, and returns what it gives, in delivery order.
	// skip: the caller drops the result (Skip), so work that only builds the
	// document may be left out; checks that carry state must still be done.
	read(skip bool) ([]item, error)
	fingerprint() string
	// label names the input in messages.
	label() string
	close() error
}

// item is one thing Next delivers: a bad record or a document. done marks
// the last item of a record: delivering it completes the record.
type item struct {
	bad  *BadRecord
	doc  Document
	done bool
}

// reader delivers the items of a source with the Reader semantics.
type reader struct {
	src     source
	opts    Options
	records int64
	queue   []item
	err     error // final
	closed  bool
}

var errClosed = errors.New("ingest: reader is closed")

func (r *reader) Next() (Document, error) {
	if r.closed {
		return Document{}, errClosed
	}
	for {
		if len(r.queue) == 0 {
			if r.err != nil {
				return Document{}, r.err
			}
			items, err := r.src.read(false)
			if err == nil {
				err = r.overLimit()
			}
			if err != nil {
				if err != io.EOF && !errs.Is(err, errs.Limit) {
					err = fmt.Errorf("ingest: %w", err)
				}
				r.err = err
				return Document{}, err
			}
			r.queue = items
			continue
		}
		it := r.queue[0]
		r.queue[0] = item{}
		r.queue = r.queue[1:]
		if it.done {
			r.records++
		}
		if it.bad == nil {
			return it.doc, nil
		}
		if r.opts.OnBad != nil {
			r.opts.OnBad(it.bad)
		}
		if !r.opts.SkipBad {
			return Document{}, it.bad
		}
	}
}

// overLimit is the error for a record read beyond Options.MaxRecords (nil
// within it). It is called when the source has given one more record.
func (r *reader) overLimit() error {
	if r.opts.MaxRecords > 0 && r.records >= r.opts.MaxRecords {
		return errs.New(errs.Limit, "ingest: %s: more than %d records (the limit)", r.src.label(), r.opts.MaxRecords)
	}
	return nil
}

func (r *reader) Records() int64 { return r.records }

func (r *reader) Skip(n int64) error {
	if r.closed {
		return errClosed
	}
	if n < 0 {
		return fmt.Errorf("ingest: skip %d records: negative count", n)
	}
	if n == 0 {
		return nil
	}
	skipped := int64(0)
	// Finish the record under way, if any: its remaining items are dropped.
	for len(r.queue) > 0 && skipped < n {
		it := r.queue[0]
		r.queue = r.queue[1:]
		if it.done {
			r.records++
			skipped++
		}
	}
	for skipped < n {
		if r.err != nil {
			return r.skipErr(n, skipped, r.err)
		}
		items, err := r.src.read(true)
		if err == nil {
			err = r.overLimit()
		}
		if err != nil {
			r.err = err
			if err != io.EOF && !errs.Is(err, errs.Limit) {
				r.err = fmt.Errorf("ingest: %w", err)
			}
			return r.skipErr(n, skipped, err)
		}
		for i, it := range items {
			if it.done {
				r.records++
				skipped++
				if skipped == n {
					r.queue = items[i+1:]
					break
				}
			}
		}
	}
	return nil
}

func (r *reader) skipErr(n, skipped int64, err error) error {
	if err == io.EOF {
		return fmt.Errorf("ingest: skip %d records: the input has only %d after the start point: %w", n, skipped, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("ingest: skip %d records: %w", n, err)
}

func (r *reader) Fingerprint() string { return r.src.fingerprint() }

func (r *reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.queue = nil
	if err := r.src.close(); err != nil {
		return fmt.Errorf("ingest: close: %w", err)
	}
	return nil
}
