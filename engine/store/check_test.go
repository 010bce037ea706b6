package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/lexical"
	"github.com/quarry-search/quarry/engine/sparse"
	"github.com/quarry-search/quarry/engine/store"
)

// checkedIndex writes the crash sequence's index (vectors, docs, BM25,
// SPLADE, compaction, GC, a last segment) on the operating system's file
// system.
func checkedIndex(t *testing.T) (string, *store.Registry, *store.Manifest) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ix")
	reg := newCrashRegistry(t)
	run := &crashRun{fsys: store.OS(), dir: dir, reg: reg}
	if err := run.sequence(1); err != nil {
		t.Fatal(err)
	}
	m, err := store.LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, reg, m
}

func TestCheck(t *testing.T) {
	dir, reg, m := checkedIndex(t)
	rep, err := reg.Check(dir, false)
	if err != nil || !rep.OK() || rep.Generation != m.Generation || len(rep.Files) != len(m.Refs()) {
		t.Fatalf("a good index: %v, %+v", err, rep)
	}
	if _, err := reg.Check(t.TempDir(), false); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no index: %v", err)
	}
	wantProblem := func(t *testing.T, dir, file, where string) *store.CheckReport {
		t.Helper()
		rep, err := reg.Check(dir, true)
		if rep == nil || rep.OK() || errs.KindOf(err) != errs.Corrupt || !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("%v, %+v", err, rep)
		}
		for _, p := range rep.Problems {
			if p.File == file && strings.Contains(p.Where, where) {
				if len(rep.Removed) > 0 {
					t.Fatalf("repair removed %v from a damaged index", rep.Removed)
				}
				return rep
			}
		}
		t.Fatalf("no problem in %s at %q: %+v", file, where, rep.Problems)
		return nil
	}
	seg := m.Segments[0]
	t.Run("SPLADE byte", func(t *testing.T) {
		cp := copyIndex(t, dir)
		name := seg.Files[sparse.FileKey].Name
		flip(t, filepath.Join(cp, name), 25)
		wantProblem(t, cp, name, "file")
	})
	t.Run("swapped BM25 file", func(t *testing.T) {
		// A valid BM25 file of another segment under a reference with the
		// right size and CRC: only the cross-reference (ordinal range and
		// count against the segment) catches it.
		cp := copyIndex(t, dir)
		other := m.Segments[len(m.Segments)-1].Files[lexical.FileKey]
		name := lexical.SegmentFileName(999)
		b, err := os.ReadFile(filepath.Join(cp, other.Name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cp, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		mm, _ := store.LoadManifest(cp)
		mm.Segments[0].Files[lexical.FileKey] = store.FileRef{Name: name, Size: other.Size, CRC32C: other.CRC32C}
		mm.NextSegmentID = 1000
		if err := store.Commit(cp, mm); err != nil {
			t.Fatal(err)
		}
		wantProblem(t, cp, name, "against segment")
	})
	t.Run("tombstone outside the segments", func(t *testing.T) {
		cp := copyIndex(t, dir)
		mm, _ := store.LoadManifest(cp)
		name := store.TombstonesFileName(mm.Generation + 1)
		ref, err := store.WriteTombstones(filepath.Join(cp, name), store.NewTombstones(mm.NextDocOrd()+10))
		if err != nil {
			t.Fatal(err)
		}
		mm.Tombstones, mm.Counts.Deleted = &ref, 1
		if err := store.Commit(cp, mm); err != nil {
			t.Fatal(err)
		}
		wantProblem(t, cp, name, "against the manifest's segments")
	})
	t.Run("repair", func(t *testing.T) {
		cp := copyIndex(t, dir)
		mm, _ := store.LoadManifest(cp)
		// Three more generations: the manifests before the previous one are
		// leftovers, so are an orphan and a temporary file.
		for range 3 {
			if err := store.Commit(cp, mm); err != nil {
				t.Fatal(err)
			}
		}
		orphan := store.DocsFileName(mm.NextSegmentID + 3)
		for _, n := range []string{orphan, ".x.tmp-1"} {
			os.WriteFile(filepath.Join(cp, n), []byte("x"), 0o644)
		}
		rep, err := reg.Check(cp, false)
		if err != nil || len(rep.Leftovers) < 4 {
			t.Fatalf("%v, leftovers %+v", err, rep.Leftovers)
		}
		rep, err = reg.Check(cp, true)
		if err != nil || len(rep.Removed) != len(rep.Leftovers) {
			t.Fatalf("repair: %v, removed %v of %+v", err, rep.Removed, rep.Leftovers)
		}
		gens, _ := store.ListManifests(cp)
		if len(gens) != 2 || gens[1] != mm.Generation {
			t.Fatalf("manifests after repair: %v (current %d)", gens, mm.Generation)
		}
		if rep, err := reg.Check(cp, false); err != nil || len(rep.Leftovers) != 0 {
			t.Fatalf("after repair: %v, %+v", err, rep)
		}
	})
}

func copyIndex(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "ix")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func flip(t *testing.T, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
