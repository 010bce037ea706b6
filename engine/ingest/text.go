package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/quarry-search/quarry/internal/fsx"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// textFile is one record of a text corpus: a file, or a listing problem.
type textFile struct {
	rel  string // ID: relative path with "/" separators
	path string // path to open
	err  string // a problem found while listing
}

// textSource reads a directory of text files, or one file.
type textSource struct {
	root  string // the directory or file, for messages
	files []textFile
	next  int
	max   int
	fp    string
}

func isTextName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".txt", ".md", ".markdown":
		return true
	}
	return false
}

func isMarkdown(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".md", ".markdown":
		return true
	}
	return false
}

func openText(root string, opts Options) (*textSource, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	s := &textSource{root: root, max: opts.maxRecord}
	fp := newFingerprint(FormatText, opts)
	if !st.IsDir() {
		if !isTextName(root) {
			return nil, fmt.Errorf("%s: format text reads .txt, .md and .markdown files", root)
		}
		if err := fsx.CheckRegular(root, "text file or directory"); err != nil {
			return nil, err // a FIFO or device: refused here, not as a bad record
		}
		s.files = []textFile{{rel: filepath.Base(root), path: root}}
		fp.stat(root, st)
		s.fp = fp.sum()
		return s, nil
	}
	w := walker{visited: map[string]bool{}, fp: fp}
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	w.visited[real] = true
	fp.stat(root, st)
	if err := w.walk(root, ""); err != nil {
		return nil, err
	}
	s.files = w.files
	s.fp = fp.sum()
	return s, nil
}

// walker lists a directory tree in sorted order, following links and
// reading each real directory once.
type walker struct {
	visited map[string]bool
	files   []textFile
	fp      *fingerprint
}

func (w *walker) walk(dir, rel string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if rel == "" {
			return err
		}
		w.files = append(w.files, textFile{rel: rel, path: dir, err: "cannot read directory: " + err.Error()})
		return nil
	}
	for _, e := range entries { // sorted by name
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(dir, name)
		r := path.Join(rel, name)
		st, err := os.Stat(p) // follows links
		if err != nil {
			if isTextName(name) {
				w.files = append(w.files, textFile{rel: r, path: p, err: "cannot read: " + err.Error()})
				w.fp.str(r)
			}
			continue
		}
		if st.IsDir() {
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				w.files = append(w.files, textFile{rel: r, path: p, err: "cannot resolve directory: " + err.Error()})
				continue
			}
			if w.visited[real] {
				continue
			}
			w.visited[real] = true
			if err := w.walk(p, r); err != nil {
				return err
			}
			continue
		}
		if !st.Mode().IsRegular() || !isTextName(name) {
			continue
		}
		w.files = append(w.files, textFile{rel: r, path: p})
		w.fp.str(r)
		w.fp.int(st.Size())
		w.fp.int(st.ModTime().UnixNano())
	}
	return nil
}

func (s *textSource) fingerprint() string { return s.fp }

func (s *textSource) close() error { return nil }

