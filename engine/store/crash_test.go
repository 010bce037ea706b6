package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine/lexical"
	"github.com/quarry-search/quarry/engine/sparse"
	"github.com/quarry-search/quarry/engine/store"
)

// The simulated power-loss test: a sequence of index operations (segments
// with vectors, documents, BM25 and SPLADE files; tombstones; compaction
// through the registry; GC) runs against a strict MemFS that is cut off
// after N crash points (syncs, renames, links, removes, creates), for every
// N; after each crash the unsynced state is dropped and the index must open
// at the last acknowledged generation or a later committed one, whole.

const crashDim = 8

// crashDoc is a document of the sequence, identified by id.
type crashDoc struct {
	id       string
	title    string
	passages []string
}

func makeCrashDoc(n int) crashDoc {
	d := crashDoc{id: fmt.Sprintf("doc-%03d", n), title: fmt.Sprintf("title %d", n)}
	for p := 0; p <= n%2; p++ {
		d.passages = append(d.passages, fmt.Sprintf("passage %d of document %d about storage engines and words%d", p, n, n%5))
	}
	return d
}

// vec is the deterministic vector of passage p of document id.
func vec(id string, p int) []float32 {
	v := make([]float32, crashDim)
	for j := range v {
		h := fnv.New32a()
		fmt.Fprintf(h, "%s/%d/%d", id, p, j)
		v[j] = float32(h.Sum32()%2000)/1000 - 1
	}
	return v
}

func sparseVec(id string, p int) sparse.Vec {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", id, p)
	x := int32(h.Sum32() % 50)
	return sparse.Vec{IDs: []int32{x, x + 60}, Weights: []float32{float32(p) + 0.5, 1.25}}
}

// crashRun is one run of the sequence on fsys.
type crashRun struct {
	fsys   store.FS
	dir    string
	reg    *store.Registry
	states []map[string]crashDoc // live documents after step i (states[0]: none)
	acked  int                   // last state whose Commit returned nil; -1 none
	next   int                   // next document number
}

