package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// cache is one repository's folder in the huggingface_hub cache.
type cache struct {
	root    string // the hub cache, holding models--* and .locks
	storage string // root/models--ORG--NAME
	folder  string // models--ORG--NAME
}

func newCache(root, repo string) *cache {
	folder := RepoFolderName(repo)
	return &cache{root: root, storage: filepath.Join(root, folder), folder: folder}
}

func (c *cache) snapshotDir(commit string) string {
	return filepath.Join(c.storage, "snapshots", commit)
}

func (c *cache) pointerPath(commit, name string) string {
	return filepath.Join(c.snapshotDir(commit), filepath.FromSlash(name))
}

func (c *cache) blobPath(etag string) string { return filepath.Join(c.storage, "blobs", etag) }

func (c *cache) lockPath(etag string) string {
	return filepath.Join(c.root, ".locks", c.folder, etag+".lock")
}

func (c *cache) refPath(revision string) string {
	return filepath.Join(c.storage, "refs", filepath.FromSlash(revision))
}

// readRef returns the commit a cached revision names, or "".
func (c *cache) readRef(revision string) (string, error) {
	b, err := os.ReadFile(c.refPath(revision))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("hub: reading the cached ref %s: %w", revision, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// writeRef records the commit a branch or tag names, atomically, and only
// when it changed (the cache may be read-only when nothing changes).
func (c *cache) writeRef(revision, commit string) error {
	if old, err := c.readRef(revision); err == nil && old == commit {
		return nil
	}
	p := c.refPath(revision)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("hub: writing the ref %s: %w", revision, err)
	}
	tmp := p + "." + randomSuffix() + ".tmp"
	if err := os.WriteFile(tmp, []byte(commit), 0o644); err != nil {
		return fmt.Errorf("hub: writing the ref %s: %w", revision, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("hub: writing the ref %s: %w", revision, err)
	}
	return nil
}

func randomSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// link makes the snapshot's pointer to a blob: a relative symlink, as
// huggingface_hub makes, or a copy where symlinks cannot be made. The
// pointer is replaced atomically.
func (c *cache) link(commit, name, etag string) (string, error) {
	pointer := c.pointerPath(commit, name)
	blob := c.blobPath(etag)
	if err := os.MkdirAll(filepath.Dir(pointer), 0o755); err != nil {
		return "", fmt.Errorf("hub: creating the snapshot folder: %w", err)
	}
	rel, err := filepath.Rel(filepath.Dir(pointer), blob)
	if err != nil {
		rel = blob
	}
	if target, err := os.Readlink(pointer); err == nil && target == rel {
		return pointer, nil
	}
	tmp := pointer + "." + randomSuffix() + ".tmp"
	if err := os.Symlink(rel, tmp); err != nil {
		if err := copyFile(blob, tmp); err != nil {
			return "", fmt.Errorf("hub: linking %s: symlinks unsupported and copying failed: %w", name, err)
		}
	}
	if err := os.Rename(tmp, pointer); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("hub: linking %s into the snapshot: %w", name, err)
	}
	return pointer, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	return out.Close()
}

// lock takes the inter-process lock of a blob (the same lock file
// huggingface_hub takes), waiting for it as long as ctx allows.
func (c *cache) lock(ctx context.Context, etag string) (func(), error) {
	p := c.lockPath(etag)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("hub: creating the lock folder: %w", err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("hub: opening the lock %s: %w", p, err)
	}
	for {
		ok, err := tryLock(f)
		if err != nil {
			// A file system without locks: go on unlocked, as
			// huggingface_hub's WeakFileLock does.
			return func() { f.Close() }, nil
		}
		if ok {
			return func() { unlock(f); f.Close() }, nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			f.Close()
			return nil, fmt.Errorf("hub: waiting for another download of the same file (%s): %w", p, err)
		}
	}
}

// offlineSnapshot answers from the cache alone.
func (c *cache) offlineSnapshot(ctx context.Context, repo, revision string) (*Snapshot, error) {
	commit := ""
	if IsCommitHash(revision) {
		commit = revision
	} else {
		ref, err := c.readRef(revision)
		if err != nil {
			return nil, err
		}
		if ref == "" {
			return nil, newError(ErrNotCached, nil, "hub: %s@%s is not in the cache %s and offline mode is on (HF_HUB_OFFLINE): pull it once online", repo, revision, c.root)
		}
		commit = ref
	}
	dir := c.snapshotDir(commit)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, newError(ErrNotCached, nil, "hub: %s@%s (commit %s) is not in the cache %s and offline mode is on (HF_HUB_OFFLINE): pull it once online", repo, revision, shortCommit(commit), c.root)
	}
	src := &offlineSource{dir: dir, files: map[string]bool{}}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || strings.HasSuffix(p, ".tmp") {
			return err
		}
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			return nil // a dangling pointer
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		src.files[filepath.ToSlash(rel)] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hub: reading the cached snapshot %s: %w", dir, err)
	}
	files, err := selectFiles(ctx, src, repo)
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	return &Snapshot{Dir: dir, Commit: commit, Files: files, Repo: repo, Revision: revision, FromCache: true}, nil
}

// offlineSource serves selectFiles from a cached snapshot.
type offlineSource struct {
	dir   string
	files map[string]bool
}

func (s *offlineSource) has(name string) bool { return s.files[name] }

func (s *offlineSource) get(_ context.Context, name string) (string, error) {
	if !s.files[name] {
		return "", newError(ErrNotCached, nil, "hub: %s is not in the cached snapshot", name)
	}
	return filepath.Join(s.dir, filepath.FromSlash(name)), nil
}

func (s *offlineSource) list() []string {
	out := make([]string, 0, len(s.files))
	for f := range s.files {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func (s *offlineSource) missing(format string, args ...any) error {
	return newError(ErrNotCached, nil, "hub: the cached snapshot %s is incomplete (offline mode, HF_HUB_OFFLINE): %s; pull it once online", s.dir, fmt.Sprintf(format, args...))
}
