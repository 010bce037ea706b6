package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/quarry-search/quarry/engine/meta"
	"github.com/quarry-search/quarry/internal/fsx"
)

// hubSource reads the Hub model-search layout. Opening it reads
// passages.jsonl once, checking every line and recording where each
// model's passages are: one segment per run of consecutive lines of the same
// model (one per model when the file is sorted, as crawls write it; at
// worst one per passage, 24 bytes each). Reading a model then reads its
// segments.
type hubSource struct {
	modelsPath   string
	passagesPath string
	models       *os.File
	passages     *os.File
	lr           *lineReader // models.jsonl
	pr           *lineReader // passages.jsonl, repositioned per segment
	max          int
	modelLines   int64

	segs  []segment // sorted by model line, then file order
	first []uint32  // segments of model line L: segs[first[L]:first[L+1]]

	upfront []segment // bad passage lines that name no model, re-read when reported
	seen    idSet
	fp      string
}

// segment is a run of consecutive good passage lines of one model.
type segment struct {
	off   int64  // offset of its first line
	n     uint32 // bytes
	line  uint32 // number of its first line
	model uint32 // 0-based line of the model
	count uint32 // passages
}

func openHub(dir string, opts Options) (_ *hubSource, err error) {
	s := &hubSource{
		modelsPath:   filepath.Join(dir, "models.jsonl"),
		passagesPath: filepath.Join(dir, "passages.jsonl"),
		max:          opts.maxRecord,
		seen:         newIDSet(),
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	fp := newFingerprint(FormatHub, opts)
	if s.models, err = openRegular(s.modelsPath, fp, ""); err != nil {
		return nil, err
	}
	if s.passages, err = openRegular(s.passagesPath, fp, ""); err != nil {
		return nil, err
	}
	s.fp = fp.sum()
	if s.modelLines, err = countLines(s.models); err != nil {
		return nil, fmt.Errorf("%s: %w", s.modelsPath, err)
	}
	if s.modelLines > math.MaxUint32-1 {
		return nil, fmt.Errorf("%s: more than %d lines", s.modelsPath, uint32(math.MaxUint32-1))
	}
	if err := s.indexPassages(); err != nil {
		return nil, err
	}
	if _, err := s.models.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	s.lr = newLineReader(s.models, s.max)
	s.pr = newLineReader(nil, s.max)
	return s, nil
}

// openRegular opens the regular file path and adds it to fp; kind, when
// set, names what a directory was expected to be ("JSONL file").
// A FIFO, device or socket is refused before a read could block on it
// (fsx.OpenRegular).
func openRegular(path string, fp *fingerprint, kind string) (*os.File, error) {
	f, err := fsx.OpenRegular(path, kind)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if err := fp.addFile(path, f, st); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// countLines counts the lines of f, a last line without "\n" included.
func countLines(f *os.File) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	last := byte('\n')
	for {
		k, err := f.Read(buf)
		if k > 0 {
			n += int64(bytes.Count(buf[:k], []byte("\n")))
			last = buf[k-1]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	if last != '\n' {
		n++
	}
	return n, nil
}

// passage is one parsed line of passages.jsonl.
type passage struct {
	model   int64
	modelID string
	text    string
}

// parsePassage parses and checks a passage line; on failure it returns the
// field and the problem.
func (s *hubSource) parsePassage(b []byte, tooLong bool) (p passage, field, msg string) {
	if m := lineProblem(b, tooLong, s.max); m != "" {
		return p, "", m
	}
	raw, err := decodeRaw(b)
	if err != nil {
		return p, "", err.Error()
	}
	idRaw, ok := raw["id"]
	if !ok {
		return p, "id", "missing"
	}
	p.model, err = strconv.ParseInt(string(idRaw), 10, 64)
	if err != nil {
		return p, "id", "must be a line number of models.jsonl (an integer), not " + quote(string(idRaw))
	}
	if p.model < 0 || p.model >= s.modelLines {
		return p, "id", fmt.Sprintf("%d names no line of models.jsonl, which has %d (ids are 0-based)", p.model, s.modelLines)
	}
	if p.modelID, msg = rawString(raw, "modelId"); msg != "" {
		return p, "modelId", msg
	}
	if p.modelID == "" {
		return p, "modelId", "empty"
	}
	if p.text, msg = rawString(raw, "passage"); msg != "" {
		return p, "passage", msg
	}
	if strings.TrimSpace(p.text) == "" {
		return p, "passage", "empty"
	}
	return p, "", ""
}

// rawString decodes the string field k of a raw object.
func rawString(raw map[string]json.RawMessage, k string) (string, string) {
	v, ok := raw[k]
	if !ok {
		return "", "missing"
	}
	if string(v) == "null" {
		return "", "is null"
	}
	var str string
	if err := json.Unmarshal(v, &str); err != nil {
		var x any
		json.Unmarshal(v, &x)
		return "", "must be a string, not " + kindOf(x)
	}
	return str, ""
}

// indexPassages reads passages.jsonl, builds the segments and collects the
// passages that name no model.
func (s *hubSource) indexPassages() error {
	lr := newLineReader(s.passages, s.max)
	counts := make([]uint32, s.modelLines+1)
	var segs []segment
	for {
		b, start, tooLong, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s.passagesPath, err)
		}
		if !tooLong && isBlank(b) {
			continue
		}
		if lr.line > math.MaxUint32 {
			return fmt.Errorf("%s: more than %d lines", s.passagesPath, uint32(math.MaxUint32))
		}
		if lr.off-start > math.MaxUint32 {
			return fmt.Errorf("%s:%d: a line of more than 4 GiB", s.passagesPath, lr.line)
		}
		p, _, msg := s.parsePassage(b, tooLong)
		n := uint64(lr.off - start)
		if msg != "" {
			// Kept as a place, not a message: a broken file may have
			// millions of these.
			s.upfront = append(s.upfront, segment{off: start, n: uint32(n), line: uint32(lr.line)})
			continue
		}
		model := uint32(p.model)
		if k := len(segs) - 1; k >= 0 && segs[k].model == model && segs[k].off+int64(segs[k].n) == start && uint64(segs[k].n)+n <= math.MaxUint32 {
			segs[k].n += uint32(n)
			segs[k].count++
			continue
		}
		segs = append(segs, segment{off: start, n: uint32(n), line: uint32(lr.line), model: model, count: 1})
	}
	// Counting sort of the segments by model, stable: file order within a
	// model is kept.
	for _, sg := range segs {
		counts[sg.model]++
	}
	s.first = make([]uint32, s.modelLines+1)
	sum := uint32(0)
	for i := int64(0); i < s.modelLines; i++ {
		s.first[i] = sum
		sum += counts[i]
	}
	s.first[s.modelLines] = sum
	sorted := true
	for i := 1; i < len(segs); i++ {
		if segs[i].model < segs[i-1].model {
			sorted = false
			break
		}
	}
	if sorted {
		s.segs = segs
		return nil
	}
	s.segs = make([]segment, len(segs))
	next := counts // reused: the next free slot of each model
	copy(next, s.first)
	for _, sg := range segs {
		s.segs[next[sg.model]] = sg
		next[sg.model]++
	}
	return nil
}

// passageCount is the number of good passages of model line l.
func (s *hubSource) passageCount(l int64) int {
	n := 0
	for _, sg := range s.segs[s.first[l]:s.first[l+1]] {
		n += int(sg.count)
	}
	return n
}

func (s *hubSource) fingerprint() string { return s.fp }

func (s *hubSource) close() error {
	var err error
	if s.models != nil {
		err = s.models.Close()
		s.models = nil
	}
	if s.passages != nil {
		if e := s.passages.Close(); err == nil {
			err = e
		}
		s.passages = nil
	}
	return err
}

// upfrontBatch is how many passages that name no model read returns at
// once.
const upfrontBatch = 256

func (s *hubSource) read(skip bool) ([]item, error) {
	if len(s.upfront) > 0 {
		if skip { // they all come before the first record
			s.upfront = nil
		} else {
			k := min(len(s.upfront), upfrontBatch)
			items := make([]item, 0, k)
			for _, sg := range s.upfront[:k] {
				b, err := s.upfrontBad(sg)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", s.passagesPath, err)
				}
				items = append(items, item{bad: b})
			}
			s.upfront = s.upfront[k:]
			return items, nil
		}
	}
	var items []item
	for {
		b, _, tooLong, err := s.lr.next()
		if err == io.EOF {
			if len(items) > 0 {
				return items, nil
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.modelsPath, err)
		}
		l := int64(s.lr.line - 1)
		if l >= s.modelLines { // the file grew since it was opened
			return nil, fmt.Errorf("%s changed while being read: line %d is past its end when opened", s.modelsPath, s.lr.line)
		}
		if !tooLong && isBlank(b) {
			if k := s.first[l]; k < s.first[l+1] {
				items = append(items, item{bad: &BadRecord{
					File: s.passagesPath, Line: int(s.segs[k].line), Field: "id",
					Msg: fmt.Sprintf("%d names line %d of %s, which is blank (%d passages)", l, l+1, s.modelsPath, s.passageCount(l)),
				}})
			}
			continue
		}
		mi, err := s.model(b, tooLong, l, skip)
		if err != nil {
			return nil, err
		}
		return append(items, mi...), nil
	}
}

