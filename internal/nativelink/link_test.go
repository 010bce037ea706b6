package nativelink_test

import (
	"os/exec"
	"strings"
	"testing"
)

const (
	bindingsPkg = "github.com/quarry-search/quarry/bindings"
	linkPkg     = "github.com/quarry-search/quarry/internal/nativelink"
)

// Every program of this module that links package bindings, test binaries
// included, also imports internal/nativelink: without it the native core is
// silently absent (bindings.Available is false, and tests that need it skip).
// A package whose tests use the native core needs a nativelink_test.go;
// a command, a nativelink.go.
func TestEveryProgramLinks(t *testing.T) {
	if testing.Short() {
		t.Skip("lists every package")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	cmd := exec.Command(goBin, "list", "-test", "-f", "{{.Name}} {{.ImportPath}}{{range .Deps}} {{.}}{{end}}", "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	programs := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "main" {
			continue
		}
		deps := map[string]bool{}
		for _, d := range f[2:] {
			deps[d] = true
		}
		if !deps[bindingsPkg] {
			continue
		}
		programs++
		if !deps[linkPkg] {
			t.Errorf("%s links %s but not %s: add a nativelink_test.go (tests) or nativelink.go (commands) importing it", f[1], bindingsPkg, linkPkg)
		}
	}
	if programs == 0 {
		t.Error("no program of the module links bindings: the check checks nothing")
	}
}
