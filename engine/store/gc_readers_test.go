package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/store"
)

// TestGCOldGenerationReaders: GC keeps the current and the previous
// generation and removes older manifests, tombstone files and segment files;
// a reader that opened a generation GC has since removed keeps reading it
// (on Linux and other POSIX systems an open file survives its unlink).
func TestGCOldGenerationReaders(t *testing.T) {
	dir, reg, m1 := checkedIndex(t)
	var docs []*store.DocReader
	var segs []*store.SegmentReader
	var want []int
	for _, s := range m1.Segments {
		d, err := store.OpenDocs(filepath.Join(dir, s.Docs.Name))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		docs = append(docs, d)
		v, err := store.OpenSegment(filepath.Join(dir, s.Vectors.Name))
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		segs = append(segs, v)
		want = append(want, d.Len())
	}
	// Another cycle: add, delete, compact everything, add, GC.
	run := &crashRun{fsys: store.OS(), dir: dir, reg: reg, next: 500}
	if err := run.sequence(1); err != nil {
		t.Fatal(err)
	}
	m, err := store.LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Generation < m1.Generation+4 {
		t.Fatalf("generation %d after %d", m.Generation, m1.Generation)
	}
	for _, r := range m1.Refs() {
		if _, err := os.Stat(filepath.Join(dir, r.Name)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s of generation %d is still there at generation %d: %v", r.Name, m1.Generation, m.Generation, err)
		}
	}
	gens, err := store.ListManifests(dir)
	if err != nil || len(gens) != 2 || gens[1] != m.Generation {
		t.Fatalf("manifests left: %v, %v (current %d)", gens, err, m.Generation)
	}
	prev, err := store.LoadManifestFile(dir, store.ManifestFileName(gens[0]))
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for _, r := range append(m.Refs(), prev.Refs()...) {
		kept[r.Name] = true
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "tomb-") && !kept[e.Name()] {
			t.Fatalf("tombstone file %s referenced by no kept manifest survived GC", e.Name())
		}
	}
	// The readers of generation m1 still read everything.
	for i, d := range docs {
		n := 0
		for _, err := range d.All() {
			if err != nil {
				t.Fatalf("reader of a removed doc store: %v", err)
			}
			n++
		}
		if n != want[i] {
			t.Fatalf("reader of a removed doc store: %d records, want %d", n, want[i])
		}
		data, err := segs[i].ReadAll()
		if err != nil || int64(len(data.Groups)) != m1.Segments[i].NumPassages {
			t.Fatalf("reader of a removed segment: %v", err)
		}
	}
}
