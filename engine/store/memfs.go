package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrCrashed is returned by every operation of a MemFS after its planned
// crash point (MemFS.CrashAfter): the simulated machine has lost power and
// the writer is dead.
var ErrCrashed = errors.New("memfs: simulated power loss")

// MemFS is a strict in-memory FS for tests: it keeps apart what a real file
// system has made durable and what it has not, and Crash drops the latter,
// as a power cut does (SIGKILL keeps the page cache, so it cannot show this):
//
//   - a file's data is durable up to its last Sync (File.Sync); later writes
//     are lost;
//   - a name in a directory (created, renamed to, linked, removed) is
//     durable once the directory is synced (OpenDir + Sync); until then a
//     crash restores the directory's names as of its last sync, so a rename
//     is atomic: after a crash either the old or the new name is there;
//   - an open file survives the removal of its name (as on Linux) until
//     Close.
//
// Every mutating operation and every sync is a numbered crash point (Ops);
// CrashAfter(n) lets n of them happen, then fails every later operation
// with ErrCrashed until Crash is called. Paths are cleaned and may be
// relative (to "/"). A MemFS is safe for concurrent use.
type MemFS struct {
	mu      sync.Mutex
	root    *memNode
	ops     int
	crashAt int // crash after this many ops; < 0: never
	crashed bool
	epoch   int // incremented by Crash: older handles are dead
}

type memNode struct {
	dir     bool
	data    []byte // files: current content
	durable []byte // files: content as of the last Sync
	kids    map[string]*memNode
	dkids   map[string]*memNode // directories: names as of the last sync
	mtime   time.Time
}

// NewMemFS returns an empty MemFS whose root directory is durable.
func NewMemFS() *MemFS {
	return &MemFS{root: &memNode{dir: true, kids: map[string]*memNode{}, dkids: map[string]*memNode{}}, crashAt: -1}
}

// Ops is the number of crash points passed so far (mutating operations and
// syncs).
func (m *MemFS) Ops() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ops
}

// CrashAfter makes the file system fail (ErrCrashed) every operation after
// n more crash points; n < 0 disarms it.
func (m *MemFS) CrashAfter(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n < 0 {
		m.crashAt = -1
	} else {
		m.crashAt = m.ops + n
	}
}

// Crash simulates a power cut and a reboot: every directory gets back the
// names of its last sync, every file the data of its last Sync, open files
// are invalidated, and the file system works again (disarmed).
func (m *MemFS) Crash() {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[*memNode]bool{}
	var reset func(n *memNode)
	reset = func(n *memNode) {
		if seen[n] {
			return
		}
		seen[n] = true
		if !n.dir {
			n.data = slices.Clone(n.durable)
			return
		}
		n.kids = maps.Clone(n.dkids)
		for _, k := range n.kids {
			reset(k)
		}
	}
	reset(m.root)
	m.crashed, m.crashAt = false, -1
	m.epoch++
}

// Clone returns an independent copy of the file system's current state,
// durable and volatile (hard links stay links), disarmed, with no open
// files: a test can explore several futures of one state.
func (m *MemFS) Clone() *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	memo := map[*memNode]*memNode{}
	var cp func(n *memNode) *memNode
	cp = func(n *memNode) *memNode {
		if c, ok := memo[n]; ok {
			return c
		}
		c := &memNode{dir: n.dir, data: slices.Clone(n.data), durable: slices.Clone(n.durable), mtime: n.mtime}
		memo[n] = c
		if n.dir {
			c.kids, c.dkids = map[string]*memNode{}, map[string]*memNode{}
			for k, v := range n.kids {
				c.kids[k] = cp(v)
			}
			for k, v := range n.dkids {
				c.dkids[k] = cp(v)
			}
		}
		return c
	}
	return &MemFS{root: cp(m.root), ops: m.ops, crashAt: -1, crashed: m.crashed}
}

// step counts a crash point; it fails when the file system has crashed.
// The caller holds mu.
func (m *MemFS) step() error {
	if m.crashed {
		return ErrCrashed
	}
	if m.crashAt >= 0 && m.ops >= m.crashAt {
		m.crashed = true
		return ErrCrashed
	}
	m.ops++
	return nil
}

