// Command quarry-native builds quarry's native core (C++ over ggml and
// llama.cpp) for a Go application that uses quarry as a library, and links
// it into the application. Run it in the directory of the application's
// main package, after `go get github.com/quarry-search/quarry/engine`:
//
//	go run github.com/quarry-search/quarry/cmd/quarry-native
//	go build
//
// It builds the static libraries with CMake from the quarry module and the
// llama.cpp sources of the Go module github.com/ollama/ollama that quarry
// pins (both as the application's module graph resolves them, downloaded by
// the go command), into the user cache directory
// ($XDG_CACHE_HOME/quarry/native/KEY, usually ~/.cache/quarry/native/KEY,
// where KEY hashes the sources and the options), and writes the file
// quarry_native.go next to the application's code: a cgo file that names
// those libraries in #cgo LDFLAGS and references every function of quarry's
// C API, so the program is statically linked against the native core. Commit
// it or not as you like; rerun the command after upgrading quarry (a
// program whose quarry_native.go was generated for another quarry version
// reports so at run time instead of calling into mismatched libraries).
//
// Running it again reuses the libraries already built for the same sources
// and options: only the first run compiles (a few minutes on two cores).
//
// Without quarry_native.go the application still builds, and every model
// call fails with an error that gives the command above. Only programs that
// include such a file link the native core: for the tests of another package
// that use quarry's models, run the command in that package's directory too
// (the files of several packages link together in one program).
//
// It needs cmake (3.16 or later), a C and C++ compiler and make or ninja; on
// Debian or Ubuntu: apt-get install cmake g++ make.
//
// Usage:
//
//	quarry-native [flags]
//
// Flags:
//
//	-native      compile the CPU kernels for this machine (-march=native); the
//	             program then runs only on CPUs like this one
//	-portable    compile for baseline x86-64 (no AVX2; much slower kernels)
//	-jobs N      parallel compile jobs (default: the number of CPUs)
//	-cache DIR   where the libraries are built (default: the user cache
//	             directory's quarry/native)
//	-o FILE      the file to write (default quarry_native.go)
//	-package P   its package clause (default: the package of the .go files in
//	             the file's directory, or main)
//	-v           show the CMake output
//
// The default build targets x86-64-v3 (AVX2, FMA, F16C: any x86-64 CPU since
// about 2015), as quarry's own `make` does.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command's flags.
type options struct {
	native, portable bool
	jobs             int
	cache            string
	out              string
	pkg              string
	verbose          bool
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("quarry-native", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.BoolVar(&o.native, "native", false, "compile the CPU kernels for this machine (-march=native)")
	fs.BoolVar(&o.portable, "portable", false, "compile the CPU kernels for baseline x86-64 (no AVX2)")
	fs.IntVar(&o.jobs, "jobs", runtime.NumCPU(), "parallel compile jobs")
	fs.StringVar(&o.cache, "cache", "", "build directory root (default: the user cache directory's quarry/native)")
	fs.StringVar(&o.out, "o", fileName, "the file to write")
	fs.StringVar(&o.pkg, "package", "", "package clause of the file (default: the package in its directory, or main)")
	fs.BoolVar(&o.verbose, "v", false, "show the CMake output")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run %s [flags]\n\nBuilds quarry's native core and writes %s, which links it into the Go program in this directory.\n\n", commandPath, fileName)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "quarry-native: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return 2
	}
	if o.native && o.portable {
		fmt.Fprintln(stderr, "quarry-native: -native and -portable exclude each other")
		return 2
	}
	if o.jobs < 1 {
		fmt.Fprintf(stderr, "quarry-native: -jobs %d: want at least 1\n", o.jobs)
		return 2
	}
	if err := generate(o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "quarry-native: %v\n", err)
		return 1
	}
	return 0
}
