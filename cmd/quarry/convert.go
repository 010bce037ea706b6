package main

import (
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"

	"github.com/quarry-search/quarry/engine/convert"
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/hf"
	"github.com/urfave/cli/v2"
)

func convertCommand() *cli.Command {
	return &cli.Command{
		Name:      "convert",
		Usage:     "convert a local Hugging Face BERT folder (sentence-transformers bi-encoder or cross-encoder) to GGUF, and verify it",
		ArgsUsage: "HF_DIR",
		Description: "Reads config.json, model.safetensors (single or sharded) or pytorch_model.bin, the tokenizer files and the\n" +
			"sentence-transformers files of HF_DIR, writes OUT.gguf, then checks the new file: its tokenizer must give the\n" +
			"source tokenizer's ids, and the native core's outputs must match a float64 forward pass on the source weights\n" +
			"on ~100 built-in texts. The output appears only if everything passed. The report goes to stderr.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "GGUF file to write (required)"},
			&cli.StringFlag{Name: "type", Aliases: []string{"t"}, Value: "f16", Usage: "weight matrices: f32, f16 or q8_0"},
			&cli.StringFlag{Name: "label", Usage: "cross-encoders with several outputs: the label (name or index) that ranks"},
			&cli.StringFlag{Name: "name", Usage: "model name (general.name); default: the folder's name"},
			&cli.BoolFlag{Name: "no-verify", Usage: "skip the self-verification"},
			&cli.BoolFlag{Name: "sparse", Usage: "convert a BertForMaskedLM folder as a SPLADE sparse encoder (MLM head kept; automatic for sentence-transformers SparseEncoder folders)"},
			intIn(0, maxThreads, &cli.IntFlag{Name: "threads", Usage: "verification threads (0 = all cores)"}),
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON on stdout"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress lines"},
		},
		Action: runConvert,
	}
}

// convertArgs are the options of one convert run.
type convertArgs struct {
	dir, output, typ, label, name string
	noVerify, json, quiet, sparse bool
	threads                       int
}

// parseConvertArgs reads the flags, which may also follow HF_DIR (urfave/cli
// stops at the first argument, but `quarry convert DIR -o OUT.gguf` is the
// documented form).
func parseConvertArgs(c *cli.Context) (*convertArgs, error) {
	a := &convertArgs{
		output: c.String("output"), typ: c.String("type"), label: c.String("label"), name: c.String("name"),
		noVerify: c.Bool("no-verify"), json: c.Bool("json"), quiet: c.Bool("quiet"), threads: c.Int("threads"), sparse: c.Bool("sparse"),
	}
	args := c.Args().Slice()
	if len(args) == 0 {
		return nil, badInput("usage: quarry convert HF_DIR -o OUT.gguf [--type f32|f16|q8_0] [--label NAME|INDEX] [--no-verify]")
	}
	a.dir = args[0]
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, n := range []string{"output", "o"} {
		fs.StringVar(&a.output, n, a.output, "")
	}
	for _, n := range []string{"type", "t"} {
		fs.StringVar(&a.typ, n, a.typ, "")
	}
	fs.StringVar(&a.label, "label", a.label, "")
	fs.StringVar(&a.name, "name", a.name, "")
	fs.BoolVar(&a.noVerify, "no-verify", a.noVerify, "")
	fs.BoolVar(&a.sparse, "sparse", a.sparse, "")
	fs.BoolVar(&a.json, "json", a.json, "")
	for _, n := range []string{"quiet", "q"} {
		fs.BoolVar(&a.quiet, n, a.quiet, "")
	}
	fs.IntVar(&a.threads, "threads", a.threads, "")
	if err := fs.Parse(args[1:]); err != nil {
		return nil, badInput("convert: %v", err)
	}
	if fs.NArg() > 0 {
		return nil, badInput("convert takes one folder; extra arguments %q", fs.Args())
	}
	if a.output == "" {
		return nil, badInput("convert: --output (-o) OUT.gguf is required")
	}
	if a.threads < 0 {
		return nil, badInput("--threads must not be negative")
	}
	return a, nil
}

func runConvert(c *cli.Context) error {
	a, err := parseConvertArgs(c)
	if err != nil {
		return err
	}
	opts := convert.Options{
		Type:      a.typ,
		Label:     a.label,
		Name:      a.name,
		NoVerify:  a.noVerify,
		Sparse:    a.sparse,
		Threads:   a.threads,
		Converter: "quarry convert " + version,
	}
	if !a.quiet {
		opts.Log = c.App.ErrWriter
	}
	rep, err := convert.Convert(c.Context, a.dir, a.output, opts)
	if rep != nil && (err == nil || errors.Is(err, convert.ErrVerification)) {
		rep.WriteText(c.App.ErrWriter)
	}
	if err != nil {
		if errors.Is(err, hf.ErrUnsupported) || errors.Is(err, hf.ErrInvalid) || errors.Is(err, convert.ErrOption) || errors.Is(err, os.ErrNotExist) {
			return errs.Mark(errs.BadInput, err)
		}
		return err
	}
	if a.json {
		enc := json.NewEncoder(output(c))
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return nil
}
