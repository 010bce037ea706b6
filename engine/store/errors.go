package store

import (
	"errors"
	"fmt"
)

// ErrCorrupt matches (errors.Is) every error that reports damaged or
// malformed index data: a checksum mismatch, a truncated file, a field out of
// range. Such errors are *CorruptError values naming the file and the part of
// it that failed.
var ErrCorrupt = errors.New("index data is corrupt")

// ErrNotFound is returned (wrapped) by DocReader.Get for an ordinal the file
// does not hold.
var ErrNotFound = errors.New("not found")

// ErrLocked is returned (wrapped) by AcquireLock when another writer holds the
// index lock.
var ErrLocked = errors.New("index is locked by another writer")

// CorruptError reports damaged data: Path is the file, Where the part of it
// (for example "header", "block 3 (vectors, rows 3072-4095)", "field
// segments[2].vectors.size"), Detail what is wrong and Remedy, when set, what
// the user can do about it.
type CorruptError struct {
	Path   string
	Where  string
	Detail string
	Remedy string
	Err    error // underlying cause, if any
}

func (e *CorruptError) Error() string {
	s := fmt.Sprintf("%s: %s: %s", e.Path, e.Where, e.Detail)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Remedy != "" {
		s += " (" + e.Remedy + ")"
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *CorruptError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// corrupt builds a *CorruptError.
func corrupt(path, where, format string, args ...any) *CorruptError {
	return &CorruptError{Path: path, Where: where, Detail: fmt.Sprintf(format, args...)}
}
