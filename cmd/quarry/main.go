// Command quarry is the command-line front end of the quarry semantic search
// engine: embed, rerank, convert models, index corpora and search them.
//
// Results go to stdout; progress, warnings, errors and the help text to
// stderr. The exit status comes from the kind of the error (engine/errs),
// never from its text; exitStatus is the one table (0 success, 1 internal
// failure, 2 bad input, 3 corrupt data, 4 limit, 130 interrupted).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/quarry-search/quarry/engine/errs"
	"github.com/urfave/cli/v2"
)

var version = "dev"

func main() {
	// The first SIGINT/SIGTERM cancels the command's context (an index run
	// stops after its last commit, exit status 130); a second one kills.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	os.Exit(runContext(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdin, stdout, stderr)
}

func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	// A panic is a bug: exit 1 with a request for a report, the stack on
	// stderr, instead of Go's exit 2 (which reads as bad input).
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(stderr, "quarry: internal error: %v\n"+
				"This is a bug in quarry: please report it with the command line and the stack below.\n%s", p, debug.Stack())
			code = exitFailure
		}
	}()
	app := newApp(stdin, stdout, stderr)
	err := app.RunContext(ctx, permuteArgs(app, args))
	if err == nil {
		return 0
	}
	code = exitCode(err)
	if code == exitInterrupted {
		fmt.Fprintf(stderr, "quarry: interrupted: %v\n", err)
	} else {
		fmt.Fprintf(stderr, "quarry: %v\n", err)
	}
	return code
}

// Exit statuses (documented in exitStatusHelp and the README).
const (
	exitFailure     = 1   // quarry or the machine failed (a bug, a panic, I/O); nothing the caller sent was wrong
	exitBadInput    = 2   // the caller can fix it: flags, arguments, files, records, names
	exitCorrupt     = 3   // stored data failed its checksums or structure checks (or a file of the index is missing)
	exitLimit       = 4   // a request over a limit (query length, k, batch)
	exitInterrupted = 130 // stopped by SIGINT/SIGTERM (128 + SIGINT, as shells report it)
)

// exitStatus maps every error kind to the exit status: the one table (a kind
// missing from it exits 1). Usage errors are errs.BadInput.
var exitStatus = map[errs.Kind]int{
	errs.BadInput:    exitBadInput,
	errs.NotFound:    exitBadInput,
	errs.Conflict:    exitBadInput,
	errs.Corrupt:     exitCorrupt,
	errs.Limit:       exitLimit,
	errs.Internal:    exitFailure,
	errs.Unavailable: exitFailure,
	errs.Canceled:    exitInterrupted,
}

// exitCode is err's exit status (0 for nil).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if code, ok := exitStatus[errs.KindOf(err)]; ok {
		return code
	}
	return exitFailure
}

// exitStatusHelp documents exitStatus in `quarry --help`.
const exitStatusHelp = `Results go to stdout; progress, warnings, errors and this help to stderr.

EXIT STATUS:
   0    success
   1    a failure of quarry or the machine: a bug (a panic: please report it), I/O errors, no native core
        in this build
   2    bad input: bad flags or arguments (integer flags have upper bounds: --k, --pool, --rescore,
        --rerank-top, --depth ≤ 10000, --threads ≤ 1024, batch sizes ≤ 65536), missing or invalid files
        (a FIFO, device or directory where a file is expected), bad records, a model of the wrong kind or
        architecture, an index that does not exist, already exists or was built with another model, a
        locked index
   3    corrupt data: an index file fails its checksums or structure checks, or a file the manifest names
        is missing (the error names the file)
   4    a limit: a query longer than --max-query-bytes (16384), a request over the engine's limits
   130  interrupted (SIGINT or SIGTERM)`

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:        "quarry",
		HelpName:    "quarry",
		Usage:       "semantic search with GGUF BERT encoders and cross-encoders",
		UsageText:   "quarry COMMAND [flags] [arguments]   (flags may follow the arguments; quarry help COMMAND describes one)",
		Description: exitStatusHelp,
		Version:     version,
		Reader:      stdin,
		// urfave/cli writes help and usage text to Writer: stderr. Results
		// go to stdout (see output), never mixed with it.
		Writer:          stderr,
		ErrWriter:       stderr,
		Metadata:        map[string]any{stdoutKey: stdout},
		HideHelpCommand: true,
		HideVersion:     true,
		Flags:           []cli.Flag{&cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version"}},
		// --filter values hold commas (FIELD=V1,V2): never split them
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            func(*cli.Context, error) {}, // errors are printed by run
		OnUsageError:              onUsageError,
		Action:                    rootAction,
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
			checkCommand(),
			pullCommand(),
			evalCommand(),
			benchCommand(),
			serveCommand(),
		},
	}
	app.Commands = append(app.Commands, extraCommands...)
	for _, cmd := range app.Commands {
		prepareCommand(cmd, "")
	}
	return app
}

// extraCommands are added to the app's commands: a seam for tests (a
// command that panics); nil in the program.
var extraCommands []*cli.Command

const stdoutKey = "quarry.stdout"

// output is where a command writes its results: stdout (App.Writer is
// stderr, where urfave/cli prints help).
func output(c *cli.Context) io.Writer { return c.App.Metadata[stdoutKey].(io.Writer) }

// rootAction runs when no command matched: `quarry` alone and `quarry help
// [COMMAND…]` print the help (exit 0), --version the version, anything else
// is an unknown command.
func rootAction(c *cli.Context) error {
	args := c.Args().Slice()
	switch {
	case c.Bool("version"):
		fmt.Fprintf(output(c), "quarry version %s\n", version)
		return nil
	case len(args) == 0:
		return cli.ShowAppHelp(c)
	case args[0] == "help":
		return showHelp(c, args[1:])
	}
	return usageError{fmt.Errorf("unknown command %q (see quarry --help)", args[0])}
}