func (s *textSource) read(skip bool) ([]item, error) {
	if s.next >= len(s.files) {
		return nil, io.EOF
	}
	tf := s.files[s.next]
	s.next++
	bad := func(line int, field, msg string) ([]item, error) {
		return []item{{bad: &BadRecord{File: tf.path, Line: line, Field: field, Msg: msg}, done: true}}, nil
	}
	if tf.err != "" {
		return bad(0, "", tf.err)
	}
	if skip {
		return []item{{done: true}}, nil
	}
	f, err := fsx.OpenRegular(tf.path, "text file")
	if err != nil {
		return bad(0, "", "cannot read: "+err.Error())
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return bad(0, "", "cannot read: "+err.Error())
	}
	data, err := io.ReadAll(io.LimitReader(f, int64(s.max)+1))
	if err != nil {
		return bad(0, "", "cannot read: "+err.Error())
	}
	if len(data) > s.max {
		return bad(0, "", fmt.Sprintf("file larger than %d bytes", s.max))
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		i := firstInvalid(data)
		line := 1 + bytes.Count(data[:i], []byte("\n"))
		col := i - (bytes.LastIndexByte(data[:i], '\n') + 1)
		return bad(line, "text", fmt.Sprintf("invalid UTF-8 at byte %d of the line", col+1))
	}
	text := string(data)
	title := ""
	if isMarkdown(tf.path) {
		var fm string
		fm, text = splitFrontMatter(text)
		title = frontMatterTitle(fm)
		if title == "" {
			title = markdownTitle(text)
		}
	}
	if title == "" {
		base := path.Base(tf.rel)
		title = strings.TrimSuffix(base, path.Ext(base))
	}
	if strings.TrimSpace(text) == "" {
		return bad(0, "text", "no text")
	}
	doc := Document{
		ID:     tf.rel,
		Title:  title,
		Text:   text,
		Source: tf.path + ":1",
		Metadata: map[string]any{
			"modified": st.ModTime().UTC().Format(time.RFC3339Nano),
			"size":     json.Number(strconv.FormatInt(st.Size(), 10)),
		},
	}
	return []item{{doc: doc, done: true}}, nil
}

// splitFrontMatter cuts YAML front matter ("---" line, ..., "---" or "..."
// line) off the start of a Markdown text.
func splitFrontMatter(text string) (fm, body string) {
	first, rest, ok := strings.Cut(text, "\n")
	if !ok || strings.TrimRight(first, " \t\r") != "---" {
		return "", text
	}
	for off := 0; off < len(rest); {
		line, _, _ := strings.Cut(rest[off:], "\n")
		end := off + len(line) + 1
		if t := strings.TrimRight(line, " \t\r"); t == "---" || t == "..." {
			return rest[:off], rest[min(end, len(rest)):]
		}
		off = end
	}
	return "", text // not closed: not front matter
}

// frontMatterTitle returns the top-level "title:" of YAML front matter.
func frontMatterTitle(fm string) string {
	for _, line := range strings.Split(fm, "\n") {
		v, ok := strings.CutPrefix(line, "title:")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			if u, err := strconv.Unquote(v); err == nil && v[0] == '"' {
				return strings.TrimSpace(u)
			}
			v = strings.ReplaceAll(v[1:len(v)-1], "''", "'")
		}
		return strings.TrimSpace(v)
	}
	return ""
}

// markdownTitle returns the text of the first ATX or setext heading outside
// fenced code blocks.
func markdownTitle(text string) string {
	lines := strings.Split(text, "\n")
	fence := ""
	for i, raw := range lines {
		line := strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimLeft(line, " ")
		if len(line)-len(trimmed) > 3 { // indented code
			continue
		}
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]) == "" {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			n := len(trimmed) - len(strings.TrimLeft(trimmed, trimmed[:1]))
			fence = trimmed[:n]
			continue
		}
		if h := atxHeading(trimmed); h != "" {
			return h
		}
		if trimmed != "" && i+1 < len(lines) {
			u := strings.TrimSpace(lines[i+1])
			if u != "" && (strings.Trim(u, "=") == "" || strings.Trim(u, "-") == "" && !strings.HasPrefix(trimmed, "-")) {
				return strings.TrimSpace(trimmed)
			}
		}
	}
	return ""
}

// atxHeading returns the text of an ATX heading line ("## Title ##"), or "".
func atxHeading(line string) string {
	n := len(line) - len(strings.TrimLeft(line, "#"))
	if n < 1 || n > 6 || (len(line) > n && line[n] != ' ' && line[n] != '\t') {
		return ""
	}
	h := strings.TrimSpace(line[n:])
	// An optional closing sequence of #s, preceded by a space.
	if t := strings.TrimRight(h, "#"); t != h && (t == "" || strings.HasSuffix(t, " ") || strings.HasSuffix(t, "\t")) {
		h = strings.TrimSpace(t)
	}
	return h
}

func (s *textSource) label() string { return s.root }
