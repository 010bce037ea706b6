//go:build unix

package fsx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quarry-search/quarry/engine/errs"
)

func TestOpenRegular(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "reg")
	if err := os.WriteFile(reg, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(reg, link)
	fifoLink := filepath.Join(dir, "fifolink")
	os.Symlink(fifo, fifoLink)
	loop1, loop2 := filepath.Join(dir, "loop1"), filepath.Join(dir, "loop2")
	os.Symlink(loop2, loop1)
	os.Symlink(loop1, loop2)

	for _, p := range []string{reg, link} {
		f, err := OpenRegular(p, "test file")
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		b := make([]byte, 5)
		if n, err := f.Read(b); err != nil || string(b[:n]) != "hello" {
			t.Errorf("%s: read %q, %v", p, b[:n], err)
		}
		f.Close()
	}
	cases := []struct {
		path string
		kind errs.Kind
		want string
	}{
		{fifo, errs.BadInput, "named pipe"},
		{fifoLink, errs.BadInput, "named pipe"},
		{dir, errs.BadInput, "is a directory, not a test file"},
		{loop1, errs.BadInput, "loop of symbolic links"},
		{"/dev/zero", errs.BadInput, "character device"},
		{filepath.Join(dir, "missing"), errs.NotFound, "no such file"},
	}
	for _, c := range cases {
		done := make(chan error, 1)
		go func() {
			f, err := OpenRegular(c.path, "test file")
			if f != nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || errs.KindOf(err) != c.kind || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: got %v (kind %v), want %v containing %q", c.path, err, errs.KindOf(err), c.kind, c.want)
			}
			if err := CheckRegular(c.path, "test file"); err == nil || errs.KindOf(err) != c.kind {
				t.Errorf("CheckRegular(%s) = %v", c.path, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: OpenRegular blocked", c.path)
		}
	}
	if _, err := OpenRegular(filepath.Join(dir, "missing"), ""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v does not match fs.ErrNotExist", err)
	}
}

func TestReadRegular(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "reg")
	if err := os.WriteFile(reg, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadRegular(reg, "test file", 5); err != nil || string(b) != "hello" {
		t.Errorf("ReadRegular at its bound = %q, %v", b, err)
	}
	_, err := ReadRegular(reg, "test file", 4)
	if errs.KindOf(err) != errs.Limit || !strings.Contains(err.Error(), "larger than 4 bytes") {
		t.Errorf("ReadRegular over its bound: %v (kind %v), want a Limit error", err, errs.KindOf(err))
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := ReadRegular(fifo, "test file", 1<<20); done <- err }()
	select {
	case err := <-done:
		if errs.KindOf(err) != errs.BadInput || !strings.Contains(err.Error(), "named pipe") {
			t.Errorf("ReadRegular(FIFO) = %v, want a BadInput error naming the pipe", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadRegular blocked on a FIFO")
	}
	if _, err := ReadRegular("/dev/zero", "", 1<<20); errs.KindOf(err) != errs.BadInput {
		t.Errorf("ReadRegular(/dev/zero) = %v, want BadInput", err)
	}
}
