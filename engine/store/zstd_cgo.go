//go:build cgo

package store

import (
	"fmt"
	"sync"

	"github.com/DataDog/zstd"
)

// zstdImpl names the zstd implementation of this build (cgo: the reference C
// library, vendored by github.com/DataDog/zstd). zstd_purego.go is the
// CGO_ENABLED=0 twin; both write and read standard zstd frames (RFC 8878), and
// a test checks that each decodes the other's frames.
const zstdImpl = "github.com/DataDog/zstd (libzstd via cgo)"

// zstdCodec compresses and decompresses whole zstd frames. It keeps a pool
// of C contexts (creating one per call costs more than decoding a small
// block), so it is safe for concurrent use.
type zstdCodec struct{ ctxs sync.Pool }

// newZstdCodec returns a codec; maxRaw bounds decompressed sizes (the C path
// always decompresses into a caller buffer of exactly the expected size).
func newZstdCodec(maxRaw int) (*zstdCodec, error) {
	c := &zstdCodec{}
	c.ctxs.New = func() any { return zstd.NewCtx() }
	return c, nil
}

// compress appends nothing: it returns the frame for src in dst's storage when
// dst is large enough.
func (c *zstdCodec) compress(dst, src []byte, level int) ([]byte, error) {
	ctx := c.ctxs.Get().(zstd.Ctx)
	defer c.ctxs.Put(ctx)
	return ctx.CompressLevel(dst[:0], src, level)
}

// decompress decodes src, which must hold frames of exactly len(dst) bytes,
// into dst.
func (c *zstdCodec) decompress(dst, src []byte) error {
	if len(src) == 0 || len(dst) == 0 {
		return fmt.Errorf("zstd: empty frame or output")
	}
	ctx := c.ctxs.Get().(zstd.Ctx)
	defer c.ctxs.Put(ctx)
	n, err := ctx.DecompressInto(dst, src)
	if err != nil {
		return fmt.Errorf("zstd: %w", err)
	}
	if n != len(dst) {
		return fmt.Errorf("zstd: frame holds %d bytes, want %d", n, len(dst))
	}
	return nil
}

func (c *zstdCodec) close() { c.ctxs = sync.Pool{} }