// alive fails when the file system has crashed (for reads). The caller
// holds mu.
func (m *MemFS) alive() error {
	if m.crashed {
		return ErrCrashed
	}
	return nil
}

// split returns the components of a cleaned path.
func split(name string) []string {
	name = filepath.ToSlash(filepath.Clean("/" + name))
	if name == "/" {
		return nil
	}
	return strings.Split(name[1:], "/")
}

// lookup returns the node at name (nil if absent) and its parent directory.
func (m *MemFS) lookup(name string) (node, parent *memNode, base string, err error) {
	parts := split(name)
	if len(parts) == 0 {
		return m.root, nil, "/", nil
	}
	d := m.root
	for _, p := range parts[:len(parts)-1] {
		n := d.kids[p]
		if n == nil {
			return nil, nil, "", fs.ErrNotExist
		}
		if !n.dir {
			return nil, nil, "", fmt.Errorf("%s is not a directory", p)
		}
		d = n
	}
	base = parts[len(parts)-1]
	return d.kids[base], d, base, nil
}

func pathErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

// Create implements FS.
func (m *MemFS) Create(name string, perm fs.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.step(); err != nil {
		return nil, pathErr("create", name, err)
	}
	n, d, base, err := m.lookup(name)
	if err != nil {
		return nil, pathErr("create", name, err)
	}
	if n != nil {
		return nil, pathErr("create", name, fs.ErrExist)
	}
	n = &memNode{mtime: time.Now()}
	d.kids[base] = n
	return &memFile{fs: m, n: n, name: name, epoch: m.epoch, write: true}, nil
}

// Open implements FS.
func (m *MemFS) Open(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.alive(); err != nil {
		return nil, pathErr("open", name, err)
	}
	n, _, _, err := m.lookup(name)
	if err == nil && n == nil {
		err = fs.ErrNotExist
	}
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	return &memFile{fs: m, n: n, name: name, epoch: m.epoch}, nil
}

// OpenDir implements FS.
func (m *MemFS) OpenDir(name string) (File, error) {
	f, err := m.Open(name)
	if err != nil {
		return nil, err
	}
	if !f.(*memFile).n.dir {
		return nil, pathErr("open", name, errors.New("not a directory"))
	}
	return f, nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.alive(); err != nil {
		return nil, pathErr("stat", name, err)
	}
	n, _, base, err := m.lookup(name)
	if err == nil && n == nil {
		err = fs.ErrNotExist
	}
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	return memInfo{name: base, n: n, size: int64(len(n.data))}, nil
}

// Lstat implements FS (MemFS has no symbolic links).
func (m *MemFS) Lstat(name string) (fs.FileInfo, error) { return m.Stat(name) }

// Rename implements FS: within one directory, or across directories.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.step(); err != nil {
		return &memLinkError{"rename", oldname, newname, err}
	}
	n, od, ob, err := m.lookup(oldname)
	if err == nil && n == nil {
		err = fs.ErrNotExist
	}
	if err != nil {
		return &memLinkError{"rename", oldname, newname, err}
	}
	t, nd, nb, err := m.lookup(newname)
	if err != nil {
		return &memLinkError{"rename", oldname, newname, err}
	}
	if t != nil && t.dir {
		return &memLinkError{"rename", oldname, newname, errors.New("target is a directory")}
	}
	delete(od.kids, ob)
	nd.kids[nb] = n
	return nil
}

// Link implements FS.
func (m *MemFS) Link(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.step(); err != nil {
		return &memLinkError{"link", oldname, newname, err}
	}
	n, _, _, err := m.lookup(oldname)
	if err == nil && n == nil {
		err = fs.ErrNotExist
	}
	if err == nil && n.dir {
		err = errors.New("is a directory")
	}
	if err != nil {
		return &memLinkError{"link", oldname, newname, err}
	}
	t, nd, nb, err := m.lookup(newname)
	if err == nil && t != nil {
		err = fs.ErrExist
	}
	if err != nil {
		return &memLinkError{"link", oldname, newname, err}
	}
	nd.kids[nb] = n
	return nil
}

