// Package store is the on-disk format of a quarry index directory: vector
// segments, doc stores, tombstones, manifests, the writer lock and garbage
// collection. The byte layouts are specified in FORMAT.md beside this file.
//
// An index is a directory:
//
//	MANIFEST              names the current manifest, its size and CRC-32C (self-checksummed text)
//	manifest-000007.json  one generation: model identity, dtype, segments, tombstones, input watermarks
//	seg-000001.qvec       a segment's vectors (+ int8 scales, document ordinal per row, rescore copies)
//	docs-000001.zst       a segment's documents and passages, random access by ordinal
//	tomb-000007.qtmb      the deleted ordinals as of a generation
//	lex-000001.bm25       (for example) files other packages keep per segment: Segment.Files
//	LOCK                  flock'ed by the one writer
//
// Every data file is written once through AtomicFile (temporary file, fsync,
// no-clobber rename, fsync of the directory) and never modified; it is
// self-describing (magic, format version, shape in its header) and every byte
// of it is covered by a CRC-32C (Castagnoli) checksum, so damage or
// truncation anywhere is reported as an error that names the file and the
// block (errors.Is(err, ErrCorrupt)) instead of wrong data or a panic.
// Commit makes a new generation visible atomically by replacing MANIFEST; a
// crash at any point leaves the previous generation intact plus, at worst,
// unreferenced files that GC deletes.
//
// A writer's sequence:
//
//	lock, m, err := store.OpenForWrite(dir)  // lock (one writer; readers take none), load, clean up
//	defer lock.Release()
//	if m == nil { m = &store.Manifest{Model: ..., DType: store.Int8, Rescore: store.F16, NextSegmentID: 1} }
//	id := m.NextSegmentID; m.NextSegmentID++ // segment IDs are never reused
//	vref, _ := store.WriteSegment(filepath.Join(dir, store.SegmentFileName(id)), vecs, groups, rescore)
//	dref, _ := store.WriteDocs(filepath.Join(dir, store.DocsFileName(id)), docs)
//	m.Segments = append(m.Segments, store.Segment{ID: id, ..., Vectors: vref, Docs: dref})
//	m.Recount()
//	err = store.Commit(dir, m)               // m.Generation is now the new generation
//	store.GC(dir, m)                         // keeps this and the previous generation
//
// Per-segment files are declared once each as a FileKind (VectorsKind,
// DocsKind here; lexical.FileKind and sparse.FileKind in their packages) and
// collected by NewRegistry, whose CompactSegment, VerifySegment and GC treat
// every kind alike (FORMAT.md, "Per-segment file kinds"):
//
//	reg, err := store.NewRegistry(store.VectorsKind(), store.DocsKind(), lexical.FileKind(), sparse.FileKind())
//	ns, empty, err := reg.CompactSegment(ctx, dir, seg, m.NextSegmentID, tomb.Renumber)
//
// Readers call LoadManifest and open the files it references
// (ReadSegment or OpenSegment for block-by-block scans, OpenDocs,
// ReadTombstones). GC keeps the previous generation's files, so a reader
// that loaded a manifest just before a commit can still open them.
//
// Every file operation goes through an FS (OSFS by default; the functions
// named …FS, SegmentParams.FS, DocParams.FS and Registry.WithFS take
// another). MemFS is a strict in-memory FS that loses, on Crash, file data
// not fsynced and directory entries not made durable by a directory fsync:
// the power-loss tests run the write protocol on it, cut off at every crash
// point. Registry.Check verifies a whole index directory (quarry check).
//
// Compression is zstd: github.com/DataDog/zstd (libzstd) when cgo is
// enabled, github.com/klauspost/compress/zstd when CGO_ENABLED=0; both
// produce standard frames and read each other's.
package store
