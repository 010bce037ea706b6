package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"sync"
	"unsafe"
)

// Mapping is a file's bytes mapped read-only into memory (where the system
// has mmap; elsewhere read into memory). The pages of a mapping are the
// page cache's: they count toward the process's resident set only once
// touched, and the kernel can drop them again under memory pressure, so an
// index larger than RAM still answers (at the cost of page faults). Bytes
// must not be used after Close.
type Mapping struct {
	b     []byte
	unmap func([]byte) error
	once  sync.Once
	err   error
}

// MapFile maps the file at path (a regular file, not empty).
func MapFile(path string) (*Mapping, error) {
	file, err := OSFS{}.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	f, ok := file.(*os.File)
	if !ok {
		return nil, fmt.Errorf("map %s: not an operating system file", path)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() == 0 || st.Size() != int64(int(st.Size())) {
		return nil, fmt.Errorf("map %s: not a regular non-empty file of addressable size (%d bytes)", path, st.Size())
	}
	b, unmap, err := mapFile(f, int(st.Size()))
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", path, err)
	}
	return &Mapping{b: b, unmap: unmap}, nil
}

// Bytes is the file's content (nil after Close).
func (m *Mapping) Bytes() []byte { return m.b }

// Close unmaps the file; later calls return the first call's result.
func (m *Mapping) Close() error {
	m.once.Do(func() {
		b := m.b
		m.b = nil
		if m.unmap != nil && b != nil {
			m.err = m.unmap(b)
		}
	})
	return m.err
}

// littleEndian says whether this machine stores numbers as the index files
// do, so that their float32 and uint32 arrays can be used in place.
var littleEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 1 }()

// Float32sInPlace is b (little-endian float32s, 4-byte aligned, len a
// multiple of 4) as a []float32 sharing its memory, or a decoded copy on a
// big-endian machine or for unaligned b.
func Float32sInPlace(b []byte) []float32 {
	return inPlace(b, func(p []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(p)) })
}

// Uint32sInPlace is Float32sInPlace for uint32s.
func Uint32sInPlace(b []byte) []uint32 { return inPlace(b, binary.LittleEndian.Uint32) }

// inPlace views b's 4-byte little-endian values as a []T in place where
// the machine allows it, else decodes a copy with decode.
func inPlace[T float32 | uint32](b []byte, decode func([]byte) T) []T {
	n := len(b) / 4
	if n == 0 {
		return nil
	}
	if littleEndian && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
	}
	out := make([]T, n)
	for i := range out {
		out[i] = decode(b[4*i:])
	}
	return out
}
