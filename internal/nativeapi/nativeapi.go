// Package nativeapi describes how a Go program links quarry's native core:
// the functions of its C API (parsed from native/include/quarry.h), the
// static libraries, and the C "anchor" that makes the linker take the
// functions from those libraries.
//
// Package bindings refers to every C API function weakly (#pragma weak), so
// it compiles and links without the libraries. GNU ld does not extract an
// archive member to satisfy a weak reference, so the package that links the
// libraries (internal/nativelink here, quarry_native.go written by
// cmd/quarry-native in an application) also holds the anchor: an array of
// pointers to every function, a strong reference to each.
package nativeapi

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Libs are the static libraries of the native core, in link order (between
// -Wl,--start-group and -Wl,--end-group).
var Libs = []string{"quarry", "llama", "ggml", "ggml-cpu", "ggml-base"}

// SystemLibs are the system libraries the native core needs after them.
var SystemLibs = []string{"stdc++", "m", "pthread", "dl"}

// LDFlags is the #cgo LDFLAGS value that links the native core from libDir.
func LDFlags(libDir string) string {
	var b strings.Builder
	b.WriteString("-L" + libDir + " -Wl,--start-group")
	for _, l := range Libs {
		b.WriteString(" -l" + l)
	}
	b.WriteString(" -Wl,--end-group")
	for _, l := range SystemLibs {
		b.WriteString(" -l" + l)
	}
	return b.String()
}

var (
	blockComment = regexp.MustCompile(`(?s)/\*.*?\*/`)
	lineComment  = regexp.MustCompile(`//[^\n]*`)
	preprocessor = regexp.MustCompile(`(?m)^[ \t]*#[^\n]*(\\\n[^\n]*)*`)
	funcDecl     = regexp.MustCompile(`\b(quarry_[A-Za-z0-9_]+)\s*\(`)
)

// ParseHeader returns the functions that quarry.h declares, in the order of
// the header. quarry.h declares no function-pointer types or fields, so any
// quarry_* name followed by "(" outside comments and preprocessor lines is a
// function declaration.
func ParseHeader(src string) ([]string, error) {
	s := blockComment.ReplaceAllString(src, " ")
	s = lineComment.ReplaceAllString(s, " ")
	s = preprocessor.ReplaceAllString(s, " ")
	seen := map[string]bool{}
	var fns []string
	for _, m := range funcDecl.FindAllStringSubmatch(s, -1) {
		if seen[m[1]] {
			return nil, fmt.Errorf("quarry.h: %s declared twice", m[1])
		}
		seen[m[1]] = true
		fns = append(fns, m[1])
	}
	if len(fns) == 0 {
		return nil, fmt.Errorf("quarry.h: no quarry_* function declarations found")
	}
	return fns, nil
}

// Anchor is the C code (for a cgo preamble) that references every function
// in fns strongly. It declares the functions itself, with a placeholder
// type (it must not be compiled together with quarry.h): only their
// addresses are taken, and the linker does not check types.
func Anchor(fns []string) string {
	fns = append([]string(nil), fns...)
	sort.Strings(fns)
	var b strings.Builder
	b.WriteString("// Strong references to every function of quarry's C API, so that the linker\n")
	b.WriteString("// takes them from the static libraries (package bindings refers to them\n")
	b.WriteString("// weakly). Only the addresses are used: the placeholder type is never called.\n")
	for _, f := range fns {
		fmt.Fprintf(&b, "void %s(void);\n", f)
	}
	b.WriteString("__attribute__((used)) static void (*const quarry_native_anchor[])(void) = {\n")
	for _, f := range fns {
		fmt.Fprintf(&b, "\t%s,\n", f)
	}
	b.WriteString("};\n")
	return b.String()
}
