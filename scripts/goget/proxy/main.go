// Command proxy writes a Go module proxy (the GOPROXY=file://DIR layout)
// that serves one version of the quarry module: the files of a git working
// tree, as `go get github.com/quarry-search/quarry/...@VERSION` would
// download them from a real proxy. scripts/goget/run.sh uses it to test
// quarry as a dependency of an application without any network.
//
//	go run ./scripts/goget/proxy -out DIR -version v0.0.0-20260101000000-abcdefabcdef -time 2026-01-01T00:00:00Z
//
// The files are those git lists in -root (tracked and untracked, not
// ignored), regular files only, without the directories that hold another
// go.mod (nested modules are not part of the module, as in a module zip).
package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const modulePath = "github.com/quarry-search/quarry"

func main() {
	root := flag.String("root", ".", "the module's working tree (a git checkout)")
	out := flag.String("out", "", "proxy directory to write")
	version := flag.String("version", "", "module version, e.g. a pseudo-version of HEAD")
	at := flag.String("time", "", "the version's time (RFC 3339)")
	flag.Parse()
	if *out == "" || *version == "" || *at == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: proxy -out DIR -version VERSION -time RFC3339 [-root DIR]")
		os.Exit(2)
	}
	n, err := run(*root, *out, *version, *at)
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
	fmt.Printf("%s@%s: %d files\n", modulePath, *version, n)
}

func run(root, out, version, at string) (int, error) {
	t, err := time.Parse(time.RFC3339, at)
	if err != nil {
		return 0, fmt.Errorf("-time: %w", err)
	}
	files, err := moduleFiles(root)
	if err != nil {
		return 0, err
	}
	dir := filepath.Join(out, filepath.FromSlash(modulePath), "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return 0, err
	}
	info, _ := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, t.UTC()})
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			return 0, err
		}
		w, err := zw.Create(modulePath + "@" + version + "/" + f)
		if err != nil {
			return 0, err
		}
		if _, err := w.Write(b); err != nil {
			return 0, err
		}
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	for name, data := range map[string][]byte{
		"list":            []byte(version + "\n"),
		version + ".info": info,
		version + ".mod":  gomod,
		version + ".zip":  zb.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return 0, err
		}
	}
	return len(files), nil
}

// moduleFiles lists the module's files, slash-separated and sorted.
func moduleFiles(root string) ([]string, error) {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	var errb bytes.Buffer
	cmd.Stderr = &errb
	listed, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	var names []string
	nested := map[string]bool{} // directories holding another module
	seen := map[string]bool{}
	for _, f := range strings.Split(string(listed), "\x00") {
		if f == "" || seen[f] {
			continue
		}
		seen[f] = true
		fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(f)))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			continue // symbolic links are not part of a module
		}
		if path.Base(f) == "go.mod" && f != "go.mod" {
			nested[path.Dir(f)] = true
		}
		names = append(names, f)
	}
	var files []string
	for _, f := range names {
		if !inNested(f, nested) {
			files = append(files, f)
		}
	}
	sort.Strings(files)
	return files, nil
}

func inNested(f string, nested map[string]bool) bool {
	for d := path.Dir(f); d != "."; d = path.Dir(d) {
		if nested[d] {
			return true
		}
	}
	return false
}
