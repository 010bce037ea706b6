package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/encoder/fake"
	"github.com/quarry-search/quarry/engine/modelgen"
	"github.com/quarry-search/quarry/engine/store"
)

// checkIndex builds an index with a fake encoder (no native core needed):
// two segments, a deletion (a tombstone file).
func checkIndex(t *testing.T) string {
	t.Helper()
	v, err := modelgen.LoadVocab("")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := fake.New(v, fake.Options{Dim: 16, MaxTokens: 32, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "ix")
	ix, err := engine.Create(dir, engine.CreateOptions{Encoder: enc})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	corpus := mixedCorpus(t, 30)
	if _, err := ix.Add(context.Background(), engine.AddOptions{Input: corpus, SegmentPassages: 16}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ix.Delete(context.Background(), []string{"d003"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runCheck(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"quarry", "check"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckCLI(t *testing.T) {
	dir := checkIndex(t)
	m, err := store.LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Segments) < 2 || m.Tombstones == nil || m.Segments[0].Files["lexical"].Name == "" {
		t.Fatalf("test index: %d segments, tombstones %v, files %v", len(m.Segments), m.Tombstones, m.Segments[0].Files)
	}
	code, out, errOut := runCheck(t, dir)
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("a good index: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCheck(t, "--json", dir)
	var rep engine.CheckReport
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil || !rep.OK() || rep.Generation != m.Generation || len(rep.Files) != len(m.Refs()) {
		t.Fatalf("--json on a good index: exit %d, %v, %+v", code, err, rep)
	}
	for _, f := range rep.Files {
		if !f.OK {
			t.Fatalf("--json: %s not ok", f.Name)
		}
	}

	// Each kind of damage, on a fresh copy: exit nonzero, the file named.
	seg := m.Segments[1]
	damage := []struct {
		name  string
		file  string
		apply func(path string) error
		where string
	}{
		{"flipped byte in vectors", seg.Vectors.Name, flipByte(100), ""},
		{"flipped byte in docs", seg.Docs.Name, flipByte(70), ""},
		{"flipped byte in BM25", seg.Files["lexical"].Name, flipByte(40), ""},
		{"truncated tombstones", m.Tombstones.Name, func(p string) error { return os.Truncate(p, 10) }, ""},
		{"missing doc store", m.Segments[0].Docs.Name, os.Remove, "missing"},
		{"damaged MANIFEST", store.PointerFile, flipByte(20), ""},
		{"damaged manifest", store.ManifestFileName(m.Generation), flipByte(30), ""},
	}
	if sp, ok := seg.Files["sparse"]; ok {
		damage = append(damage, struct {
			name  string
			file  string
			apply func(path string) error
			where string
		}{"flipped byte in SPLADE", sp.Name, flipByte(30), ""})
	}
	for _, d := range damage {
		t.Run(d.name, func(t *testing.T) {
			cp := copyDir(t, dir)
			if err := d.apply(filepath.Join(cp, d.file)); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runCheck(t, cp)
			if code == 0 || !strings.Contains(out, "DAMAGED "+d.file) || !strings.Contains(errOut, d.file) || !strings.Contains(out, d.where) {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			code, out, _ = runCheck(t, "--json", cp)
			var rep engine.CheckReport
			if err := json.Unmarshal([]byte(out), &rep); code == 0 || err != nil || rep.OK() || rep.Problems[0].File != d.file {
				t.Fatalf("--json: exit %d, %v, %+v", code, err, rep.Problems)
			}
			// --repair never changes a damaged index.
			before := listDir(t, cp)
			os.WriteFile(filepath.Join(cp, "seg-999999.qvec"), []byte("orphan"), 0o644)
			if code, _, _ := runCheck(t, "--repair", cp); code == 0 {
				t.Fatal("--repair on a damaged index: exit 0")
			}
			if after := listDir(t, cp); !slices.Contains(after, "seg-999999.qvec") || len(after) != len(before)+1 {
				t.Fatalf("--repair changed a damaged index: %v -> %v", before, after)
			}
		})
	}

	// Leftovers: reported, and removed by --repair with the data intact.
	cp := copyDir(t, dir)
	orphan := store.SegmentFileName(m.NextSegmentID + 5)
	temp := "." + store.DocsFileName(m.NextSegmentID) + ".tmp-123"
	for _, n := range []string{orphan, temp} {
		if err := os.WriteFile(filepath.Join(cp, n), []byte("left over"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ = runCheck(t, cp)
	if code != 0 || !strings.Contains(out, "leftover "+orphan+" (orphan") || !strings.Contains(out, "leftover "+temp+" (temporary") {
		t.Fatalf("leftovers: exit %d\n%s", code, out)
	}
	code, out, errOut = runCheck(t, "--repair", cp)
	if code != 0 || !strings.Contains(out, "removed "+orphan) || !strings.Contains(out, "removed "+temp) {
		t.Fatalf("--repair: exit %d\n%s%s", code, out, errOut)
	}
	for _, n := range []string{orphan, temp} {
		if _, err := os.Stat(filepath.Join(cp, n)); !os.IsNotExist(err) {
			t.Fatalf("%s still there after --repair: %v", n, err)
		}
	}
	for _, r := range m.Refs() {
		if err := store.VerifyFile(cp, r.FileRef); err != nil {
			t.Fatalf("--repair touched a referenced file: %v", err)
		}
	}
	if code, out, _ := runCheck(t, cp); code != 0 || strings.Contains(out, "leftover") {
		t.Fatalf("after --repair: exit %d\n%s", code, out)
	}
	ix, err := engine.Open(cp, engine.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if in := ix.Info(); in.Documents != m.Counts.Documents-1 || in.Deleted != 1 {
		t.Fatalf("after --repair: %d documents, %d deleted; want %d, 1", in.Documents, in.Deleted, m.Counts.Documents-1)
	}

	// Not an index: not found, exit 2, not corrupt.
	if code, _, errOut := runCheck(t, t.TempDir()); code != exitBadInput {
		t.Fatalf("an empty directory: exit %d\n%s", code, errOut)
	}
}

func flipByte(off int64) func(string) error {
	return func(path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		b[min(off, int64(len(b))-1)] ^= 0x5a
		return os.WriteFile(path, b, 0o644)
	}
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "ix")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
