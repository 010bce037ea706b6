// Package fsx opens the files a user names (a model, an input corpus, a
// queries file) for reading, refusing anything that is not a regular file
// before a read can block on it: a FIFO, a socket, a character or block
// device (/dev/tty, /dev/zero), a directory, a symlink loop. Opening a FIFO
// for reading blocks until a writer appears, and reading a device may never
// end; a search engine reading its inputs to the end wants neither.
//
// OpenRegular is the one helper; every user-named file quarry reads goes
// through it. Files inside an index directory are quarry's own and are opened
// by engine/store.
package fsx

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/quarry-search/quarry/engine/errs"
)

// OpenRegular opens path for reading if it is (or a symlink to) a regular
// file. what names what the file should be ("GGUF model", "JSONL file") in
// the error messages; "" means "regular file".
//
// The path is checked with stat (following symlinks) before it is opened,
// and opened non-blocking (where the platform has it) and checked again with
// fstat, so a FIFO swapped in between never blocks the open. Errors are
// typed: not a regular file, a directory, a symlink loop or a permission
// problem is errs.BadInput; a missing file is errs.NotFound (both wrap the
// *fs.PathError, so errors.Is(err, fs.ErrNotExist) holds).
func OpenRegular(path, what string) (*os.File, error) {
	if what == "" {
		what = "regular file"
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, statError(path, what, err)
	}
	if err := checkMode(path, what, st.Mode()); err != nil {
		return nil, err
	}
	f, err := openNoBlock(path)
	if err != nil {
		return nil, statError(path, what, err)
	}
	st, err = f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if err := checkMode(path, what, st.Mode()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// CheckRegular is OpenRegular's check without the open: nil if path is (or
// links to) a regular file.
func CheckRegular(path, what string) error {
	if what == "" {
		what = "regular file"
	}
	st, err := os.Stat(path)
	if err != nil {
		return statError(path, what, err)
	}
	return checkMode(path, what, st.Mode())
}

func checkMode(path, what string, m fs.FileMode) error {
	if m.IsRegular() {
		return nil
	}
	var is string
	switch {
	case m.IsDir():
		is = "a directory"
	case m&fs.ModeNamedPipe != 0:
		is = "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		is = "a socket"
	case m&fs.ModeCharDevice != 0:
		is = "a character device"
	case m&fs.ModeDevice != 0:
		is = "a device"
	default:
		is = "not a regular file"
		return errs.New(errs.BadInput, "%s is %s (want a %s)", path, is, what)
	}
	return errs.New(errs.BadInput, "%s is %s, not a %s", path, is, what)
}

func statError(path, what string, err error) error {
	switch {
	case errors.Is(err, syscall.ELOOP):
		return errs.Mark(errs.BadInput, fmt.Errorf("%s (want a %s): a loop of symbolic links: %w", path, what, err))
	case errors.Is(err, fs.ErrNotExist):
		return errs.Mark(errs.NotFound, err)
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.ENAMETOOLONG):
		return errs.Mark(errs.BadInput, err)
	}
	return err
}

// SHA256 is the lowercase hex SHA-256 of the regular file at path, read in a
// stream (OpenRegular's checks and errors).
func SHA256(path string) (string, error) {
	f, err := OpenRegular(path, "")
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ReadRegular reads the whole regular file at path (OpenRegular's checks
// and errors), refusing one larger than max bytes with an errs.Limit error
// before reading more than max+1 of them.
func ReadRegular(path, what string, max int64) ([]byte, error) {
	f, err := OpenRegular(path, what)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, errs.New(errs.Limit, "%s is larger than %d bytes, the most quarry reads of a %s", path, max, orDefault(what, "file like it"))
	}
	return data, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
