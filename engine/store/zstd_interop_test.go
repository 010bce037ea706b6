//go:build cgo

package store

import (
	"bytes"
	"math/rand/v2"
	"testing"

	datadog "github.com/DataDog/zstd"
	"github.com/klauspost/compress/zstd"
)

// TestZstdInterop: frames written by libzstd (DataDog, the cgo build) and by
// klauspost (the CGO_ENABLED=0 build) decode with the other library, so an
// index written by one build reads with the other.
func TestZstdInterop(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	v := mustQuantize(t, F32, 384, embeddingLike(rng, 300, 384))
	inputs := [][]byte{v.Data, bytes.Repeat([]byte("quarry "), 50000), {1}}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	codec, err := newZstdCodec(maxRawBlock)
	if err != nil {
		t.Fatal(err)
	}
	defer codec.close()
	for _, in := range inputs {
		for _, level := range []int{1, 3, 9, 19} {
			c, err := datadog.CompressLevel(nil, in, level)
			if err != nil {
				t.Fatal(err)
			}
			out, err := dec.DecodeAll(c, nil)
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("libzstd level %d frame -> klauspost: %v", level, err)
			}
			kenc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)))
			if err != nil {
				t.Fatal(err)
			}
			k := kenc.EncodeAll(in, nil)
			kenc.Close()
			back := make([]byte, len(in))
			if err := codec.decompress(back, k); err != nil || !bytes.Equal(back, in) {
				t.Fatalf("klauspost level %d frame -> libzstd: %v", level, err)
			}
			if _, err := datadog.Decompress(nil, k); err != nil {
				t.Fatal(err)
			}
		}
		// Our codec's frames (libzstd in this build) through klauspost.
		c, err := codec.compress(nil, in, DefaultLevel)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := dec.DecodeAll(c, nil); err != nil || !bytes.Equal(out, in) {
			t.Fatalf("codec frame -> klauspost: %v", err)
		}
		if len(in) > 1 {
			if err := codec.decompress(make([]byte, len(in)-1), c); err == nil {
				t.Fatal("decompress into a short buffer succeeded")
			}
		}
	}
	t.Logf("this build's zstd: %s", zstdImpl)
}
