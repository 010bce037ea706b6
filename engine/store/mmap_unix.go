//go:build unix

package store

import (
	"os"
	"syscall"
)

func mapFile(f *os.File, size int) ([]byte, func([]byte) error, error) {
	b, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	// Searches read rows at random: no read-ahead around a faulting page
	// (it would fill memory with rows no search asked for).
	if err := syscall.Madvise(b, syscall.MADV_RANDOM); err != nil {
		syscall.Munmap(b)
		return nil, nil, err
	}
	return b, syscall.Munmap, nil
}
