package store

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ManifestFormatVersion is the manifest format this package writes and reads.
const ManifestFormatVersion = 1

// Fixed names in an index directory.
const (
	// PointerFile names the current manifest and its checksum.
	PointerFile = "MANIFEST"
	// LockFile is flock'ed by the one writer of an index.
	LockFile = "LOCK"
)

const (
	pointerMagic    = "quarry index manifest pointer v1"
	maxManifestSize = 256 << 20
	maxPointerSize  = 4 << 10
)

// indexFileName is the naming scheme of every file a manifest references:
// "<kind>-<number>.<ext>", kind lowercase alphanumeric, number at least six
// digits. GC deletes unreferenced files that follow it and leaves others
// alone.
var indexFileName = regexp.MustCompile(`^[a-z][a-z0-9]*-[0-9]{6,20}(\.[a-z0-9]+)+$`)

var manifestFileName = regexp.MustCompile(`^manifest-([0-9]{6,20})\.json$`)

// FileName returns "<kind>-<n, six digits or more>.<ext>": the scheme for
// files referenced by a manifest (Segment.Files entries of other packages,
// e.g. FileName("lex", 3, "bm25") = "lex-000003.bm25").
func FileName(kind string, n uint64, ext string) string {
	return fmt.Sprintf("%s-%06d.%s", kind, n, ext)
}

// SegmentFileName is the vector file of segment id: "seg-000001.qvec".
func SegmentFileName(id uint64) string { return FileName("seg", id, "qvec") }

// DocsFileName is the doc store of segment id: "docs-000001.zst".
func DocsFileName(id uint64) string { return FileName("docs", id, "zst") }

// TombstonesFileName is the tombstone file written for generation gen:
// "tomb-000007.qtmb".
func TombstonesFileName(gen uint64) string { return FileName("tomb", gen, "qtmb") }

// ManifestFileName is the manifest of generation gen: "manifest-000007.json".
func ManifestFileName(gen uint64) string { return FileName("manifest", gen, "json") }

// IsIndexFileName reports whether name follows the "<kind>-<number>.<ext>"
// scheme that manifest references must use.
func IsIndexFileName(name string) bool { return indexFileName.MatchString(name) }

// ModelIdentity fingerprints the model that produced an index's vectors.
// Vectors from models whose identities differ (CheckCompatible) must not be
// mixed.
type ModelIdentity struct {
	Name           string `json:"name,omitempty"`
	Path           string `json:"path,omitempty"`
	SHA256         string `json:"sha256"` // of the GGUF file, lowercase hex
	Dim            int    `json:"dim"`
	Pooling        string `json:"pooling"`
	Normalize      bool   `json:"normalize"`
	MaxTokens      int    `json:"max_tokens"`
	QueryPrompt    string `json:"query_prompt,omitempty"`
	DocumentPrompt string `json:"document_prompt,omitempty"`
	Similarity     string `json:"similarity,omitempty"`
}

// CheckCompatible returns an error listing every field that makes vectors of
// other incomparable with vectors of m (everything but Name and Path).
func (m ModelIdentity) CheckCompatible(other ModelIdentity) error {
	var diffs []string
	add := func(field string, a, b any) {
		if a != b {
			diffs = append(diffs, fmt.Sprintf("%s %v vs %v", field, a, b))
		}
	}
	add("sha256", m.SHA256, other.SHA256)
	add("dim", m.Dim, other.Dim)
	add("pooling", m.Pooling, other.Pooling)
	add("normalize", m.Normalize, other.Normalize)
	add("max_tokens", m.MaxTokens, other.MaxTokens)
	add("query_prompt", m.QueryPrompt, other.QueryPrompt)
	add("document_prompt", m.DocumentPrompt, other.DocumentPrompt)
	add("similarity", m.Similarity, other.Similarity)
	if len(diffs) > 0 {
		return fmt.Errorf("model %q does not match the index's model %q: %s (reindex with the new model, or use the model the index was built with)",
			other.Name, m.Name, strings.Join(diffs, "; "))
	}
	return nil
}

// Chunking is how documents were split into passages (in tokens).
type Chunking struct {
	Window  int `json:"window"`
	Overlap int `json:"overlap"`
	// Title: each passage is embedded as title + " " + passage (BEIR's
	// dense convention); the passages of a titled document are shortened
	// by the title's length (to at least half the window).
	Title bool `json:"title,omitempty"`
}