// Remove implements FS (a directory must be empty).
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.step(); err != nil {
		return pathErr("remove", name, err)
	}
	n, d, base, err := m.lookup(name)
	if err == nil && (n == nil || d == nil) {
		err = fs.ErrNotExist
	}
	if err == nil && n.dir && len(n.kids) > 0 {
		err = errors.New("directory not empty")
	}
	if err != nil {
		return pathErr("remove", name, err)
	}
	delete(d.kids, base)
	return nil
}

// MkdirAll implements FS. New directories are durable in their parent only
// after the parent is synced.
func (m *MemFS) MkdirAll(name string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.root
	for _, p := range split(name) {
		n := d.kids[p]
		if n == nil {
			if err := m.step(); err != nil {
				return pathErr("mkdir", name, err)
			}
			n = &memNode{dir: true, kids: map[string]*memNode{}, dkids: map[string]*memNode{}, mtime: time.Now()}
			d.kids[p] = n
		} else if !n.dir {
			return pathErr("mkdir", name, errors.New("not a directory"))
		}
		d = n
	}
	return m.alive()
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(name string) ([]fs.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.alive(); err != nil {
		return nil, pathErr("readdir", name, err)
	}
	n, _, _, err := m.lookup(name)
	if err == nil && n == nil {
		err = fs.ErrNotExist
	}
	if err == nil && !n.dir {
		err = errors.New("not a directory")
	}
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	var out []fs.DirEntry
	for _, k := range slices.Sorted(maps.Keys(n.kids)) {
		c := n.kids[k]
		out = append(out, fs.FileInfoToDirEntry(memInfo{name: k, n: c, size: int64(len(c.data))}))
	}
	return out, nil
}

// memLinkError is MemFS's os.LinkError.
type memLinkError struct {
	Op, Old, New string
	Err          error
}

func (e *memLinkError) Error() string { return e.Op + " " + e.Old + " " + e.New + ": " + e.Err.Error() }
func (e *memLinkError) Unwrap() error { return e.Err }

type memInfo struct {
	name string
	n    *memNode
	size int64
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.n.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i memInfo) ModTime() time.Time { return i.n.mtime }
func (i memInfo) IsDir() bool        { return i.n.dir }
func (i memInfo) Sys() any           { return nil }

// memFile is an open file or directory of a MemFS.
type memFile struct {
	fs     *MemFS
	n      *memNode
	name   string
	epoch  int
	write  bool
	off    int64
	closed bool
}

func (f *memFile) check(op string) error {
	if f.closed {
		return pathErr(op, f.name, fs.ErrClosed)
	}
	if f.epoch != f.fs.epoch || f.fs.crashed {
		return pathErr(op, f.name, ErrCrashed)
	}
	return nil
}

func (f *memFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read"); err != nil {
		return 0, err
	}
	if f.off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[f.off:])
	f.off += int64(n)
	return n, nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("read", f.name, errors.New("negative offset"))
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Write appends to the file's volatile data (writes are not crash points:
// they are lost anyway unless a Sync follows).
func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write"); err != nil {
		return 0, err
	}
	if !f.write || f.n.dir {
		return 0, pathErr("write", f.name, errors.New("not open for writing"))
	}
	f.n.data = append(f.n.data, p...)
	f.n.mtime = time.Now()
	return len(p), nil
}

// Sync makes the file's data (a directory's names) durable: a crash point.
func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("sync"); err != nil {
		return err
	}
	if err := f.fs.step(); err != nil {
		return pathErr("sync", f.name, err)
	}
	if f.n.dir {
		f.n.dkids = maps.Clone(f.n.kids)
	} else {
		f.n.durable = slices.Clone(f.n.data)
	}
	return nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("stat"); err != nil {
		return nil, err
	}
	return memInfo{name: filepath.Base(f.name), n: f.n, size: int64(len(f.n.data))}, nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, fs.ErrClosed)
	}
	f.closed = true
	return nil
}

var _ FS = (*MemFS)(nil)
var _ FS = OSFS{}
