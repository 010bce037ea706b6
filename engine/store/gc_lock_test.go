package store

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestGC(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	dir := t.TempDir()
	lock, err := AcquireLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	m := testManifest()
	addSegment(t, dir, m, rng, 5) // segment 1
	if err := Commit(dir, m); err != nil {
		t.Fatal(err)
	}
	addSegment(t, dir, m, rng, 5) // segment 2
	if err := Commit(dir, m); err != nil {
		t.Fatal(err)
	}
	gen2 := slices.Clone(m.Refs())
	// Generation 3: segments 1 and 2 compacted into 3, with a lexical file.
	ts := NewTombstones(m.Segments[0].DocOrdStart)
	var segs []Segment
	for _, s := range m.Segments {
		id := m.NextSegmentID
		m.NextSegmentID++
		vref, vst, err := CopySegmentFiltered(filepath.Join(dir, SegmentFileName(id)), filepath.Join(dir, s.Vectors.Name), ts.Renumber)
		if err != nil {
			t.Fatal(err)
		}
		dref, dst, err := CopyDocsFiltered(filepath.Join(dir, DocsFileName(id)), filepath.Join(dir, s.Docs.Name), ts.Renumber)
		if err != nil {
			t.Fatal(err)
		}
		if vst.Docs != dst.Docs {
			t.Fatalf("copy stats %+v vs %+v", vst, dst)
		}
		lo, _ := ts.Renumber(s.DocOrdStart)
		segs = append(segs, Segment{ID: id, DocOrdStart: lo, DocOrdEnd: lo + uint32(dst.Docs), NumDocs: dst.Docs, NumPassages: vst.Passages, Vectors: vref, Docs: dref})
	}
	af, _ := CreateAtomic(filepath.Join(dir, FileName("lex", segs[0].ID, "bm25")))
	af.Write([]byte("x"))
	lref, err := af.Commit()
	if err != nil {
		t.Fatal(err)
	}
	segs[0].Files = map[string]FileRef{"lexical": lref}
	m.Segments = segs
	m.Recount()
	if err := Commit(dir, m); err != nil {
		t.Fatal(err)
	}
	// Debris: an orphan segment, temp files, a manifest from a crashed
	// commit, a user's file and a directory.
	for _, name := range []string{SegmentFileName(99), ".seg-000100.qvec.tmp-12345", ".MANIFEST.tmp-1", ManifestFileName(4), "notes.txt"} {
		os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o644)
	}
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	res, err := GC(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{PointerFile, LockFile, ManifestFileName(3), ManifestFileName(2), "notes.txt", "sub"}
	for _, r := range append(m.Refs(), gen2...) {
		want = append(want, r.Name)
	}
	slices.Sort(want)
	want = slices.Compact(want)
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after GC: %v\nwant %v (removed %v)", got, want, res.Removed)
	}
	if !slices.Contains(res.Removed, ManifestFileName(1)) || !slices.Equal(res.Unknown, []string{"notes.txt", "sub"}) {
		t.Fatalf("result %+v", res)
	}
	// One more generation: generation 2's files go, 3's stay.
	m.Settings["k"] = "v"
	if err := Commit(dir, m); err != nil {
		t.Fatal(err)
	}
	if _, err := GC(dir, m); err != nil {
		t.Fatal(err)
	}
	if m.Generation != 4 {
		t.Fatalf("generation %d after GC removed the crashed commit's manifest 4", m.Generation)
	}
	want = []string{PointerFile, LockFile, ManifestFileName(4), ManifestFileName(3), "notes.txt", "sub"}
	for _, r := range m.Refs() {
		want = append(want, r.Name)
	}
	slices.Sort(want)
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after second GC: %v\nwant %v", got, want)
	}
	old := *m
	old.Generation = 3
	wantErr(t, func() error { _, err := GC(dir, &old); return err }(), "GC needs the current manifest")
	if _, err := LoadManifest(dir); err != nil {
		t.Fatal(err)
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	l1, err := AcquireLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = AcquireLock(dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	wantErr(t, err, fmt.Sprintf("held by pid %d", os.Getpid()))
	if err := l1.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l1.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := AcquireLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	l2.Release()
}

// TestLockOtherProcess: a child process holds the lock; the parent is
// refused with the child's pid, and gets the lock once the child is killed.
func TestLockOtherProcess(t *testing.T) {
	if dir := os.Getenv("QUARRY_STORE_LOCK_CHILD"); dir != "" {
		if _, err := AcquireLock(dir); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockOtherProcess$")
	cmd.Env = append(os.Environ(), "QUARRY_STORE_LOCK_CHILD="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		cmd.Process.Kill()
		t.Fatalf("child: %q", line)
	}
	_, err := AcquireLock(dir)
	wantErr(t, err, fmt.Sprintf("held by pid %d", cmd.Process.Pid), "wait for it to finish or stop it")
	cmd.Process.Kill()
	cmd.Wait()
	l, err := AcquireLock(dir)
	if err != nil {
		t.Fatalf("after the holder died: %v", err)
	}
	l.Release()
}

func TestOpenForWrite(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	dir := filepath.Join(t.TempDir(), "new", "index")
	lock, m, err := OpenForWrite(dir)
	if err != nil || m != nil {
		t.Fatalf("new index: %v, %v", m, err)
	}
	if _, _, err := OpenForWrite(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second writer: %v", err)
	}
	// An interrupted first run leaves files; the next OpenForWrite removes them.
	m = testManifest()
	addSegment(t, dir, m, rng, 3)
	lock.Release()
	lock, m2, err := OpenForWrite(dir)
	if err != nil || m2 != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{LockFile}) {
		t.Fatalf("leftovers not removed: %v", got)
	}
	m = testManifest()
	addSegment(t, dir, m, rng, 3)
	if err := Commit(dir, m); err != nil {
		t.Fatal(err)
	}
	lock.Release()
	// MANIFEST lost (a first commit interrupted between its two renames):
	// OpenForWrite rolls forward to the intact manifest.
	os.Remove(filepath.Join(dir, PointerFile))
	wantErr(t, Commit(dir, testManifest()), "no MANIFEST but manifest-000001.json exists")
	lock, m2, err = OpenForWrite(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	if m2 == nil || m2.Generation != 2 || len(m2.Segments) != 1 || m2.Segments[0].Vectors != m.Segments[0].Vectors {
		t.Fatalf("recovered %+v", m2)
	}
}
