//go:build unix

package fsx

import (
	"os"
	"syscall"
)

// openNoBlock opens path read-only with O_NONBLOCK: a FIFO opens at once
// (and is then refused by the fstat check) instead of waiting for a writer.
// O_NONBLOCK does not change reads of regular files.
func openNoBlock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
