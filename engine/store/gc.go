package store

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
)

// GCResult lists what GC did.
type GCResult struct {
	// Removed are the files deleted: temporary files, manifests other than
	// the current and previous ones, and index files neither references.
	Removed []string
	// Unknown are entries GC left alone because they do not follow the index
	// file naming scheme (a user's file, a directory).
	Unknown []string
}

// GC deletes from dir every temporary file and every index file that is not
// referenced by the current manifest m or by the previous intact one, and
// every manifest file but those two. The previous generation is kept whole so
// that a reader that loaded it just before the last commit can still open its
// files (readers take no lock) and so that RecoverManifest has something to
// roll back to. Files that do not follow the "<kind>-<number>.<ext>" scheme
// are never deleted. The caller must hold the index lock and must not be
// writing files into dir concurrently (their temporary files would be
// removed). For a new index (m.Generation 0, no MANIFEST yet) GC removes the
// leftovers of an interrupted first run.
//
// GC recognizes index files by the generic scheme (IsIndexFileName);
// Registry.GC recognizes only the kinds it declares.
func GC(dir string, m *Manifest) (GCResult, error) { return gc(OSFS{}, dir, m, IsIndexFileName) }

// GCFS is GC on the file system fsys (nil: OSFS).
func GCFS(fsys FS, dir string, m *Manifest) (GCResult, error) {
	return gc(orOS(fsys), dir, m, IsIndexFileName)
}

// gc is GC with isIndexFile deciding which names are index files.
func gc(fsys FS, dir string, m *Manifest, isIndexFile func(name string) bool) (GCResult, error) {
	var res GCResult
	gens, err := ListManifestsFS(fsys, dir)
	if err != nil {
		return res, fmt.Errorf("gc %s: %w", dir, err)
	}
	p, err := readPointer(fsys, dir)
	switch {
	case err == nil:
		if p.gen != m.Generation {
			return res, fmt.Errorf("gc %s: the manifest is generation %d but the index is at %d: GC needs the current manifest", dir, m.Generation, p.gen)
		}
	case errors.Is(err, fs.ErrNotExist) && m.Generation == 0:
		// Nothing was ever committed: every index file is a leftover of an
		// interrupted first run, unless manifests exist (then MANIFEST was
		// lost, or the first commit stopped just before writing it).
		if len(gens) > 0 {
			return res, fmt.Errorf("gc %s: no %s but %s exists: the index may be damaged; recover it with RecoverManifest (or delete the directory to start over)", dir, PointerFile, ManifestFileName(gens[len(gens)-1]))
		}
	default:
		return res, fmt.Errorf("gc %s: %w", dir, err)
	}
	keep := map[string]bool{PointerFile: true, LockFile: true, ManifestFileName(m.Generation): true}
	for _, r := range m.Refs() {
		keep[r.Name] = true
	}
	for _, g := range slices.Backward(gens) {
		if g >= m.Generation {
			continue
		}
		prev, err := LoadManifestFileFS(fsys, dir, ManifestFileName(g))
		if err != nil {
			continue // damaged or incomplete: not worth keeping
		}
		keep[ManifestFileName(g)] = true
		for _, r := range prev.Refs() {
			keep[r.Name] = true
		}
		break
	}
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return res, fmt.Errorf("gc %s: %w", dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		if keep[name] {
			continue
		}
		temp := strings.HasPrefix(name, ".") && strings.Contains(name, tempSuffix)
		if !e.Type().IsRegular() || !temp && !isIndexFile(name) {
			res.Unknown = append(res.Unknown, name)
			continue
		}
		if err := fsys.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("gc %s: %w", dir, err)
		}
		res.Removed = append(res.Removed, name)
	}
	if len(res.Removed) > 0 {
		if err := syncDir(fsys, dir); err != nil {
			return res, fmt.Errorf("gc %s: %w", dir, err)
		}
	}
	return res, nil
}
