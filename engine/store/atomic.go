package store

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// tempSuffix marks temporary files: a file being written to NAME is named
// ".NAME.tmp-<random digits>" in the same directory until it is published. GC
// deletes leftovers.
const tempSuffix = ".tmp-"

// FileRef names a file of the index directory with its size and the CRC-32C
// (Castagnoli) of its whole content, as recorded in a manifest.
type FileRef struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	CRC32C uint32 `json:"crc32c"`
}

// AtomicFile writes a new file so that it appears complete or not at all: the
// bytes go to a temporary file in the destination directory; Commit flushes,
// fsyncs, publishes it under the final name (never replacing an existing
// file) and fsyncs the directory. A crash at any point leaves at most an
// unreferenced temporary file, which GC removes. Other packages that add
// files to an index (the lexical index) should write them with AtomicFile so
// they get a FileRef with size and CRC-32C.
type AtomicFile struct {
	fsys FS
	path string
	tmp  string
	f    File
	w    *bufio.Writer
	crc  uint32
	size int64
	err  error // sticky write error
	done bool
}

// CreateAtomic starts writing the file path. It fails if path already exists.
func CreateAtomic(path string) (*AtomicFile, error) { return CreateAtomicFS(OSFS{}, path) }

// CreateAtomicFS is CreateAtomic on the file system fsys (nil: OSFS).
func CreateAtomicFS(fsys FS, path string) (*AtomicFile, error) {
	fsys = orOS(fsys)
	if _, err := fsys.Lstat(path); err == nil {
		return nil, fmt.Errorf("create %s: file exists (index files are never overwritten)", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, tmp, err := createTemp(fsys, dir, base)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return &AtomicFile{fsys: fsys, path: path, tmp: tmp, f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

// Write appends p. After a failed write every later call fails too.
func (a *AtomicFile) Write(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	if a.done {
		return 0, fmt.Errorf("write %s: file already committed or aborted", a.path)
	}
	n, err := a.w.Write(p)
	a.crc = UpdateCRC32C(a.crc, p[:n])
	a.size += int64(n)
	if err != nil {
		a.err = fmt.Errorf("write %s (temporary %s): %w", a.path, filepath.Base(a.tmp), err)
		return n, a.err
	}
	return n, nil
}

// Size is the number of bytes written so far (the offset of the next write).
func (a *AtomicFile) Size() int64 { return a.size }

// Commit makes the file durable under its final name and returns its
// FileRef. It fails, removing the temporary file, if the name exists.
func (a *AtomicFile) Commit() (FileRef, error) { return a.commit(false) }

// commitReplace is Commit that atomically replaces an existing file (only
// used for the MANIFEST pointer).
func (a *AtomicFile) commitReplace() (FileRef, error) { return a.commit(true) }

func (a *AtomicFile) commit(replace bool) (FileRef, error) {
	if a.done {
		return FileRef{}, fmt.Errorf("commit %s: already committed or aborted", a.path)
	}
	fail := func(step string, err error) (FileRef, error) {
		a.Abort()
		return FileRef{}, fmt.Errorf("commit %s: %s: %w", a.path, step, err)
	}
	if a.err != nil {
		return fail("write", a.err)
	}
	if err := a.w.Flush(); err != nil {
		return fail("flush", err)
	}
	if err := a.f.Sync(); err != nil {
		return fail("fsync", err)
	}
	if err := a.f.Close(); err != nil {
		return fail("close", err)
	}
	a.f = nil
	var err error
	if replace {
		err = a.fsys.Rename(a.tmp, a.path)
	} else {
		err = publish(a.fsys, a.tmp, a.path)
	}
	if err != nil {
		return fail("publish", err)
	}
	a.done = true
	if err := syncDir(a.fsys, filepath.Dir(a.path)); err != nil {
		return FileRef{}, fmt.Errorf("commit %s: %w", a.path, err)
	}
	return FileRef{Name: filepath.Base(a.path), Size: a.size, CRC32C: a.crc}, nil
}

// Abort discards the file. It is a no-op after Commit.
func (a *AtomicFile) Abort() error {
	if a.done {
		return nil
	}
	a.done = true
	if a.f != nil {
		a.f.Close()
		a.f = nil
	}
	if err := a.fsys.Remove(a.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("abort %s: remove %s: %w", a.path, a.tmp, err)
	}
	return nil
}

// publish gives the complete file tmp the name dst without ever replacing an
// existing dst: a hard link fails atomically when dst exists. On file systems
// without hard links it falls back to a check and a rename (safe under the
// index lock, which excludes other writers).
func publish(fsys FS, tmp, dst string) error {
	err := fsys.Link(tmp, dst)
	if err == nil {
		if err := fsys.Remove(tmp); err != nil {
			return fmt.Errorf("remove %s after linking: %w", tmp, err)
		}
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists (index files are never overwritten)", dst)
	}
	if _, serr := fsys.Lstat(dst); serr == nil {
		return fmt.Errorf("%s exists (index files are never overwritten)", dst)
	} else if !errors.Is(serr, fs.ErrNotExist) {
		return serr
	}
	return fsys.Rename(tmp, dst)
}

// WriteFileAtomic writes data as the new file path through AtomicFile
// (temporary file, fsync, no-clobber publish, directory fsync, mode 0644) and
// returns its FileRef. It fails, leaving nothing behind, if path exists. It
// is the publish step of every package that writes a whole index file from
// memory (the lexical and sparse indexes).
func WriteFileAtomic(path string, data []byte) (FileRef, error) {
	return WriteFileAtomicFS(OSFS{}, path, data)
}

// WriteFileAtomicFS is WriteFileAtomic on the file system fsys (nil: OSFS).
func WriteFileAtomicFS(fsys FS, path string, data []byte) (FileRef, error) {
	af, err := CreateAtomicFS(fsys, path)
	if err != nil {
		return FileRef{}, err
	}
	if _, err := af.Write(data); err != nil {
		af.Abort()
		return FileRef{}, err
	}
	return af.Commit()
}
