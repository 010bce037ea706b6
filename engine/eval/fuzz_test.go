package eval

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// FuzzLoadBEIR feeds arbitrary queries.jsonl and qrels files to what
// LoadBEIR reads them with (in memory: the files are only opened there):
// it never panics; a malformed line is an error naming the file and line;
// a loaded dataset holds only queries with unique non-empty ids, each judged
// in Qrels, counts its queries without a relevant document right, and its
// judgments written back as BEIR TSV parse to the same Qrels.
func FuzzLoadBEIR(f *testing.F) {
	q, _ := os.ReadFile("../../testdata/beir/debian/queries.jsonl")
	r, _ := os.ReadFile("../../testdata/beir/debian/qrels/test.tsv")
	fx, _ := os.ReadFile("../../testdata/beir/fixture/qrels.tsv")
	f.Add(q, r)
	f.Add(q, fx)
	f.Add([]byte(`{"_id": 7, "text": "x"}`+"\n\n"+`{"_id": "a", "text": ""}`), []byte("7 0 d 1\r\na\td\tx\n"))
	f.Add([]byte("\xef\xbb\xbf{\"_id\": \"q\", \"text\": \"t\"}\n"), []byte("query-id\tcorpus-id\tscore\nq\td\t2\nq\td\t0\n"))
	f.Fuzz(func(t *testing.T, queries, qrels []byte) {
		ds := &Dataset{Dir: "beir", Split: "test"}
		qf, err := ParseQrels(bytes.NewReader(qrels), "qrels/test.tsv")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "qrels/test.tsv:") {
				t.Fatalf("the error %q does not name the file and line", err)
			}
			return
		}
		qs, err := parseQueries(bytes.NewReader(queries), "queries.jsonl")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "queries.jsonl:") {
				t.Fatalf("the error %q does not name the file and line", err)
			}
			return
		}
		if err := ds.join(qf, qs, "qrels/test.tsv", "queries.jsonl"); err != nil {
			if len(ds.Queries) != 0 {
				t.Fatalf("%v, with %d runnable queries", err, len(ds.Queries))
			}
			return
		}
		seen := map[string]bool{}
		noRel := 0
		for _, q := range ds.Queries {
			if q.ID == "" || seen[q.ID] || q.Line < 1 {
				t.Fatalf("query %+v: empty, repeated or without a line", q)
			}
			seen[q.ID] = true
			rels, ok := ds.Qrels[q.ID]
			if !ok {
				t.Fatalf("query %s runnable but not judged", q.ID)
			}
			if NumRelevant(rels) == 0 {
				noRel++
			}
		}
		if len(ds.Qrels) != len(ds.Queries) || noRel != ds.NoRelevant {
			t.Fatalf("%d judged, %d queries, %d without relevant (counted %d)", len(ds.Qrels), len(ds.Queries), noRel, ds.NoRelevant)
		}
		var tsv bytes.Buffer
		ids := make([]string, 0, len(ds.Qrels))
		for id := range ds.Qrels {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			for d, v := range ds.Qrels[id] {
				fmt.Fprintf(&tsv, "%s\t%s\t%d\n", id, d, v)
			}
		}
		back, err := ParseQrels(&tsv, "back.tsv")
		if err != nil || !reflect.DeepEqual(back.Qrels, ds.Qrels) {
			t.Fatalf("qrels written back: %v, %v; want %v", back, err, ds.Qrels)
		}
	})
}

// FuzzReadRun feeds arbitrary TREC runs to ReadRun: it never panics, and a
// run it reads that WriteRun can write reads back the same.
func FuzzReadRun(f *testing.F) {
	f.Add([]byte("q1 Q0 d1 1 0.5 tag\nq1 Q0 d2 2 -1e-3 tag\nq2 Q0 d1 1 7 x\n"))
	f.Add([]byte("q Q0 d 1 NaN t\n"))
	f.Add([]byte("q Q0 d 1 1 t\nq Q0 d 2 1 t\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "run.trec")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		run, err := ReadRun(p)
		if err != nil {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("the error %q does not name the file", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteRun(&buf, run, "fuzz"); err != nil {
			t.Fatalf("a run that was read does not write: %v", err)
		}
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		back, err := ReadRun(p)
		if err != nil || !reflect.DeepEqual(back, run) {
			t.Fatalf("round trip: %v, %v; want %v", back, err, run)
		}
	})
}
