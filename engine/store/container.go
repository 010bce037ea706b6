package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The block container shared by .qvec, docs and tombstone files (FORMAT.md):
//
//	header (64 bytes, CRC-32C) | blocks, back to back | footer | trailer (32 bytes)
//
// The footer is 32 bytes of kind-specific metadata followed by one 32-byte
// entry per block (offset, sizes, CRC-32C, codec, filter); the trailer locates
// the footer and ends with the file's magic. Every byte of a valid file is
// covered by exactly one checksum, and the blocks tile the space between
// header and footer exactly, so any flipped byte or truncation is detected.

const (
	formatVersion = 1
	headerSize    = 64
	footerMetaLen = 32
	entrySize     = 32
	trailerSize   = 32
	maxRawBlock   = 1 << 30 // sanity bound on one block's decoded size

	codecNone = 0
	codecZstd = 1
)

// entry is one block's footer record.
type entry struct {
	off    uint64
	stored uint32
	raw    uint32
	crc    uint32
	series uint8
	codec  uint8
	filter uint8
	param  uint8
	aux0   uint32
	aux1   uint32
}

func (e *entry) put(b []byte) {
	binary.LittleEndian.PutUint64(b[0:], e.off)
	binary.LittleEndian.PutUint32(b[8:], e.stored)
	binary.LittleEndian.PutUint32(b[12:], e.raw)
	binary.LittleEndian.PutUint32(b[16:], e.crc)
	b[20], b[21], b[22], b[23] = e.series, e.codec, e.filter, e.param
	binary.LittleEndian.PutUint32(b[24:], e.aux0)
	binary.LittleEndian.PutUint32(b[28:], e.aux1)
}

func getEntry(b []byte) entry {
	return entry{
		off:    binary.LittleEndian.Uint64(b[0:]),
		stored: binary.LittleEndian.Uint32(b[8:]),
		raw:    binary.LittleEndian.Uint32(b[12:]),
		crc:    binary.LittleEndian.Uint32(b[16:]),
		series: b[20], codec: b[21], filter: b[22], param: b[23],
		aux0: binary.LittleEndian.Uint32(b[24:]),
		aux1: binary.LittleEndian.Uint32(b[28:]),
	}
}

// compressOpts controls how blocks are stored.
type compressOpts struct {
	// level is the zstd level; < 0 stores every block uncompressed.
	level int
	// minSaving: a compressed block is kept only when it is smaller than
	// raw·(1 − 1/minSaving); otherwise the block is stored uncompressed and
	// unfiltered, which decodes at memcpy speed. 0 keeps every zstd frame.
	minSaving int
}

// containerWriter writes a container file through an AtomicFile.
type containerWriter struct {
	af      *AtomicFile
	magic   string
	hdrCRC  uint32
	opts    compressOpts
	codec   *zstdCodec
	entries []entry
	filt    []byte
	comp    []byte
}

// newContainerWriter creates path and writes its header: magic, version,
// header length, the 52 kind-specific bytes fields[8:60], CRC-32C.
func newContainerWriter(fsys FS, path, magic string, fields *[headerSize]byte, opts compressOpts) (*containerWriter, error) {
	codec, err := newZstdCodec(maxRawBlock)
	if err != nil {
		return nil, err
	}
	af, err := CreateAtomicFS(fsys, path)
	if err != nil {
		codec.close()
		return nil, err
	}
	h := *fields
	copy(h[0:4], magic)
	binary.LittleEndian.PutUint16(h[4:], formatVersion)
	binary.LittleEndian.PutUint16(h[6:], headerSize)
	crc := crc32c(h[:60])
	binary.LittleEndian.PutUint32(h[60:], crc)
	w := &containerWriter{af: af, magic: magic, hdrCRC: crc, opts: opts, codec: codec}
	if _, err := af.Write(h[:]); err != nil {
		w.abort()
		return nil, err
	}
	return w, nil
}

// add stores one block: raw is filtered (filter, param), compressed, and
// appended; aux0/aux1 are kind-specific (block number, rows, ordinals).
func (w *containerWriter) add(series uint8, raw []byte, filter, param uint8, aux0, aux1 uint32) error {
	if len(raw) == 0 || len(raw) > maxRawBlock {
		return fmt.Errorf("block of %d bytes (want 1..%d)", len(raw), maxRawBlock)
	}
	e := entry{off: uint64(w.af.Size()), raw: uint32(len(raw)), series: series, aux0: aux0, aux1: aux1}
	stored := raw
	if w.opts.level >= 0 {
		src := raw
		switch filter {
		case filterShuffle:
			w.filt = growBytes(w.filt, len(raw))
			shuffle(w.filt, raw, int(param))
			src = w.filt
		case filterDelta32:
			w.filt = growBytes(w.filt, len(raw))
			copy(w.filt, raw)
			delta32(w.filt)
			src = w.filt
		}
		c, err := w.codec.compress(w.comp, src, w.opts.level)
		if err != nil {
			return err
		}
		w.comp = c
		if w.opts.minSaving == 0 || len(c) < len(raw)-len(raw)/w.opts.minSaving {
			stored, e.codec, e.filter, e.param = c, codecZstd, filter, param
		}
	}
	e.stored = uint32(len(stored))
	e.crc = crc32c(stored)
	if _, err := w.af.Write(stored); err != nil {
		return err
	}
	w.entries = append(w.entries, e)
	return nil
}

