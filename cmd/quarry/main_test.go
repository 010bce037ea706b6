package main

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/gguf"
)

// TestExitStatusTable checks the one table: every kind has a status, and
// errors get theirs from their kind wherever it sits in the chain.
func TestExitStatusTable(t *testing.T) {
	for k := errs.Kind(0); !strings.HasPrefix(k.String(), "kind("); k++ {
		if _, ok := exitStatus[k]; !ok {
			t.Errorf("kind %v has no exit status", k)
		}
	}
	_, formatErr := gguf.Parse(strings.NewReader("GGUX1234"), 8)
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("disk on fire"), 1},
		{errs.New(errs.BadInput, "x"), 2},
		{fmt.Errorf("open index: %w", engine.ErrNoIndex), 2},
		{fmt.Errorf("create: %w", engine.ErrIndexExists), 2},
		{fmt.Errorf("search: %w", engine.ErrModelMismatch), 2},
		{fmt.Errorf("create: %w", engine.ErrModelKind), 2},
		{errs.New(errs.Limit, "too big"), 4},
		{errs.New(errs.Corrupt, "seg-000001.qvec: block 3: checksum"), 3},
		{errs.New(errs.Unavailable, "no native core"), 1},
		{fmt.Errorf("index: %w", context.Canceled), 130},
		{context.DeadlineExceeded, 130},
		{usageError{errors.New("--k -1: want ≥ 1")}, 2},
		{fmt.Errorf("load: %w", formatErr), 2},
		{markBadInput(&os.PathError{Op: "open", Path: "x", Err: os.ErrNotExist}), 2},
		{markBadInput(errs.New(errs.Corrupt, "kept")), 3},
	} {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	if formatErr == nil {
		t.Fatal("bad magic parsed")
	}
}

// packageFiles parses the package's non-test files.
func packageFiles(t *testing.T) (*token.FileSet, []*ast.File) {
	t.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) < 10 {
		t.Fatalf("only %d files parsed", len(files))
	}
	return fset, files
}

// TestCLIStaysAtTheEngine: the CLI reaches the native core only through the
// engine (no bindings import, as `go list -f '{{.Imports}}' ./cmd/quarry`
// would show) and classifies errors by kind, never by matching their text.
func TestCLIStaysAtTheEngine(t *testing.T) {
	fset, files := packageFiles(t)
	for _, f := range files {
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p == "github.com/quarry-search/quarry/bindings" || strings.HasPrefix(p, "github.com/quarry-search/quarry/bindings/") {
				t.Errorf("%s imports %s", fset.Position(imp.Pos()), p)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "strings" {
				return true
			}
			for _, a := range call.Args {
				if inner, ok := a.(*ast.CallExpr); ok {
					if s, ok := inner.Fun.(*ast.SelectorExpr); ok && s.Sel.Name == "Error" && len(inner.Args) == 0 {
						t.Errorf("%s: strings.%s over an error's text", fset.Position(call.Pos()), sel.Sel.Name)
					}
				}
			}
			return true
		})
	}
}

