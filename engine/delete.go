package engine

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/quarry-search/quarry/engine/lexical"
	"github.com/quarry-search/quarry/engine/store"
)

// Delete removes documents by ID (tombstones, committed atomically; the
// space is reclaimed by Compact). It returns how many were deleted and the
// IDs that the index does not hold.
func (ix *Index) Delete(ctx context.Context, ids []string) (int, []string, error) {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.closed.Load() {
		return 0, nil, ErrClosed
	}
	if ix.lock == nil {
		return 0, nil, fmt.Errorf("delete: %w", ErrReadOnly)
	}
	known, err := ix.idMap()
	if err != nil {
		return 0, nil, err
	}
	var ords []uint32
	var missing []string
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		o, ok := known[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		ords = append(ords, o)
	}
	if len(ords) == 0 {
		return 0, missing, nil
	}
	cur := ix.cur.Load()
	man := cloneManifest(cur.man)
	tomb := cur.tomb.Add(ords...)
	ref, err := store.WriteTombstones(filepath.Join(ix.dir, store.TombstonesFileName(man.Generation+1)), tomb)
	if err != nil {
		return 0, missing, err
	}
	man.Tombstones = &ref
	man.Counts.Deleted = int64(tomb.Len())
	if err := ix.commit(man, true); err != nil {
		return 0, missing, err
	}
	for _, id := range ids {
		delete(known, id)
	}
	return len(ords), missing, ctx.Err()
}

// CompactStats describe a compaction.
type CompactStats struct {
	Dropped  int64 // documents dropped
	Segments int
	Removed  int // files deleted by GC (the previous generation's files stay until the next commit)
}

// Compact rewrites every segment without the deleted documents (ordinals are
// renumbered densely), commits the result as one new generation and deletes
// the files no longer referenced.
func (ix *Index) Compact(ctx context.Context) (*CompactStats, error) {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.closed.Load() {
		return nil, ErrClosed
	}
	if ix.lock == nil {
		return nil, fmt.Errorf("compact: %w", ErrReadOnly)
	}
	cur := ix.cur.Load()
	man := cloneManifest(cur.man)
	tomb := cur.tomb
	an := cur.an
	st := &CompactStats{Dropped: int64(tomb.Len())}
	if tomb.Len() == 0 {
		st.Segments = len(man.Segments)
		return st, nil
	}
	remap := store.Remap(tomb.Renumber)
	var segs []store.Segment
	next := man.NextSegmentID
	for _, s := range man.Segments {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id := next
		vref, vst, err := store.CopySegmentFiltered(filepath.Join(ix.dir, store.SegmentFileName(id)), filepath.Join(ix.dir, s.Vectors.Name), remap)
		if err != nil {
			return nil, fmt.Errorf("compact segment %d: %w", s.ID, err)
		}
		dref, dst, err := store.CopyDocsFiltered(filepath.Join(ix.dir, store.DocsFileName(id)), filepath.Join(ix.dir, s.Docs.Name), remap)
		if err != nil {
			return nil, fmt.Errorf("compact segment %d: %w", s.ID, err)
		}
		next++ // used even when the copy is empty: its files are GC'd, the id is never reused
		if dst.Docs == 0 {
			continue // every document of the segment was deleted
		}
		ns := store.Segment{ID: id, DocOrdStart: dst.FirstOrd, DocOrdEnd: dst.LastOrd + 1, NumDocs: dst.Docs,
			NumPassages: vst.Passages, Vectors: vref, Docs: dref, Files: map[string]store.FileRef{}}
		// Rebuild BM25 from the kept records.
		docs, err := store.OpenDocs(filepath.Join(ix.dir, dref.Name))
		if err != nil {
			return nil, err
		}
		var lex []lexical.Doc
		for rec, err := range docs.All() {
			if err != nil {
				docs.Close()
				return nil, err
			}
			text := ""
			for i, p := range rec.Passages {
				if i > 0 {
					text += " "
				}
				text += p.Text
			}
			lex = append(lex, lexical.Doc{Ord: rec.Ord, Title: rec.Title, Text: text})
		}
		docs.Close()
		lexPath := filepath.Join(ix.dir, lexical.SegmentFileName(id))
		ref, _, err := lexical.BuildSegment(ctx, lexPath, lex, an)
		if err != nil {
			return nil, err
		}
		ns.Files[lexicalFile] = ref
		segs = append(segs, ns)
	}
	man.Segments = segs
	man.NextSegmentID = next
	man.Tombstones = nil
	man.Counts.Deleted = 0
	if err := ix.commit(man, false); err != nil {
		return nil, err
	}
	ix.ids = nil // ordinals were renumbered
	gc, err := store.GC(ix.dir, man)
	if err != nil {
		return nil, err
	}
	st.Segments = len(segs)
	st.Removed = len(gc.Removed)
	return st, nil
}
