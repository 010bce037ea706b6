//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Lock is the exclusive writer lock of an index directory: flock(2) on the
// file LOCK, which also records who holds it. The kernel releases the lock
// when the holder exits, even by SIGKILL. Readers do not take it.
type Lock struct {
	f    *os.File
	path string
}

// AcquireLock takes the writer lock of dir without waiting. If another
// process (or another Lock in this process) holds it, the error wraps
// ErrLocked and names the holder as recorded in LOCK.
func AcquireLock(dir string) (*Lock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock index %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock index %s: %w (%s): wait for it to finish or stop it", dir, ErrLocked, holder)
		}
		return nil, fmt.Errorf("lock index %s: flock %s: %w", dir, path, err)
	}
	host, _ := os.Hostname()
	info := fmt.Sprintf("pid %d on host %s since %s (%s)\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339), filepath.Base(os.Args[0]))
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(info), 0)
	}
	return &Lock{f: f, path: path}, nil
}

func readHolder(f *os.File) string {
	b := make([]byte, 512)
	n, err := f.ReadAt(b, 0)
	if n == 0 && err != nil && err != io.EOF {
		return "holder unknown"
	}
	s := strings.TrimSpace(string(b[:n]))
	if s == "" {
		return "holder unknown"
	}
	return "held by " + s
}

// Release gives the lock up. It is safe to call more than once.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	cerr := l.f.Close()
	l.f = nil
	if err = errors.Join(err, cerr); err != nil {
		return fmt.Errorf("unlock %s: %w", l.path, err)
	}
	return nil
}
