package store

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sort"
)

// Tombstone files (tomb-NNNNNN.qtmb): a block container with magic "QTMB"
// holding the sorted, unique ordinals of deleted documents as delta-coded
// little-endian uint32s, up to tombBlock ordinals per block. A manifest
// references at most one tombstone file: the whole set as of that
// generation.

const (
	tombMagic       = "QTMB"
	seriesTombstone = 1
	tombBlock       = 1 << 20
)

// Tombstones is an immutable sorted set of deleted document ordinals. The
// zero value is the empty set.
type Tombstones struct {
	ords []uint32 // sorted, unique
}

// NewTombstones returns the set of the given ordinals (any order, duplicates
// allowed).
func NewTombstones(ords ...uint32) Tombstones {
	s := slices.Clone(ords)
	slices.Sort(s)
	return Tombstones{ords: slices.Compact(s)}
}

// Len is the number of deleted ordinals.
func (t Tombstones) Len() int { return len(t.ords) }

// Ords returns the ordinals in increasing order (a copy).
func (t Tombstones) Ords() []uint32 { return slices.Clone(t.ords) }

// Contains reports whether ord is deleted.
func (t Tombstones) Contains(ord uint32) bool {
	_, ok := slices.BinarySearch(t.ords, ord)
	return ok
}

// Add returns the union of t and ords; t is unchanged.
func (t Tombstones) Add(ords ...uint32) Tombstones {
	return NewTombstones(append(slices.Clone(t.ords), ords...)...)
}

// Rank is the number of deleted ordinals smaller than ord.
func (t Tombstones) Rank(ord uint32) int {
	return sort.Search(len(t.ords), func(i int) bool { return t.ords[i] >= ord })
}

// CountIn is the number of deleted ordinals in [start, end).
func (t Tombstones) CountIn(start, end uint32) int {
	if end <= start {
		return 0
	}
	return t.Rank(end) - t.Rank(start)
}

// WithoutRange returns t minus the ordinals in [start, end): after a
// segment covering that range was compacted without renumbering, its
// tombstones are no longer needed.
func (t Tombstones) WithoutRange(start, end uint32) Tombstones {
	i, j := t.Rank(start), t.Rank(end)
	if end <= start || i == j {
		return t
	}
	return Tombstones{ords: slices.Concat(t.ords[:i], t.ords[j:])}
}

// Renumber maps a live ordinal to its dense position after every deleted
// ordinal is removed (ord − Rank(ord)); ok is false for a deleted ordinal.
// Compacting every segment with this mapping in one generation renumbers the
// whole index densely.
func (t Tombstones) Renumber(ord uint32) (uint32, bool) {
	r := t.Rank(ord)
	if r < len(t.ords) && t.ords[r] == ord {
		return 0, false
	}
	return ord - uint32(r), true
}

// WriteTombstones writes t to a new tombstone file at path.
func WriteTombstones(path string, t Tombstones) (FileRef, error) {
	return WriteTombstonesFS(OSFS{}, path, t)
}

// WriteTombstonesFS is WriteTombstones on the file system fsys (nil: OSFS).
func WriteTombstonesFS(fsys FS, path string, t Tombstones) (FileRef, error) {
	var h [headerSize]byte
	binary.LittleEndian.PutUint64(h[8:], uint64(len(t.ords)))
	cw, err := newContainerWriter(orOS(fsys), path, tombMagic, &h, compressOpts{level: DefaultLevel})
	if err != nil {
		return FileRef{}, fmt.Errorf("write tombstones: %w", err)
	}
	for i := 0; i < len(t.ords); i += tombBlock {
		part := t.ords[i:min(i+tombBlock, len(t.ords))]
		if err := cw.add(seriesTombstone, AppendUint32s(nil, part), filterDelta32, 0, part[0], uint32(len(part))); err != nil {
			cw.abort()
			return FileRef{}, fmt.Errorf("write tombstones %s: block %d: %w", path, i/tombBlock, err)
		}
	}
	var meta [footerMetaLen]byte
	ref, err := cw.finish(&meta)
	if err != nil {
		return FileRef{}, fmt.Errorf("write tombstones: %w", err)
	}
	return ref, nil
}

// ReadTombstones reads and verifies a tombstone file.
func ReadTombstones(path string) (Tombstones, error) { return ReadTombstonesFS(OSFS{}, path) }

// ReadTombstonesFS is ReadTombstones on the file system fsys (nil: OSFS).
func ReadTombstonesFS(fsys FS, path string) (Tombstones, error) {
	f, err := orOS(fsys).Open(path)
	if err != nil {
		return Tombstones{}, fmt.Errorf("read tombstones: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Tombstones{}, fmt.Errorf("read tombstones: %w", err)
	}
	return readTombstones(f, st.Size(), path)
}

// readTombstones reads and verifies the tombstone file of size bytes in r
// (named path in errors).
func readTombstones(r io.ReaderAt, size int64, path string) (Tombstones, error) {
	c, err := openContainer(r, size, path, tombMagic, "tombstone file")
	if err != nil {
		return Tombstones{}, fmt.Errorf("read tombstones: %w", err)
	}
	defer c.close()
	for _, b := range c.header[16:60] {
		if b != 0 {
			return Tombstones{}, fmt.Errorf("read tombstones: %w", corrupt(path, "header", "reserved bytes are not zero"))
		}
	}
	for _, b := range c.meta {
		if b != 0 {
			return Tombstones{}, fmt.Errorf("read tombstones: %w", corrupt(path, "footer", "reserved metadata bytes are not zero"))
		}
	}
	count := binary.LittleEndian.Uint64(c.header[8:])
	if count > 1<<32 || uint64(len(c.entries)) != (count+tombBlock-1)/tombBlock {
		return Tombstones{}, fmt.Errorf("read tombstones: %w", corrupt(path, "footer", "%d blocks for %d ordinals", len(c.entries), count))
	}
	ords := make([]uint32, 0, min(count, tombBlock))
	var buf blockBuf
	var raw []byte
	for i := range c.entries {
		e := &c.entries[i]
		n := min(uint64(tombBlock), count-uint64(i)*tombBlock)
		where := fmt.Sprintf("block %d (ordinals %d..)", i, e.aux0)
		if e.series != seriesTombstone || uint64(e.aux1) != n || uint64(e.raw) != 4*n {
			return Tombstones{}, fmt.Errorf("read tombstones: %w", corrupt(path, where, "series %d, %d ordinals in %d bytes; want %d ordinals", e.series, e.aux1, e.raw, n))
		}
		raw = growBytes(raw, int(e.raw))
		if err := c.readBlock(i, raw, &buf, func() string { return where }); err != nil {
			return Tombstones{}, fmt.Errorf("read tombstones: %w", err)
		}
		for j := 0; j < int(n); j++ {
			o := binary.LittleEndian.Uint32(raw[4*j:])
			if len(ords) > 0 && o <= ords[len(ords)-1] || j == 0 && o != e.aux0 {
				return Tombstones{}, fmt.Errorf("read tombstones: %w", corrupt(path, where, "ordinal %d out of order", o))
			}
			ords = append(ords, o)
		}
	}
	return Tombstones{ords: ords}, nil
}
