//go:build cgo

package store

import (
	"fmt"

	"github.com/DataDog/zstd"
)

// zstdImpl names the zstd implementation of this build (cgo: the reference C
// library, vendored by github.com/DataDog/zstd). zstd_purego.go is the
// CGO_ENABLED=0 twin; both write and read standard zstd frames (RFC 8878), and
// a test checks that each decodes the other's frames.
const zstdImpl = "github.com/DataDog/zstd (libzstd via cgo)"

// zstdCodec compresses and decompresses whole zstd frames. The C library's
// one-shot calls create their own context per call, so the codec holds no
// state and is safe for concurrent use.
type zstdCodec struct{}

// newZstdCodec returns a codec; maxRaw bounds decompressed sizes (the C path
// always decompresses into a caller buffer of exactly the expected size).
func newZstdCodec(maxRaw int) (*zstdCodec, error) { return &zstdCodec{}, nil }

// compress appends nothing: it returns the frame for src in dst's storage when
// dst is large enough.
func (*zstdCodec) compress(dst, src []byte, level int) ([]byte, error) {
	return zstd.CompressLevel(dst[:0], src, level)
}

// decompress decodes src, which must hold frames of exactly len(dst) bytes,
// into dst.
func (*zstdCodec) decompress(dst, src []byte) error {
	if len(src) == 0 || len(dst) == 0 {
		return fmt.Errorf("zstd: empty frame or output")
	}
	n, err := zstd.DecompressInto(dst, src)
	if err != nil {
		return fmt.Errorf("zstd: %w", err)
	}
	if n != len(dst) {
		return fmt.Errorf("zstd: frame holds %d bytes, want %d", n, len(dst))
	}
	return nil
}

func (*zstdCodec) close() {}