// Segment is one committed batch: documents with ordinals in
// [DocOrdStart, DocOrdEnd) (NumDocs of them: fewer than the range after a
// filtered copy), their passages' vectors and their records, plus files
// other packages keep per segment (Files, e.g. "lexical").
type Segment struct {
	ID          uint64             `json:"id"`
	DocOrdStart uint32             `json:"doc_ord_start"`
	DocOrdEnd   uint32             `json:"doc_ord_end"`
	NumDocs     int64              `json:"num_docs"`
	NumPassages int64              `json:"num_passages"`
	Vectors     FileRef            `json:"vectors"`
	Docs        FileRef            `json:"docs"`
	Files       map[string]FileRef `json:"files,omitempty"`
}

// InputProgress records how far an input has been consumed: Records input
// records are reflected in committed segments (the resume watermark).
type InputProgress struct {
	Path        string    `json:"path"`
	Size        int64     `json:"size"`
	ModTime     time.Time `json:"mod_time"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Records     int64     `json:"records"`
	Done        bool      `json:"done"`
}

// Counts summarize the index: stored documents and passages (sums over the
// segments) and how many stored documents are deleted (tombstoned).
type Counts struct {
	Documents int64 `json:"documents"`
	Passages  int64 `json:"passages"`
	Deleted   int64 `json:"deleted"`
}

// Manifest describes one generation of an index. Commit writes it; the
// MANIFEST pointer names the current one.
type Manifest struct {
	FormatVersion int           `json:"format_version"`
	Generation    uint64        `json:"generation"`
	Model         ModelIdentity `json:"model"`
	DType         DType         `json:"dtype"`
	// Rescore is the dtype of the full-precision copies kept in the segments
	// for rescoring (0 = none).
	Rescore  DType    `json:"rescore_dtype,omitempty"`
	Chunking Chunking `json:"chunking"`
	// NextSegmentID is larger than every segment ID ever used in this index,
	// so a new segment never reuses the name of a file an older generation
	// (kept for readers) still references.
	NextSegmentID uint64    `json:"next_segment_id"`
	Segments      []Segment `json:"segments"`
	// Tombstones references the set of deleted ordinals (nil: none).
	Tombstones *FileRef          `json:"tombstones,omitempty"`
	Inputs     []InputProgress   `json:"inputs,omitempty"`
	Counts     Counts            `json:"counts"`
	Created    time.Time         `json:"created"`
	Updated    time.Time         `json:"updated"`
	Settings   map[string]string `json:"settings,omitempty"`
}

// Recount sets Counts.Documents and Counts.Passages to the sums over the
// segments (Deleted is the caller's: the size of the tombstone set).
func (m *Manifest) Recount() {
	m.Counts.Documents, m.Counts.Passages = 0, 0
	for _, s := range m.Segments {
		m.Counts.Documents += s.NumDocs
		m.Counts.Passages += s.NumPassages
	}
}

// NextDocOrd is the first ordinal after every segment's range.
func (m *Manifest) NextDocOrd() uint32 {
	var n uint32
	for _, s := range m.Segments {
		n = max(n, s.DocOrdEnd)
	}
	return n
}

// NamedRef is a file reference with the manifest field it comes from.
type NamedRef struct {
	Field string // e.g. "segments[2].vectors", "segments[0].files[lexical]"
	FileRef
}

// Refs lists every file the manifest references.
func (m *Manifest) Refs() []NamedRef {
	var refs []NamedRef
	for i, s := range m.Segments {
		refs = append(refs, NamedRef{fmt.Sprintf("segments[%d].vectors", i), s.Vectors}, NamedRef{fmt.Sprintf("segments[%d].docs", i), s.Docs})
		keys := make([]string, 0, len(s.Files))
		for k := range s.Files {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			refs = append(refs, NamedRef{fmt.Sprintf("segments[%d].files[%s]", i, k), s.Files[k]})
		}
	}
	if m.Tombstones != nil {
		refs = append(refs, NamedRef{"tombstones", *m.Tombstones})
	}
	return refs
}

var filesKey = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// Validate checks the manifest's internal consistency; errors name the
// field.
func (m *Manifest) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("manifest field %s: %s", field, fmt.Sprintf(format, args...))
	}
	if m.FormatVersion != ManifestFormatVersion {
		return bad("format_version", "%d; this quarry reads version %d", m.FormatVersion, ManifestFormatVersion)
	}
	if !m.DType.Valid() {
		return bad("dtype", "%v is not f32, f16, int8 or binary", m.DType)
	}
	if m.Rescore != 0 && m.Rescore != F16 && m.Rescore != F32 {
		return bad("rescore_dtype", "%v is not f16, f32 or none", m.Rescore)
	}
	if m.Model.Dim < 1 || m.Model.Dim > MaxDim {
		return bad("model.dim", "%d out of range [1, %d]", m.Model.Dim, MaxDim)
	}
	if b, err := hex.DecodeString(m.Model.SHA256); err != nil || len(b) != 32 || strings.ToLower(m.Model.SHA256) != m.Model.SHA256 {
		return bad("model.sha256", "%q is not 64 lowercase hex digits", m.Model.SHA256)
	}
	if m.Model.MaxTokens < 0 {
		return bad("model.max_tokens", "%d is negative", m.Model.MaxTokens)
	}
	if m.Chunking.Window < 0 || m.Chunking.Overlap < 0 || m.Chunking.Window > 0 && m.Chunking.Overlap >= m.Chunking.Window {
		return bad("chunking", "window %d, overlap %d: need 0 ≤ overlap < window", m.Chunking.Window, m.Chunking.Overlap)
	}
	seen := map[string]string{}
	checkRef := func(field string, r FileRef) error {
		if !IsIndexFileName(r.Name) || manifestFileName.MatchString(r.Name) {
			return bad(field+".name", "%q does not follow the <kind>-<number>.<ext> file scheme", r.Name)
		}
		if prev, dup := seen[r.Name]; dup {
			return bad(field+".name", "%q is also referenced by %s", r.Name, prev)
		}
		seen[r.Name] = field
		if r.Size < 0 {
			return bad(field+".size", "%d is negative", r.Size)
		}
		return nil
	}
	var docs, passages int64
	ids := map[uint64]bool{}
	for i, s := range m.Segments {
		f := fmt.Sprintf("segments[%d]", i)
		if ids[s.ID] || s.ID >= m.NextSegmentID {
			return bad(f+".id", "%d is repeated or not below next_segment_id %d", s.ID, m.NextSegmentID)
		}
		ids[s.ID] = true
		if s.DocOrdEnd < s.DocOrdStart || i > 0 && s.DocOrdStart < m.Segments[i-1].DocOrdEnd {
			return bad(f+".doc_ord_start", "range [%d, %d) is empty-reversed or overlaps the previous segment", s.DocOrdStart, s.DocOrdEnd)
		}
		if s.NumDocs < 0 || s.NumDocs > int64(s.DocOrdEnd-s.DocOrdStart) {
			return bad(f+".num_docs", "%d does not fit the ordinal range [%d, %d)", s.NumDocs, s.DocOrdStart, s.DocOrdEnd)
		}
		if s.NumPassages < 0 {
			return bad(f+".num_passages", "%d is negative", s.NumPassages)
		}
		docs += s.NumDocs
		passages += s.NumPassages
		if err := checkRef(f+".vectors", s.Vectors); err != nil {
			return err
		}
		if err := checkRef(f+".docs", s.Docs); err != nil {
			return err
		}
		for k, r := range s.Files {
			if !filesKey.MatchString(k) {
				return bad(f+".files", "key %q is not [a-z0-9_.-]+", k)
			}
			if err := checkRef(fmt.Sprintf("%s.files[%s]", f, k), r); err != nil {
				return err
			}
		}
	}
	if m.Tombstones != nil {
		if err := checkRef("tombstones", *m.Tombstones); err != nil {
			return err
		}
	} else if m.Counts.Deleted != 0 {
		return bad("counts.deleted", "%d deleted documents but no tombstone file", m.Counts.Deleted)
	}
	if m.Counts.Documents != docs || m.Counts.Passages != passages {
		return bad("counts", "documents %d, passages %d; the segments hold %d and %d (call Recount)", m.Counts.Documents, m.Counts.Passages, docs, passages)
	}
	if m.Counts.Deleted < 0 || m.Counts.Deleted > docs {
		return bad("counts.deleted", "%d out of range [0, %d]", m.Counts.Deleted, docs)
	}
	for i, in := range m.Inputs {
		if in.Path == "" || in.Records < 0 || in.Size < 0 {
			return bad(fmt.Sprintf("inputs[%d]", i), "path %q, size %d, records %d", in.Path, in.Size, in.Records)
		}
	}
	return nil
}

// pointer is the parsed MANIFEST file.
type pointer struct {
	name string
	gen  uint64
	size int64
	crc  uint32
}

func (p pointer) encode() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nname %s\ngeneration %d\nsize %d\ncrc32c %08x\n", pointerMagic, p.name, p.gen, p.size, p.crc)
	fmt.Fprintf(&b, "check %08x\n", crc32c(b.Bytes()))
	return b.Bytes()
}

// readPointer reads dir/MANIFEST. A missing file wraps fs.ErrNotExist.
func readPointer(fsys FS, dir string) (pointer, error) {
	path := filepath.Join(dir, PointerFile)
	b, err := readLimited(fsys, path, maxPointerSize)
	if err != nil {
		return pointer{}, err
	}
	p, cerr := parsePointer(path, b)
	if cerr != nil {
		cerr.Remedy = recoverRemedy(fsys, dir, 0)
		return pointer{}, cerr
	}
	return p, nil
}

// parsePointer parses and verifies MANIFEST's content.
func parsePointer(path string, b []byte) (pointer, *CorruptError) {
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) != 7 || lines[6] != "" {
		return pointer{}, corrupt(path, "file", "%d bytes, %d lines: want 6 lines (truncated or garbled)", len(b), len(lines)-1)
	}
	keys := []string{"", "name ", "generation ", "size ", "crc32c ", "check "}
	vals := make([]string, len(keys))
	for i, k := range keys {
		l := strings.TrimSuffix(lines[i], "\n")
		if i == 0 {
			if l != pointerMagic {
				return pointer{}, corrupt(path, "line 1", "%q is not %q", l, pointerMagic)
			}
			continue
		}
		if !strings.HasPrefix(l, k) {
			return pointer{}, corrupt(path, fmt.Sprintf("line %d", i+1), "%q does not start with %q", l, k)
		}
		vals[i] = l[len(k):]
	}
	body := len(b) - len(lines[5])
	if got := fmt.Sprintf("%08x", crc32c(b[:body])); vals[5] != got {
		return pointer{}, corrupt(path, "line 6 (check)", "checksum %q, computed %s: the file is damaged", vals[5], got)
	}
	p := pointer{name: vals[1]}
	m := manifestFileName.FindStringSubmatch(p.name)
	gen, err1 := strconv.ParseUint(vals[2], 10, 64)
	size, err2 := strconv.ParseInt(vals[3], 10, 64)
	crc, err3 := strconv.ParseUint(vals[4], 16, 32)
	if m == nil || err1 != nil || err2 != nil || err3 != nil || len(vals[4]) != 8 || size < 0 {
		return pointer{}, corrupt(path, "file", "unparsable name %q, generation %q, size %q or crc32c %q", vals[1], vals[2], vals[3], vals[4])
	}
	if g, _ := strconv.ParseUint(m[1], 10, 64); g != gen || gen == 0 {
		return pointer{}, corrupt(path, "file", "name %s does not match generation %d", p.name, gen)
	}
	p.gen, p.size, p.crc = gen, size, uint32(crc)
	return p, nil
}

// readLimited reads a whole file of at most limit bytes.
func readLimited(fsys FS, path string, limit int64) ([]byte, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, corrupt(path, "file", "larger than %d bytes", limit)
	}
	return b, nil
}

// recoverRemedy tells the user what to do about a damaged manifest.
func recoverRemedy(fsys FS, dir string, except uint64) string {
	gens, _ := ListManifestsFS(fsys, dir)
	var names []string
	for _, g := range slices.Backward(gens) {
		if g != except {
			names = append(names, ManifestFileName(g))
		}
	}
	s := "restore the index directory from a backup or rebuild the index"
	if len(names) > 0 {
		s += fmt.Sprintf("; manifests present: %s — RecoverManifest rolls back to the newest intact one", strings.Join(names[:min(len(names), 3)], ", "))
	}
	return s
}

// ListManifests returns the generations of the manifest files in dir, in
// increasing order.
func ListManifests(dir string) ([]uint64, error) { return ListManifestsFS(OSFS{}, dir) }

// ListManifestsFS is ListManifests on the file system fsys (nil: OSFS).
func ListManifestsFS(fsys FS, dir string) ([]uint64, error) {
	ents, err := orOS(fsys).ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list manifests: %w", err)
	}
	var gens []uint64
	for _, e := range ents {
		if m := manifestFileName.FindStringSubmatch(e.Name()); m != nil && e.Type().IsRegular() {
			if g, err := strconv.ParseUint(m[1], 10, 64); err == nil {
				gens = append(gens, g)
			}
		}
	}
	slices.Sort(gens)
	return gens, nil
}

// LoadManifest reads the current manifest of the index in dir: the MANIFEST
// pointer (its own checksum), the manifest it names (size and CRC-32C), the
// manifest's consistency, and that every referenced file exists with the
// recorded size (their contents are verified when read; VerifyFiles checks
// them all). A directory without MANIFEST gives an error wrapping
// fs.ErrNotExist; damage gives a *CorruptError naming the file and saying
// what to do.
func LoadManifest(dir string) (*Manifest, error) { return LoadManifestFS(OSFS{}, dir) }

// LoadManifestFS is LoadManifest on the file system fsys (nil: OSFS).
func LoadManifestFS(fsys FS, dir string) (*Manifest, error) {
	fsys = orOS(fsys)
	p, err := readPointer(fsys, dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("load index %s: no %s (not an index, or nothing committed yet): %w", dir, PointerFile, err)
		}
		return nil, fmt.Errorf("load index %s: %w", dir, err)
	}
	m, err := loadManifest(fsys, dir, p.name, &p)
	if err != nil {
		return nil, fmt.Errorf("load index %s: %w", dir, err)
	}
	return m, nil
}

// LoadManifestFile reads and checks the manifest file name in dir (for
// example an earlier generation), without consulting MANIFEST.
func LoadManifestFile(dir, name string) (*Manifest, error) {
	return LoadManifestFileFS(OSFS{}, dir, name)
}

// LoadManifestFileFS is LoadManifestFile on the file system fsys (nil: OSFS).
func LoadManifestFileFS(fsys FS, dir, name string) (*Manifest, error) {
	if !manifestFileName.MatchString(name) {
		return nil, fmt.Errorf("load manifest %s: not a manifest file name", name)
	}
	m, err := loadManifest(orOS(fsys), dir, name, nil)
	if err != nil {
		return nil, fmt.Errorf("load index %s: %w", dir, err)
	}
	return m, nil
}

func loadManifest(fsys FS, dir, name string, p *pointer) (*Manifest, error) {
	path := filepath.Join(dir, name)
	var gen uint64
	if m := manifestFileName.FindStringSubmatch(name); m != nil {
		gen, _ = strconv.ParseUint(m[1], 10, 64)
	}
	b, err := readLimited(fsys, path, maxManifestSize)
	if err == nil {
		var m *Manifest
		if m, err = parseManifest(path, b, p, gen); err == nil {
			if err := checkRefs(fsys, dir, m, name); err != nil {
				return nil, err
			}
			return m, nil
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		err = &CorruptError{Path: path, Where: "file", Detail: "missing", Err: err}
	}
	var ce *CorruptError
	if errors.As(err, &ce) && ce.Remedy == "" {
		ce.Remedy = recoverRemedy(fsys, dir, gen)
	}
	return nil, err
}

// parseManifest decodes and checks a manifest file's content: size and
// CRC-32C against the pointer (when given), strict JSON, Validate, and the
// generation against the file name's.
func parseManifest(path string, b []byte, p *pointer, gen uint64) (*Manifest, error) {
	if p != nil {
		if int64(len(b)) != p.size {
			return nil, corrupt(path, "file", "%d bytes, %s records %d: truncated or replaced", len(b), PointerFile, p.size)
		}
		if got := crc32c(b); got != p.crc {
			return nil, corrupt(path, "file", "CRC-32C %08x, %s records %08x: the file is damaged", got, PointerFile, p.crc)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	m := new(Manifest)
	if err := dec.Decode(m); err != nil {
		return nil, corrupt(path, "JSON", "%v", err)
	}
	if dec.More() {
		return nil, corrupt(path, "JSON", "data after the manifest object")
	}
	if m.FormatVersion > ManifestFormatVersion {
		return nil, fmt.Errorf("%s: format version %d is newer than this quarry's %d: upgrade quarry", path, m.FormatVersion, ManifestFormatVersion)
	}
	if err := m.Validate(); err != nil {
		return nil, corrupt(path, "content", "%v", err)
	}
	if m.Generation != gen {
		return nil, corrupt(path, "field generation", "%d in a file named for generation %d", m.Generation, gen)
	}
	return m, nil
}

// checkRefs verifies that every referenced file exists with its size.
func checkRefs(fsys FS, dir string, m *Manifest, from string) error {
	for _, r := range m.Refs() {
		path := filepath.Join(dir, r.Name)
		st, err := fsys.Stat(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return &CorruptError{Path: path, Where: "file", Detail: fmt.Sprintf("missing, but %s references it (%s)", from, r.Field),
					Remedy: "the directory was changed outside quarry: restore it from a backup or rebuild the index", Err: err}
			}
			return fmt.Errorf("%s (%s in %s): %w", path, r.Field, from, err)
		}
		if !st.Mode().IsRegular() || st.Size() != r.Size {
			return &CorruptError{Path: path, Where: "file", Detail: fmt.Sprintf("%d bytes (mode %v), %s records %d (%s): truncated or replaced", st.Size(), st.Mode(), from, r.Size, r.Field),
				Remedy: "restore the index from a backup or rebuild it"}
		}
	}
	return nil
}

// VerifyFiles reads every file m references and checks its size and whole-file
// CRC-32C against the manifest.
func VerifyFiles(dir string, m *Manifest) error { return VerifyFilesFS(OSFS{}, dir, m) }

// VerifyFilesFS is VerifyFiles on the file system fsys (nil: OSFS).
func VerifyFilesFS(fsys FS, dir string, m *Manifest) error {
	for _, r := range m.Refs() {
		if err := VerifyFileFS(fsys, dir, r.FileRef); err != nil {
			return fmt.Errorf("verify %s: %w", r.Field, err)
		}
	}
	return nil
}

// VerifyFile checks one file's size and CRC-32C.
func VerifyFile(dir string, ref FileRef) error { return VerifyFileFS(OSFS{}, dir, ref) }

// VerifyFileFS is VerifyFile on the file system fsys (nil: OSFS).
func VerifyFileFS(fsys FS, dir string, ref FileRef) error {
	path := filepath.Join(dir, ref.Name)
	f, err := orOS(fsys).Open(path)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	if n != ref.Size || h.Sum32() != ref.CRC32C {
		return corrupt(path, "file", "%d bytes with CRC-32C %08x; the manifest records %d bytes, %08x", n, h.Sum32(), ref.Size, ref.CRC32C)
	}
	return nil
}

// Commit makes m the index's next generation. m must be the manifest loaded
// from dir (or a new one with Generation 0 for a new index), changed by the
// caller, who holds the index lock and has committed (fsynced) every file m
// references. Commit checks m, writes manifest-<gen>.json (temporary file,
// fsync, rename), then replaces MANIFEST the same way and fsyncs the
// directory; MANIFEST's rename is the commit point. On success m's
// Generation, FormatVersion, Created and Updated are set.
func Commit(dir string, m *Manifest) error { return CommitFS(OSFS{}, dir, m) }

// CommitFS is Commit on the file system fsys (nil: OSFS).
func CommitFS(fsys FS, dir string, m *Manifest) error {
	fsys = orOS(fsys)
	p, err := readPointer(fsys, dir)
	var cur uint64
	switch {
	case err == nil:
		cur = p.gen
	case errors.Is(err, fs.ErrNotExist):
		if gens, _ := ListManifestsFS(fsys, dir); len(gens) > 0 {
			return fmt.Errorf("commit index %s: no %s but %s exists: open the index with OpenForWrite (which recovers it) instead of starting a new one over it", dir, PointerFile, ManifestFileName(gens[len(gens)-1]))
		}
	default:
		return fmt.Errorf("commit index %s: %w", dir, err)
	}
	if m.Generation != cur {
		return fmt.Errorf("commit index %s: the manifest is generation %d but the index is at generation %d: it changed since the manifest was loaded (another writer?) — reload and retry", dir, m.Generation, cur)
	}
	return commitAt(fsys, dir, m, cur+1)
}

func commitAt(fsys FS, dir string, m *Manifest, gen uint64) error {
	c := *m
	c.FormatVersion = ManifestFormatVersion
	c.Generation = gen
	now := time.Now().UTC()
	if c.Created.IsZero() {
		c.Created = now
	}
	c.Updated = now
	if err := c.Validate(); err != nil {
		return fmt.Errorf("commit index %s: %w", dir, err)
	}
	name := ManifestFileName(gen)
	if err := checkRefs(fsys, dir, &c, name); err != nil {
		return fmt.Errorf("commit index %s: %w", dir, err)
	}
	data, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return fmt.Errorf("commit index %s: encode manifest: %w", dir, err)
	}
	data = append(data, '\n')
	path := filepath.Join(dir, name)
	// A manifest of this generation can only be the leftover of a commit
	// that crashed before MANIFEST named it: unreferenced, safe to remove.
	if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("commit index %s: remove stale %s: %w", dir, name, err)
	}
	af, err := CreateAtomicFS(fsys, path)
	if err != nil {
		return fmt.Errorf("commit index %s: %w", dir, err)
	}
	if _, err := af.Write(data); err != nil {
		af.Abort()
		return fmt.Errorf("commit index %s: %w", dir, err)
	}
	ref, err := af.Commit()
	if err != nil {
		return fmt.Errorf("commit index %s: %w", dir, err)
	}
	ptr := pointer{name: name, gen: gen, size: ref.Size, crc: ref.CRC32C}
	pf, err := createReplace(fsys, filepath.Join(dir, PointerFile))
	if err != nil {
		return fmt.Errorf("commit index %s: %w", dir, err)
	}
	if _, err := pf.Write(ptr.encode()); err != nil {
		pf.Abort()
		return fmt.Errorf("commit index %s: %w", dir, err)
	}
	if _, err := pf.commitReplace(); err != nil {
		return fmt.Errorf("commit index %s: %w", dir, err)
	}
	*m = c
	return nil
}

// createReplace is CreateAtomic for a file that Commit replaces (MANIFEST).
func createReplace(fsys FS, path string) (*AtomicFile, error) {
	dir, base := filepath.Split(path)
	f, tmp, err := createTemp(fsys, dir, base)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return &AtomicFile{fsys: fsys, path: path, tmp: tmp, f: f, w: bufio.NewWriter(f)}, nil
}

// RecoverManifest rolls a damaged index back to its newest intact
// generation: it loads the manifests present from the newest down, takes the
// first that is intact (its referenced files exist with their sizes) and
// commits its content as a new generation (numbered after every manifest
// file present), replacing a damaged MANIFEST. The caller must hold the
// index lock. Documents committed after that generation are lost and must
// be indexed again (the returned manifest's Inputs say from where).
func RecoverManifest(dir string) (*Manifest, error) { return RecoverManifestFS(OSFS{}, dir) }

// RecoverManifestFS is RecoverManifest on the file system fsys (nil: OSFS).
func RecoverManifestFS(fsys FS, dir string) (*Manifest, error) {
	fsys = orOS(fsys)
	gens, err := ListManifestsFS(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("recover index %s: %w", dir, err)
	}
	if len(gens) == 0 {
		return nil, fmt.Errorf("recover index %s: no manifest files left: rebuild the index", dir)
	}
	var errs []error
	for _, g := range slices.Backward(gens) {
		m, err := LoadManifestFileFS(fsys, dir, ManifestFileName(g))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := commitAt(fsys, dir, m, gens[len(gens)-1]+1); err != nil {
			return nil, fmt.Errorf("recover index %s: %w", dir, err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("recover index %s: no intact manifest: %w", dir, errors.Join(errs...))
}

// OpenForWrite prepares dir for a writer: it creates the directory if
// needed, takes the index lock, loads the
// current manifest and removes leftovers of interrupted runs (GC). It returns
// a nil manifest for a new index (no MANIFEST and no manifest file: start
// from a fresh Manifest with Generation 0). When MANIFEST is missing but
// manifest files exist (a first commit interrupted between its two renames,
// or a MANIFEST deleted by hand), it rolls forward to the newest intact one
// with RecoverManifest. A damaged MANIFEST or manifest is an error: nothing
// is repaired behind the user's back. The caller must Release the lock.
func OpenForWrite(dir string) (*Lock, *Manifest, error) { return OpenForWriteFS(OSFS{}, dir) }

// OpenForWriteFS is OpenForWrite on the file system fsys (nil: OSFS). The
// writer lock is flock(2) on the operating system's file system; on any
// other FS (MemFS: one process's memory) the returned Lock holds nothing.
// A directory it creates is made durable (its parent is fsynced).
func OpenForWriteFS(fsys FS, dir string) (*Lock, *Manifest, error) {
	fsys = orOS(fsys)
	if err := mkdirDurable(fsys, dir); err != nil {
		return nil, nil, fmt.Errorf("open index %s for writing: %w", dir, err)
	}
	lock := &Lock{}
	if _, ok := fsys.(OSFS); ok {
		l, err := AcquireLock(dir)
		if err != nil {
			return nil, nil, err
		}
		lock = l
	}
	fail := func(err error) (*Lock, *Manifest, error) {
		lock.Release()
		return nil, nil, err
	}
	m, err := LoadManifestFS(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		gens, lerr := ListManifestsFS(fsys, dir)
		if lerr != nil {
			return fail(lerr)
		}
		if len(gens) == 0 {
			if _, err := GCFS(fsys, dir, &Manifest{}); err != nil {
				return fail(err)
			}
			return lock, nil, nil
		}
		m, err = RecoverManifestFS(fsys, dir)
	}
	if err != nil {
		return fail(err)
	}
	if _, err := GCFS(fsys, dir, m); err != nil {
		return fail(err)
	}
	return lock, m, nil
}

// mkdirDurable creates dir and its missing parents and fsyncs the parent of
// each directory it created, so that a commit into dir cannot be lost with
// a directory entry that was never made durable.
func mkdirDurable(fsys FS, dir string) error {
	dir = filepath.Clean(dir)
	var created []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := fsys.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range slices.Backward(created) {
		if err := syncDir(fsys, filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// OpenSegment opens segment i's vector file and checks it against the
// manifest: dtype, rescore dtype, dimension, row count and that its
// document ordinals lie in the segment's range. A mismatch (a file swapped
// for another of the same size) is a *CorruptError naming the field.
func (m *Manifest) OpenSegment(dir string, i int) (*SegmentReader, error) {
	if i < 0 || i >= len(m.Segments) {
		return nil, fmt.Errorf("open segment %d of %d", i, len(m.Segments))
	}
	s := &m.Segments[i]
	r, err := OpenSegment(filepath.Join(dir, s.Vectors.Name))
	if err != nil {
		return nil, err
	}
	in := r.Info()
	field := fmt.Sprintf("segments[%d]", i)
	var bad string
	switch {
	case in.DType != m.DType || in.Rescore != m.Rescore || in.Dim != m.Model.Dim:
		bad = fmt.Sprintf("file holds %v×%d vectors with rescore %v; the manifest says %v×%d with rescore %v", in.DType, in.Dim, in.Rescore, m.DType, m.Model.Dim, m.Rescore)
	case int64(in.Count) != s.NumPassages:
		bad = fmt.Sprintf("file holds %d rows; %s.num_passages is %d", in.Count, field, s.NumPassages)
	case in.Count > 0 && (in.FirstGroup < s.DocOrdStart || in.LastGroup >= s.DocOrdEnd):
		bad = fmt.Sprintf("document ordinals %d..%d lie outside %s's range [%d, %d)", in.FirstGroup, in.LastGroup, field, s.DocOrdStart, s.DocOrdEnd)
	}
	if bad != "" {
		r.Close()
		return nil, corrupt(filepath.Join(dir, s.Vectors.Name), "header (against the manifest's "+field+")", "%s", bad)
	}
	return r, nil
}

// OpenDocs opens segment i's doc store and checks its record count and
// ordinal range against the manifest.
func (m *Manifest) OpenDocs(dir string, i int) (*DocReader, error) {
	if i < 0 || i >= len(m.Segments) {
		return nil, fmt.Errorf("open doc store of segment %d of %d", i, len(m.Segments))
	}
	s := &m.Segments[i]
	r, err := OpenDocs(filepath.Join(dir, s.Docs.Name))
	if err != nil {
		return nil, err
	}
	first, last := r.OrdRange()
	if int64(r.Len()) != s.NumDocs || r.Len() > 0 && (first < s.DocOrdStart || last >= s.DocOrdEnd) {
		r.Close()
		return nil, corrupt(filepath.Join(dir, s.Docs.Name), fmt.Sprintf("footer (against the manifest's segments[%d])", i),
			"%d documents with ordinals %d..%d; the manifest says %d in [%d, %d)", r.Len(), first, last, s.NumDocs, s.DocOrdStart, s.DocOrdEnd)
	}
	return r, nil
}
