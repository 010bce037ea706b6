package ingest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
)

// fingerprintEdge is how much of each end of a file the fingerprint hashes.
const fingerprintEdge = 64 << 10

// fingerprint accumulates what identifies an input.
type fingerprint struct {
	h hash.Hash
}

func newFingerprint(format string, opts Options) *fingerprint {
	fp := &fingerprint{h: sha256.New()}
	fp.str("quarry-ingest-v1")
	fp.str(format)
	fp.str(opts.IDField)
	fp.str(opts.TextField)
	fp.str(opts.TitleField)
	fp.int(int64(opts.maxRecord))
	return fp
}

func (fp *fingerprint) str(s string) {
	fp.int(int64(len(s)))
	io.WriteString(fp.h, s)
}

func (fp *fingerprint) int(v int64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(v))
	fp.h.Write(b[:])
}

// stat adds a file's path, size and modification time.
func (fp *fingerprint) stat(path string, st os.FileInfo) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	fp.str(path)
	fp.int(st.Size())
	fp.int(st.ModTime().UnixNano())
}

// addFile adds a file's path, size, modification time and its first and
// last 64 KiB.
func (fp *fingerprint) addFile(path string, f *os.File, st os.FileInfo) error {
	fp.stat(path, st)
	size := st.Size()
	buf := make([]byte, min(size, fingerprintEdge))
	if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
		return fmt.Errorf("fingerprint %s: %w", path, err)
	}
	fp.h.Write(buf)
	if size > fingerprintEdge {
		buf = buf[:fingerprintEdge]
		if _, err := f.ReadAt(buf, size-fingerprintEdge); err != nil && err != io.EOF {
			return fmt.Errorf("fingerprint %s: %w", path, err)
		}
		fp.h.Write(buf)
	}
	return nil
}

func (fp *fingerprint) sum() string {
	return "v1:" + hex.EncodeToString(fp.h.Sum(nil)[:16])
}
