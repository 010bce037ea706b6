package store

import (
	"encoding/binary"
	"fmt"
)

// Block filters: reversible byte transforms applied before compression (the
// filter byte of a block entry; FORMAT.md).
const (
	filterNone    = 0 // bytes as they are
	filterShuffle = 1 // byte shuffle with element size = the entry's param
	filterDelta32 = 2 // little-endian uint32s replaced by differences (mod 2³²) to the previous one
)

// shuffle writes src, seen as len(src)/size elements of size bytes, as all
// first bytes, then all second bytes, and so on (Blosc's shuffle). Bytes past
// the last whole element are copied unchanged. len(dst) must equal len(src).
func shuffle(dst, src []byte, size int) {
	n := len(src) / size
	switch size {
	case 4:
		d0, d1, d2, d3 := dst[:n], dst[n:2*n], dst[2*n:3*n], dst[3*n:4*n]
		for i := range d0 {
			v := binary.LittleEndian.Uint32(src[4*i:])
			d0[i], d1[i], d2[i], d3[i] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		}
	case 2:
		d0, d1 := dst[:n], dst[n:2*n]
		for i := range d0 {
			v := binary.LittleEndian.Uint16(src[2*i:])
			d0[i], d1[i] = byte(v), byte(v>>8)
		}
	default:
		for k := 0; k < size; k++ {
			out := dst[k*n : (k+1)*n]
			for i := range out {
				out[i] = src[i*size+k]
			}
		}
	}
	copy(dst[n*size:], src[n*size:])
}

// unshuffle inverts shuffle.
func unshuffle(dst, src []byte, size int) {
	n := len(src) / size
	switch size {
	case 4:
		s0, s1, s2, s3 := src[:n], src[n:2*n], src[2*n:3*n], src[3*n:4*n]
		for i := range s0 {
			binary.LittleEndian.PutUint32(dst[4*i:], uint32(s0[i])|uint32(s1[i])<<8|uint32(s2[i])<<16|uint32(s3[i])<<24)
		}
	case 2:
		s0, s1 := src[:n], src[n:2*n]
		for i := range s0 {
			binary.LittleEndian.PutUint16(dst[2*i:], uint16(s0[i])|uint16(s1[i])<<8)
		}
	default:
		for k := 0; k < size; k++ {
			in := src[k*n : (k+1)*n]
			for i, b := range in {
				dst[i*size+k] = b
			}
		}
	}
	copy(dst[n*size:], src[n*size:])
}

// delta32 replaces each little-endian uint32 of b after the first by its
// difference to the previous value, in place.
func delta32(b []byte) {
	prev := uint32(0)
	for i := 0; i+4 <= len(b); i += 4 {
		v := binary.LittleEndian.Uint32(b[i:])
		binary.LittleEndian.PutUint32(b[i:], v-prev)
		prev = v
	}
}

// undelta32 inverts delta32 in place.
func undelta32(b []byte) {
	prev := uint32(0)
	for i := 0; i+4 <= len(b); i += 4 {
		prev += binary.LittleEndian.Uint32(b[i:])
		binary.LittleEndian.PutUint32(b[i:], prev)
	}
}

// checkFilter validates a filter byte and its parameter against the raw
// length of the block they apply to.
func checkFilter(filter, param uint8, raw int) error {
	switch filter {
	case filterNone:
		if param != 0 {
			return fmt.Errorf("filter none with parameter %d", param)
		}
	case filterShuffle:
		if param != 2 && param != 4 {
			return fmt.Errorf("shuffle element size %d (want 2 or 4)", param)
		}
		if raw%int(param) != 0 {
			return fmt.Errorf("shuffle element size %d does not divide %d bytes", param, raw)
		}
	case filterDelta32:
		if param != 0 || raw%4 != 0 {
			return fmt.Errorf("delta32 with parameter %d over %d bytes", param, raw)
		}
	default:
		return fmt.Errorf("unknown filter %d", filter)
	}
	return nil
}