// finish writes footer and trailer and commits the file.
func (w *containerWriter) finish(meta *[footerMetaLen]byte) (FileRef, error) {
	defer w.codec.close()
	footer := make([]byte, footerMetaLen+entrySize*len(w.entries))
	copy(footer, meta[:])
	for i := range w.entries {
		w.entries[i].put(footer[footerMetaLen+entrySize*i:])
	}
	var t [trailerSize]byte
	binary.LittleEndian.PutUint64(t[0:], uint64(w.af.Size()))
	binary.LittleEndian.PutUint32(t[8:], uint32(len(footer)))
	binary.LittleEndian.PutUint32(t[12:], uint32(len(w.entries)))
	binary.LittleEndian.PutUint32(t[16:], crc32c(footer))
	binary.LittleEndian.PutUint32(t[20:], w.hdrCRC)
	binary.LittleEndian.PutUint32(t[24:], crc32c(t[:24]))
	copy(t[28:], w.magic)
	if _, err := w.af.Write(footer); err != nil {
		w.af.Abort()
		return FileRef{}, err
	}
	if _, err := w.af.Write(t[:]); err != nil {
		w.af.Abort()
		return FileRef{}, err
	}
	return w.af.Commit()
}

func (w *containerWriter) abort() error {
	w.codec.close()
	return w.af.Abort()
}

func growBytes(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]byte, n)
}

// containerReader validates a container's header, trailer and footer and
// reads its blocks. It is safe for concurrent use.
type containerReader struct {
	r       io.ReaderAt
	size    int64
	path    string
	header  [headerSize]byte
	meta    [footerMetaLen]byte
	entries []entry
	footOff int64
	codec   *zstdCodec
}

// openContainer checks everything but the blocks' contents. kind names the
// file type in errors ("vector segment", "doc store").
func openContainer(r io.ReaderAt, size int64, path, magic, kind string) (*containerReader, error) {
	if size < headerSize+footerMetaLen+trailerSize {
		return nil, corrupt(path, "file", "%d bytes is shorter than the smallest %s (%d bytes): truncated", size, kind, headerSize+footerMetaLen+trailerSize)
	}
	c := &containerReader{r: r, size: size, path: path}
	if err := c.readAt(c.header[:], 0, "header"); err != nil {
		return nil, err
	}
	if string(c.header[0:4]) != magic {
		return nil, corrupt(path, "header", "magic %q is not %q: not a quarry %s", c.header[0:4], magic, kind)
	}
	hcrc := binary.LittleEndian.Uint32(c.header[60:])
	if got := crc32c(c.header[:60]); got != hcrc {
		return nil, corrupt(path, "header", "CRC-32C mismatch (stored %08x, computed %08x)", hcrc, got)
	}
	if v := binary.LittleEndian.Uint16(c.header[4:]); v != formatVersion {
		return nil, corrupt(path, "header", "format version %d; this quarry reads version %d (upgrade quarry, or rebuild the index)", v, formatVersion)
	}
	if n := binary.LittleEndian.Uint16(c.header[6:]); n != headerSize {
		return nil, corrupt(path, "header", "header length %d, want %d", n, headerSize)
	}
	var t [trailerSize]byte
	if err := c.readAt(t[:], size-trailerSize, "trailer"); err != nil {
		return nil, err
	}
	if string(t[28:]) != magic {
		return nil, corrupt(path, "trailer", "end magic %q is not %q: the file is truncated or has trailing bytes", t[28:], magic)
	}
	if got, want := crc32c(t[:24]), binary.LittleEndian.Uint32(t[24:]); got != want {
		return nil, corrupt(path, "trailer", "CRC-32C mismatch (stored %08x, computed %08x)", want, got)
	}
	if got := binary.LittleEndian.Uint32(t[20:]); got != hcrc {
		return nil, corrupt(path, "trailer", "header CRC copy %08x does not match the header's %08x", got, hcrc)
	}
	footOff := binary.LittleEndian.Uint64(t[0:])
	footLen := uint64(binary.LittleEndian.Uint32(t[8:]))
	n := uint64(binary.LittleEndian.Uint32(t[12:]))
	if footLen != footerMetaLen+entrySize*n || footOff < headerSize || footOff > uint64(size) || footOff+footLen+trailerSize != uint64(size) {
		return nil, corrupt(path, "trailer", "footer at %d, %d bytes, %d entries does not fit a %d-byte file", footOff, footLen, n, size)
	}
	footer := make([]byte, footLen)
	if err := c.readAt(footer, int64(footOff), "footer"); err != nil {
		return nil, err
	}
	if got, want := crc32c(footer), binary.LittleEndian.Uint32(t[16:]); got != want {
		return nil, corrupt(path, "footer", "CRC-32C mismatch (stored %08x, computed %08x)", want, got)
	}
	copy(c.meta[:], footer)
	c.footOff = int64(footOff)
	c.entries = make([]entry, n)
	next := uint64(headerSize)
	for i := range c.entries {
		e := getEntry(footer[footerMetaLen+entrySize*i:])
		where := fmt.Sprintf("footer entry %d", i)
		switch {
		case e.off != next:
			return nil, corrupt(path, where, "block at offset %d, want %d (blocks are contiguous)", e.off, next)
		case e.stored == 0 || e.raw == 0 || e.raw > maxRawBlock:
			return nil, corrupt(path, where, "stored %d bytes, raw %d bytes: out of range", e.stored, e.raw)
		case e.codec == codecNone && (e.stored != e.raw || e.filter != filterNone):
			return nil, corrupt(path, where, "uncompressed block with stored %d != raw %d bytes or filter %d", e.stored, e.raw, e.filter)
		case e.codec > codecZstd:
			return nil, corrupt(path, where, "unknown codec %d", e.codec)
		}
		if err := checkFilter(e.filter, e.param, int(e.raw)); err != nil {
			return nil, corrupt(path, where, "%v", err)
		}
		next += uint64(e.stored)
		c.entries[i] = e
	}
	if next != footOff {
		return nil, corrupt(path, "footer", "blocks end at %d but the footer starts at %d", next, footOff)
	}
	codec, err := newZstdCodec(maxRawBlock)
	if err != nil {
		return nil, err
	}
	c.codec = codec
	return c, nil
}

