package ingest

import (
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"strings"
)

// jsonlSource reads a JSONL file (or a BEIR corpus.jsonl).
type jsonlSource struct {
	name   string // path for messages
	f      *os.File
	lr     *lineReader
	max    int
	beir   bool
	idKeys []string
	text   string
	title  string
	seen   idSet
	fp     string
}

func openJSONL(path string, opts Options, beir bool) (*jsonlSource, error) {
	format := FormatJSONL
	if beir {
		format = FormatBEIR
	}
	fp := newFingerprint(format, opts)
	f, err := openRegular(path, fp, "JSONL file")
	if err != nil {
		return nil, err
	}
	s := newJSONLSource(f, path, opts, beir)
	s.f, s.fp = f, fp.sum()
	return s, nil
}

// newJSONLSource reads JSONL from r; name is used in messages and Source.
func newJSONLSource(r io.Reader, name string, opts Options, beir bool) *jsonlSource {
	max := opts.maxRecord
	if max <= 0 {
		max = DefaultMaxRecord
	}
	s := &jsonlSource{
		name:   name,
		lr:     newLineReader(r, max),
		max:    max,
		beir:   beir,
		idKeys: []string{"_id", "id"},
		text:   "text",
		title:  "title",
		seen:   newIDSet(),
	}
	if opts.IDField != "" {
		s.idKeys = []string{opts.IDField}
	}
	if opts.TextField != "" {
		s.text = opts.TextField
	}
	if opts.TitleField != "" {
		s.title = opts.TitleField
	}
	return s
}

func (s *jsonlSource) fingerprint() string { return s.fp }

func (s *jsonlSource) close() error {
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}

func (s *jsonlSource) read(skip bool) ([]item, error) {
	for {
		b, _, tooLong, err := s.lr.next()
		if err != nil {
			return nil, err
		}
		if !tooLong && isBlank(b) {
			continue
		}
		if tooLong {
			b = nil
		}
		return s.record(b, tooLong, location{file: s.name, line: s.lr.line}, skip), nil
	}
}

// record checks one record (a JSONL line, or an element of a JSON array) and
// turns it into a document; tooLong: the record was over the size bound and
// b is empty. Both forms of input go through it, so they have the same rules
// and the same messages.
func (s *jsonlSource) record(b []byte, tooLong bool, loc location, skip bool) []item {
	bad := func(field, msg string) []item {
		return []item{{bad: loc.bad(field, msg), done: true}}
	}
	if p := lineProblem(b, tooLong, s.max); p != "" {
		if loc.array && tooLong {
			p = fmt.Sprintf("element longer than %d bytes", s.max)
		}
		return bad("", p)
	}
	obj, err := decodeObject(b)
	if err != nil {
		return bad("", err.Error())
	}
	doc := Document{Source: loc.source(), loc: loc}
	idKey, field, msg := s.id(obj, &doc)
	if msg != "" {
		return bad(field, msg)
	}
	if doc.Title, msg = optString(obj, s.title); msg != "" {
		return bad(s.title, msg)
	}
	tv, ok := obj[s.text]
	switch {
	case !ok:
		return bad(s.text, "missing")
	case tv == nil:
		return bad(s.text, "is null")
	}
	if doc.Text, ok = tv.(string); !ok {
		return bad(s.text, "must be a string, not "+kindOf(tv))
	}
	if strings.TrimSpace(doc.Text) == "" && !(s.beir && strings.TrimSpace(doc.Title) != "") {
		if s.beir {
			return bad(s.text, "empty, and no title")
		}
		return bad(s.text, "empty")
	}
	if !s.seen.add(doc.ID) {
		b := loc.bad(idKey, "duplicate id "+quote(doc.ID))
		b.DuplicateID = doc.ID
		return []item{{bad: b, done: true}}
	}
	if !skip {
		doc.Metadata = s.metadata(obj, idKey)
	}
	return []item{{doc: doc, done: true}}
}

// id sets doc.ID from the first id field present; on failure it returns
// the field and a message.
func (s *jsonlSource) id(obj map[string]any, doc *Document) (key, field, msg string) {
	for _, k := range s.idKeys {
		v, ok := obj[k]
		if !ok {
			continue
		}
		switch v := v.(type) {
		case string:
			if v == "" {
				return k, k, "empty id"
			}
			doc.ID = v
		case json.Number:
			doc.ID = v.String()
		case nil:
			return k, k, "id is null"
		default:
			return k, k, "id must be a string or a number, not " + kindOf(v)
		}
		return k, "", ""
	}
	if len(s.idKeys) == 2 {
		return "", "_id", `missing: the record has neither "_id" nor "id" (choose the id field with --id-field)`
	}
	return "", s.idKeys[0], "missing"
}

// optString returns the string field k of obj, "" if it is missing or null.
func optString(obj map[string]any, k string) (string, string) {
	switch v := obj[k].(type) {
	case nil:
		return "", ""
	case string:
		return v, ""
	default:
		return "", "must be a string or null, not " + kindOf(v)
	}
}

// metadata returns the record's fields but the id, text and title; for BEIR
// the fields of "metadata" are lifted to the top level.
func (s *jsonlSource) metadata(obj map[string]any, idKey string) map[string]any {
	delete(obj, idKey)
	delete(obj, s.text)
	delete(obj, s.title)
	if s.beir {
		if inner, ok := obj["metadata"].(map[string]any); ok {
			delete(obj, "metadata")
			for k, v := range inner {
				if _, clash := obj[k]; !clash {
					obj[k] = v
				}
			}
		}
	}
	if len(obj) == 0 {
		return nil
	}
	return obj
}

// idSet remembers the ids seen, as 128-bit hashes: a false duplicate needs
// a collision of two independent 64-bit maphash values, with probability
// below 1e-20 even for a billion ids, and the set takes about 20 bytes an
// id instead of the id itself.
type idSet struct {
	s1, s2 maphash.Seed
	m      map[[2]uint64]struct{}
}

func newIDSet() idSet {
	return idSet{s1: maphash.MakeSeed(), s2: maphash.MakeSeed(), m: make(map[[2]uint64]struct{})}
}

// add adds id and reports whether it is new.
func (s *idSet) add(id string) bool {
	k := [2]uint64{maphash.String(s.s1, id), maphash.String(s.s2, id)}
	if _, ok := s.m[k]; ok {
		return false
	}
	s.m[k] = struct{}{}
	return true
}

func (s *jsonlSource) label() string { return s.name }
