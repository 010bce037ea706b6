package store

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
)

// CheckProblem is one piece of damage Check found: the file (a name in the
// index directory), the part of it (header, block, section, field) and what
// is wrong.
type CheckProblem struct {
	File   string `json:"file"`
	Where  string `json:"where"`
	Detail string `json:"detail"`
}

// CheckedFile is one file the current manifest references, as Check found
// it.
type CheckedFile struct {
	Name  string `json:"name"`
	Field string `json:"field"` // the manifest field: "segments[0].vectors", "tombstones"
	Size  int64  `json:"size"`
	OK    bool   `json:"ok"`
}

// Leftover is a file no generation GC keeps needs: a temporary file, an
// index file no kept manifest references (an orphan) or a manifest older
// than the previous one. Leftovers are not damage; Check with repair
// removes them.
type Leftover struct {
	Name string `json:"name"`
	What string `json:"what"` // "temporary", "orphan", "old manifest"
}

// CheckReport is what Check found in an index directory.
type CheckReport struct {
	Dir        string         `json:"dir"`
	Generation uint64         `json:"generation"`
	Files      []CheckedFile  `json:"files"`
	Problems   []CheckProblem `json:"problems"`
	Leftovers  []Leftover     `json:"leftovers"`
	// Removed are the leftovers repair deleted.
	Removed []string `json:"removed,omitempty"`
	// Unknown are names that follow no index naming scheme (left alone).
	Unknown []string `json:"unknown,omitempty"`
}

// OK reports whether no damage was found.
func (r *CheckReport) OK() bool { return len(r.Problems) == 0 }

// Check verifies the whole index directory dir, reading every byte of every
// file the current manifest references: MANIFEST and the manifest (their
// checksums, the manifest's consistency), then each referenced file's
// presence, size and whole-file CRC-32C, each segment's files through the
// kinds' Verify and against the segment (counts, ordinal ranges: Registry
// VerifySegment), and the tombstone file (its checksums, its ordinals inside
// the segments' ranges, counts.deleted). Every problem is reported with the
// file and the part of it; files that are merely left over (temporary files,
// orphans, manifests older than the previous one) are listed apart.
//
// With repair, and only when no damage was found, Check takes the writer
// lock and removes the leftovers (GC): nothing any kept generation
// references is touched, so no data is lost. A damaged index is never
// changed.
//
// The error is nil when the index is intact; a *CorruptError (kind
// errs.Corrupt) naming the first problem and counting them when it is not;
// the first failure to read that is not damage (an I/O error) when there is
// no damage; an error wrapping fs.ErrNotExist when dir holds no index.
func (r *Registry) Check(dir string, repair bool) (*CheckReport, error) {
	fsys := r.FS()
	rep := &CheckReport{Dir: dir, Files: []CheckedFile{}, Problems: []CheckProblem{}, Leftovers: []Leftover{}}
	var ioErr error // the first failure that is not damage (an I/O error)
	add := func(err error) {
		var ce *CorruptError
		if errors.As(err, &ce) {
			rep.Problems = append(rep.Problems, CheckProblem{File: filepath.Base(ce.Path), Where: ce.Where, Detail: ce.Detail})
		} else if ioErr == nil {
			ioErr = fmt.Errorf("check %s: %w", dir, err)
		}
	}
	result := func() (*CheckReport, error) {
		if err := rep.err(); err != nil || ioErr == nil {
			return rep, err
		}
		return rep, ioErr
	}
	p, err := readPointer(fsys, dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("check %s: no %s (not an index, or nothing committed yet): %w", dir, PointerFile, err)
		}
		add(err)
		return result()
	}
	path := filepath.Join(dir, p.name)
	b, err := readLimited(fsys, path, maxManifestSize)
	if errors.Is(err, fs.ErrNotExist) {
		err = corrupt(path, "file", "missing, but %s names it", PointerFile)
	}
	var m *Manifest
	if err == nil {
		m, err = parseManifest(path, b, &p, p.gen)
	}
	if err != nil {
		add(err)
		return result()
	}
	rep.Generation = m.Generation
	for _, ref := range m.Refs() {
		cf := CheckedFile{Name: ref.Name, Field: ref.Field, Size: ref.Size}
		fp := filepath.Join(dir, ref.Name)
		st, err := fsys.Stat(fp)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			add(corrupt(fp, "file", "missing, but %s references it (%s)", p.name, ref.Field))
		case err != nil:
			add(fmt.Errorf("%s: %w", fp, err))
		case !st.Mode().IsRegular() || st.Size() != ref.Size:
			add(corrupt(fp, "file", "%d bytes (mode %v); %s records %d (%s): truncated or replaced", st.Size(), st.Mode(), p.name, ref.Size, ref.Field))
		default:
			if err := VerifyFileFS(fsys, dir, ref.FileRef); err != nil {
				add(err)
			} else {
				cf.OK = true
			}
		}
		rep.Files = append(rep.Files, cf)
	}
	ok := map[string]bool{}
	for _, f := range rep.Files {
		ok[f.Name] = f.OK
	}
	for _, s := range m.Segments {
		// Structure and cross-references of the segments whose files are
		// whole (the damage of the others is reported above).
		whole := ok[s.Vectors.Name] && ok[s.Docs.Name]
		for _, ref := range s.Files {
			whole = whole && ok[ref.Name]
		}
		if whole {
			if err := r.VerifySegment(dir, s); err != nil {
				add(err)
			}
		}
	}
	if t := m.Tombstones; t != nil && ok[t.Name] {
		tp := filepath.Join(dir, t.Name)
		tomb, err := ReadTombstonesFS(fsys, tp)
		switch {
		case err != nil:
			add(err)
		case int64(tomb.Len()) != m.Counts.Deleted:
			add(corrupt(tp, "content (against the manifest's counts.deleted)", "%d ordinals; the manifest counts %d deleted", tomb.Len(), m.Counts.Deleted))
		default:
			for _, o := range tomb.ords {
				i, _ := slices.BinarySearchFunc(m.Segments, o, func(s Segment, o uint32) int {
					if s.DocOrdEnd <= o {
						return -1
					}
					if s.DocOrdStart > o {
						return 1
					}
					return 0
				})
				if i == len(m.Segments) || o < m.Segments[i].DocOrdStart {
					add(corrupt(tp, "content (against the manifest's segments)", "ordinal %d lies in no segment's range", o))
					break
				}
			}
		}
	}
	if err := r.leftovers(rep, m); err != nil {
		return rep, fmt.Errorf("check %s: %w", dir, err)
	}
	if repair && rep.OK() && ioErr == nil && len(rep.Leftovers) > 0 {
		if err := r.repair(rep, dir, m); err != nil {
			return rep, err
		}
	}
	return result()
}