// model turns line l of models.jsonl into its items.
func (s *hubSource) model(b []byte, tooLong bool, l int64, skip bool) ([]item, error) {
	line := int(l + 1)
	bad := func(field, msg string) ([]item, error) {
		if n := s.passageCount(l); n > 0 {
			msg += fmt.Sprintf(" (its %d passages are dropped)", n)
		}
		return []item{{bad: &BadRecord{File: s.modelsPath, Line: line, Field: field, Msg: msg}, done: true}}, nil
	}
	if m := lineProblem(b, tooLong, s.max); m != "" {
		return bad("", m)
	}
	obj, err := decodeObject(b)
	if err != nil {
		return bad("", err.Error())
	}
	id, ok := obj["modelId"].(string)
	switch {
	case obj["modelId"] == nil:
		if _, present := obj["modelId"]; present {
			return bad("modelId", "is null")
		}
		return bad("modelId", "missing")
	case !ok:
		return bad("modelId", "must be a string, not "+kindOf(obj["modelId"]))
	case id == "":
		return bad("modelId", "empty")
	}
	if field, msg := checkModel(obj); msg != "" {
		return bad(field, msg)
	}
	if !s.seen.add(id) {
		return bad("modelId", "duplicate model "+quote(id))
	}
	if skip {
		return []item{{done: true}}, nil
	}
	doc := Document{ID: id, Title: id, Source: s.modelsPath + ":" + strconv.Itoa(line)}
	var items []item
	for _, sg := range s.segs[s.first[l]:s.first[l+1]] {
		var err error
		if items, err = s.readSegment(sg, id, &doc, items); err != nil {
			return nil, fmt.Errorf("%s: %w", s.passagesPath, err)
		}
	}
	if len(doc.Passages) > 0 {
		doc.Text = strings.Join(doc.Passages, "")
	} else if readme, _ := obj["readme"].(string); strings.TrimSpace(readme) != "" {
		_, body := splitFrontMatter(readme)
		if strings.TrimSpace(body) != "" {
			doc.Text = body
		}
	}
	delete(obj, "readme")
	if len(obj) > 0 {
		doc.Metadata = obj
	}
	return append(items, item{doc: doc, done: true}), nil
}

