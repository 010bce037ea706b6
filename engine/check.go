package engine

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/quarry-search/quarry/engine/store"
)

// CheckOptions configure Check.
type CheckOptions struct {
	// Repair removes, when no damage is found, what no kept generation
	// needs: temporary files, orphan index files and manifests older than
	// the previous one (the store's GC, under the writer lock). Files a kept
	// manifest references are never touched, so no data is lost.
	Repair bool
}

// CheckReport is what Check found (store.CheckReport).
type CheckReport = store.CheckReport

// Check verifies the index in dir completely, reading every byte of every
// file the current generation references: checksums of every file, the
// manifest's cross-references (files present with their sizes, segment
// counts and ordinal ranges, tombstones inside the segments), and each
// segment's files through the segment-file registry (vectors, doc store,
// BM25, SPLADE). Problems are listed with the file and the part of it. The
// error is nil for an intact index, of kind errs.Corrupt when damage was
// found (the report is returned too), and wraps ErrNoIndex when dir holds
// no index.
func Check(dir string, opts CheckOptions) (*CheckReport, error) {
	rep, err := newRegistry().Check(dir, opts.Repair)
	if errors.Is(err, fs.ErrNotExist) && rep == nil {
		return nil, fmt.Errorf("%w: %w", ErrNoIndex, err)
	}
	return rep, err
}
