//go:build cgo && !quarry_nonative

package bindings_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/bindings"
)

// The tests of this package link the native core (nativelink_test.go): a
// cgo test binary without it would skip nothing and fail everything, but
// say so first.
func TestLinked(t *testing.T) {
	if !bindings.Available {
		t.Fatal("the native core is not linked into the tests (nativelink_test.go imports internal/nativelink)")
	}
	if bindings.RowSize(0, 8) != 32 {
		t.Errorf("RowSize(f32, 8) = %d", bindings.RowSize(0, 8))
	}
}

// A program that does not link the native core builds, and every entry point
// fails with ErrNotLinked, whose message names the command in backticks.
func TestNotLinked(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	exe := filepath.Join(t.TempDir(), "notlinked")
	if out, err := exec.Command(goBin, "build", "-o", exe, "./testdata/notlinked").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(exe).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "`" + bindings.NativeCommand + "`"
	if !strings.Contains(string(out), want) || !strings.HasSuffix(string(out), "ok\n") {
		t.Errorf("output %q does not name %s and end in ok", out, want)
	}
}
