package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Holds says which of a segment's counts a file kind holds in full, so that
// the files of one segment can be checked against each other and against the
// manifest.
type Holds uint8

const (
	// HoldsDocs: the file has an entry for every document of the segment:
	// its CopyStats.Docs is the segment's NumDocs and its FirstOrd and
	// LastOrd the first and last document ordinals.
	HoldsDocs Holds = 1 << iota
	// HoldsPassages: the file has an entry for every passage of the
	// segment: its CopyStats.Passages is the segment's NumPassages.
	HoldsPassages

	holdsAll = HoldsDocs | HoldsPassages
)

// segField is where a Segment keeps the reference to a file of a kind.
type segField uint8

const (
	inFiles   segField = iota // Segment.Files[Key]
	inVectors                 // Segment.Vectors
	inDocs                    // Segment.Docs
)

// FileKind declares one kind of per-segment file: how it is named, how it is
// verified and how compaction copies it. Every kind an index may hold is
// declared once, as a FileKind given to NewRegistry; a new kind (an ANN
// graph) is one more declaration. The store declares its own two kinds
// (VectorsKind, DocsKind); packages that keep other per-segment files declare
// theirs (lexical.FileKind, sparse.FileKind), so that the store depends on
// none of them.
type FileKind struct {
	// Key names the file in a Segment: for the kinds declared by other
	// packages it is the Segment.Files key ("lexical", "sparse"); "vectors"
	// and "docs" are reserved for VectorsKind and DocsKind, whose files are
	// the Segment's Vectors and Docs fields.
	Key string
	// Prefix and Ext name the file of segment id: FileName(Prefix, id, Ext),
	// e.g. "lex-000003.bm25". GC recognizes a file of the kind by this
	// pattern.
	Prefix, Ext string
	// Holds says which segment counts the file holds in full.
	Holds Holds
	// Verify reads the file at path and checks it completely: every
	// checksum and every structural rule of its format. It returns what the
	// file holds (documents, passages, ordinal range: counts the kind does
	// not hold in full are what the file has, e.g. the documents that have
	// passages). Damage is a *CorruptError naming path.
	Verify func(fsys FS, path string) (CopyStats, error)
	// CopyFiltered writes to dst a copy of the file src without the
	// documents remap drops, the kept ones under their new ordinals (the
	// compaction of a segment), and returns the new file's reference and
	// what it holds. It publishes dst through AtomicFile (never replacing a
	// file) and leaves no file at dst when it fails. A kind that cannot
	// represent a segment without documents returns an error wrapping
	// ErrNoDocuments, writing nothing, when remap keeps none.
	// Both work on the file system they are given (the registry's: the
	// operating system's, or a test's MemFS).
	CopyFiltered func(fsys FS, dst, src string, remap Remap) (FileRef, CopyStats, error)

	field segField
}

// FileName is the name of segment id's file of this kind.
func (k *FileKind) FileName(id uint64) string { return FileName(k.Prefix, id, k.Ext) }

// Matches reports whether name is the name of a file of this kind:
// "<Prefix>-<six to twenty digits>.<Ext>".
func (k *FileKind) Matches(name string) bool {
	rest, ok := strings.CutPrefix(name, k.Prefix+"-")
	if !ok {
		return false
	}
	num, ok := strings.CutSuffix(rest, "."+k.Ext)
	if !ok || len(num) < 6 || len(num) > 20 {
		return false
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return false
		}
	}
	return true
}

// VectorsKind is the vector segment file (seg-NNNNNN.qvec, with its rescore
// copy inside): Segment.Vectors, one row per passage.
func VectorsKind() FileKind {
	return FileKind{Key: "vectors", Prefix: "seg", Ext: "qvec", Holds: HoldsPassages,
		Verify: verifyVectors, CopyFiltered: CopySegmentFilteredFS, field: inVectors}
}

// DocsKind is the doc store (docs-NNNNNN.zst): Segment.Docs, one record per
// document with its passages.
func DocsKind() FileKind {
	return FileKind{Key: "docs", Prefix: "docs", Ext: "zst", Holds: HoldsDocs | HoldsPassages,
		Verify: verifyDocs, CopyFiltered: CopyDocsFilteredFS, field: inDocs}
}

