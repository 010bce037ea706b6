package main

import (
	"bytes"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/internal/nativeapi"
)

func TestRequiredVersion(t *testing.T) {
	gomod := `module example.com/x

go 1.26

require github.com/other/thing v1.0.0 // indirect
require (
	github.com/ollama/ollama v0.17.4 // the llama.cpp sources
	github.com/ollama/ollama-extra v9.0.0
)
`
	for path, want := range map[string]string{
		"github.com/ollama/ollama":  "v0.17.4",
		"github.com/other/thing":    "v1.0.0",
		"github.com/ollama/missing": "",
		"go":                        "",
	} {
		if got := requiredVersion(gomod, path); got != want {
			t.Errorf("requiredVersion(%s) = %q, want %q", path, got, want)
		}
	}
	// quarry's own go.mod pins the module CMake builds from.
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if v := requiredVersion(string(b), llamaModule); !strings.HasPrefix(v, "v") {
		t.Errorf("quarry's go.mod: %s at %q", llamaModule, v)
	}
}

func TestPackageName(t *testing.T) {
	dir := t.TempDir()
	if p, err := packageName(dir, fileName); err != nil || p != "main" {
		t.Errorf("empty directory: %q, %v", p, err)
	}
	os.WriteFile(filepath.Join(dir, "app.go"), []byte("package webapp\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "app_test.go"), []byte("package webapp_test\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "tool.go"), []byte("//go:build ignore\n\npackage main\n"), 0o644)
	os.WriteFile(filepath.Join(dir, fileName), []byte("package stale\n"), 0o644)
	if p, err := packageName(dir, fileName); err != nil || p != "webapp" {
		t.Errorf("package webapp: %q, %v", p, err)
	}
	os.WriteFile(filepath.Join(dir, "other.go"), []byte("package other\n"), 0o644)
	if _, err := packageName(dir, fileName); err == nil || !strings.Contains(err.Error(), "-package") {
		t.Errorf("two packages: %v", err)
	}
}

func TestCheckOutput(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, fileName)
	if err := checkOutput(p); err != nil {
		t.Errorf("missing file: %v", err)
	}
	os.WriteFile(p, []byte(header+"package main\n"), 0o644)
	if err := checkOutput(p); err != nil {
		t.Errorf("generated file: %v", err)
	}
	os.WriteFile(p, []byte("package main\n"), 0o644)
	if err := checkOutput(p); err == nil {
		t.Error("a file of the user's is overwritten")
	}
}

func TestSafePath(t *testing.T) {
	if err := safePath("/home/u/.cache/quarry/native/0123/build/lib"); err != nil {
		t.Error(err)
	}
	for _, p := range []string{"/home/my user/x", "/x/$HOME", `/x/"q"`} {
		if err := safePath(p); err == nil || !strings.Contains(err.Error(), "-cache") {
			t.Errorf("safePath(%q) = %v", p, err)
		}
	}
}

func TestWriteFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), fileName)
	for i, want := range []bool{true, false} {
		changed, err := writeFile(p, header+"package main\n")
		if err != nil || changed != want {
			t.Errorf("write %d: changed %v, %v; want %v", i, changed, err, want)
		}
	}
	if changed, err := writeFile(p, header+"package other\n"); err != nil || !changed {
		t.Errorf("new content: changed %v, %v", changed, err)
	}
	if b, _ := os.ReadFile(p); string(b) != header+"package other\n" {
		t.Errorf("file holds %q", b)
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("%d files left in the directory", len(ents))
	}
}

func TestBuildKey(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "native", "src"), 0o755)
	os.WriteFile(filepath.Join(src, "CMakeLists.txt"), []byte("project(quarry)\n"), 0o644)
	os.WriteFile(filepath.Join(src, "native", "src", "a.cpp"), []byte("int a;\n"), 0o644)
	llama := &module{Path: llamaModule, Version: "v0.17.4"}
	tc := &toolchain{id: "/usr/bin/c++ c++ 12"}
	q := quarrySource{Dir: src, Version: "v1.0.0"}
	key := func(q quarrySource, opts ...string) string {
		t.Helper()
		k, err := buildKey(q, llama, tc, opts)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key(q)
	if len(base) != 16 || key(q) != base {
		t.Fatalf("key %q is not stable", base)
	}
	// Another version with the same native sources shares the build.
	if key(quarrySource{Dir: src, Version: "v1.0.1"}) != base {
		t.Error("the key depends on the version, not the sources")
	}
	if key(q, "-DQUARRY_NATIVE=ON") == base {
		t.Error("the key ignores the options")
	}
	if key(quarrySource{Dir: src}) == base {
		t.Error("a directory replacement shares a versioned build")
	}
	os.WriteFile(filepath.Join(src, "native", "src", "a.cpp"), []byte("int b;\n"), 0o644)
	if key(q) == base {
		t.Error("the key ignores the native sources")
	}
}

func TestFindToolsMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("CC", "")
	t.Setenv("CXX", "")
	_, err := findTools()
	if err == nil {
		t.Fatal("no error with an empty PATH")
	}
	for _, want := range []string{"cmake", "C++ compiler", "make", "`apt-get install cmake g++ make`", "`go run " + commandPath + "`"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestRunFlags(t *testing.T) {
	for _, args := range [][]string{{"-native", "-portable"}, {"-jobs", "0"}, {"extra"}, {"-bogus"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("run(%q) = %d, want 2 (%s)", args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"-h"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "usage: go run "+commandPath) {
		t.Errorf("-h: %d %q", code, errb.String())
	}
}

// fileText is a valid Go file whose preamble links the libraries, names
// every C API function and records the version.
func TestFileText(t *testing.T) {
	fns := []string{"quarry_embed", "quarry_topk"}
	src := fileText("webapp", quarrySource{Dir: "/m/quarry@v1.2.3", Version: "v1.2.3"}, "/c/quarry/native/k/build/lib", "abcd", fns)
	f, err := parser.ParseFile(token.NewFileSet(), fileName, src, parser.ParseComments)
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	if f.Name.Name != "webapp" {
		t.Errorf("package %s", f.Name.Name)
	}
	if fmted, err := format.Source([]byte(src)); err != nil || string(fmted) != src {
		t.Errorf("the file is not gofmt-formatted (%v):\n%s", err, fmted)
	}
	for _, want := range []string{
		header, "rerun after upgrading quarry", "\n//go:build cgo && !quarry_nonative\n\npackage webapp\n",
		"#cgo LDFLAGS: " + nativeapi.LDFlags("/c/quarry/native/k/build/lib") + "\n",
		nativeapi.Anchor(fns), `__attribute__((weak)) const char quarry_native_module[] = "v1.2.3";`, `"sha256:abcd"`,
	} {
		if !strings.Contains(src, want) {
			t.Errorf("file lacks %q:\n%s", want, src)
		}
	}
}

// A program with the generated file (pointing at this repository's
// build/lib) links the native core: bindings.Available is true and a model
// loads. The application replaces quarry by this repository.
func TestGeneratedFileLinks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not on PATH")
	}
	if os.Getenv("CGO_ENABLED") == "0" {
		t.Skip("CGO_ENABLED=0: the generated file is not compiled")
	}
	root, _ := filepath.Abs("../..")
	libDir := filepath.Join(root, "build", "lib")
	if _, err := os.Stat(filepath.Join(libDir, "libquarry.a")); err != nil {
		t.Skip("no build/lib (make native)")
	}
	app := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(app, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gosum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	gomod, _ := os.ReadFile(filepath.Join(root, "go.mod"))
	// The application's go.mod: quarry's requirements, quarry replaced by
	// the repository (so nothing is downloaded).
	mod := strings.Replace(string(gomod), "module "+modulePath, "module example.com/app", 1) +
		"\nrequire " + modulePath + " v0.0.0\n\nreplace " + modulePath + " => " + root + "\n"
	write("go.mod", mod)
	write("go.sum", string(gosum))
	write("main.go", `package main

import (
	"fmt"

	"example.com/app/lib"
	"github.com/quarry-search/quarry/bindings"
)

func main() { fmt.Println(bindings.Available, bindings.RowSize(0, 8), lib.Name) }
`)
	// A second package with its own generated file (for its tests, say)
	// links into the same program.
	os.Mkdir(filepath.Join(app, "lib"), 0o755)
	write("lib/lib.go", "package lib\n\nconst Name = \"lib\"\n")
	q, err := findQuarry(app)
	if err != nil {
		t.Fatal(err)
	}
	if q.Version != "" || !sameDir(q.Dir, root) {
		t.Errorf("findQuarry = %+v, want the repository without a version", q)
	}
	fns, err := headerFunctions(q.Dir)
	if err != nil {
		t.Fatal(err)
	}
	write(fileName, fileText("main", q, libDir, "test", fns))
	write("lib/"+fileName, fileText("lib", q, libDir, "test", fns))
	cmd := exec.Command("go", "run", ".")
	cmd.Dir = app
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "true 32 lib" {
		t.Errorf("the program printed %q, want \"true 32 lib\"", got)
	}
}
