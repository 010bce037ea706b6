package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/quarry-search/quarry/internal/fsx"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxLine bounds one line of a qrels, queries, run or STS file.
const maxLine = 16 << 20

// lines calls fn with every line of r (1-based numbers), without the line
// end ("\n" or "\r\n") and, on the first line, without a UTF-8 byte order
// mark. Invalid UTF-8 is an error naming the line.
func lines(r io.Reader, name string, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	n := 0
	for sc.Scan() {
		n++
		b := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if n == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		if !utf8.Valid(b) {
			return fmt.Errorf("%s:%d: invalid UTF-8", name, n)
		}
		if err := fn(n, string(b)); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", name, n+1, err)
	}
	return nil
}

// QrelsFile is a parsed qrels file.
type QrelsFile struct {
	Qrels Qrels
	// Judgments is the number of judgment lines read.
	Judgments int
	// Warnings name lines that judge a (query, document) pair again with a
	// different relevance; the last one wins, as in BEIR's loader.
	Warnings []string
}

// ReadQrels reads judgments: BEIR's TSV (query-id, corpus-id, score; a
// first line whose score is not an integer is the header) or TREC's qrels
// (query-id, iteration, doc-id, relevance, separated by white space).
// Blank lines are skipped. A line of another shape, an empty id or a
// relevance that is not an integer is an error naming file:line.
func ReadQrels(path string) (*QrelsFile, error) {
	f, err := fsx.OpenRegular(path, "")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseQrels(f, path)
}

// ParseQrels reads judgments from r (see ReadQrels); name is used in errors.
func ParseQrels(r io.Reader, name string) (*QrelsFile, error) {
	out := &QrelsFile{Qrels: Qrels{}}
	where := map[[2]string]int{}
	err := lines(r, name, func(n int, line string) error {
		if strings.TrimSpace(line) == "" {
			return nil
		}
		var q, d, rel string
		if fs := strings.Split(line, "\t"); len(fs) == 3 {
			q, d, rel = strings.TrimSpace(fs[0]), strings.TrimSpace(fs[1]), strings.TrimSpace(fs[2])
		} else if fs := strings.Fields(line); len(fs) == 4 {
			q, d, rel = fs[0], fs[2], fs[3]
		} else {
			return fmt.Errorf("%s:%d: want 3 tab-separated fields (query-id, corpus-id, score) or 4 (TREC: query-id, 0, doc-id, relevance), got %q", name, n, line)
		}
		v, err := strconv.Atoi(rel)
		if err != nil {
			if n == 1 && out.Judgments == 0 {
				return nil // header: query-id corpus-id score
			}
			return fmt.Errorf("%s:%d: score %q is not an integer", name, n, rel)
		}
		if q == "" || d == "" {
			return fmt.Errorf("%s:%d: empty query or document id", name, n)
		}
		m := out.Qrels[q]
		if m == nil {
			m = map[string]int{}
			out.Qrels[q] = m
		}
		key := [2]string{q, d}
		if old, seen := m[d]; seen && old != v {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s:%d: query %s, document %s judged %d again as %d (line %d); the last judgment counts", name, n, q, d, old, v, where[key]))
		}
		m[d] = v
		where[key] = n
		out.Judgments++
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Query is one query of a BEIR queries.jsonl.
type Query struct {
	ID, Text string
	Line     int
}

// ReadQueries reads BEIR queries.jsonl: one JSON object per line with "_id"
// (a string or a number) and "text" (a string); other fields are ignored.
// Blank lines are skipped. Invalid JSON, a missing id or text, and an id
// seen before are errors naming file:line.
func ReadQueries(path string) ([]Query, error) {
	f, err := fsx.OpenRegular(path, "")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseQueries(f, path)
}

// parseQueries reads queries.jsonl from r (see ReadQueries); path is used in
// errors.
func parseQueries(r io.Reader, path string) ([]Query, error) {
	var out []Query
	seen := map[string]int{}
	err := lines(r, path, func(n int, line string) error {
		if strings.TrimSpace(line) == "" {
			return nil
		}
		var rec struct {
			ID   json.RawMessage `json:"_id"`
			Text *string         `json:"text"`
		}
		dec := json.NewDecoder(strings.NewReader(line))
		if err := dec.Decode(&rec); err != nil {
			return fmt.Errorf("%s:%d: invalid JSON: %v", path, n, err)
		}
		id, err := jsonID(rec.ID)
		if err != nil {
			return fmt.Errorf("%s:%d: _id: %v", path, n, err)
		}
		if rec.Text == nil {
			return fmt.Errorf("%s:%d: text: missing", path, n)
		}
		if first, dup := seen[id]; dup {
			return fmt.Errorf("%s:%d: _id: %q already on line %d", path, n, id, first)
		}
		seen[id] = n
		out = append(out, Query{ID: id, Text: *rec.Text, Line: n})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// jsonID reads an id that is a non-empty string or a number (as written).
func jsonID(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", fmt.Errorf("missing")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		if s == "" {
			return "", fmt.Errorf("empty")
		}
		return s, nil
	}
	var num json.Number
	if err := json.Unmarshal(raw, &num); err != nil {
		return "", fmt.Errorf("want a string or a number, got %s", raw)
	}
	return num.String(), nil
}

// ReadRun reads a TREC run: "query-id Q0 doc-id rank score tag" per line,
// white-space separated (the rank and tag are not used: trec_eval orders by
// score). A document listed twice for a query is an error, as in trec_eval.
func ReadRun(path string) (Run, error) {
	f, err := fsx.OpenRegular(path, "")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	run := Run{}
	err = lines(f, path, func(n int, line string) error {
		fs := strings.Fields(line)
		if len(fs) == 0 {
			return nil
		}
		if len(fs) != 6 {
			return fmt.Errorf("%s:%d: want 6 fields (query-id Q0 doc-id rank score tag), got %d", path, n, len(fs))
		}
		sc, err := strconv.ParseFloat(fs[4], 64)
		if err != nil || math.IsNaN(sc) || math.IsInf(sc, 0) {
			return fmt.Errorf("%s:%d: score %q is not a finite number", path, n, fs[4])
		}
		m := run[fs[0]]
		if m == nil {
			m = map[string]float64{}
			run[fs[0]] = m
		}
		if _, dup := m[fs[2]]; dup {
			return fmt.Errorf("%s:%d: query %s lists document %s twice", path, n, fs[0], fs[2])
		}
		m[fs[2]] = sc
		return nil
	})
	if err != nil {
		return nil, err
	}
	return run, nil
}

// WriteRun writes run in TREC format, queries in id order and documents in
// trec_eval's order, scores in the shortest form that reads back exactly.
func WriteRun(w io.Writer, run Run, tag string) error {
	bw := bufio.NewWriter(w)
	ids := make([]string, 0, len(run))
	for q := range run {
		ids = append(ids, q)
	}
	sort.Strings(ids)
	for _, q := range ids {
		if strings.ContainsFunc(q, unicode.IsSpace) || q == "" {
			return fmt.Errorf("write run: query id %q cannot be written in TREC format (empty or white space)", q)
		}
		for i, d := range Rank(run[q]) {
			if strings.ContainsFunc(d, unicode.IsSpace) || d == "" {
				return fmt.Errorf("write run: document id %q cannot be written in TREC format (empty or white space)", d)
			}
			fmt.Fprintf(bw, "%s Q0 %s %d %s %s\n", q, d, i+1, strconv.FormatFloat(run[q][d], 'g', -1, 64), tag)
		}
	}
	return bw.Flush()
}
