package store

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const killChildEnv = "QUARRY_STORE_KILL_CHILD"

// TestKillSafety re-runs the test binary as a writer that commits
// generations in a loop (new segment + doc store, sometimes tombstones and a
// compaction, GC) and SIGKILLs it at a random moment, over and over. After
// every kill the index must load, every referenced file must read back
// intact, and the generation must be at least the last one the child
// reported committed. (SIGKILL tests the commit protocol; it cannot simulate
// a power cut, which also loses unsynced page cache.)
func TestKillSafety(t *testing.T) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		killChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("kill loop skipped in -short mode")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(51, 52))
	const iterations = 200
	start := time.Now()
	var last uint64
	kills := 0
	cycle := 10 * time.Millisecond // estimated time from "ready" to a commit
	for i := 0; i < iterations; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillSafety$")
		cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		reported := make(chan uint64, 1)
		ready := make(chan struct{})
		var readyAt, firstAt time.Time
		go func() {
			var g uint64
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if n, ok := strings.CutPrefix(sc.Text(), "committed "); ok {
					g, _ = strconv.ParseUint(n, 10, 64)
					if firstAt.IsZero() {
						firstAt = time.Now()
					}
				} else if sc.Text() == "ready" {
					readyAt = time.Now()
					close(ready)
				}
			}
			reported <- g
		}()
		// One time in ten, kill the child while it starts up (lock, load,
		// GC); otherwise somewhere in its commit loop.
		if rng.IntN(10) == 0 {
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		} else {
			select {
			case <-ready:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("iteration %d: child not ready after 20 s\n%s", i, stderr.String())
			}
			// Kill within about four commit cycles of the child (measured:
			// the race detector or a busy machine make them much slower).
			time.Sleep(time.Duration(rng.Int64N(int64(4 * cycle))))
		}
		cmd.Process.Signal(syscall.SIGKILL)
		werr := cmd.Wait()
		g := <-reported
		if !readyAt.IsZero() && !firstAt.IsZero() {
			cycle = (3*cycle + firstAt.Sub(readyAt)) / 4
		}
		var ee *exec.ExitError
		if errors.As(werr, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				kills++
			} else {
				t.Fatalf("iteration %d: child failed: %v\n%s", i, werr, stderr.String())
			}
		} else if werr != nil {
			t.Fatalf("iteration %d: %v", i, werr)
		}
		last = max(last, g)
		m, err := LoadManifest(dir)
		if err != nil {
			if last == 0 && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			t.Fatalf("iteration %d (last reported generation %d): %v", i, last, err)
		}
		if m.Generation < last {
			t.Fatalf("iteration %d: generation %d, but the child reported %d committed", i, m.Generation, last)
		}
		checkIndexReadable(t, dir, m)
		l, err := AcquireLock(dir)
		if err != nil {
			t.Fatalf("iteration %d: lock not released by the kernel: %v", i, err)
		}
		l.Release()
	}
	t.Logf("%d iterations (%d killed mid-loop), last generation %d, commit cycle ≈ %v, %v", iterations, kills, last, cycle, time.Since(start))
	if last < 20 {
		t.Fatalf("only %d generations committed: the children did not get far enough to test anything", last)
	}
}

// checkIndexReadable reads every file m references.
func checkIndexReadable(t *testing.T, dir string, m *Manifest) {
	t.Helper()
	if err := VerifyFiles(dir, m); err != nil {
		t.Fatal(err)
	}
	for i := range m.Segments {
		sr, err := m.OpenSegment(dir, i)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sr.ReadAll(); err != nil {
			t.Fatal(err)
		}
		sr.Close()
		dr, err := m.OpenDocs(dir, i)
		if err != nil {
			t.Fatal(err)
		}
		for _, err := range dr.All() {
			if err != nil {
				t.Fatal(err)
			}
		}
		dr.Close()
	}
	if m.Tombstones != nil {
		ts, err := ReadTombstones(filepath.Join(dir, m.Tombstones.Name))
		if err != nil || int64(ts.Len()) != m.Counts.Deleted {
			t.Fatalf("tombstones: %d, %v; manifest says %d", ts.Len(), err, m.Counts.Deleted)
		}
	}
}

