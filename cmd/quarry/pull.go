package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/quarry-search/quarry/engine/convert"
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/hf"
	"github.com/quarry-search/quarry/engine/hub"
	"github.com/urfave/cli/v2"
)

const pullUsage = "usage: quarry pull ORG/NAME [--revision R] [-o OUT.gguf] [--type f32|f16|q8_0] [--no-verify]"

func pullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Usage:     "download a BERT model from the Hugging Face Hub and convert it to GGUF",
		ArgsUsage: "ORG/NAME",
		Description: "Downloads the files a conversion needs (config, tokenizer, safetensors or pytorch_model.bin weights,\n" +
			"sentence-transformers modules; no ONNX, TensorFlow, Flax or OpenVINO files) into the Hugging Face cache,\n" +
			"shared with huggingface_hub, then converts and verifies them as `quarry convert` does. Interrupted\n" +
			"downloads resume. The output defaults to NAME-TYPE.gguf in the working directory.\n\n" +
			"Environment: HF_ENDPOINT (the hub or a mirror), HF_TOKEN (or the token file HF_TOKEN_PATH or\n" +
			"$HF_HOME/token) for private and gated models, HF_HUB_CACHE or HF_HOME (the cache), HF_HUB_OFFLINE=1\n" +
			"(use the cache only).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "revision", Aliases: []string{"r"}, Value: hub.DefaultRevision, Usage: "branch, tag or commit"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "GGUF file to write (default NAME-TYPE.gguf)"},
			&cli.StringFlag{Name: "type", Aliases: []string{"t"}, Value: "f16", Usage: "weight matrices: f32, f16 or q8_0"},
			&cli.StringFlag{Name: "label", Usage: "cross-encoders with several outputs: the label (name or index) that ranks"},
			&cli.BoolFlag{Name: "no-verify", Usage: "skip the self-verification of the converted model"},
			intIn(0, maxThreads, &cli.IntFlag{Name: "threads", Usage: "verification threads (0 = all cores)"}),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress lines"},
			&cli.StringFlag{Name: "max-weights-size", Value: "8GiB", Usage: "largest weights file (*.safetensors, *.bin, ...) downloaded when the listing gives no size or a larger one"},
			&cli.StringFlag{Name: "max-config-size", Value: "64MiB", Usage: "largest other file (config, tokenizer, vocabulary) downloaded"},
		},
		Action: runPull,
	}
}

// pullArgs are the options of one pull.
type pullArgs struct {
	repo, revision, output, typ, label string
	noVerify, quiet                    bool
	threads                            int
	maxWeights, maxConfig              int64
}

