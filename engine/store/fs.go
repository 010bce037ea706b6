package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// FS is the file system seam of the store: every file operation on an index
// directory goes through one, so that tests can run the write protocol
// against a file system that loses what was not made durable (MemFS). The
// default is OSFS, the operating system's; an FS is carried in values
// (SegmentParams.FS, DocParams.FS, Registry.WithFS, the *FS functions), never
// in package state. Names are paths as filepath builds them.
type FS interface {
	// Create creates name, which must not exist (O_CREATE|O_EXCL), for
	// reading and writing, with permissions perm.
	Create(name string, perm fs.FileMode) (File, error)
	// Open opens name for reading.
	Open(name string) (File, error)
	// OpenDir opens the directory name, to Sync it.
	OpenDir(name string) (File, error)
	Stat(name string) (fs.FileInfo, error)
	Lstat(name string) (fs.FileInfo, error)
	// Rename replaces newname by oldname atomically.
	Rename(oldname, newname string) error
	// Link gives oldname's file the second name newname; it fails with an
	// error wrapping fs.ErrExist when newname exists.
	Link(oldname, newname string) error
	Remove(name string) error
	MkdirAll(name string, perm fs.FileMode) error
	// ReadDir lists a directory sorted by name.
	ReadDir(name string) ([]fs.DirEntry, error)
}

// File is an open file of an FS. Sync makes its data durable (for a
// directory opened by OpenDir: the names in it).
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.Closer
	Sync() error
	Stat() (fs.FileInfo, error)
}

// OSFS is the operating system's file system (package os).
type OSFS struct{}

// OS returns the operating system's file system, the default of every
// function that takes no FS.
func OS() FS { return OSFS{} }

// orOS is fsys, or OSFS when fsys is nil.
func orOS(fsys FS) FS {
	if fsys == nil {
		return OSFS{}
	}
	return fsys
}

// Create implements FS. The mode is set with chmod so that the umask does
// not change it (index files are 0644).
func (OSFS) Create(name string, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(name)
		return nil, err
	}
	return f, nil
}

// Open implements FS.
func (OSFS) Open(name string) (File, error) { return os.Open(name) }

// OpenDir implements FS.
func (OSFS) OpenDir(name string) (File, error) { return os.Open(name) }

// Stat implements FS.
func (OSFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// Lstat implements FS.
func (OSFS) Lstat(name string) (fs.FileInfo, error) { return os.Lstat(name) }

// Rename implements FS.
func (OSFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

// Link implements FS.
func (OSFS) Link(oldname, newname string) error { return os.Link(oldname, newname) }

// Remove implements FS.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// MkdirAll implements FS.
func (OSFS) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(name, perm) }

// ReadDir implements FS.
func (OSFS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }

// createTemp creates ".BASE.tmp-<random digits>" in dir with mode 0644 and
// returns it with its path.
func createTemp(fsys FS, dir, base string) (File, string, error) {
	if dir == "" {
		dir = "."
	}
	for try := 0; ; try++ {
		path := filepath.Join(dir, "."+base+tempSuffix+strconv.FormatUint(uint64(rand.Uint32()), 10))
		f, err := fsys.Create(path, 0o644)
		if err == nil {
			return f, path, nil
		}
		if !errors.Is(err, fs.ErrExist) || try == 100 {
			return nil, "", fmt.Errorf("temporary file: %w", err)
		}
	}
}

// syncDir fsyncs a directory so that renames and new names in it are durable.
// File systems that cannot fsync a directory (EINVAL) are tolerated.
func syncDir(fsys FS, dir string) error {
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// ReadFileFS reads the whole file path of fsys.
func ReadFileFS(fsys FS, path string) ([]byte, error) {
	f, err := orOS(fsys).Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}