// TestUsageErrors: bad flags, arguments and commands exit 2 with one line on
// stderr and nothing on stdout, before anything is opened.
func TestUsageErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "no-index")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serch", "idx", "q"}, `quarry: unknown command "serch" (see quarry --help)`},
		{[]string{"--nope"}, "flag provided but not defined: -nope"},
		{[]string{"search", dir, "q", "--nope"}, "search: flag provided but not defined: -nope (see quarry search --help)"},
		{[]string{"search", dir, "q", "--k", "abc"}, `invalid value "abc" for flag -k`},
		{[]string{"search", "--k"}, "flag needs an argument: -k"},
		{[]string{"search", dir, "q", "--k", "0"}, "--k 0: want ≥ 1"},
		{[]string{"search", dir, "q", "--k", "-3"}, "--k -3: want ≥ 1"},
		{[]string{"search", dir, "q", "--pool", "-1"}, "--pool -1: want ≥ 0"},
		{[]string{"search", dir, "q", "--rescore", "-1"}, "--rescore -1"},
		{[]string{"search", dir, "q", "--rerank-top", "-5"}, "--rerank-top -5"},
		{[]string{"search", dir, "q", "--threads", "-2"}, "--threads -2"},
		{[]string{"search", dir, "q", "--fusion", "max", "--mode", "hybrid"}, `--fusion "max": want rrf or weighted`},
		{[]string{"search", dir, "q", "--mode", "magic"}, `--mode "magic": want dense or bm25 or hybrid or sparse`},
		{[]string{"search", dir, "q", "--alpha", "1.5"}, "--alpha 1.5: want 0 ≤ alpha ≤ 1"},
		{[]string{"search", dir, "q", "--alpha", "-0.1"}, "--alpha -0.1"},
		{[]string{"search", dir, "q", "--alpha", "NaN"}, "--alpha NaN"},
		{[]string{"search", dir, "q", "--b", "2"}, "--b 2"},
		{[]string{"search", dir, "q", "--k1", "-1"}, "--k1 -1"},
		{[]string{"search", dir, "q", "--bm25-fields", "all"}, `--bm25-fields "all": want best_fields or combined`},
		{[]string{"index", "-i", "x", "-o", dir, "-m", "m.gguf", "--window", "-1"}, "--window -1"},
		{[]string{"index", "-i", "x", "-o", dir, "-m", "m.gguf", "--overlap", "-1"}, "--overlap -1"},
		{[]string{"index", "-i", "x", "-o", dir, "-m", "m.gguf", "--batch", "0"}, "--batch 0"},
		{[]string{"index", "-i", "x", "-o", dir, "-m", "m.gguf", "--dtype", "f8"}, `--dtype "f8"`},
		{[]string{"index", "-i", "x", "-o", dir, "-m", "m.gguf", "--bm25-fields", "x"}, `--bm25-fields "x"`},
		{[]string{"index", "-o", dir}, "index: --input is required (see quarry index --help)"},
		{[]string{"delete", dir}, "delete: --id is required"},
		{[]string{"embed", "--model", "m.gguf", "--k-tokens", "-1"}, "--k-tokens -1"},
		{[]string{"rerank", "--model", "m.gguf", "--query", "q", "--top", "-1"}, "--top -1"},
		{[]string{"eval", "xyz"}, `unknown command "eval xyz" (see quarry eval --help)`},
		{[]string{"eval", "beir", "d", "-m", "m.gguf", "--depth", "0"}, "--depth 0"},
		{[]string{"eval", "beir", "d", "-m", "m.gguf", "--bm25", "lucene"}, `--bm25 "lucene": want index or beir`},
		{[]string{"model", "inf", "m.gguf"}, `unknown command "model inf"`},
		{[]string{"help", "serch"}, `help: unknown command "serch"`},
		{[]string{"help", "eval", "x"}, `help: unknown command "eval x"`},
	} {
		code, out, errOut := convRun(c.args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasSuffix(errOut, "\n") || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2, nothing, one line with %q", c.args, code, out, errOut, c.want)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a rejected command created %s", dir)
	}
}

// TestHelpGoesToStderr: help is never mixed with results on stdout.
func TestHelpGoesToStderr(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "EXIT STATUS"},
		{[]string{"--help"}, "EXIT STATUS"},
		{[]string{"-h"}, "130  interrupted"},
		{[]string{"help"}, "COMMANDS:"},
		{[]string{"help", "search"}, "quarry search - search an index"},
		{[]string{"search", "--help"}, "--bm25-fields"},
		{[]string{"help", "eval", "beir"}, "quarry eval beir - index a BEIR folder"},
		{[]string{"eval", "beir", "--help"}, "--bm25 value"},
		{[]string{"eval"}, "sts"},
		{[]string{"eval", "help", "sts"}, "quarry eval sts - Spearman"},
		{[]string{"index", "--help"}, "corpus path (required)"},
		{[]string{"search", "idx", "a query", "--k", "3", "--help"}, "quarry search - search an index"},
		{[]string{"search", "idx", "--help", "a query"}, "quarry search - search an index"},
		{[]string{"eval", "beir", "dir", "-h"}, "quarry eval beir - index a BEIR folder"},
		{[]string{"--help", "eval", "sts"}, "quarry eval sts - Spearman"},
	} {
		code, out, errOut := convRun(c.args...)
		if code != 0 || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stdout %q; want 0, nothing on stdout, %q on stderr in:\n%s", c.args, code, out, c.want, errOut)
		}
	}
	code, out, errOut := convRun("--version")
	if code != 0 || out != "quarry version dev\n" || errOut != "" {
		t.Errorf("--version: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