// killChild is the writer loop run in the child process; it never returns
// normally (the parent kills it).
func killChild(dir string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	lock, m, err := OpenForWrite(dir)
	if err != nil {
		fail(err)
	}
	defer lock.Release()
	if m == nil {
		m = testManifest()
	}
	fmt.Fprintln(os.Stdout, "ready")
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(time.Now().UnixNano())))
	tb := &childTB{fail: fail}
	for {
		addSegment(tb, dir, m, rng, 1+rng.IntN(20))
		if rng.IntN(4) == 0 {
			// Delete a few documents.
			var ts Tombstones
			if m.Tombstones != nil {
				if ts, err = ReadTombstones(filepath.Join(dir, m.Tombstones.Name)); err != nil {
					fail(err)
				}
			}
			for k := 0; k < 3; k++ {
				s := m.Segments[rng.IntN(len(m.Segments))]
				ts = ts.Add(s.DocOrdStart + uint32(rng.IntN(int(s.DocOrdEnd-s.DocOrdStart))))
			}
			// Tombstone files are named for the generation they belong to.
			path := filepath.Join(dir, TombstonesFileName(m.Generation+1))
			os.Remove(path) // leftover of a killed earlier attempt at this generation
			ref, err := WriteTombstones(path, ts)
			if err != nil {
				fail(err)
			}
			m.Tombstones, m.Counts.Deleted = &ref, int64(ts.Len())
		}
		if len(m.Segments) > 4 {
			compactFirst(tb, dir, m)
		}
		if err := Commit(dir, m); err != nil {
			fail(err)
		}
		fmt.Fprintf(os.Stdout, "committed %d\n", m.Generation)
		if _, err := GC(dir, m); err != nil {
			fail(err)
		}
	}
}

// compactFirst rewrites the first segment without its tombstoned documents
// (same ordinals) and drops them from the tombstone set.
func compactFirst(t testing.TB, dir string, m *Manifest) {
	s := m.Segments[0]
	var ts Tombstones
	if m.Tombstones != nil {
		var err error
		if ts, err = ReadTombstones(filepath.Join(dir, m.Tombstones.Name)); err != nil {
			t.Fatal(err)
		}
	}
	id := m.NextSegmentID
	m.NextSegmentID++
	vref, vst, err := CopySegmentFiltered(filepath.Join(dir, SegmentFileName(id)), filepath.Join(dir, s.Vectors.Name), KeepLive(ts))
	if err != nil {
		t.Fatal(err)
	}
	dref, dst, err := CopyDocsFiltered(filepath.Join(dir, DocsFileName(id)), filepath.Join(dir, s.Docs.Name), KeepLive(ts))
	if err != nil {
		t.Fatal(err)
	}
	m.Segments[0] = Segment{ID: id, DocOrdStart: s.DocOrdStart, DocOrdEnd: s.DocOrdEnd, NumDocs: dst.Docs, NumPassages: vst.Passages, Vectors: vref, Docs: dref}
	rest := ts.WithoutRange(s.DocOrdStart, s.DocOrdEnd)
	if rest.Len() != ts.Len() {
		if rest.Len() == 0 {
			m.Tombstones = nil
		} else {
			path := filepath.Join(dir, TombstonesFileName(m.Generation+1))
			os.Remove(path)
			ref, err := WriteTombstones(path, rest)
			if err != nil {
				t.Fatal(err)
			}
			m.Tombstones = &ref
		}
		m.Counts.Deleted = int64(rest.Len())
	}
	m.Recount()
}

// childTB lets the test helpers run in the child process.
type childTB struct {
	testing.TB
	fail func(error)
}

func (c *childTB) Helper()                   {}
func (c *childTB) Fatal(args ...any)         { c.fail(errors.New(fmt.Sprint(args...))) }
func (c *childTB) Fatalf(f string, a ...any) { c.fail(fmt.Errorf(f, a...)) }
