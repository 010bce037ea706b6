// Command quarry is the command-line front end of the quarry semantic search
// engine: embed, rerank, convert models, index corpora and search them.
//
// Results go to stdout, progress and warnings to stderr. Exit status: 0 on
// success, 2 for bad input (missing or invalid files, bad flags, bad records),
// 1 for other failures.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/quarry-search/quarry/bindings"
	"github.com/quarry-search/quarry/engine/gguf"
	"github.com/urfave/cli/v2"
)

var version = "dev"

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	if err := app.Run(args); err != nil {
		code := exitCode(err)
		fmt.Fprintf(stderr, "quarry: %v\n", err)
		return code
	}
	return 0
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:            "quarry",
		Usage:           "semantic search with GGUF BERT encoders and cross-encoders",
		Version:         version,
		Reader:          stdin,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {}, // errors are printed by run
		OnUsageError: func(c *cli.Context, err error, isSub bool) error {
			return usageError{err}
		},
		Commands: []*cli.Command{
			embedCommand(),
			rerankCommand(),
			modelCommand(),
		},
	}
}

// usageError marks bad input: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func badInput(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func exitCode(err error) int {
	var ue usageError
	var fe *gguf.FormatError
	var be *bindings.Error
	switch {
	case errors.As(err, &ue), errors.As(err, &fe), errors.Is(err, gguf.ErrNotGGUF), errors.Is(err, os.ErrNotExist):
		return 2
	case errors.As(err, &be) && (be.Code == bindings.CodeArg || be.Code == bindings.CodeModel):
		return 2
	}
	if strings.Contains(err.Error(), "Required flag") || strings.Contains(err.Error(), "flag provided but not defined") {
		return 2
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}
