package hub

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseContentRange(t *testing.T) {
	for _, c := range []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-299/300", 100, 300, true},
		{"bytes 0-0/*", 0, -1, true},
		{"bytes */300", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"", 0, 0, false},
	} {
		start, total, ok := parseContentRange(c.in)
		if start != c.start || total != c.total || ok != c.ok {
			t.Errorf("%q: %d %d %v", c.in, start, total, ok)
		}
	}
}

func TestEtags(t *testing.T) {
	for in, want := range map[string]string{`"abc"`: "abc", `W/"abc"`: "abc", "abc": "abc", "": ""} {
		if got := normalizeEtag(in); got != want {
			t.Errorf("normalizeEtag(%q) = %q", in, got)
		}
	}
	for _, safe := range []string{"0123abcdef", "a-b_c.d"} {
		if blobName(safe) != safe {
			t.Errorf("blobName(%q) = %q", safe, blobName(safe))
		}
	}
	for _, unsafe := range []string{"../x", "a/b", "..", "x.incomplete", "a b"} {
		if got := blobName(unsafe); got == unsafe || !isSHA256(got) {
			t.Errorf("blobName(%q) = %q", unsafe, got)
		}
	}
}

func TestValidFilePath(t *testing.T) {
	for p, want := range map[string]bool{
		"config.json": true, "1_Pooling/config.json": true, "../x": false, "/etc/passwd": false,
		"a/../b": false, "a//b": false, "a\\b": false, "": false, "./a": false,
	} {
		if validFilePath(p) != want {
			t.Errorf("validFilePath(%q) = %v", p, !want)
		}
	}
}

func TestProgressLines(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b)
	p.every = time.Nanosecond
	p.begin("model.safetensors", 2_000_000, 500_000)
	time.Sleep(time.Millisecond)
	p.add(500_000)
	p.end(true)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines %q", lines)
	}
	if !strings.Contains(lines[0], "1.0 MB / 2.0 MB") || !strings.Contains(lines[0], "MB/s") || !strings.Contains(lines[0], "ETA") {
		t.Errorf("progress line %q", lines[0])
	}
	if !strings.Contains(lines[1], "model.safetensors  1.0 MB") || !strings.Contains(lines[1], "resumed at 500.0 kB") {
		t.Errorf("final line %q", lines[1])
	}
	var nilp = newProgress(nil)
	nilp.begin("x", 1, 0)
	nilp.add(1)
	nilp.end(true)
	nilp.warnf("x")
}
