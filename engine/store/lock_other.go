//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package store

import (
	"fmt"
	"runtime"
)

// Lock is the exclusive writer lock of an index directory. This platform has
// no flock(2); writing an index is not supported here (reading is).
type Lock struct{}

// AcquireLock always fails on this platform.
func AcquireLock(dir string) (*Lock, error) {
	return nil, fmt.Errorf("lock index %s: writing an index is not supported on %s (no flock)", dir, runtime.GOOS)
}

// Release does nothing.
func (l *Lock) Release() error { return nil }
