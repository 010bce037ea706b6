package store

import "fmt"

// Remap decides, during a compaction copy, whether the document with ordinal
// ord survives and under which ordinal. It must be monotonic: kept ordinals
// keep their order. Tombstones.Renumber (dense renumbering) and KeepLive
// (same ordinals) are the usual choices.
type Remap func(ord uint32) (newOrd uint32, keep bool)

// KeepLive returns a Remap that drops the ordinals in t and keeps the others
// unchanged.
func KeepLive(t Tombstones) Remap {
	return func(ord uint32) (uint32, bool) { return ord, !t.Contains(ord) }
}

// CopyStats describe the output of a filtered copy.
type CopyStats struct {
	Docs     int64  // documents kept
	Passages int64  // passages (vector rows) kept
	FirstOrd uint32 // smallest new ordinal (0 when nothing was kept)
	LastOrd  uint32 // largest new ordinal
}

// GroupStats describes a file whose rows are passages of the documents
// groups (non-decreasing): the per-segment kinds that hold one row per
// passage report it from their group column.
func GroupStats(groups []uint32) CopyStats {
	st := CopyStats{Passages: int64(len(groups))}
	for i, g := range groups {
		if i == 0 || g != groups[i-1] {
			st.Docs++
		}
	}
	if len(groups) > 0 {
		st.FirstOrd, st.LastOrd = groups[0], groups[len(groups)-1]
	}
	return st
}

// CopySegmentFiltered writes to dst a copy of the segment src without the
// rows of dropped documents, with group ordinals mapped by remap. Vectors,
// int8 scales and rescore vectors are copied bit for bit (never
// re-quantized); block size and dtypes are kept. It streams one block at a
// time, so segments larger than memory can be compacted.
func CopySegmentFiltered(dst, src string, remap Remap) (FileRef, CopyStats, error) {
	return CopySegmentFilteredFS(OSFS{}, dst, src, remap)
}

// CopySegmentFilteredFS is CopySegmentFiltered on the file system fsys.
func CopySegmentFilteredFS(fsys FS, dst, src string, remap Remap) (FileRef, CopyStats, error) {
	var st CopyStats
	r, err := OpenSegmentFS(fsys, src)
	if err != nil {
		return FileRef{}, st, fmt.Errorf("copy segment %s: %w", src, err)
	}
	defer r.Close()
	in := r.Info()
	// First pass over the (small) group blocks: how many rows survive.
	kept := 0
	var groups []uint32
	for b := 0; b < in.NumBlocks; b++ {
		if groups, err = r.ReadGroups(b, groups[:0]); err != nil {
			return FileRef{}, st, fmt.Errorf("copy segment: %w", err)
		}
		for _, g := range groups {
			if _, ok := remap(g); ok {
				kept++
			}
		}
	}
	w, err := NewSegmentWriter(dst, SegmentParams{DType: in.DType, Dim: in.Dim, Count: kept, Rescore: in.Rescore, BlockRows: in.BlockRows, FS: fsys})
	if err != nil {
		return FileRef{}, st, fmt.Errorf("copy segment %s: %w", src, err)
	}
	var blk Block
	var resc Vectors
	var newGroups []uint32
	lastDoc, haveDoc := uint32(0), false
	for b := 0; b < in.NumBlocks; b++ {
		if err := r.ReadBlock(b, &blk); err != nil {
			w.Abort()
			return FileRef{}, st, fmt.Errorf("copy segment: %w", err)
		}
		var rp *Vectors
		if in.Rescore != 0 {
			if err := r.ReadRescore(b, &resc); err != nil {
				w.Abort()
				return FileRef{}, st, fmt.Errorf("copy segment: %w", err)
			}
		}
		// Append maximal runs of kept rows.
		for i := 0; i < blk.Vectors.N; {
			if _, ok := remap(blk.Groups[i]); !ok {
				i++
				continue
			}
			j := i
			newGroups = newGroups[:0]
			for ; j < blk.Vectors.N; j++ {
				g, ok := remap(blk.Groups[j])
				if !ok {
					break
				}
				newGroups = append(newGroups, g)
				if !haveDoc || g != lastDoc {
					if !haveDoc {
						st.FirstOrd = g
					}
					st.Docs++
					lastDoc, haveDoc = g, true
				}
			}
			if in.Rescore != 0 {
				s := resc.Slice(i, j)
				rp = &s
			}
			if err := w.Append(blk.Vectors.Slice(i, j), newGroups, rp); err != nil {
				return FileRef{}, st, fmt.Errorf("copy segment %s: %w", src, err)
			}
			st.Passages += int64(j - i)
			i = j
		}
	}
	st.LastOrd = lastDoc
	ref, err := w.Commit()
	if err != nil {
		return FileRef{}, st, fmt.Errorf("copy segment %s: %w", src, err)
	}
	return ref, st, nil
}

// CopyDocsFiltered writes to dst a copy of the doc store src without the
// dropped documents, with ordinals mapped by remap.
func CopyDocsFiltered(dst, src string, remap Remap) (FileRef, CopyStats, error) {
	return CopyDocsFilteredFS(OSFS{}, dst, src, remap)
}

// CopyDocsFilteredFS is CopyDocsFiltered on the file system fsys.
func CopyDocsFilteredFS(fsys FS, dst, src string, remap Remap) (FileRef, CopyStats, error) {
	var st CopyStats
	r, err := OpenDocsFS(fsys, src)
	if err != nil {
		return FileRef{}, st, fmt.Errorf("copy doc store %s: %w", src, err)
	}
	defer r.Close()
	w, err := NewDocWriter(dst, DocParams{FS: fsys})
	if err != nil {
		return FileRef{}, st, fmt.Errorf("copy doc store %s: %w", src, err)
	}
	for rec, err := range r.All() {
		if err != nil {
			w.Abort()
			return FileRef{}, st, fmt.Errorf("copy doc store: %w", err)
		}
		ord, ok := remap(rec.Ord)
		if !ok {
			continue
		}
		rec.Ord = ord
		if st.Docs == 0 {
			st.FirstOrd = ord
		}
		st.Docs++
		st.Passages += int64(len(rec.Passages))
		st.LastOrd = ord
		if err := w.Add(rec); err != nil {
			return FileRef{}, st, fmt.Errorf("copy doc store %s: %w", src, err)
		}
	}
	ref, err := w.Commit()
	if err != nil {
		return FileRef{}, st, fmt.Errorf("copy doc store %s: %w", src, err)
	}
	return ref, st, nil
}
