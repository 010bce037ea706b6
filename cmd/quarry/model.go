package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/engine/gguf"
	"github.com/urfave/cli/v2"
)

func modelCommand() *cli.Command {
	return &cli.Command{
		Name:  "model",
		Usage: "inspect models",
		Subcommands: []*cli.Command{{
			Name:      "info",
			Usage:     "describe a GGUF model: architecture, sizes, pooling, tokenizer, quantization, provenance",
			ArgsUsage: "MODEL.gguf",
			Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
			Action:    runModelInfo,
		}},
	}
}

// modelInfo is what `quarry model info` prints.
type modelInfo struct {
	Path          string            `json:"path"`
	Bytes         int64             `json:"bytes"`
	Architecture  string            `json:"architecture"`
	Name          string            `json:"name,omitempty"`
	Kind          string            `json:"kind"`
	Pooling       string            `json:"pooling"`
	Normalize     bool              `json:"normalize"`
	Dim           int               `json:"dim"`
	Layers        int               `json:"layers"`
	Heads         int               `json:"heads"`
	FFN           int               `json:"ffn"`
	MaxPositions  int               `json:"max_positions"`
	MaxSeqLength  int               `json:"max_seq_length"`
	Vocab         int               `json:"vocab"`
	Labels        []string          `json:"labels,omitempty"`
	Lowercase     bool              `json:"lowercase"`
	StripAccents  bool              `json:"strip_accents"`
	ChineseChars  bool              `json:"handle_chinese_chars"`
	RerankLabel   *int              `json:"rerank_label,omitempty"`
	QueryPrompt   string            `json:"query_prompt,omitempty"`
	DocPrompt     string            `json:"document_prompt,omitempty"`
	Similarity    string            `json:"similarity,omitempty"`
	Tensors       int               `json:"tensors"`
	Params        int64             `json:"params"`
	TensorTypes   map[string]int    `json:"tensor_types"`
	WeightType    string            `json:"weight_type"`
	Source        map[string]string `json:"source,omitempty"`
	GGUFVersion   uint32            `json:"gguf_version"`
	MetadataCount int               `json:"metadata_keys"`
	Sparse        string            `json:"sparse,omitempty"` // SPLADE head, for sparse encoders
}

func inspectModel(path string) (*modelInfo, error) {
	gf, err := gguf.Open(path)
	if err != nil {
		// Malformed files are gguf.FormatError (bad input); a file the
		// caller named that cannot be opened is bad input too.
		return nil, markBadInput(err)
	}
	arch, _ := gf.String("general.architecture")
	if arch != "bert" {
		return nil, badInput("%s: architecture %q is not supported (quarry runs BERT encoders)", path, arch)
	}
	cfg, vocab, err := bert.ConfigFromGGUF(gf)
	if err != nil {
		return nil, badInput("%s: %v", path, err)
	}
	mi := &modelInfo{
		Path: path, Bytes: gf.Size, Architecture: arch, Name: cfg.Name,
		Kind: "bi-encoder", Pooling: cfg.Pooling.String(), Normalize: cfg.Normalize,
		Dim: cfg.Hidden, Layers: cfg.Layers, Heads: cfg.Heads, FFN: cfg.Intermediate,
		MaxPositions: cfg.MaxPositions, MaxSeqLength: cfg.SeqLength(), Vocab: len(vocab), Labels: cfg.Labels,
		Lowercase: cfg.Lowercase, StripAccents: cfg.StripAccents, ChineseChars: cfg.HandleChineseChars,
		QueryPrompt: cfg.QueryPrompt, DocPrompt: cfg.DocumentPrompt, Similarity: cfg.Similarity,
		Tensors: len(gf.Tensors), TensorTypes: map[string]int{}, Source: cfg.Source,
		GGUFVersion: gf.Version, MetadataCount: len(gf.KV),
	}
	if cfg.Sparse() {
		mi.Kind = "sparse-encoder"
		head := int64(cfg.Hidden*cfg.Hidden + 3*cfg.Hidden + cfg.VocabSize)
		mi.Params += head
		mi.Sparse = fmt.Sprintf("SPLADE: BERT MLM head (quarry.mlm.*, %d parameters, decoder tied to token_embd.weight), max over tokens of log(1+%s(logits)), %d-dimensional sparse vectors",
			head, cfg.SparseActivation, cfg.VocabSize)
	}
	if cfg.CrossEncoder() {
		mi.Kind = "cross-encoder"
		if l, ok := gf.Int("quarry.rerank_label"); ok {
			n := int(l)
			mi.RerankLabel = &n
		}
	}
	for i := range gf.Tensors {
		t := &gf.Tensors[i]
		mi.TensorTypes[t.Type.String()]++
		mi.Params += t.Elements()
	}
	if t, ok := gf.Tensor("blk.0.attn_output.weight"); ok {
		mi.WeightType = t.Type.String()
	}
	return mi, nil
}

func runModelInfo(c *cli.Context) error {
	if c.NArg() != 1 {
		return badInput("usage: quarry model info MODEL.gguf")
	}
	mi, err := inspectModel(c.Args().First())
	if err != nil {
		return err
	}
	w := output(c)
	if c.Bool("json") {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(mi)
	}
	row := func(k string, v any) { fmt.Fprintf(w, "%-16s %v\n", k, v) }
	row("path", mi.Path)
	row("size", fmt.Sprintf("%.1f MB", float64(mi.Bytes)/1e6))
	row("architecture", mi.Architecture)
	if mi.Name != "" {
		row("name", mi.Name)
	}
	row("kind", mi.Kind)
	row("pooling", mi.Pooling)
	if mi.Sparse != "" {
		row("sparse", mi.Sparse)
	}
	if mi.Kind == "bi-encoder" {
		row("normalize", mi.Normalize)
	} else if mi.Kind == "cross-encoder" {
		row("labels", strings.Join(mi.Labels, ", "))
		if mi.RerankLabel != nil {
			row("rerank label", *mi.RerankLabel)
		}
	}
	row("dim", mi.Dim)
	row("layers", mi.Layers)
	row("heads", mi.Heads)
	row("ffn", mi.FFN)
	row("max positions", mi.MaxPositions)
	row("max seq length", mi.MaxSeqLength)
	row("vocab", mi.Vocab)
	row("tokenizer", fmt.Sprintf("wordpiece, lowercase %v, strip accents %v, CJK spacing %v", mi.Lowercase, mi.StripAccents, mi.ChineseChars))
	if mi.QueryPrompt != "" || mi.DocPrompt != "" {
		row("prompts", fmt.Sprintf("query %q, document %q", mi.QueryPrompt, mi.DocPrompt))
	}
	if mi.Similarity != "" {
		row("similarity", mi.Similarity)
	}
	row("weights", mi.WeightType)
	types := make([]string, 0, len(mi.TensorTypes))
	for t, n := range mi.TensorTypes {
		types = append(types, fmt.Sprintf("%s×%d", t, n))
	}
	sort.Strings(types)
	row("tensors", fmt.Sprintf("%d (%s)", mi.Tensors, strings.Join(types, ", ")))
	row("parameters", fmt.Sprintf("%.1fM", float64(mi.Params)/1e6))
	if len(mi.Source) > 0 {
		keys := make([]string, 0, len(mi.Source))
		for k := range mi.Source {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			row("source."+k, mi.Source[k])
		}
	}
	return nil
}