func newCrashRegistry(t testing.TB) *store.Registry {
	reg, err := store.NewRegistry(store.VectorsKind(), store.DocsKind(), lexical.FileKind(), sparse.FileKind())
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// addSegment writes a segment of n new documents (every kind) and returns
// it.
func (r *crashRun) addSegment(m *store.Manifest, n int) (store.Segment, []crashDoc, error) {
	id := m.NextSegmentID
	start := m.NextDocOrd()
	var docs []crashDoc
	var rows [][]float32
	var groups []uint32
	var svecs []sparse.Vec
	var lex []lexical.Doc
	dw, err := store.NewDocWriter(filepath.Join(r.dir, store.DocsFileName(id)), store.DocParams{FS: r.fsys})
	if err != nil {
		return store.Segment{}, nil, err
	}
	for i := range n {
		d := makeCrashDoc(r.next)
		r.next++
		docs = append(docs, d)
		ord := start + uint32(i)
		rec := store.DocRecord{Ord: ord, ID: d.id, Title: d.title, Metadata: json.RawMessage(fmt.Sprintf(`{"n":%d}`, r.next-1))}
		for p, text := range d.passages {
			rec.Passages = append(rec.Passages, store.PassageRecord{Text: text, Start: 0, End: len(text)})
			rows = append(rows, vec(d.id, p))
			groups = append(groups, ord)
			svecs = append(svecs, sparseVec(d.id, p))
		}
		lex = append(lex, lexical.Doc{Ord: ord, Title: d.title, Text: strings.Join(d.passages, " ")})
		if err := dw.Add(rec); err != nil {
			dw.Abort()
			return store.Segment{}, nil, err
		}
	}
	docsRef, err := dw.Commit()
	if err != nil {
		return store.Segment{}, nil, err
	}
	vecs, err := store.Quantize(store.F32, crashDim, rows)
	if err != nil {
		return store.Segment{}, nil, err
	}
	vref, err := store.WriteSegmentParams(filepath.Join(r.dir, store.SegmentFileName(id)),
		store.SegmentParams{DType: store.F32, Dim: crashDim, Count: len(rows), BlockRows: 2, FS: r.fsys}, vecs, groups, nil)
	if err != nil {
		return store.Segment{}, nil, err
	}
	data, _, err := lexical.EncodeSegment(context.Background(), lex, lexical.English())
	if err != nil {
		return store.Segment{}, nil, err
	}
	lref, err := store.WriteFileAtomicFS(r.fsys, filepath.Join(r.dir, lexical.SegmentFileName(id)), data)
	if err != nil {
		return store.Segment{}, nil, err
	}
	sref, _, err := sparse.WriteFileFS(r.fsys, filepath.Join(r.dir, sparse.FileName(id)), 128, groups, svecs)
	if err != nil {
		return store.Segment{}, nil, err
	}
	seg := store.Segment{ID: id, DocOrdStart: start, DocOrdEnd: start + uint32(n), NumDocs: int64(n), NumPassages: int64(len(rows)),
		Vectors: vref, Docs: docsRef, Files: map[string]store.FileRef{lexical.FileKey: lref, sparse.FileKey: sref}}
	return seg, docs, nil
}

// commit commits m and records the acknowledged state.
func (r *crashRun) commit(m *store.Manifest, live map[string]crashDoc) error {
	m.Recount()
	r.states = append(r.states, maps.Clone(live))
	if err := store.CommitFS(r.fsys, r.dir, m); err != nil {
		return err
	}
	r.acked = len(r.states) - 1
	return nil
}

// sequence runs the operations: cycles × (add, add, delete, compact + GC,
// add + GC). It stops at the first error (the crash).
func (r *crashRun) sequence(cycles int) error {
	r.states = []map[string]crashDoc{{}}
	r.acked = -1
	lock, m, err := store.OpenForWriteFS(r.fsys, r.dir)
	if err != nil {
		return err
	}
	defer lock.Release()
	if m == nil {
		m = &store.Manifest{Model: store.ModelIdentity{Name: "crash", SHA256: strings.Repeat("ab", 32), Dim: crashDim, Pooling: "mean"},
			DType: store.F32, NextSegmentID: 1}
	}
	r.acked = 0
	live := map[string]crashDoc{}
	byOrd := map[uint32]string{}
	var tomb store.Tombstones
	add := func(n int) error {
		seg, docs, err := r.addSegment(m, n)
		if err != nil {
			return err
		}
		for i, d := range docs {
			live[d.id] = d
			byOrd[seg.DocOrdStart+uint32(i)] = d.id
		}
		m.Segments = append(m.Segments, seg)
		m.NextSegmentID = seg.ID + 1
		return r.commit(m, live)
	}
	for c := range cycles {
		if err := add(3 + c); err != nil {
			return err
		}
		if err := add(2); err != nil {
			return err
		}
		// Delete the first and the last live document by ordinal.
		ords := slices.Sorted(maps.Keys(byOrd))
		for _, o := range []uint32{ords[0], ords[len(ords)-1]} {
			if !tomb.Contains(o) {
				tomb = tomb.Add(o)
				delete(live, byOrd[o])
			}
		}
		name := store.TombstonesFileName(m.Generation + 1)
		tref, err := store.WriteTombstonesFS(r.fsys, filepath.Join(r.dir, name), tomb)
		if err != nil {
			return err
		}
		m.Tombstones = &tref
		m.Counts.Deleted = int64(tomb.Len())
		if err := r.commit(m, live); err != nil {
			return err
		}
		// Compact every segment, renumbering the whole index.
		var segs []store.Segment
		newByOrd := map[uint32]string{}
		for _, s := range m.Segments {
			ns, empty, err := r.reg.CompactSegment(context.Background(), r.dir, s, m.NextSegmentID, tomb.Renumber)
			if err != nil {
				return err
			}
			if !empty {
				segs = append(segs, ns)
				m.NextSegmentID++
			}
		}
		for o, id := range byOrd {
			if no, ok := tomb.Renumber(o); ok {
				newByOrd[no] = id
			}
		}
		byOrd, tomb = newByOrd, store.Tombstones{}
		m.Segments, m.Tombstones, m.Counts.Deleted = segs, nil, 0
		if err := r.commit(m, live); err != nil {
			return err
		}
		if _, err := r.reg.GC(r.dir, m); err != nil {
			return err
		}
		if err := add(2); err != nil {
			return err
		}
		if _, err := r.reg.GC(r.dir, m); err != nil {
			return err
		}
	}
	return nil
}

// check reopens the index after a crash and checks it against the states.
func (r *crashRun) check(t *testing.T, label string) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: %s", label, fmt.Sprintf(format, args...))
	}
	lock, m, err := store.OpenForWriteFS(r.fsys, r.dir)
	if err != nil {
		if r.acked < 0 && errors.Is(err, os.ErrNotExist) {
			return // the index directory itself was never made durable
		}
		fail("reopen: %v", err)
	}
	defer lock.Release()
	if m == nil {
		if r.acked > 0 {
			fail("no index after state %d was acknowledged", r.acked)
		}
		return
	}
	if err := r.reg.Verify(r.dir, m); err != nil {
		fail("verify generation %d: %v", m.Generation, err)
	}
	got, err := readLive(r.fsys, r.dir, m)
	if err != nil {
		fail("read generation %d: %v", m.Generation, err)
	}
	state := -1
	for i := max(r.acked, 1); i < len(r.states); i++ {
		if equalDocs(got, r.states[i]) {
			state = i
			break
		}
	}
	if state < 0 {
		fail("generation %d holds %d documents %v: no state at or after the acknowledged %d has exactly these", m.Generation, len(got), slices.Sorted(maps.Keys(got)), r.acked)
	}
	// OpenForWrite ran GC: only the current and previous generations' files
	// are left, and no temporary file.
	keep := map[string]bool{store.PointerFile: true, store.LockFile: true, store.ManifestFileName(m.Generation): true}
	for _, ref := range m.Refs() {
		keep[ref.Name] = true
	}
	gens, err := store.ListManifestsFS(r.fsys, r.dir)
	if err != nil {
		fail("%v", err)
	}
	if len(gens) > 2 {
		fail("%d manifests left after GC: %v", len(gens), gens)
	}
	for _, g := range gens {
		if g < m.Generation {
			prev, err := store.LoadManifestFileFS(r.fsys, r.dir, store.ManifestFileName(g))
			if err != nil {
				fail("previous manifest kept by GC: %v", err)
			}
			keep[store.ManifestFileName(g)] = true
			for _, ref := range prev.Refs() {
				keep[ref.Name] = true
			}
		}
	}
	ents, err := r.fsys.ReadDir(r.dir)
	if err != nil {
		fail("%v", err)
	}
	for _, e := range ents {
		if !keep[e.Name()] {
			fail("%s left after GC", e.Name())
		}
	}
	// A further commit works and survives a crash.
	r.next = 1000
	seg, docs, err := r.addSegment(m, 2)
	if err != nil {
		fail("add after recovery: %v", err)
	}
	m.Segments = append(m.Segments, seg)
	m.NextSegmentID = seg.ID + 1
	m.Recount()
	gen := m.Generation
	if err := store.CommitFS(r.fsys, r.dir, m); err != nil {
		fail("commit after recovery: %v", err)
	}
	if mem, ok := r.fsys.(*store.MemFS); ok {
		mem.Crash()
	}
	m2, err := store.LoadManifestFS(r.fsys, r.dir)
	if err != nil || m2.Generation != gen+1 {
		fail("after a crash following the acknowledged commit of generation %d: %v, %+v", gen+1, err, m2)
	}
	got2, err := readLive(r.fsys, r.dir, m2)
	if err != nil {
		fail("%v", err)
	}
	want := maps.Clone(r.states[state])
	for _, d := range docs {
		want[d.id] = d
	}
	if !equalDocs(got2, want) {
		fail("after the further commit: %d documents, want %d", len(got2), len(want))
	}
}

