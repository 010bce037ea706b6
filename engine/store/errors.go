package store

import (
	"errors"
	"fmt"

	"github.com/quarry-search/quarry/engine/errs"
)

// ErrCorrupt matches (errors.Is) every error that reports damaged or
// malformed index data: a checksum mismatch, a truncated file, a field out of
// range. Such errors are *CorruptError values naming the file and the part of
// it that failed.
var ErrCorrupt = errors.New("index data is corrupt")

// ErrNotFound is returned (wrapped) by DocReader.Get for an ordinal the file
// does not hold.
var ErrNotFound = errors.New("not found")

// ErrNoDocuments is returned (wrapped) by writers and filtered copies of file
// kinds that cannot represent an empty segment (the lexical index) when no
// document is left to write; no file is written. Callers branch on it with
// errors.Is.
var ErrNoDocuments = errors.New("no documents to write")

// ErrLocked is returned (wrapped) by AcquireLock when another writer holds the
// index lock.
var ErrLocked = errors.New("index is locked by another writer")

// CorruptError reports damaged data: Path is the file, Where the part of it
// (for example "header", "block 3 (vectors, rows 3072-4095)", "field
// segments[2].vectors.size", "section postings"), Detail what is wrong and
// Remedy, when set, what the user can do about it. It is the one corruption
// error of every index file, the store's own and those of the packages that
// keep per-segment files (lexical, sparse): errors.Is(err, ErrCorrupt) and
// errs.KindOf(err) == errs.Corrupt hold for all of them.
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

// ErrorKind classifies the error for the front ends: errs.Corrupt.
func (e *CorruptError) ErrorKind() errs.Kind { return errs.Corrupt }

// Corruptf builds a *CorruptError for the file path, the part where and a
// detail formatted from format and args.
func Corruptf(path, where, format string, args ...any) *CorruptError {
	return &CorruptError{Path: path, Where: where, Detail: fmt.Sprintf(format, args...)}
}

// corrupt is Corruptf.
func corrupt(path, where, format string, args ...any) *CorruptError {
	return Corruptf(path, where, format, args...)
}