// readAt reads exactly len(b) bytes at off; a short read is corruption
// (truncation).
func (c *containerReader) readAt(b []byte, off int64, where string) error {
	return c.readAtFn(b, off, func() string { return where })
}

func (c *containerReader) readAtFn(b []byte, off int64, whereFn func() string) error {
	n, err := c.r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corrupt(c.path, whereFn(), "read %d of %d bytes at offset %d: truncated", n, len(b), off)
	}
	return fmt.Errorf("%s: %s: read at offset %d: %w", c.path, whereFn(), off, err)
}

// blockBuf holds scratch space for readBlock; one per goroutine.
type blockBuf struct {
	stored []byte
	tmp    []byte
}

// readBlock verifies block i and decodes it into dst, whose length must be the
// block's raw size. whereFn names the block in errors (called only on error,
// so a successful read allocates nothing).
func (c *containerReader) readBlock(i int, dst []byte, buf *blockBuf, whereFn func() string) error {
	if c.codec == nil {
		return fmt.Errorf("%s: %s: reader is closed", c.path, whereFn())
	}
	e := &c.entries[i]
	if int(e.raw) != len(dst) {
		return corrupt(c.path, whereFn(), "holds %d bytes, want %d", e.raw, len(dst))
	}
	if e.codec == codecNone {
		if err := c.readAtFn(dst, int64(e.off), whereFn); err != nil {
			return err
		}
		if got := crc32c(dst); got != e.crc {
			return corrupt(c.path, whereFn(), "CRC-32C mismatch (stored %08x, computed %08x)", e.crc, got)
		}
		return nil
	}
	buf.stored = growBytes(buf.stored, int(e.stored))
	if err := c.readAtFn(buf.stored, int64(e.off), whereFn); err != nil {
		return err
	}
	if got := crc32c(buf.stored); got != e.crc {
		return corrupt(c.path, whereFn(), "CRC-32C mismatch (stored %08x, computed %08x)", e.crc, got)
	}
	out := dst
	if e.filter == filterShuffle {
		buf.tmp = growBytes(buf.tmp, len(dst))
		out = buf.tmp
	}
	if err := c.codec.decompress(out, buf.stored); err != nil {
		return &CorruptError{Path: c.path, Where: whereFn(), Detail: "cannot decompress", Err: err}
	}
	switch e.filter {
	case filterShuffle:
		unshuffle(dst, out, int(e.param))
	case filterDelta32:
		undelta32(dst)
	}
	return nil
}

func (c *containerReader) close() {
	if c.codec != nil {
		c.codec.close()
		c.codec = nil
	}
}
