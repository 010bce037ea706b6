//go:build !unix

package store

import (
	"io"
	"os"
)

func mapFile(f *os.File, size int) ([]byte, func([]byte) error, error) {
	b := alignedBytes(size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, nil, err
	}
	return b, nil, nil
}