// verifyVectors reads every block of a vector segment (vectors, int8
// scales, document ordinals, rescore vectors), checking every CRC and every
// stored value (Vectors.Validate).
func verifyVectors(fsys FS, path string) (CopyStats, error) {
	var st CopyStats
	r, err := OpenSegmentFS(fsys, path)
	if err != nil {
		return st, fmt.Errorf("verify: %w", err)
	}
	defer r.Close()
	in := r.Info()
	var blk Block
	var resc Vectors
	for b := 0; b < in.NumBlocks; b++ {
		if err := r.ReadBlock(b, &blk); err != nil {
			return st, fmt.Errorf("verify: %w", err)
		}
		if err := blk.Vectors.Validate(); err != nil {
			return st, corrupt(path, r.where(b, seriesVectors), "%v", err)
		}
		if in.Rescore != 0 {
			if err := r.ReadRescore(b, &resc); err != nil {
				return st, fmt.Errorf("verify: %w", err)
			}
			if err := resc.Validate(); err != nil {
				return st, corrupt(path, r.where(b, seriesRescore), "%v", err)
			}
		}
		for _, g := range blk.Groups {
			if st.Passages == 0 || g != st.LastOrd {
				st.Docs++
			}
			if st.Passages == 0 {
				st.FirstOrd = g
			}
			st.LastOrd = g
			st.Passages++
		}
	}
	return st, nil
}

// verifyDocs decodes every record of a doc store.
func verifyDocs(fsys FS, path string) (CopyStats, error) {
	var st CopyStats
	r, err := OpenDocsFS(fsys, path)
	if err != nil {
		return st, fmt.Errorf("verify: %w", err)
	}
	defer r.Close()
	for rec, err := range r.All() {
		if err != nil {
			return st, fmt.Errorf("verify: %w", err)
		}
		if st.Docs == 0 {
			st.FirstOrd = rec.Ord
		}
		st.LastOrd = rec.Ord
		st.Docs++
		st.Passages += int64(len(rec.Passages))
	}
	if st.Docs != int64(r.Len()) {
		return st, corrupt(path, "footer", "%d records declared, %d decoded", r.Len(), st.Docs)
	}
	return st, nil
}

// Registry is the set of per-segment file kinds an index may hold. It is
// immutable and safe for concurrent use.
type Registry struct {
	kinds []FileKind // declaration order; vectors and docs among them
	fs    FS         // the file system it works on (OSFS unless WithFS)
}

var (
	kindPrefix = regexp.MustCompile(`^[a-z][a-z0-9]*$`)
	kindExt    = regexp.MustCompile(`^[a-z0-9]+(\.[a-z0-9]+)*$`)
)

// NewRegistry checks the kinds and returns their registry. Every index
// holds vectors and docs, so VectorsKind() and DocsKind() must be among
// them. Keys must be valid Segment.Files keys, prefixes lowercase
// alphanumeric (not "manifest" or "tomb", which name the manifests and
// tombstones), extensions dot-separated lowercase alphanumeric words; no two
// kinds may share a key or a prefix (so no file name matches two kinds);
// Verify and CopyFiltered are required.
func NewRegistry(kinds ...FileKind) (*Registry, error) {
	bad := func(i int, format string, args ...any) error {
		return fmt.Errorf("file kind %d (key %q): %s", i, kinds[i].Key, fmt.Sprintf(format, args...))
	}
	keys, prefixes := map[string]int{}, map[string]int{}
	var fields [3]int
	for i, k := range kinds {
		switch {
		case !filesKey.MatchString(k.Key):
			return nil, bad(i, "key is not [a-z0-9][a-z0-9_.-]{0,63}")
		case k.field == inFiles && (k.Key == "vectors" || k.Key == "docs"):
			return nil, bad(i, "the keys vectors and docs are reserved for store.VectorsKind and store.DocsKind")
		case !kindPrefix.MatchString(k.Prefix) || len(k.Prefix) > 32:
			return nil, bad(i, "prefix %q is not [a-z][a-z0-9]* (at most 32 bytes)", k.Prefix)
		case k.Prefix == "manifest" || k.Prefix == "tomb":
			return nil, bad(i, "prefix %q is reserved (manifests and tombstones)", k.Prefix)
		case !kindExt.MatchString(k.Ext) || len(k.Ext) > 32:
			return nil, bad(i, "extension %q is not lowercase alphanumeric words separated by dots (at most 32 bytes)", k.Ext)
		case k.Holds&^holdsAll != 0:
			return nil, bad(i, "unknown Holds bits %#x", k.Holds&^holdsAll)
		case k.Verify == nil || k.CopyFiltered == nil:
			return nil, bad(i, "Verify and CopyFiltered are required")
		}
		if j, dup := keys[k.Key]; dup {
			return nil, bad(i, "key already declared by kind %d", j)
		}
		if j, dup := prefixes[k.Prefix]; dup {
			return nil, bad(i, "prefix %q already declared by kind %d (%q)", k.Prefix, j, kinds[j].Key)
		}
		keys[k.Key], prefixes[k.Prefix] = i, i
		fields[k.field]++
	}
	if fields[inVectors] != 1 || fields[inDocs] != 1 {
		return nil, fmt.Errorf("file kinds: every index holds vectors and docs: pass store.VectorsKind() and store.DocsKind() (got %d and %d)", fields[inVectors], fields[inDocs])
	}
	return &Registry{kinds: slices.Clone(kinds), fs: OSFS{}}, nil
}

