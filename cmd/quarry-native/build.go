package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/quarry-search/quarry/internal/nativeapi"
)

const (
	modulePath  = "github.com/quarry-search/quarry"
	llamaModule = "github.com/ollama/ollama"
	commandPath = modulePath + "/cmd/quarry-native"
	fileName    = "quarry_native.go"
	// keyVersion changes when the layout of a build directory or the way it
	// is built changes, so old builds are not reused.
	keyVersion = "quarry-native 1"
)

// module is what `go list -m -json` and `go mod download -json` report.
type module struct {
	Path    string
	Version string
	Dir     string
	GoMod   string
	Main    bool
	Replace *module
	Error   any
}

// quarrySource is the quarry module as the application resolves it.
type quarrySource struct {
	Dir string
	// Version is the module version the program will be built with; "" for
	// the main module or a directory replacement (mutable sources).
	Version string
}

// toolchain is the build tools found on PATH.
type toolchain struct {
	cmake     string
	cxx       string
	generator string // "" (Unix Makefiles) or "Ninja"
	id        string // the C++ compiler's path and version line
}

func generate(o options, stdout, stderr io.Writer) error {
	start := time.Now()
	wd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	out, err := filepath.Abs(o.out)
	if err != nil {
		return fmt.Errorf("output file %s: %w", o.out, err)
	}
	pkg := o.pkg
	if pkg == "" {
		if pkg, err = packageName(filepath.Dir(out), filepath.Base(out)); err != nil {
			return err
		}
	}
	if err := checkOutput(out); err != nil {
		return err
	}
	tc, err := findTools()
	if err != nil {
		return err
	}
	q, err := findQuarry(wd)
	if err != nil {
		return err
	}
	llama, err := findLlama(wd, q.Dir)
	if err != nil {
		return err
	}
	root := o.cache
	if root == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("no user cache directory (set XDG_CACHE_HOME or HOME, or pass -cache DIR): %w", err)
		}
		root = filepath.Join(c, "quarry", "native")
	}
	if root, err = filepath.Abs(root); err != nil {
		return fmt.Errorf("cache directory: %w", err)
	}
	cmakeOpts := []string{"-DCMAKE_BUILD_TYPE=Release"}
	switch {
	case o.native:
		cmakeOpts = append(cmakeOpts, "-DQUARRY_NATIVE=ON")
	case o.portable:
		cmakeOpts = append(cmakeOpts, "-DQUARRY_PORTABLE=ON")
	}
	key, err := buildKey(q, llama, tc, cmakeOpts)
	if err != nil {
		return err
	}
	b := &builder{dir: filepath.Join(root, key), q: q, llama: llama, tc: tc, opts: cmakeOpts, jobs: o.jobs, verbose: o.verbose, stderr: stderr}
	if err := safePath(b.libDir()); err != nil {
		return err
	}
	st, built, err := b.build()
	if err != nil {
		return err
	}
	what := "reused"
	if built {
		what = "built in " + time.Since(start).Round(time.Second).String()
	}
	version := q.Version
	if version == "" {
		version = "at " + q.Dir
	}
	fmt.Fprintf(stdout, "quarry-native: native core of %s %s %s: %s\n", modulePath, version, what, b.libDir())
	fns, err := headerFunctions(q.Dir)
	if err != nil {
		return err
	}
	changed, err := writeFile(out, fileText(pkg, q, b.libDir(), st.LibHash, fns))
	if err != nil {
		return err
	}
	verb := "wrote"
	if !changed {
		verb = "kept (up to date)"
	}
	fmt.Fprintf(stdout, "quarry-native: %s %s (package %s)\n", verb, out, pkg)
	fmt.Fprintln(stdout, "next: go build")
	return nil
}

