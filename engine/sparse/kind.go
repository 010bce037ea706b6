package sparse

import "github.com/quarry-search/quarry/engine/store"

// FileKind declares the SPLADE postings file to a store.Registry: key
// FileKey, named sparse-NNNNNN.qsp, one row per passage of the segment
// (store.HoldsPassages), verified by parsing it completely (ReadFile: every
// checksum and structural rule), copied on compaction by CopyFiltered.
func FileKind() store.FileKind {
	return store.FileKind{
		Key: FileKey, Prefix: filePrefix, Ext: fileExt, Holds: store.HoldsPassages,
		Verify: verifyFS, CopyFiltered: copyKindFS,
	}
}

// verifyFS is the kind's Verify on the file system fsys.
func verifyFS(fsys store.FS, path string) (store.CopyStats, error) {
	s, err := ReadFileFS(fsys, path)
	if err != nil {
		return store.CopyStats{}, err
	}
	return store.GroupStats(s.Groups), nil
}

// copyKindFS is the kind's CopyFiltered on the file system fsys.
func copyKindFS(fsys store.FS, dst, src string, remap store.Remap) (store.FileRef, store.CopyStats, error) {
	ref, _, groups, err := copyFiltered(fsys, dst, src, remap)
	if err != nil {
		return store.FileRef{}, store.CopyStats{}, err
	}
	return ref, store.GroupStats(groups), nil
}
