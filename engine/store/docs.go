package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"math"
	"slices"
	"sort"
	"sync"
)

// Doc store files (docs-NNNNNN.zst): a block container (container.go) with
// magic "QDOC". Records are packed, in ordinal order, into blocks of about
// DocParams.BlockBytes raw bytes, each stored as one zstd frame; the footer's
// entries double as the offset index (first ordinal and record count of every
// block), so Get(ord) decodes exactly one block. See FORMAT.md.

const (
	docMagic         = "QDOC"
	seriesDocRecords = 1
	// DefaultDocBlockBytes is the raw size a doc-store block is cut at.
	DefaultDocBlockBytes = 64 << 10
	// DefaultDocLevel is the zstd level of doc stores (text compresses
	// better at 3 than at 1, for little cost at these sizes).
	DefaultDocLevel = 3
)

// PassageRecord is one passage of a document: its text and its byte range
// [Start, End) in the document's original text.
type PassageRecord struct {
	Text  string `json:"text"`
	Start int    `json:"start"`
	End   int    `json:"end"`
}

// DocRecord is a stored document: its ordinal (unique and increasing within a
// file), external ID, title, passages and metadata (a JSON value or empty).
type DocRecord struct {
	Ord      uint32          `json:"ord"`
	ID       string          `json:"id"`
	Title    string          `json:"title,omitempty"`
	Passages []PassageRecord `json:"passages"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// DocParams tune a doc store file; the zero value is the default.
type DocParams struct {
	BlockBytes int // raw bytes per block; 0 means DefaultDocBlockBytes
	Level      int // zstd level; 0 means DefaultDocLevel, negative stores blocks raw
	FS         FS  // the file system written to; nil is OSFS
}

// DocWriter writes a doc store file record by record.
type DocWriter struct {
	cw    *containerWriter
	p     DocParams
	buf   []byte
	first uint32 // first ordinal of the pending block
	n     int    // records in the pending block
	count int
	min   uint32
	last  uint32
	err   error
}

// NewDocWriter creates the doc store file path (which must not exist).
func NewDocWriter(path string, p DocParams) (*DocWriter, error) {
	if p.BlockBytes <= 0 {
		p.BlockBytes = DefaultDocBlockBytes
	}
	if p.Level == 0 {
		p.Level = DefaultDocLevel
	}
	var h [headerSize]byte
	cw, err := newContainerWriter(p.FS, path, docMagic, &h, compressOpts{level: p.Level})
	if err != nil {
		return nil, fmt.Errorf("write doc store: %w", err)
	}
	return &DocWriter{cw: cw, p: p}, nil
}

// Add appends a record. Ordinals must increase strictly; metadata must be
// empty or valid JSON; passages need 0 ≤ Start ≤ End.
func (w *DocWriter) Add(rec DocRecord) error {
	if w.err != nil {
		return w.err
	}
	if err := w.add(&rec); err != nil {
		w.err = fmt.Errorf("write doc store %s: document %d (ord %d, id %q): %w", w.cw.af.path, w.count, rec.Ord, rec.ID, err)
		w.cw.abort()
		return w.err
	}
	return nil
}

func (w *DocWriter) add(rec *DocRecord) error {
	if w.count > 0 && rec.Ord <= w.last {
		return fmt.Errorf("ordinal %d after %d: ordinals must increase", rec.Ord, w.last)
	}
	if len(rec.Metadata) > 0 && !json.Valid(rec.Metadata) {
		return fmt.Errorf("metadata is not valid JSON")
	}
	for i, p := range rec.Passages {
		if p.Start < 0 || p.End < p.Start {
			return fmt.Errorf("passage %d: byte range [%d, %d) is invalid", i, p.Start, p.End)
		}
	}
	if w.n == 0 {
		w.first = rec.Ord
	}
	if w.count == 0 {
		w.min = rec.Ord
	}
	prev := w.first
	if w.n > 0 {
		prev = w.last
	}
	w.buf = encodeDoc(w.buf, rec, rec.Ord-prev)
	if len(w.buf) > maxRawBlock {
		return fmt.Errorf("record too large (%d bytes in its block, limit %d)", len(w.buf), maxRawBlock)
	}
	w.n++
	w.count++
	w.last = rec.Ord
	if len(w.buf) >= w.p.BlockBytes {
		return w.flush()
	}
	return nil
}

func (w *DocWriter) flush() error {
	if err := w.cw.add(seriesDocRecords, w.buf, filterNone, 0, w.first, uint32(w.n)); err != nil {
		return fmt.Errorf("block %d: %w", len(w.cw.entries), err)
	}
	w.buf, w.n = w.buf[:0], 0
	return nil
}

// Commit writes the last block and the index, and publishes the file.
func (w *DocWriter) Commit() (FileRef, error) {
	if w.err != nil {
		return FileRef{}, w.err
	}
	if w.n > 0 {
		if err := w.flush(); err != nil {
			w.cw.abort()
			w.err = fmt.Errorf("write doc store %s: %w", w.cw.af.path, err)
			return FileRef{}, w.err
		}
	}
	var meta [footerMetaLen]byte
	binary.LittleEndian.PutUint64(meta[0:], uint64(w.count))
	binary.LittleEndian.PutUint32(meta[8:], w.min)
	binary.LittleEndian.PutUint32(meta[12:], w.last)
	ref, err := w.cw.finish(&meta)
	if err != nil {
		w.err = fmt.Errorf("write doc store: %w", err)
		return FileRef{}, w.err
	}
	w.err = fmt.Errorf("write doc store %s: already committed", w.cw.af.path)
	return ref, nil
}

// Abort discards the unfinished file.
func (w *DocWriter) Abort() error {
	if w.err != nil {
		return nil
	}
	w.err = fmt.Errorf("write doc store %s: aborted", w.cw.af.path)
	return w.cw.abort()
}

// WriteDocs writes records (ordinals strictly increasing) to a new doc store
// file at path.
func WriteDocs(path string, recs []DocRecord) (FileRef, error) {
	w, err := NewDocWriter(path, DocParams{})
	if err != nil {
		return FileRef{}, err
	}
	for _, r := range recs {
		if err := w.Add(r); err != nil {
			return FileRef{}, err
		}
	}
	return w.Commit()
}

// encodeDoc appends a record: uvarint ordinal delta, ID, title, passage
// count, per passage (text, start, end−start), metadata; strings and
// metadata as uvarint length + bytes.
func encodeDoc(b []byte, r *DocRecord, delta uint32) []byte {
	str := func(b []byte, s string) []byte {
		return append(binary.AppendUvarint(b, uint64(len(s))), s...)
	}
	b = binary.AppendUvarint(b, uint64(delta))
	b = str(b, r.ID)
	b = str(b, r.Title)
	b = binary.AppendUvarint(b, uint64(len(r.Passages)))
	for _, p := range r.Passages {
		b = str(b, p.Text)
		b = binary.AppendUvarint(b, uint64(p.Start))
		b = binary.AppendUvarint(b, uint64(p.End-p.Start))
	}
	b = binary.AppendUvarint(b, uint64(len(r.Metadata)))
	return append(b, r.Metadata...)
}

// docDecoder parses records out of a block.
type docDecoder struct {
	b   []byte
	err string
}

func (d *docDecoder) uvarint(what string, limit uint64) uint64 {
	return d.uvarintOf(what, "", limit)
}

// uvarintOf is uvarint of the field named what+suffix (joined only for an
// error message: decoding allocates nothing).
func (d *docDecoder) uvarintOf(what, suffix string, limit uint64) uint64 {
	if d.err != "" {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = what + suffix + ": bad varint"
		return 0
	}
	if v > limit {
		d.err = fmt.Sprintf("%s%s: %d exceeds %d", what, suffix, v, limit)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *docDecoder) bytes(what string) []byte {
	n := d.uvarintOf(what, " length", math.MaxInt32)
	if d.err == "" && n > uint64(len(d.b)) {
		d.err = fmt.Sprintf("%s length %d exceeds the %d bytes left in the block", what, n, len(d.b))
	}
	if d.err != "" {
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

// record parses the record at the decoder's position; its ordinal is prev
// plus the stored delta (first says whether it is the block's first record,
// whose delta must be 0). With keep false it only validates and skips the
// record, allocating nothing.
func (d *docDecoder) record(prev uint64, first, keep bool) (DocRecord, uint64) {
	delta := d.uvarint("ordinal delta", 1<<32-1)
	if d.err == "" && first != (delta == 0) {
		d.err = fmt.Sprintf("ordinal delta %d", delta)
	}
	ord := prev + delta
	if ord > 1<<32-1 {
		d.err = "ordinal overflows uint32"
	}
	r := DocRecord{Ord: uint32(ord)}
	id, title := d.bytes("id"), d.bytes("title")
	np := d.uvarint("passage count", uint64(len(d.b)/3))
	if keep {
		r.ID, r.Title = string(id), string(title)
		if d.err == "" && np > 0 {
			r.Passages = make([]PassageRecord, np)
		}
	}
	for j := 0; j < int(np) && d.err == ""; j++ {
		text := d.bytes("passage text")
		start := d.uvarint("passage start", math.MaxInt32)
		length := d.uvarint("passage length", math.MaxInt32)
		if keep {
			r.Passages[j] = PassageRecord{Text: string(text), Start: int(start), End: int(start + length)}
		}
	}
	if m := d.bytes("metadata"); len(m) > 0 {
		if !json.Valid(m) {
			d.err = "metadata is not valid JSON"
		}
		if keep {
			r.Metadata = json.RawMessage(append([]byte(nil), m...))
		}
	}
	return r, ord
}

// blockIndex locates the records of a decoded block.
type blockIndex struct {
	offs []int    // offset of each record in the block
	ords []uint32 // ordinal of each record
}

// scanBlock validates every record of a block (first ordinal first, n
// records) and indexes them, without materializing any.
func scanBlock(raw []byte, first uint32, n int, idx *blockIndex) string {
	d := docDecoder{b: raw}
	idx.offs, idx.ords = idx.offs[:0], idx.ords[:0]
	ord := uint64(first)
	for i := 0; i < n; i++ {
		idx.offs = append(idx.offs, len(raw)-len(d.b))
		_, ord = d.record(ord, i == 0, false)
		if d.err != "" {
			return fmt.Sprintf("record %d: %s", i, d.err)
		}
		idx.ords = append(idx.ords, uint32(ord))
	}
	if len(d.b) != 0 {
		return fmt.Sprintf("%d bytes after the last record", len(d.b))
	}
	return ""
}

// decodeAt materializes record j of a block indexed by scanBlock.
func decodeAt(raw []byte, idx *blockIndex, j int) DocRecord {
	d := docDecoder{b: raw[idx.offs[j]:]}
	prev := uint64(idx.ords[0])
	if j > 0 {
		prev = uint64(idx.ords[j-1])
	}
	r, _ := d.record(prev, j == 0, true)
	return r
}

// DocReader gives random and sequential access to a doc store file. It is
// safe for concurrent use.
type DocReader struct {
	c      *containerReader
	count  int
	first  uint32
	last   uint32
	closer io.Closer

	cache *BlockCache
}

// docBlock is a decoded, validated and indexed block; never modified once
// cached, so concurrent Gets read it without a lock.
type docBlock struct {
	raw []byte
	idx blockIndex
}

// BlockCache keeps the most recently used decoded doc-store blocks of any
// number of DocReaders within a byte budget, so that fetching the documents
// of search results decodes (and validates) a hot block once, not once per
// hit. It is safe for concurrent use.
type BlockCache struct {
	mu     sync.Mutex
	budget int64
	size   int64
	tick   uint64
	m      map[blockKey]*cacheEntry
}

type blockKey struct {
	r *DocReader
	i int
}

type cacheEntry struct {
	b    *docBlock
	used uint64
	size int64
}

// NewBlockCache makes a cache of at most budget bytes of decoded blocks
// (one block is always kept, whatever its size).
func NewBlockCache(budget int64) *BlockCache {
	return &BlockCache{budget: budget, m: map[blockKey]*cacheEntry{}}
}

func (c *BlockCache) get(k blockKey) *docBlock {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[k]; e != nil {
		c.tick++
		e.used = c.tick
		return e.b
	}
	return nil
}

// put caches b under k (or returns the block another caller cached
// meanwhile), evicting least recently used blocks beyond the budget.
func (c *BlockCache) put(k blockKey, b *docBlock) *docBlock {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	if e := c.m[k]; e != nil {
		e.used = c.tick
		return e.b
	}
	size := int64(cap(b.raw) + 8*cap(b.idx.offs) + 4*cap(b.idx.ords) + 64)
	for c.size+size > c.budget && len(c.m) > 0 {
		var victim blockKey
		oldest := ^uint64(0)
		for key, e := range c.m {
			if e.used < oldest {
				victim, oldest = key, e.used
			}
		}
		c.size -= c.m[victim].size
		delete(c.m, victim)
	}
	c.m[k] = &cacheEntry{b: b, used: c.tick, size: size}
	c.size += size
	return b
}

// drop forgets every block of r (when r closes).
func (c *BlockCache) drop(r *DocReader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if k.r == r {
			c.size -= e.size
			delete(c.m, k)
		}
	}
}

// SetCache makes the reader keep decoded blocks in c (shared with other
// readers) instead of its own small cache. Call it before the first Get.
func (d *DocReader) SetCache(c *BlockCache) {
	if c != nil {
		d.cache = c
	}
}

// OpenDocs opens a doc store file.
func OpenDocs(path string) (*DocReader, error) { return OpenDocsFS(OSFS{}, path) }

// OpenDocsFS is OpenDocs on the file system fsys (nil: OSFS).
func OpenDocsFS(fsys FS, path string) (*DocReader, error) {
	f, err := orOS(fsys).Open(path)
	if err != nil {
		return nil, fmt.Errorf("open doc store: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open doc store: %w", err)
	}
	r, err := NewDocReader(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// NewDocReader reads a doc store of size bytes from r; name is used in
// errors. Close does not close r.
func NewDocReader(r io.ReaderAt, size int64, name string) (*DocReader, error) {
	c, err := openContainer(r, size, name, docMagic, "doc store")
	if err != nil {
		return nil, fmt.Errorf("open doc store: %w", err)
	}
	d := &DocReader{c: c, cache: NewBlockCache(defaultReaderCache)}
	if err := d.parse(); err != nil {
		c.close()
		return nil, fmt.Errorf("open doc store: %w", err)
	}
	return d, nil
}

func (d *DocReader) parse() error {
	path := d.c.path
	for _, b := range d.c.header[8:60] {
		if b != 0 {
			return corrupt(path, "header", "reserved bytes are not zero")
		}
	}
	m := d.c.meta
	count := binary.LittleEndian.Uint64(m[0:])
	d.first = binary.LittleEndian.Uint32(m[8:])
	d.last = binary.LittleEndian.Uint32(m[12:])
	for _, b := range m[16:] {
		if b != 0 {
			return corrupt(path, "footer", "reserved metadata bytes are not zero")
		}
	}
	var sum uint64
	next := uint64(d.first)
	for i := range d.c.entries {
		e := &d.c.entries[i]
		if e.series != seriesDocRecords || e.aux1 == 0 || uint64(e.aux0) < next || i == 0 && e.aux0 != d.first || e.aux0 > d.last {
			return corrupt(path, fmt.Sprintf("footer entry %d", i), "block of %d records from ordinal %d (series %d) does not follow ordinal %d within %d..%d",
				e.aux1, e.aux0, e.series, next, d.first, d.last)
		}
		sum += uint64(e.aux1)
		next = uint64(e.aux0) + uint64(e.aux1)
	}
	if sum != count || count > uint64(d.last)-uint64(d.first)+1 || count == 0 && (d.first != 0 || d.last != 0) {
		return corrupt(path, "footer", "%d records declared, %d in blocks, ordinals %d..%d", count, sum, d.first, d.last)
	}
	d.count = int(count)
	return nil
}

// Len is the number of records.
func (d *DocReader) Len() int { return d.count }

// OrdRange returns the first and last ordinals (0, 0 when empty).
func (d *DocReader) OrdRange() (first, last uint32) { return d.first, d.last }

// load reads block i into raw and validates and indexes its records.
func (d *DocReader) load(i int, buf *blockBuf, raw *[]byte, idx *blockIndex) error {
	e := &d.c.entries[i]
	where := func() string { return fmt.Sprintf("block %d (documents %d.., %d records)", i, e.aux0, e.aux1) }
	*raw = growBytes(*raw, int(e.raw))
	if err := d.c.readBlock(i, *raw, buf, where); err != nil {
		return fmt.Errorf("read doc store: %w", err)
	}
	bad := scanBlock(*raw, e.aux0, int(e.aux1), idx)
	if bad == "" {
		lastOrd := idx.ords[len(idx.ords)-1]
		switch {
		case i+1 < len(d.c.entries) && lastOrd >= d.c.entries[i+1].aux0:
			bad = fmt.Sprintf("last ordinal %d reaches the next block's first %d", lastOrd, d.c.entries[i+1].aux0)
		case i+1 == len(d.c.entries) && lastOrd != d.last:
			bad = fmt.Sprintf("last ordinal %d, footer says %d", lastOrd, d.last)
		}
	}
	if bad != "" {
		return fmt.Errorf("read doc store: %w", corrupt(d.c.path, where(), "%s", bad))
	}
	return nil
}

// Get returns the record with ordinal ord; an ordinal the file does not hold
// is an error wrapping ErrNotFound. It decodes (and caches) the one block
// that can hold ord and materializes only that record.
func (d *DocReader) Get(ord uint32) (DocRecord, error) {
	es := d.c.entries
	i := sort.Search(len(es), func(i int) bool { return es[i].aux0 > ord }) - 1
	if i < 0 || ord > d.last {
		return DocRecord{}, fmt.Errorf("doc store %s: ordinal %d: %w", d.c.path, ord, ErrNotFound)
	}
	b, err := d.block(i)
	if err != nil {
		return DocRecord{}, err
	}
	j, ok := slices.BinarySearch(b.idx.ords, ord)
	if !ok {
		return DocRecord{}, fmt.Errorf("doc store %s: ordinal %d: %w", d.c.path, ord, ErrNotFound)
	}
	return decodeAt(b.raw, &b.idx, j), nil
}

// defaultReaderCache is the budget of a reader's own block cache (one
// without SetCache): a few 64 KiB blocks.
const defaultReaderCache = 4 * DefaultDocBlockBytes

// block returns decoded block i from the cache, decoding it (outside any
// lock: concurrent Gets proceed) and caching it on a miss.
func (d *DocReader) block(i int) (*docBlock, error) {
	k := blockKey{d, i}
	if b := d.cache.get(k); b != nil {
		return b, nil
	}
	b := &docBlock{}
	var buf blockBuf
	if err := d.load(i, &buf, &b.raw, &b.idx); err != nil {
		return nil, err
	}
	return d.cache.put(k, b), nil
}

// All iterates over the records in ordinal order, one block in memory at a
// time. After an error the iteration stops.
func (d *DocReader) All() iter.Seq2[DocRecord, error] {
	return func(yield func(DocRecord, error) bool) {
		var buf blockBuf
		var raw []byte
		var idx blockIndex
		for i := range d.c.entries {
			if err := d.load(i, &buf, &raw, &idx); err != nil {
				yield(DocRecord{}, err)
				return
			}
			for j := range idx.offs {
				if !yield(decodeAt(raw, &idx, j), nil) {
					return
				}
			}
		}
	}
}

// Close releases the reader (and the file, when opened by OpenDocs).
func (d *DocReader) Close() error {
	d.cache.drop(d)
	d.c.close()
	if d.closer != nil {
		err := d.closer.Close()
		d.closer = nil
		if err != nil {
			return fmt.Errorf("close doc store %s: %w", d.c.path, err)
		}
	}
	return nil
}