// parsePullArgs reads the flags, which may also follow ORG/NAME.
func parsePullArgs(c *cli.Context) (*pullArgs, error) {
	a := &pullArgs{
		revision: c.String("revision"), output: c.String("output"), typ: c.String("type"), label: c.String("label"),
		noVerify: c.Bool("no-verify"), quiet: c.Bool("quiet"), threads: c.Int("threads"),
	}
	args := c.Args().Slice()
	if len(args) == 0 {
		return nil, badInput(pullUsage)
	}
	a.repo = args[0]
	fs := flag.NewFlagSet("pull", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, n := range []string{"revision", "r"} {
		fs.StringVar(&a.revision, n, a.revision, "")
	}
	for _, n := range []string{"output", "o"} {
		fs.StringVar(&a.output, n, a.output, "")
	}
	for _, n := range []string{"type", "t"} {
		fs.StringVar(&a.typ, n, a.typ, "")
	}
	fs.StringVar(&a.label, "label", a.label, "")
	fs.BoolVar(&a.noVerify, "no-verify", a.noVerify, "")
	for _, n := range []string{"quiet", "q"} {
		fs.BoolVar(&a.quiet, n, a.quiet, "")
	}
	fs.IntVar(&a.threads, "threads", a.threads, "")
	maxWeights, maxConfig := c.String("max-weights-size"), c.String("max-config-size")
	fs.StringVar(&maxWeights, "max-weights-size", maxWeights, "")
	fs.StringVar(&maxConfig, "max-config-size", maxConfig, "")
	if err := fs.Parse(args[1:]); err != nil {
		return nil, badInput("pull: %v", err)
	}
	if fs.NArg() > 0 {
		return nil, badInput("pull takes one repository; extra arguments %q (%s)", fs.Args(), pullUsage)
	}
	if err := hub.ValidateRepoID(a.repo); err != nil {
		return nil, usageError{err}
	}
	if a.revision == "" {
		a.revision = hub.DefaultRevision
	}
	a.typ = strings.ToLower(a.typ)
	switch a.typ {
	case "f32", "f16", "q8_0":
	default:
		return nil, badInput("pull: --type %q: use f32, f16 or q8_0", a.typ)
	}
	if a.threads < 0 {
		return nil, badInput("--threads must not be negative")
	}
	for _, sz := range []struct {
		name, v string
		to      *int64
	}{{"max-weights-size", maxWeights, &a.maxWeights}, {"max-config-size", maxConfig, &a.maxConfig}} {
		n, err := parseSize(sz.v)
		if err != nil {
			return nil, badInput("pull: --%s: %v", sz.name, err)
		}
		if n < 1 {
			return nil, badInput("pull: --%s %s: want at least 1 byte", sz.name, sz.v)
		}
		*sz.to = n
	}
	if a.output == "" {
		a.output = repoName(a.repo) + "-" + a.typ + ".gguf"
	}
	return a, nil
}

// repoName is NAME of ORG/NAME.
func repoName(repo string) string { return repo[strings.LastIndexByte(repo, '/')+1:] }

// hubBadInput reports the hub errors a user fixes by changing the request
// or the credentials: exit status 2.
func hubBadInput(err error) bool {
	for _, kind := range []error{hub.ErrInvalidRepo, hub.ErrRepoNotFound, hub.ErrRevisionNotFound, hub.ErrFileNotFound,
		hub.ErrUnauthorized, hub.ErrForbidden, hub.ErrUnsupported} {
		if errors.Is(err, kind) {
			return true
		}
	}
	return false
}

func runPull(c *cli.Context) error {
	a, err := parsePullArgs(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	stderr := c.App.ErrWriter
	opts := hub.OptionsFromEnv(os.Getenv)
	opts.MaxWeightsSize, opts.MaxConfigSize = a.maxWeights, a.maxConfig
	if !a.quiet {
		opts.Progress = stderr
		where := "the hub"
		if opts.Offline {
			where = "the cache (offline)"
		} else if opts.Endpoint != "" {
			where = opts.Endpoint
		}
		fmt.Fprintf(stderr, "pulling %s@%s from %s\n", a.repo, a.revision, where)
	}
	snap, err := hub.Download(ctx, a.repo, a.revision, opts)
	if err != nil {
		if hubBadInput(err) {
			return errs.Mark(errs.BadInput, fmt.Errorf("pull %s: %w", a.repo, err))
		}
		return fmt.Errorf("pull %s: %w", a.repo, err)
	}
	if !a.quiet {
		got := "all from the cache"
		if snap.Downloaded > 0 {
			got = fmt.Sprintf("%.1f MB downloaded", float64(snap.Downloaded)/1e6)
		}
		fmt.Fprintf(stderr, "snapshot %s: %d files, %s (%s)\n", snap.Commit, len(snap.Files), got, snap.Dir)
	}
	copts := convert.Options{
		Type:      a.typ,
		Label:     a.label,
		Name:      repoName(a.repo),
		NoVerify:  a.noVerify,
		Threads:   a.threads,
		Converter: fmt.Sprintf("quarry pull %s (%s@%s)", version, a.repo, snap.Commit),
	}
	if !a.quiet {
		copts.Log = stderr
	}
	rep, err := convert.Convert(ctx, snap.Dir, a.output, copts)
	if rep != nil && (err == nil || errors.Is(err, convert.ErrVerification)) {
		rep.WriteText(stderr)
	}
	if err != nil {
		err = fmt.Errorf("pull %s: converting %s: %w", a.repo, snap.Dir, err)
		if errors.Is(err, hf.ErrUnsupported) || errors.Is(err, hf.ErrInvalid) || errors.Is(err, convert.ErrOption) {
			return errs.Mark(errs.BadInput, err)
		}
		return err
	}
	fmt.Fprintln(output(c), a.output)
	return nil
}
