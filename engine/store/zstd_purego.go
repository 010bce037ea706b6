//go:build !cgo

package store

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// zstdImpl names the zstd implementation of this build (CGO_ENABLED=0: the
// pure-Go github.com/klauspost/compress/zstd). zstd_cgo.go is the cgo twin;
// both write and read standard zstd frames (RFC 8878).
const zstdImpl = "github.com/klauspost/compress/zstd (pure Go)"

// zstdCodec compresses and decompresses whole zstd frames. EncodeAll and
// DecodeAll are safe for concurrent use, so one codec serves a whole reader
// or writer.
type zstdCodec struct {
	enc   map[int]*zstd.Encoder
	dec   *zstd.Decoder
	level int
}

// newZstdCodec returns a codec whose decoder refuses frames larger than
// maxRaw bytes.
func newZstdCodec(maxRaw int) (*zstdCodec, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(uint64(max(maxRaw, 1))), zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		return nil, fmt.Errorf("zstd: new decoder: %w", err)
	}
	return &zstdCodec{dec: dec, enc: map[int]*zstd.Encoder{}}, nil
}

// compress returns the frame for src in dst's storage when dst is large
// enough. A codec compresses from one goroutine at a time (writers are not
// shared); the encoder for a level is created on first use.
func (c *zstdCodec) compress(dst, src []byte, level int) ([]byte, error) {
	enc := c.enc[level]
	if enc == nil {
		var err error
		// Entropy-code literals even when no matches are found: float and
		// int8 blocks have almost no matches but skewed byte distributions
		// (without this, f16 and int8 blocks do not compress at all).
		enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)), zstd.WithEncoderConcurrency(1),
			zstd.WithAllLitEntropyCompression(true))
		if err != nil {
			return nil, fmt.Errorf("zstd: new encoder (level %d): %w", level, err)
		}
		c.enc[level] = enc
	}
	return enc.EncodeAll(src, dst[:0]), nil
}

// decompress decodes src, which must hold frames of exactly len(dst) bytes,
// into dst.
func (c *zstdCodec) decompress(dst, src []byte) error {
	if len(src) == 0 || len(dst) == 0 {
		return fmt.Errorf("zstd: empty frame or output")
	}
	out, err := c.dec.DecodeAll(src, dst[:0])
	if err != nil {
		return fmt.Errorf("zstd: %w", err)
	}
	if len(out) != len(dst) || &out[0] != &dst[0] {
		return fmt.Errorf("zstd: frame holds %d bytes, want %d", len(out), len(dst))
	}
	return nil
}

func (c *zstdCodec) close() {
	c.dec.Close()
	for _, e := range c.enc {
		e.Close()
	}
}