// WithFS returns a copy of the registry that works on the file system fsys
// (nil: OSFS).
func (r *Registry) WithFS(fsys FS) *Registry {
	c := *r
	c.fs = orOS(fsys)
	return &c
}

// FS is the file system the registry works on.
func (r *Registry) FS() FS { return orOS(r.fs) }

// verify runs the kind's verification on the registry's file system.
func (r *Registry) verify(k *FileKind, path string) (CopyStats, error) {
	return k.Verify(r.FS(), path)
}

// copyFiltered runs the kind's filtered copy on the registry's file system.
func (r *Registry) copyFiltered(k *FileKind, dst, src string, remap Remap) (FileRef, CopyStats, error) {
	return k.CopyFiltered(r.FS(), dst, src, remap)
}

// Kinds returns the kinds in declaration order.
func (r *Registry) Kinds() []FileKind { return slices.Clone(r.kinds) }

// Kind returns the kind with the given key.
func (r *Registry) Kind(key string) (FileKind, bool) {
	for _, k := range r.kinds {
		if k.Key == key {
			return k, true
		}
	}
	return FileKind{}, false
}

// KindOfFile returns the kind whose name pattern name matches.
func (r *Registry) KindOfFile(name string) (FileKind, bool) {
	for _, k := range r.kinds {
		if k.Matches(name) {
			return k, true
		}
	}
	return FileKind{}, false
}

var tombFileName = regexp.MustCompile(`^tomb-[0-9]{6,20}\.qtmb$`)

// IsIndexFileName reports whether name is a file this registry's indexes
// write (GC deletes such files when no kept manifest references them): a
// manifest, a tombstone file or a per-segment file of a declared kind. The
// package-level IsIndexFileName accepts every name of the generic
// "<kind>-<number>.<ext>" scheme instead.
func (r *Registry) IsIndexFileName(name string) bool {
	if manifestFileName.MatchString(name) || tombFileName.MatchString(name) {
		return true
	}
	_, ok := r.KindOfFile(name)
	return ok
}

// SegmentFile is one file of a segment with its kind.
type SegmentFile struct {
	Kind FileKind
	Ref  FileRef
}

// SegmentFiles lists the files of seg, in the registry's declaration
// order: vectors, docs and each Segment.Files entry. A Files key that no
// kind declares is an error (a file of that kind would be neither verified
// nor copied on compaction).
func (r *Registry) SegmentFiles(seg Segment) ([]SegmentFile, error) {
	var out []SegmentFile
	for _, k := range r.kinds {
		switch k.field {
		case inVectors:
			out = append(out, SegmentFile{k, seg.Vectors})
		case inDocs:
			out = append(out, SegmentFile{k, seg.Docs})
		default:
			if ref, ok := seg.Files[k.Key]; ok {
				out = append(out, SegmentFile{k, ref})
			}
		}
	}
	for key := range seg.Files {
		if k, ok := r.Kind(key); !ok || k.field != inFiles {
			return nil, fmt.Errorf("segment %d: files[%s] is a file kind this quarry does not know (known: %s)", seg.ID, key, strings.Join(r.keys(), ", "))
		}
	}
	return out, nil
}

func (r *Registry) keys() []string {
	var ks []string
	for _, k := range r.kinds {
		ks = append(ks, k.Key)
	}
	return ks
}

