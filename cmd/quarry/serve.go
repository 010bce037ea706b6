package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/serve"
	"github.com/quarry-search/quarry/internal/fsx"
	"github.com/urfave/cli/v2"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve indexes and models over HTTP: TEI, OpenAI, Cohere/Jina rerank and quarry's index API, with a search page at / (docs/serve.md)",
		UsageText: "quarry serve [--index NAME=DIR]... [--model [NAME=]M.gguf]... [--rerank-model [NAME=]CE.gguf]... [--addr :8080] [flags]\n" +
			"   e.g. quarry serve --index demo=build/demo/packages.idx --model all-MiniLM-L6-v2-f16.gguf, then open http://localhost:8080/",
		Before: applyConfig,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "a YAML file of these flags (keys = flag names, e.g. index: {demo: packages.idx}, addr: \":8080\"); the command line wins, relative paths are the file's"},
			&cli.StringSliceFlag{Name: "index", Usage: "NAME=DIR: an index to serve, repeatable (its recorded model is loaded unless a --model has the same sha256)"},
			&cli.StringSliceFlag{Name: "model", Aliases: []string{"m"}, Usage: "[NAME=]M.gguf: a bi-encoder or SPLADE model, repeatable; the first is the default of the TEI routes"},
			&cli.StringSliceFlag{Name: "rerank-model", Usage: "[NAME=]CE.gguf: a cross-encoder for the rerank routes and search reranking, repeatable"},
			&cli.StringFlag{Name: "addr", Value: ":8080", Usage: "listen address"},
			&cli.StringFlag{Name: "api-key", Usage: "require Authorization: Bearer KEY on every API route (not /health and the page's files; or QUARRY_API_KEY)", EnvVars: []string{"QUARRY_API_KEY"}},
			&cli.StringFlag{Name: "api-key-file", Usage: "read the API key from this file (first line)"},
			intIn(1, 1<<24, &cli.IntFlag{Name: "max-batch-tokens", Value: serve.DefaultMaxBatchTokens, Usage: "tokens of one encoder call (dynamic batching across requests)"}),
			intIn(1, 1<<20, &cli.IntFlag{Name: "max-concurrent-requests", Value: serve.DefaultMaxConcurrentRequests, Usage: "requests served at once; one more is answered 429 with Retry-After"}),
			intIn(1, 1<<16, &cli.IntFlag{Name: "max-client-batch-size", Value: serve.DefaultMaxClientBatchSize, Usage: "inputs (texts, documents) of one request; more is answered 413"}),
			sizeIn(1, 1<<30, &cli.StringFlag{Name: "payload-limit", Value: "2MB", Usage: "largest request body (bytes, or with kB, MB, KiB, MiB); larger is answered 413"}),
			&cli.BoolFlag{Name: "auto-truncate", Value: true, Usage: "cut inputs longer than the model's window (reported in x-quarry-truncated); --auto-truncate=false answers 422"},
			&cli.BoolFlag{Name: "writable", Usage: "open the indexes for writing: POST/DELETE /v1/indexes/NAME/documents (locks them against other writers)"},
			oneOf(&cli.StringFlag{Name: "log-format", Value: "text", Usage: "request logs on stderr: text or json"}, "text", "json"),
			&cli.DurationFlag{Name: "request-timeout", Value: serve.DefaultRequestTimeout, Usage: "deadline of each request"},
			&cli.DurationFlag{Name: "max-wait", Value: 2 * time.Millisecond, Usage: "longest wait of a batch for requests on their way (never when none is; 0 = never)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no request logs (errors and the start line only)"},
		}, modelFlags()...),
		Action: runServe,
	}
}

// nameValue splits NAME=VALUE; a bare VALUE has no name (the model's own).
func nameValue(flag, v string, needName bool) (string, string, error) {
	name, val, ok := strings.Cut(v, "=")
	if !ok {
		if needName {
			return "", "", badInput("--%s %q: want NAME=DIR", flag, v)
		}
		return "", v, nil
	}
	if name == "" || val == "" {
		return "", "", badInput("--%s %q: want NAME=%s with both parts", flag, v, map[bool]string{true: "DIR", false: "FILE"}[needName])
	}
	return name, val, nil
}