// leftovers lists the names GC would remove: what neither m nor the
// previous intact generation keeps.
func (r *Registry) leftovers(rep *CheckReport, m *Manifest) error {
	fsys := r.FS()
	keep := map[string]bool{PointerFile: true, LockFile: true, ManifestFileName(m.Generation): true}
	for _, ref := range m.Refs() {
		keep[ref.Name] = true
	}
	gens, err := ListManifestsFS(fsys, rep.Dir)
	if err != nil {
		return err
	}
	for _, g := range slices.Backward(gens) {
		if g >= m.Generation {
			continue
		}
		prev, err := LoadManifestFileFS(fsys, rep.Dir, ManifestFileName(g))
		if err != nil {
			continue
		}
		keep[ManifestFileName(g)] = true
		for _, ref := range prev.Refs() {
			keep[ref.Name] = true
		}
		break
	}
	ents, err := fsys.ReadDir(rep.Dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case keep[name]:
		case strings.HasPrefix(name, ".") && strings.Contains(name, tempSuffix) && e.Type().IsRegular():
			rep.Leftovers = append(rep.Leftovers, Leftover{name, "temporary"})
		case !e.Type().IsRegular() || !r.IsIndexFileName(name):
			rep.Unknown = append(rep.Unknown, name)
		case manifestFileName.MatchString(name):
			rep.Leftovers = append(rep.Leftovers, Leftover{name, "old manifest"})
		default:
			rep.Leftovers = append(rep.Leftovers, Leftover{name, "orphan"})
		}
	}
	return nil
}

// repair removes the leftovers under the writer lock (GC).
func (r *Registry) repair(rep *CheckReport, dir string, m *Manifest) error {
	lock := &Lock{}
	if _, isOS := r.FS().(OSFS); isOS {
		l, err := AcquireLock(dir)
		if err != nil {
			return fmt.Errorf("check %s: repair: %w", dir, err)
		}
		lock = l
	}
	defer lock.Release()
	cur, err := LoadManifestFS(r.FS(), dir)
	if err != nil {
		return fmt.Errorf("check %s: repair: %w", dir, err)
	}
	if cur.Generation != m.Generation {
		return fmt.Errorf("check %s: repair: the index changed during the check (generation %d, now %d): check again", dir, m.Generation, cur.Generation)
	}
	res, err := r.GC(dir, cur)
	rep.Removed = res.Removed
	if err != nil {
		return fmt.Errorf("check %s: repair: %w", dir, err)
	}
	return nil
}

// err is nil for an intact index, else a *CorruptError naming the first
// problem.
func (r *CheckReport) err() error {
	if r.OK() {
		return nil
	}
	p := r.Problems[0]
	detail := p.Detail
	if n := len(r.Problems); n > 1 {
		detail += fmt.Sprintf(" (and %d more problems)", n-1)
	}
	return &CorruptError{Path: filepath.Join(r.Dir, p.File), Where: p.Where, Detail: detail,
		Remedy: "restore the index from a backup or rebuild it; files listed as damaged are not repaired"}
}
