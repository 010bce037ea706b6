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
	return groupStats(s.Groups), nil
}

// copyKindFS is the kind's CopyFiltered on the file system fsys.
func copyKindFS(fsys store.FS, dst, src string, remap store.Remap) (store.FileRef, store.CopyStats, error) {
	ref, _, groups, err := copyFiltered(fsys, dst, src, remap)
	if err != nil {
		return store.FileRef{}, store.CopyStats{}, err
	}
	return ref, groupStats(groups), nil
}

// groupStats describes a file whose rows belong to the documents groups
// (non-decreasing): its rows are passages.
func groupStats(groups []uint32) store.CopyStats {
	var st store.CopyStats
	for i, g := range groups {
		if i == 0 {
			st.FirstOrd = g
		}
		if i == 0 || g != st.LastOrd {
			st.Docs++
		}
		st.LastOrd = g
	}
	st.Passages = int64(len(groups))
	return st
}