func runServe(c *cli.Context) error {
	if c.NArg() > 0 {
		return badInput("serve takes no arguments (got %q): give indexes with --index NAME=DIR", c.Args().First())
	}
	var cfg serve.Config
	for _, v := range c.StringSlice("index") {
		name, dir, err := nameValue("index", v, true)
		if err != nil {
			return err
		}
		cfg.Indexes = append(cfg.Indexes, serve.IndexSpec{Name: name, Dir: dir})
	}
	for _, v := range c.StringSlice("model") {
		name, path, err := nameValue("model", v, false)
		if err != nil {
			return err
		}
		cfg.Models = append(cfg.Models, serve.ModelSpec{Name: name, Path: path})
	}
	for _, v := range c.StringSlice("rerank-model") {
		name, path, err := nameValue("rerank-model", v, false)
		if err != nil {
			return err
		}
		cfg.RerankModels = append(cfg.RerankModels, serve.ModelSpec{Name: name, Path: path})
	}
	if len(cfg.Indexes)+len(cfg.Models)+len(cfg.RerankModels) == 0 {
		return badInput("nothing to serve: give --index NAME=DIR and/or --model M.gguf (see quarry serve --help)")
	}
	cfg.APIKey = c.String("api-key")
	if f := c.String("api-key-file"); f != "" {
		if c.IsSet("api-key") {
			return badInput("give --api-key or --api-key-file, not both")
		}
		b, err := fsx.ReadRegular(f, "API key file", 64<<10)
		if err != nil {
			return markBadInput(fmt.Errorf("--api-key-file: %w", err))
		}
		cfg.APIKey = strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
		if cfg.APIKey == "" {
			return badInput("--api-key-file %s: the file's first line is empty", f)
		}
	}
	limit, err := parseSize(c.String("payload-limit")) // checked by the flag's sizeIn
	if err != nil {
		return badInput("--payload-limit: %v", err)
	}
	auto := c.Bool("auto-truncate")
	cfg.MaxBatchTokens, cfg.MaxConcurrentRequests, cfg.MaxClientBatchSize = c.Int("max-batch-tokens"), c.Int("max-concurrent-requests"), c.Int("max-client-batch-size")
	cfg.PayloadLimit, cfg.AutoTruncate, cfg.Writable = limit, &auto, c.Bool("writable")
	cfg.RequestTimeout, cfg.MaxWait, cfg.Version = c.Duration("request-timeout"), c.Duration("max-wait"), version
	if cfg.RequestTimeout <= 0 || cfg.MaxWait < 0 {
		return badInput("--request-timeout must be positive and --max-wait not negative")
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = -1 // --max-wait 0: never wait
	}
	cfg.ModelOptions = engine.ModelOptions{Threads: c.Int("threads"), Impl: c.String("impl"), MaxTokens: c.Int("max-tokens"), MaxBatchTokens: c.Int("batch-tokens")}
	level := slog.LevelInfo
	if c.Bool("quiet") {
		level = slog.LevelError
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(c.App.ErrWriter, hopts)
	if c.String("log-format") == "json" {
		h = slog.NewJSONHandler(c.App.ErrWriter, hopts)
	}
	cfg.Logger = slog.New(h)

	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		return errs.Mark(errs.BadInput, fmt.Errorf("--addr %s: %w", c.String("addr"), err))
	}
	srv, err := serve.New(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "quarry serve: listening on http://%s/ (the search page; API: docs/serve.md)\n", displayAddr(ln.Addr()))
	// The first SIGINT/SIGTERM ends c.Context: a graceful shutdown; a
	// second one kills the process (main restores the default handlers).
	if err := srv.Serve(c.Context, ln); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// displayAddr is a listen address as a URL host ("localhost:8080" for ":8080").
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