// readLive reads every live document of m with its vectors and SPLADE rows
// and checks them against their deterministic content.
func readLive(fsys store.FS, dir string, m *store.Manifest) (map[string]crashDoc, error) {
	var tomb store.Tombstones
	if m.Tombstones != nil {
		var err error
		if tomb, err = store.ReadTombstonesFS(fsys, filepath.Join(dir, m.Tombstones.Name)); err != nil {
			return nil, err
		}
	}
	out := map[string]crashDoc{}
	for _, s := range m.Segments {
		dr, err := store.OpenDocsFS(fsys, filepath.Join(dir, s.Docs.Name))
		if err != nil {
			return nil, err
		}
		ids := map[uint32]string{}
		for rec, err := range dr.All() {
			if err != nil {
				dr.Close()
				return nil, err
			}
			ids[rec.Ord] = rec.ID
			if tomb.Contains(rec.Ord) {
				continue
			}
			d := crashDoc{id: rec.ID, title: rec.Title}
			for _, p := range rec.Passages {
				d.passages = append(d.passages, p.Text)
			}
			var meta struct{ N int }
			if err := json.Unmarshal(rec.Metadata, &meta); err != nil || makeCrashDoc(meta.N).id != rec.ID {
				dr.Close()
				return nil, fmt.Errorf("%s: metadata %s of %s", s.Docs.Name, rec.Metadata, rec.ID)
			}
			out[d.id] = d
		}
		dr.Close()
		sd, err := store.ReadSegmentFS(fsys, filepath.Join(dir, s.Vectors.Name))
		if err != nil {
			return nil, err
		}
		sp, err := sparse.ReadFileFS(fsys, filepath.Join(dir, s.Files[sparse.FileKey].Name))
		if err != nil {
			return nil, err
		}
		if !slices.Equal(sp.Groups, sd.Groups) {
			return nil, fmt.Errorf("segment %d: SPLADE rows of documents %v, vector rows of %v", s.ID, sp.Groups, sd.Groups)
		}
		svecs := sp.Vecs()
		p := 0
		for row, g := range sd.Groups {
			if row > 0 && sd.Groups[row-1] != g {
				p = 0
			}
			id, ok := ids[g]
			if !ok {
				return nil, fmt.Errorf("segment %d: row %d of ordinal %d, which has no document", s.ID, row, g)
			}
			got := sd.Vectors.Data[row*crashDim*4 : (row+1)*crashDim*4]
			want, _ := store.Quantize(store.F32, crashDim, [][]float32{vec(id, p)})
			if !slices.Equal(got, want.Data[:crashDim*4]) {
				return nil, fmt.Errorf("segment %d: vector of %s passage %d differs", s.ID, id, p)
			}
			if sv := sparseVec(id, p); !slices.Equal(svecs[row].IDs, sv.IDs) || !slices.Equal(svecs[row].Weights, sv.Weights) {
				return nil, fmt.Errorf("segment %d: SPLADE row of %s passage %d differs", s.ID, id, p)
			}
			p++
		}
	}
	return out, nil
}