// findTools checks that CMake, a C and a C++ compiler and make or ninja are
// on PATH.
func findTools() (*toolchain, error) {
	var missing []string
	tc := &toolchain{}
	var err error
	if tc.cmake, err = exec.LookPath("cmake"); err != nil {
		missing = append(missing, "cmake")
	}
	tc.cxx = firstTool(os.Getenv("CXX"), "c++", "g++", "clang++")
	if tc.cxx == "" {
		missing = append(missing, "a C++ compiler (c++, g++ or clang++)")
	}
	if firstTool(os.Getenv("CC"), "cc", "gcc", "clang") == "" {
		missing = append(missing, "a C compiler (cc, gcc or clang)")
	}
	if firstTool("ninja") != "" {
		tc.generator = "Ninja"
	} else if firstTool("make", "gmake") == "" {
		missing = append(missing, "make (or ninja)")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("building quarry's native core needs CMake, a C and C++ compiler and make or ninja; not found: %s. On Debian or Ubuntu install them with `apt-get install cmake g++ make` (as root), then run `go run %s` again",
			strings.Join(missing, ", "), commandPath)
	}
	tc.id = tc.cxx
	if v, err := exec.Command(tc.cxx, "--version").Output(); err == nil {
		tc.id += " " + strings.TrimSpace(strings.SplitN(string(v), "\n", 2)[0])
	}
	return tc, nil
}

// firstTool returns the path of the first of names found on PATH ("" when
// none is). An empty name is skipped; a name may carry arguments ($CXX), of
// which the first word is looked up.
func firstTool(names ...string) string {
	for _, n := range names {
		f := strings.Fields(n)
		if len(f) == 0 {
			continue
		}
		if p, err := exec.LookPath(f[0]); err == nil {
			return p
		}
	}
	return ""
}

// goCmd runs the go command in dir and returns its standard output.
func goCmd(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = strings.TrimSpace(string(out))
		}
		return out, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return out, nil
}

// findQuarry finds the quarry module the application in dir builds with.
func findQuarry(dir string) (quarrySource, error) {
	out, err := goCmd(dir, "list", "-m", "-json", modulePath)
	if err != nil {
		return quarrySource{}, fmt.Errorf("finding %s in the module of %s (run this in your application's directory, after `go get %s/engine`): %w", modulePath, dir, modulePath, err)
	}
	var m module
	if err := json.Unmarshal(out, &m); err != nil {
		return quarrySource{}, fmt.Errorf("go list -m -json %s: %w", modulePath, err)
	}
	q := quarrySource{Dir: m.Dir, Version: m.Version}
	if m.Replace != nil {
		q.Version = m.Replace.Version
	}
	if m.Main {
		q.Version = ""
	}
	if q.Dir == "" && q.Version != "" {
		d, err := download(dir, modulePath, q.Version)
		if err != nil {
			return quarrySource{}, err
		}
		q.Dir = d.Dir
	}
	if q.Dir == "" {
		return quarrySource{}, fmt.Errorf("go list -m %s reports no source directory (run `go mod download %s`)", modulePath, modulePath)
	}
	if _, err := os.Stat(filepath.Join(q.Dir, "CMakeLists.txt")); err != nil {
		return quarrySource{}, fmt.Errorf("the quarry module at %s has no CMakeLists.txt: %w", q.Dir, err)
	}
	return q, nil
}

// download runs go mod download for path@version.
func download(dir, path, version string) (*module, error) {
	out, err := goCmd(dir, "mod", "download", "-json", path+"@"+version)
	var m module
	if jerr := json.Unmarshal(out, &m); jerr == nil && m.Error != nil {
		return nil, fmt.Errorf("downloading %s@%s: %v", path, version, m.Error)
	}
	if err != nil {
		return nil, fmt.Errorf("downloading %s@%s: %w", path, version, err)
	}
	if m.Dir == "" {
		return nil, fmt.Errorf("go mod download %s@%s reports no directory", path, version)
	}
	return &m, nil
}

// findLlama downloads the version of github.com/ollama/ollama (llama.cpp and
// ggml) that quarry's go.mod pins.
func findLlama(dir, quarryDir string) (*module, error) {
	gomod, err := os.ReadFile(filepath.Join(quarryDir, "go.mod"))
	if err != nil {
		return nil, fmt.Errorf("reading quarry's go.mod: %w", err)
	}
	v := requiredVersion(string(gomod), llamaModule)
	if v == "" {
		return nil, fmt.Errorf("%s/go.mod does not require %s", quarryDir, llamaModule)
	}
	m, err := download(dir, llamaModule, v)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(m.Dir, "llama", "llama.cpp", "include", "llama.h")); err != nil {
		return nil, fmt.Errorf("%s@%s at %s does not hold llama.cpp: %w", llamaModule, v, m.Dir, err)
	}
	return m, nil
}