// readSegment appends the passages of a segment to doc, and a bad record to
// items for each that names another model.
func (s *hubSource) readSegment(sg segment, id string, doc *Document, items []item) ([]item, error) {
	s.pr.reset(io.NewSectionReader(s.passages, sg.off, int64(sg.n)), sg.off, int(sg.line)-1)
	for {
		b, _, tooLong, err := s.pr.next()
		if err == io.EOF {
			return items, nil
		}
		if err != nil {
			return items, err
		}
		if !tooLong && isBlank(b) {
			continue
		}
		p, field, msg := s.parsePassage(b, tooLong)
		if msg == "" && p.modelID != id {
			field, msg = "modelId", fmt.Sprintf("%s disagrees with %s, the model at line %d of %s", quote(p.modelID), quote(id), p.model+1, s.modelsPath)
		}
		if msg != "" { // also if the file changed since it was indexed
			items = append(items, item{bad: &BadRecord{File: s.passagesPath, Line: s.pr.line, Field: field, Msg: msg}})
			continue
		}
		doc.Passages = append(doc.Passages, p.text)
	}
}

// upfrontBad reads a bad passage line again and describes it.
func (s *hubSource) upfrontBad(sg segment) (*BadRecord, error) {
	s.pr.reset(io.NewSectionReader(s.passages, sg.off, int64(sg.n)), sg.off, int(sg.line)-1)
	b, _, tooLong, err := s.pr.next()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
	}
	_, field, msg := s.parsePassage(b, tooLong)
	if msg == "" {
		msg = "changed while being read"
	}
	return &BadRecord{File: s.passagesPath, Line: int(sg.line), Field: field, Msg: msg}, nil
}

// checkModel checks the types of the model fields searches rely on.
func checkModel(obj map[string]any) (field, msg string) {
	for _, k := range []string{"pipeline_tag", "library_name", "readme", "sha"} {
		switch v := obj[k].(type) {
		case nil, string:
		default:
			return k, "must be a string or null, not " + kindOf(v)
		}
	}
	for _, k := range []string{"likes", "downloads"} {
		switch v := obj[k].(type) {
		case nil:
		case json.Number:
			if _, err := v.Float64(); err != nil {
				return k, "number out of range: " + v.String()
			}
		default:
			return k, "must be a number or null, not " + kindOf(v)
		}
	}
	switch v := obj["lastModified"].(type) {
	case nil:
	case string:
		if _, ok := meta.ParseTime(v); !ok {
			return "lastModified", "not an ISO 8601 date and time: " + quote(v)
		}
	default:
		return "lastModified", "must be a date string or null, not " + kindOf(v)
	}
	switch v := obj["tags"].(type) {
	case nil:
	case []any:
		for i, t := range v {
			if _, ok := t.(string); !ok {
				return "tags", fmt.Sprintf("element %d must be a string, not %s", i, kindOf(t))
			}
		}
	default:
		return "tags", "must be an array of strings or null, not " + kindOf(v)
	}
	switch v := obj["private"].(type) {
	case nil, bool:
	default:
		return "private", "must be a boolean or null, not " + kindOf(v)
	}
	return "", ""
}

func (s *hubSource) label() string { return filepath.Dir(s.modelsPath) }