// VerifySegment reads every file of seg in dir and checks it completely:
// its size and whole-file CRC-32C against the manifest's reference, its name
// against its kind, its own checksums and structure (the kind's Verify), and
// what it holds against the segment: document and passage counts of the
// kinds that hold them in full, and ordinals inside [DocOrdStart,
// DocOrdEnd). Damage or disagreement is a *CorruptError naming the file.
func (r *Registry) VerifySegment(dir string, seg Segment) error {
	files, err := r.SegmentFiles(seg)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	for _, f := range files {
		path := filepath.Join(dir, f.Ref.Name)
		against := fmt.Sprintf("against segment %d's %s", seg.ID, f.Kind.Key)
		if !f.Kind.Matches(f.Ref.Name) {
			return corrupt(path, "name ("+against+")", "not a %s file name (%s)", f.Kind.Key, f.Kind.FileName(seg.ID))
		}
		if err := VerifyFileFS(r.FS(), dir, f.Ref); err != nil {
			return err
		}
		st, err := r.verify(&f.Kind, path)
		if err != nil {
			return err
		}
		var bad string
		switch {
		case f.Kind.Holds&HoldsDocs != 0 && st.Docs != seg.NumDocs:
			bad = fmt.Sprintf("%d documents; the segment has %d", st.Docs, seg.NumDocs)
		case f.Kind.Holds&HoldsPassages != 0 && st.Passages != seg.NumPassages:
			bad = fmt.Sprintf("%d passages; the segment has %d", st.Passages, seg.NumPassages)
		case (st.Docs > 0 || st.Passages > 0) && (st.FirstOrd < seg.DocOrdStart || st.LastOrd >= seg.DocOrdEnd):
			bad = fmt.Sprintf("document ordinals %d..%d lie outside the segment's range [%d, %d)", st.FirstOrd, st.LastOrd, seg.DocOrdStart, seg.DocOrdEnd)
		}
		if bad != "" {
			return &CorruptError{Path: path, Where: "content (" + against + ")", Detail: bad, Remedy: "restore the index from a backup or rebuild it"}
		}
	}
	return nil
}

// Verify checks every segment of m (VerifySegment) and its tombstone file.
func (r *Registry) Verify(dir string, m *Manifest) error {
	for _, s := range m.Segments {
		if err := r.VerifySegment(dir, s); err != nil {
			return err
		}
	}
	if m.Tombstones != nil {
		if err := VerifyFileFS(r.FS(), dir, *m.Tombstones); err != nil {
			return err
		}
		if _, err := ReadTombstonesFS(r.FS(), filepath.Join(dir, m.Tombstones.Name)); err != nil {
			return err
		}
	}
	return nil
}

// keepsAny reports whether remap keeps an ordinal of seg's range.
func keepsAny(seg Segment, remap Remap) bool {
	for o := uint64(seg.DocOrdStart); o < uint64(seg.DocOrdEnd); o++ {
		if _, ok := remap(uint32(o)); ok {
			return true
		}
	}
	return false
}

