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
	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/gguf"
	"github.com/urfave/cli/v2"
)

var version = "dev"

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	if err := app.Run(permuteArgs(app, args)); err != nil {
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
		// --filter values hold commas (FIELD=V1,V2): never split them
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            func(*cli.Context, error) {}, // errors are printed by run
		OnUsageError: func(c *cli.Context, err error, isSub bool) error {
			return usageError{err}
		},
		Commands: []*cli.Command{
			embedCommand(),
			rerankCommand(),
			modelCommand(),
			convertCommand(),
			indexCommand(),
			searchCommand(),
			deleteCommand(),
			compactCommand(),
			infoCommand(),
			pullCommand(),
			evalCommand(),
			benchCommand(),
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
	case errors.Is(err, engine.ErrModelKind), errors.Is(err, engine.ErrModelMismatch), errors.Is(err, engine.ErrNoIndex),
		errors.Is(err, engine.ErrIndexExists):
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

// permuteArgs moves a command's flags in front of its positional arguments,
// so `quarry search DIR "query" --k 5` works as well as the flags-first form
// (urfave/cli stops reading flags at the first positional argument). A "--"
// ends flag parsing as usual.
func permuteArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	path := 1
	var cmd *cli.Command
	cmds := app.Commands
	for path < len(args) {
		var next *cli.Command
		for _, c := range cmds {
			if c.HasName(args[path]) {
				next = c
			}
		}
		if next == nil {
			break
		}
		cmd = next
		cmds = cmd.Subcommands
		path++
	}
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	out := append([]string{}, args[:path]...)
	var pos []string
	rest := args[path:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			pos = append(pos, rest[i:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' && a != "-" {
			out = append(out, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(rest) {
				out = append(out, rest[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(out, pos...)
}

// boolFlag is the flag's value when it was given, else nil (the engine's
// default).
func boolFlag(c *cli.Context, name string) *bool {
	if !c.IsSet(name) {
		return nil
	}
	v := c.Bool(name)
	return &v
}

// floatFlag is the flag's value when it was given, else nil.
func floatFlag(c *cli.Context, name string) *float64 {
	if !c.IsSet(name) {
		return nil
	}
	v := c.Float64(name)
	return &v
}
