//go:build unix

package ingest

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quarry-search/quarry/engine/errs"
)

// TestSpecialFilesNeverBlock: a FIFO as a JSONL or text input is refused at
// Open; a FIFO inside a directory of text files is skipped (only regular
// files are documents); nothing blocks.
func TestSpecialFilesNeverBlock(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "in.jsonl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	texts := filepath.Join(dir, "texts")
	os.Mkdir(texts, 0o755)
	os.WriteFile(filepath.Join(texts, "a.txt"), []byte("hello world"), 0o644)
	if err := syscall.Mkfifo(filepath.Join(texts, "b.txt"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := Open(fifo, Options{})
		if err == nil || errs.KindOf(err) != errs.BadInput || !strings.Contains(err.Error(), "named pipe") {
			t.Errorf("FIFO input: %v (kind %v), want bad input naming a named pipe", err, errs.KindOf(err))
		}
		_, err = Open(filepath.Join(texts, "b.txt"), Options{})
		if err == nil || errs.KindOf(err) != errs.BadInput {
			t.Errorf("FIFO text input: %v (kind %v), want bad input", err, errs.KindOf(err))
		}
		r, err := Open(texts, Options{})
		if err != nil {
			t.Errorf("text directory: %v", err)
			return
		}
		defer r.Close()
		var good, bad int
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			var b *BadRecord
			switch {
			case errors.As(err, &b):
				bad++
				if !strings.Contains(b.Error(), "b.txt") || !strings.Contains(b.Error(), "named pipe") {
					t.Errorf("bad record %v does not name b.txt as a named pipe", b)
				}
			case err != nil:
				t.Errorf("next: %v", err)
				return
			default:
				good++
			}
		}
		if good != 1 || bad != 0 {
			t.Errorf("%d documents and %d bad records, want 1 and 0", good, bad)
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("blocked on a FIFO")
	}
}