func equalDocs(a, b map[string]crashDoc) bool {
	return maps.EqualFunc(a, b, func(x, y crashDoc) bool {
		return x.id == y.id && x.title == y.title && slices.Equal(x.passages, y.passages)
	})
}

// TestSimulatedPowerLoss crashes the sequence after every crash point, and
// for every tenth of them crashes the recovery again at each of its crash
// points. Set QUARRY_CRASH_LONG=1 for three cycles of the sequence instead
// of one and a second crash after every first one.
func TestSimulatedPowerLoss(t *testing.T) {
	cycles, long := 1, os.Getenv("QUARRY_CRASH_LONG") != ""
	if long {
		cycles = 3
	}
	recovery := 0
	const dir = "/data/idx"
	reg := newCrashRegistry(t)
	// A run without a crash counts the crash points.
	mem := store.NewMemFS()
	full := &crashRun{fsys: mem, dir: dir, reg: reg.WithFS(mem)}
	if err := full.sequence(cycles); err != nil {
		t.Fatalf("sequence without a crash: %v", err)
	}
	total := mem.Ops()
	if full.acked != len(full.states)-1 || total < 50 {
		t.Fatalf("sequence: acknowledged %d of %d states in %d crash points", full.acked, len(full.states), total)
	}
	for n := 0; n <= total; n++ {
		mem := store.NewMemFS()
		run := &crashRun{fsys: mem, dir: dir, reg: reg.WithFS(mem)}
		mem.CrashAfter(n)
		err := run.sequence(cycles)
		if n < total && !errors.Is(err, store.ErrCrashed) {
			t.Fatalf("crash after %d of %d points: the sequence returned %v, want ErrCrashed", n, total, err)
		}
		if n == total && err != nil {
			t.Fatalf("no crash: %v", err)
		}
		mem.Crash()
		if long || n%10 == 0 {
			// A second power cut during the recovery: at every crash point
			// of the reopen (roll forward, GC).
			probe := mem.Clone()
			before := probe.Ops()
			if l, _, err := store.OpenForWriteFS(probe, dir); err == nil {
				l.Release()
			}
			for k := range probe.Ops() - before {
				again := mem.Clone()
				again.CrashAfter(k)
				if _, _, err := store.OpenForWriteFS(again, dir); !errors.Is(err, store.ErrCrashed) {
					t.Fatalf("crash after %d points, again after %d points of the recovery: %v, want ErrCrashed", n, k, err)
				}
				again.Crash()
				r2 := *run
				r2.fsys, r2.reg = again, reg.WithFS(again)
				r2.check(t, fmt.Sprintf("crash after %d of %d points, again after %d of %d points of the recovery", n, total, k, probe.Ops()-before))
				recovery++
			}
		}
		run.check(t, fmt.Sprintf("crash after %d of %d points (acknowledged state %d)", n, total, run.acked))
	}
	t.Logf("%d cycle(s): %d crash points explored (%d cuts), %d states; %d second cuts during recovery", cycles, total, total+1, len(full.states), recovery)
}