// showHelp prints the help of the command path names (`quarry help eval
// beir`; the app's help for none) to stderr: the same text as `quarry eval
// beir --help`, from a fresh app run that way.
func showHelp(c *cli.Context, names []string) error {
	cmds := c.App.Commands
	for i, name := range names {
		cmd := findCommand(cmds, name)
		if cmd == nil {
			return usageError{fmt.Errorf("help: unknown command %q (see quarry --help)", strings.Join(names[:i+1], " "))}
		}
		cmds = cmd.Subcommands
	}
	args := append(append([]string{"quarry"}, names...), "--help")
	return newApp(c.App.Reader, output(c), c.App.ErrWriter).RunContext(c.Context, args)
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, cmd := range cmds {
		if cmd.HasName(name) {
			return cmd
		}
	}
	return nil
}

// prepareCommand makes cmd and its subcommands report every usage problem
// as a usageError (exit 2, one line on stderr, nothing on stdout) at its
// source: flag parse errors (OnUsageError), missing required flags (checked
// by a Before hook instead of urfave/cli, which prints the whole help
// first), and unknown subcommands (instead of urfave/cli's "No help topic",
// exit 3).
//
// parent is the parent command's path ("quarry eval"), "" for the app's
// commands (App.Setup names those).
func prepareCommand(cmd *cli.Command, parent string) {
	path := "quarry " + cmd.Name
	if parent != "" {
		path = parent + " " + cmd.Name
		cmd.HelpName = path // set before the parent runs, for `quarry help eval beir`
	}
	cmd.OnUsageError = onUsageError
	// `quarry search DIR help` searches for "help"; help is `quarry help
	// search` or `quarry search --help`.
	cmd.HideHelpCommand = true
	var required []string
	for _, f := range cmd.Flags {
		rf, ok := f.(cli.RequiredFlag)
		if !ok || !rf.IsRequired() {
			continue
		}
		switch f := f.(type) {
		case *cli.StringFlag:
			f.Required, f.Usage = false, f.Usage+" (required)"
		case *cli.StringSliceFlag:
			f.Required, f.Usage = false, f.Usage+" (required)"
		default:
			panic(fmt.Sprintf("quarry %s: required flag %s of type %T", cmd.Name, f.Names()[0], f))
		}
		required = append(required, f.Names()[0])
	}
	if len(required) > 0 {
		before := cmd.Before
		cmd.Before = func(c *cli.Context) error {
			for _, name := range required {
				if !c.IsSet(name) {
					return usageError{fmt.Errorf("%s: --%s is required (see %s --help)", commandName(c), name, c.Command.HelpName)}
				}
			}
			if before != nil {
				return before(c)
			}
			return nil
		}
	}
	if len(cmd.Subcommands) > 0 && cmd.Action == nil {
		cmd.Action = func(c *cli.Context) error {
			args := c.Args().Slice()
			switch {
			case len(args) == 0:
				return cli.ShowSubcommandHelp(c)
			case args[0] == "help":
				return showHelp(c, append(strings.Fields(strings.TrimPrefix(path, "quarry ")), args[1:]...))
			}
			return usageError{fmt.Errorf("unknown command %q (see %s --help)", strings.TrimPrefix(path, "quarry ")+" "+args[0], path)}
		}
	}
	for _, sub := range cmd.Subcommands {
		prepareCommand(sub, path)
	}
}

// commandName is the command path without "quarry ": "search", "eval beir".
func commandName(c *cli.Context) string {
	return strings.TrimPrefix(c.Command.HelpName, "quarry ")
}

// onUsageError turns urfave/cli's flag parse errors (an unknown flag, a
// value that does not parse, a missing value) into one usageError line.
func onUsageError(c *cli.Context, err error, _ bool) error {
	if c.Command == nil || c.Command.HelpName == "" || c.Command.HelpName == "quarry" {
		return usageError{fmt.Errorf("%w (see quarry --help)", err)}
	}
	return usageError{fmt.Errorf("%s: %w (see %s --help)", commandName(c), err, c.Command.HelpName)}
}

// usageError is bad input from the command line (flags, arguments): its kind
// is errs.BadInput, so exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string              { return e.err.Error() }
func (e usageError) Unwrap() error              { return e.err }
func (e usageError) ErrorKind() errs.Kind       { return errs.BadInput }
func badInput(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// markBadInput gives errors the caller can fix but that carry no kind of
// their own (a file the user named that cannot be opened, a typed error of
// a package outside the engine) the kind errs.BadInput.
func markBadInput(err error) error {
	if err == nil || errs.KindOf(err) != errs.Internal {
		return err
	}
	return errs.Mark(errs.BadInput, err)
}

// permuteArgs moves a command's flags in front of its positional arguments,
// so `quarry search DIR "query" --k 5` works as well as the flags-first form
// (urfave/cli stops reading flags at the first positional argument). A "--"
// ends flag parsing as usual. A help flag anywhere asks for the command's
// help and nothing else (urfave/cli would take a positional argument after
// it for a help topic, "No help topic for 'DIR'"); `quarry --help CMD…` is
// `quarry help CMD…`.
func permuteArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	if isHelpFlag(args[1]) && len(args) > 2 {
		return append([]string{args[0], "help"}, args[2:]...)
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
		if isHelpFlag(a) {
			return append(append([]string{}, args[:path]...), "--help")
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

func isHelpFlag(a string) bool { return a == "--help" || a == "-help" || a == "-h" || a == "--h" }

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