// requiredVersion is the version of path in the require directives of a
// go.mod file, or "".
func requiredVersion(gomod, path string) string {
	inBlock := false
	for _, line := range strings.Split(gomod, "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
			continue
		case inBlock && f[0] == ")":
			inBlock = false
			continue
		case f[0] == "require" && len(f) == 2 && f[1] == "(":
			inBlock = true
			continue
		case f[0] == "require":
			f = f[1:]
		case !inBlock:
			continue
		}
		if len(f) >= 2 && strings.Trim(f[0], `"`) == path {
			return f[1]
		}
	}
	return ""
}

// buildKey names the build directory: it hashes everything the libraries
// depend on. Module versions are immutable, so a versioned quarry is keyed by
// the content of its native sources (a quarry upgrade that leaves them alone
// reuses the build); a directory replacement by its path (it is rebuilt
// incrementally on every run).
func buildKey(q quarrySource, llama *module, tc *toolchain, opts []string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s/%s\n%s\n%s\n%s@%s\n%s\n", keyVersion, runtime.GOOS, runtime.GOARCH, tc.id, tc.generator,
		llama.Path, llama.Version, strings.Join(opts, " "))
	if q.Version == "" {
		fmt.Fprintf(h, "dir %s\n", q.Dir)
	} else if err := hashSources(h, q.Dir); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// hashSources hashes CMakeLists.txt and the files under native/.
func hashSources(w io.Writer, dir string) error {
	files := []string{"CMakeLists.txt"}
	err := filepath.WalkDir(filepath.Join(dir, "native"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("hashing the native sources: %w", err)
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			return fmt.Errorf("hashing the native sources: %w", err)
		}
		fmt.Fprintf(w, "%s %d\n", f, len(b))
		w.Write(b)
	}
	return nil
}

// headerFunctions lists the C API functions of the quarry module at dir.
func headerFunctions(dir string) ([]string, error) {
	src, err := os.ReadFile(filepath.Join(dir, "native", "include", "quarry.h"))
	if err != nil {
		return nil, fmt.Errorf("reading quarry.h: %w", err)
	}
	return nativeapi.ParseHeader(string(src))
}

// safePath rejects a directory that a #cgo LDFLAGS line cannot name as is.
func safePath(p string) error {
	if i := strings.IndexAny(p, " \t\n\"'\\$`"); i >= 0 {
		return fmt.Errorf("the build directory %s holds %q, which a #cgo LDFLAGS line cannot name: pass -cache DIR with a plain path", p, p[i])
	}
	return nil
}

// builder builds the native core in one directory of the cache.
type builder struct {
	dir     string
	q       quarrySource
	llama   *module
	tc      *toolchain
	opts    []string
	jobs    int
	verbose bool
	stderr  io.Writer
}

// stamp is the record of a finished build (file "done" in its directory).
type stamp struct {
	Quarry  string    `json:"quarry"` // module version, or the source directory
	Source  string    `json:"source"`
	Llama   string    `json:"llama"`
	LibHash string    `json:"lib_hash"`
	Built   time.Time `json:"built"`
}

func (b *builder) cmakeDir() string { return filepath.Join(b.dir, "build") }
func (b *builder) libDir() string   { return filepath.Join(b.cmakeDir(), "lib") }