// CompactSegment copies every file of seg in dir without the documents that
// remap drops (each kind's CopyFiltered), as the files of segment newID, and
// returns the new segment: ID newID, the range and counts of the kept
// documents (NumDocs and DocOrdStart/End from the kinds that hold every
// document, NumPassages from those that hold every passage, which must
// agree), the copies' references. The caller puts it in the next manifest
// (and moves NextSegmentID past newID).
//
// When remap keeps no document of the segment it writes nothing (or removes
// what it wrote) and returns empty = true: the segment is simply dropped, and
// newID stays free for the next one. On any error it removes every file it
// created; files that existed before are never touched (a copy refuses an
// existing destination). A Files key no kind declares is an error before
// anything is written.
func (r *Registry) CompactSegment(ctx context.Context, dir string, seg Segment, newID uint64, remap Remap) (ns Segment, empty bool, err error) {
	files, err := r.SegmentFiles(seg)
	if err != nil {
		return Segment{}, false, fmt.Errorf("compact: %w", err)
	}
	if !keepsAny(seg, remap) {
		return Segment{}, true, nil
	}
	var created []string
	removeCreated := func() error {
		var errs []error
		for _, p := range slices.Backward(created) {
			if err := r.FS().Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		created = nil
		return errors.Join(errs...)
	}
	fail := func(err error) (Segment, bool, error) {
		if rerr := removeCreated(); rerr != nil {
			err = fmt.Errorf("%w (and removing the copies made so far: %v)", err, rerr)
		}
		return Segment{}, false, fmt.Errorf("compact segment %d into %d: %w", seg.ID, newID, err)
	}
	type copied struct {
		SegmentFile
		src  string
		st   CopyStats
		none bool // the kind wrote nothing: no document kept
	}
	out := make([]copied, 0, len(files))
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		dst := filepath.Join(dir, f.Kind.FileName(newID))
		src := filepath.Join(dir, f.Ref.Name)
		ref, st, err := r.copyFiltered(&f.Kind, dst, src, remap)
		if errors.Is(err, ErrNoDocuments) {
			out = append(out, copied{SegmentFile: SegmentFile{Kind: f.Kind}, src: src, none: true})
			continue
		}
		if err != nil {
			return fail(fmt.Errorf("%s: %w", f.Kind.Key, err))
		}
		created = append(created, dst)
		if ref.Name != filepath.Base(dst) {
			return fail(fmt.Errorf("%s: the copy of %s is named %q, not %q", f.Kind.Key, src, ref.Name, filepath.Base(dst)))
		}
		out = append(out, copied{SegmentFile: SegmentFile{f.Kind, ref}, src: src, st: st})
	}
	// The kinds that hold every document (every passage) must agree on what
	// survived; the first of them sets the new segment's counts.
	var docsFrom, passFrom *copied
	for i := range out {
		c := &out[i]
		if c.Kind.Holds&HoldsDocs != 0 {
			if docsFrom == nil {
				docsFrom = c
			} else if a, b := docsFrom.st, c.st; a.Docs != b.Docs || a.Docs > 0 && (a.FirstOrd != b.FirstOrd || a.LastOrd != b.LastOrd) {
				return fail(disagree(c.src, docsFrom.src, fmt.Sprintf("%d documents (ordinals %d..%d) survive in it, %d (%d..%d) in", b.Docs, b.FirstOrd, b.LastOrd, a.Docs, a.FirstOrd, a.LastOrd)))
			}
		}
		if c.Kind.Holds&HoldsPassages != 0 {
			if passFrom == nil {
				passFrom = c
			} else if a, b := passFrom.st.Passages, c.st.Passages; a != b {
				return fail(disagree(c.src, passFrom.src, fmt.Sprintf("%d passages survive in it, %d in", b, a)))
			}
		}
	}
	docs := docsFrom.st // NewRegistry guarantees the docs kind
	if docs.Docs == 0 {
		if err := removeCreated(); err != nil {
			return Segment{}, false, fmt.Errorf("compact segment %d: every document is deleted, but removing the copies failed: %w", seg.ID, err)
		}
		return Segment{}, true, nil
	}
	ns = Segment{ID: newID, DocOrdStart: docs.FirstOrd, DocOrdEnd: docs.LastOrd + 1, NumDocs: docs.Docs}
	if passFrom != nil {
		ns.NumPassages = passFrom.st.Passages
	}
	for _, c := range out {
		if c.none {
			return fail(disagree(c.src, docsFrom.src, fmt.Sprintf("no document survives in it, %d in", docs.Docs)))
		}
		if (c.st.Docs > 0 || c.st.Passages > 0) && (c.st.FirstOrd < ns.DocOrdStart || c.st.LastOrd >= ns.DocOrdEnd) {
			return fail(disagree(c.src, docsFrom.src, fmt.Sprintf("its kept ordinals %d..%d lie outside %d..%d of", c.st.FirstOrd, c.st.LastOrd, ns.DocOrdStart, ns.DocOrdEnd-1)))
		}
		switch c.Kind.field {
		case inVectors:
			ns.Vectors = c.Ref
		case inDocs:
			ns.Docs = c.Ref
		default:
			if ns.Files == nil {
				ns.Files = map[string]FileRef{}
			}
			ns.Files[c.Kind.Key] = c.Ref
		}
	}
	return ns, false, nil
}

// disagree reports two files of one segment that do not hold the same
// documents.
func disagree(path, other, detail string) error {
	return &CorruptError{Path: path, Where: "content (against " + filepath.Base(other) + ")", Detail: detail + " " + filepath.Base(other),
		Remedy: "the segment's files disagree: restore the index from a backup or rebuild it"}
}

// GC is the package-level GC that recognizes index files by this registry
// (IsIndexFileName): manifests, tombstone files and files of the declared
// kinds; every other name, "<kind>-<number>.<ext>" names of undeclared kinds
// included, is left alone and listed in GCResult.Unknown.
func (r *Registry) GC(dir string, m *Manifest) (GCResult, error) {
	return gc(r.FS(), dir, m, r.IsIndexFileName)
}
