package store

import (
	"errors"
	"io"
	"io/fs"
	"testing"
)

func memWrite(t *testing.T, m *MemFS, name, data string, syncFile bool) File {
	t.Helper()
	f, err := m.Create(name, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if syncFile {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func memRead(m *MemFS, name string) (string, error) {
	b, err := ReadFileFS(m, name)
	return string(b), err
}

func TestMemFSDurability(t *testing.T) {
	m := NewMemFS()
	if err := m.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syncDir(m, "/"); err != nil {
		t.Fatal(err)
	}
	memWrite(t, m, "/d/synced", "one", true).Close()
	memWrite(t, m, "/d/unsynced", "two", false).Close()
	if err := syncDir(m, "/d"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create("/d/synced", 0o644); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over an existing name: %v", err)
	}
	memWrite(t, m, "/d/noname", "three", true).Close() // data synced, name not
	if err := m.Link("/d/synced", "/d/unsynced"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("link over an existing name: %v", err)
	}
	if err := m.Rename("/d/synced", "/d/renamed"); err != nil {
		t.Fatal(err)
	}
	if s, err := memRead(m, "/d/renamed"); s != "one" || err != nil {
		t.Fatalf("before the crash: %q, %v", s, err)
	}
	m.Crash()
	if s, err := memRead(m, "/d/synced"); s != "one" || err != nil {
		t.Fatalf("synced file: %q, %v", s, err)
	}
	if s, err := memRead(m, "/d/unsynced"); s != "" || err != nil {
		t.Fatalf("file never synced (name durable): %q, %v; want empty", s, err)
	}
	for _, name := range []string{"/d/noname", "/d/renamed"} {
		if _, err := m.Stat(name); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s survived the crash without a directory sync: %v", name, err)
		}
	}
	// An open file survives the removal of its name.
	r, err := m.Open("/d/synced")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("/d/synced"); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(r); string(b) != "one" || err != nil {
		t.Fatalf("read after unlink: %q, %v", b, err)
	}
	// CrashAfter: the n+1th crash point fails, and so does everything after.
	m.CrashAfter(1)
	if err := m.Remove("/d/unsynced"); err != nil {
		t.Fatal(err)
	}
	if err := syncDir(m, "/d"); !errors.Is(err, ErrCrashed) {
		t.Fatalf("sync after the crash point: %v", err)
	}
	if _, err := m.Open("/d/unsynced"); !errors.Is(err, ErrCrashed) {
		t.Fatalf("open after the crash point: %v", err)
	}
	m.Crash()
	if _, err := m.Stat("/d/unsynced"); err != nil {
		t.Fatalf("a removal without a directory sync was durable: %v", err)
	}
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, ErrCrashed) {
		t.Fatalf("a file opened before the crash still reads: %v", err)
	}
}
