package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/quarry-search/quarry/engine/store"
)

// Delete removes documents by ID (tombstones, committed atomically; the
// space is reclaimed by Compact). It returns how many were deleted and the
// IDs that the index does not hold.
func (ix *Index) Delete(ctx context.Context, ids []string) (int, []string, error) {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	r, err := ix.deleteIDs(ctx, ids)
	switch {
	case err != nil && r != nil:
		return 0, r.Missing, err
	case err != nil:
		return 0, nil, err
	case len(r.Deleted) == 0:
		return 0, r.Missing, nil
	}
	return len(r.Deleted), r.Missing, ctx.Err()
}

// findIDs maps the live documents among ids to their ordinals: from the
// writer's id map when an Add built it, else by one streaming pass over the
// doc stores that keeps only the ids asked for (memory bounded by len(ids),
// not by the index). The caller holds ix.wmu.
func (ix *Index) findIDs(ctx context.Context, ids []string) (map[string]uint32, error) {
	out := make(map[string]uint32, len(ids))
	if ix.ids != nil {
		for _, id := range ids {
			if o, ok := ix.ids[id]; ok {
				out[id] = o
			}
		}
		return out, nil
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	s := ix.cur.Load()
	for _, seg := range s.segs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for rec, err := range seg.docs.All() {
			if err != nil {
				return nil, err
			}
			if want[rec.ID] && s.live.Has(rec.Ord) {
				out[rec.ID] = rec.Ord
			}
		}
	}
	return out, nil
}

// DeletedIDs returns those of ids that the index held and has deleted: their
// documents are tombstoned and still stored (until Compact drops them), so a
// Delete that is re-run can tell "already deleted" from "never held". It
// reads every stored document when the index has deletions, keeping only the
// ids asked for, so call it with the few ids Delete reported missing.
func (ix *Index) DeletedIDs(ctx context.Context, ids []string) ([]string, error) {
	s, err := ix.acquire()
	if err != nil {
		return nil, err
	}
	defer s.release()
	if len(ids) == 0 || s.tomb.Len() == 0 {
		return nil, nil
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	found := map[string]bool{}
	for _, seg := range s.segs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for rec, err := range seg.docs.All() {
			if err != nil {
				return nil, fmt.Errorf("deleted ids: %w", err)
			}
			if want[rec.ID] && !s.live.Has(rec.Ord) {
				found[rec.ID] = true
			}
		}
	}
	var out []string
	for _, id := range ids {
		if found[id] {
			out = append(out, id)
			delete(found, id)
		}
	}
	return out, nil
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
	st := &CompactStats{Dropped: int64(tomb.Len())}
	if tomb.Len() == 0 {
		st.Segments = len(man.Segments)
		return st, nil
	}
	// Every file kind of a segment is copied without the deleted documents
	// (never re-derived from another representation), so every score of
	// every live document is the same after the compaction.
	var segs []store.Segment
	next := man.NextSegmentID
	abort := func(err error) (*CompactStats, error) {
		for _, s := range segs { // copies not committed: remove them now rather than at the next GC
			if files, ferr := ix.reg.SegmentFiles(s); ferr == nil {
				for _, f := range files {
					os.Remove(filepath.Join(ix.dir, f.Ref.Name))
				}
			}
		}
		return nil, err
	}
	for _, s := range man.Segments {
		if err := ctx.Err(); err != nil {
			return abort(err)
		}
		ns, empty, err := ix.reg.CompactSegment(ctx, ix.dir, s, next, tomb.Renumber)
		if err != nil {
			return abort(fmt.Errorf("compact segment %d: %w", s.ID, err))
		}
		if empty {
			continue // every document of the segment was deleted: no files, the id stays free
		}
		next++
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
	gc, err := ix.reg.GC(ix.dir, man)
	if err != nil {
		return nil, err
	}
	st.Segments = len(segs)
	st.Removed = len(gc.Removed)
	return st, nil
}