// build makes sure the libraries are built and returns the stamp, and
// whether anything was compiled. One build per directory runs at a time.
func (b *builder) build() (*stamp, bool, error) {
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return nil, false, fmt.Errorf("build directory: %w", err)
	}
	unlock, err := lockDir(b.dir)
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	donePath := filepath.Join(b.dir, "done")
	if b.q.Version != "" {
		if st, err := readStamp(donePath); err == nil && b.libsPresent() == nil {
			return st, false, nil
		}
	}
	// A build left by another source directory (an interrupted build of
	// other sources with the same content) cannot be resumed by CMake.
	if home := cacheHome(filepath.Join(b.cmakeDir(), "CMakeCache.txt")); home != "" && !sameDir(home, b.q.Dir) {
		if err := os.RemoveAll(b.cmakeDir()); err != nil {
			return nil, false, fmt.Errorf("removing the stale build %s: %w", b.cmakeDir(), err)
		}
	}
	os.Remove(donePath)
	logPath := filepath.Join(b.dir, "build.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, false, fmt.Errorf("build log: %w", err)
	}
	defer logf.Close()
	var sink io.Writer = logf
	if b.verbose {
		sink = io.MultiWriter(logf, b.stderr)
	}
	fmt.Fprintf(b.stderr, "quarry-native: building the native core in %s (the first time takes a few minutes; log: %s)\n", b.dir, logPath)
	if _, err := os.Stat(filepath.Join(b.cmakeDir(), "CMakeCache.txt")); err != nil {
		args := []string{"-S", b.q.Dir, "-B", b.cmakeDir()}
		if b.tc.generator != "" {
			args = append(args, "-G", b.tc.generator)
		}
		args = append(args, b.opts...)
		args = append(args, "-DQUARRY_LLAMA_DIR="+b.llama.Dir)
		if err := b.cmake(sink, logPath, args...); err != nil {
			return nil, false, err
		}
	}
	if err := b.cmake(sink, logPath, "--build", b.cmakeDir(), "--target", "quarry", "-j", fmt.Sprint(b.jobs)); err != nil {
		return nil, false, err
	}
	if err := b.libsPresent(); err != nil {
		return nil, false, fmt.Errorf("the build finished without %w (log: %s)", err, logPath)
	}
	h, err := b.libHash()
	if err != nil {
		return nil, false, err
	}
	st := &stamp{Quarry: b.q.Version, Source: b.q.Dir, Llama: b.llama.Path + "@" + b.llama.Version, LibHash: h, Built: time.Now().UTC()}
	if b.q.Version == "" {
		st.Quarry = "dir " + b.q.Dir
	}
	js, _ := json.MarshalIndent(st, "", "  ")
	if err := os.WriteFile(donePath, append(js, '\n'), 0o644); err != nil {
		return nil, false, fmt.Errorf("build stamp: %w", err)
	}
	return st, true, nil
}

// cmake runs cmake with args, its output going to sink; a failure reports
// the end of the log.
func (b *builder) cmake(sink io.Writer, logPath string, args ...string) error {
	fmt.Fprintf(sink, "$ cmake %s\n", strings.Join(args, " "))
	cmd := exec.Command(b.tc.cmake, args...)
	cmd.Stdout, cmd.Stderr = sink, sink
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cmake %s: %w\n%s\n(full log: %s)", args[0], err, logTail(logPath, 25), logPath)
	}
	return nil
}

func (b *builder) libsPresent() error {
	for _, l := range nativeapi.Libs {
		if _, err := os.Stat(filepath.Join(b.libDir(), "lib"+l+".a")); err != nil {
			return fmt.Errorf("lib%s.a: %w", l, err)
		}
	}
	return nil
}

// libHash is a hash of the libraries, written into quarry_native.go so that
// Go relinks the program when they change (Go's build cache does not look at
// the files named by #cgo LDFLAGS).
func (b *builder) libHash() (string, error) {
	h := sha256.New()
	for _, l := range nativeapi.Libs {
		f, err := os.Open(filepath.Join(b.libDir(), "lib"+l+".a"))
		if err != nil {
			return "", fmt.Errorf("hashing the libraries: %w", err)
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("hashing the libraries: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

func readStamp(path string) (*stamp, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st stamp
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	if st.LibHash == "" {
		return nil, errors.New("stamp without a library hash")
	}
	return &st, nil
}

// cacheHome is the source directory recorded in a CMakeCache.txt, or "".
func cacheHome(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CMAKE_HOME_DIRECTORY:INTERNAL="); ok {
			return v
		}
	}
	return ""
}

// logTail is the last n lines of the file at path.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// sameDir reports whether a and b name the same directory.
func sameDir(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}
