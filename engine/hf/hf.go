// Package hf reads BERT models from local Hugging Face folders: the
// transformers files (config.json, model.safetensors — single or sharded —
// or pytorch_model.bin, vocab.txt or tokenizer.json, tokenizer_config.json)
// and the sentence-transformers files around them (modules.json, the
// Pooling module's config.json, sentence_bert_config.json,
// config_sentence_transformers.json). It returns what engine/bert needs to
// write a GGUF: a Config, a float32 Checkpoint under Hugging Face names, the
// vocabulary, and the tokenizer exactly as transformers builds it from the
// folder.
//
// Everything is read in Go: safetensors directly, and pytorch_model.bin (a
// torch.save zip) through a small pickle reader that accepts only what a
// state dict contains and never runs code.
//
// Errors name the file and the field or tensor, and wrap ErrUnsupported (a
// valid model quarry cannot run), ErrInvalid (broken or inconsistent files)
// or os.ErrNotExist (a missing folder or file).
package hf

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/engine/tokenize"
)

// Model is a BERT bi-encoder or cross-encoder read from a Hugging Face
// folder.
type Model struct {
	Dir string // the folder as given

	// Config describes the model for GGUF: sizes, pooling (mean, CLS, or
	// rank for cross-encoders), normalization, labels, truncation length,
	// tokenizer settings, prompts, similarity, and provenance in Source.
	// Name is left empty for the caller.
	Config bert.Config
	// Checkpoint holds the weights under Hugging Face (BertModel) names,
	// converted to float32.
	Checkpoint *bert.Checkpoint
	// Vocab is the vocabulary in Hugging Face form ("##" continuations),
	// one piece per id.
	Vocab []string
	// Tokenizer is the tokenizer transformers builds from the folder's own
	// tokenizer files (see Load for the rules).
	Tokenizer *tokenize.Tokenizer

	Architecture string   // e.g. BertModel, BertForSequenceClassification
	Format       string   // weights format: safetensors or pytorch
	WeightFiles  []string // weights files read, relative to Dir
	WeightDTypes []string // storage dtypes of the tensors used, e.g. [F32]
	Files        []string // every file read, relative to Dir, in order
	Ignored      []string // stored tensors the model does not use (pooler of a bi-encoder, position_ids, MLM head)
	// Notes are the decisions Load made that a user should know about,
	// such as defaults applied to a folder without sentence-transformers
	// files.
	Notes []string
}

// Load reads the model in the folder dir. See LoadContext.
func Load(dir string) (*Model, error) { return LoadContext(context.Background(), dir) }

// LoadContext reads the model in the folder dir; ctx cancels reading and
// hashing the weights.
//
// The folder is a sentence-transformers model (modules.json: Transformer,
// Pooling, optionally Normalize), a transformers BertModel (no
// modules.json: mean pooling, normalized), or a BertForSequenceClassification
// cross-encoder (no Pooling module: pooling rank, one output per id2label
// entry).
//
// The tokenizer follows transformers' BertTokenizer: the vocabulary comes
// from tokenizer.json (or vocab.txt without it), and lowercasing, accent
// stripping and CJK spacing from tokenizer_config.json's do_lower_case
// (default true), strip_accents (default: as lowercasing) and
// tokenize_chinese_chars (default true) — transformers overrides
// tokenizer.json's normalizer with these. sentence-transformers'
// do_lower_case (sentence_bert_config.json) adds lowercasing in front of the
// normalizer, which is the same as turning lowercasing on.
func LoadContext(ctx context.Context, dir string) (*Model, error) {
	return LoadWith(ctx, dir, Options{})
}

// Options change how a folder is read.
type Options struct {
	// Sparse reads a transformers BertForMaskedLM folder without
	// sentence-transformers files as a SPLADE sparse encoder: the MLM head
	// is kept and the output is max over the tokens of log(1 + relu(logits))
	// (what sentence-transformers' SparseEncoder builds from such a model:
	// MLMTransformer + SpladePooling("max")). A SparseEncoder folder
	// (modules.json with MLMTransformer and SpladePooling) is sparse without
	// it.
	Sparse bool
}

// LoadWith is LoadContext with options.
//
// A sentence-transformers SparseEncoder folder (modules.json:
// sparse_encoder MLMTransformer, then SpladePooling with pooling_strategy
// "max" and activation_function "relu" or "log1p_relu") over a
// BertForMaskedLM becomes a SPLADE model (pooling splade): the Checkpoint
// then holds the MLM head (cls.predictions.transform.*, cls.predictions.bias;
// the decoder weight must be tied to the word embeddings, and a stored
// cls.predictions.decoder.weight / .bias must equal them).
func LoadWith(ctx context.Context, dir string, opts Options) (*Model, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("model folder: %w", err)
	}
	if !st.IsDir() {
		return nil, invalid("%s is not a folder: quarry convert reads a Hugging Face model folder", dir)
	}
	l := &loader{dir: dir, m: &Model{Dir: dir}, sparseOpt: opts.Sparse}
	if abs, err := filepath.Abs(dir); err == nil {
		l.source("dir", abs)
	}
	if err := l.load(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return l.m, nil
}

type loader struct {
	dir string
	m   *Model

	hfRel string // folder of the Transformer module, relative to dir

	// sentence-transformers
	stModules     bool
	poolingRel    string
	normalize     bool
	hfConfig      hfConfig
	arch          string
	crossHead     bool // BertForSequenceClassification
	maxLenTok     int  // tokenizer_config model_max_length (0: none)
	stMaxSeqLen   int
	stLower       bool
	excludePrompt bool

	// SPLADE
	sparseOpt bool   // Options.Sparse
	splade    bool   // modules.json: MLMTransformer + SpladePooling
	spladeRel string // folder of the SpladePooling module
	sparseAct string // its activation_function
	mlmModule bool   // the first module is an MLMTransformer

	src map[string]string // provenance for Config.Source
}

func (l *loader) source(k, v string) {
	if l.src == nil {
		l.src = map[string]string{}
	}
	l.src[k] = v
}

func (l *loader) sourceMap() map[string]string {
	out := make(map[string]string, len(l.src))
	for k, v := range l.src {
		out[k] = v
	}
	return out
}

func (l *loader) path(rel string) string { return filepath.Join(l.dir, filepath.FromSlash(rel)) }

// hfName is the name of a file of the Transformer module, relative to the
// model folder.
func (l *loader) hfName(f string) string {
	if l.hfRel == "" {
		return f
	}
	return l.hfRel + "/" + f
}

func (l *loader) note(format string, args ...any) {
	l.m.Notes = append(l.m.Notes, fmt.Sprintf(format, args...))
}

// readJSON reads the JSON file rel (relative to the folder), recording it.
func (l *loader) readJSON(rel string, v any) (bool, error) {
	found, err := readJSON(l.path(rel), rel, v)
	if found {
		l.m.Files = append(l.m.Files, rel)
	}
	return found, err
}

func (l *loader) load(ctx context.Context) error {
	if err := l.readModules(); err != nil {
		return err
	}
	if err := l.readConfig(); err != nil {
		return err
	}
	pooling, err := l.readST()
	if err != nil {
		return err
	}
	if err := l.readTokenizer(); err != nil {
		return err
	}
	cfg, err := l.buildConfig(pooling)
	if err != nil {
		return err
	}
	l.m.Config = cfg
	if err := l.readWeights(ctx); err != nil {
		return err
	}
	if err := l.m.Checkpoint.Validate(l.m.Config); err != nil {
		return invalid("%s%v", inDir(l.hfRel), err)
	}
	return nil
}

// modulesEntry is one line of modules.json.
type modulesEntry struct {
	Idx  int    `json:"idx"`
	Name string `json:"name"`
	Path string `json:"path"`
	Type string `json:"type"`
}

func (l *loader) readModules() error {
	var mods []modulesEntry
	found, err := l.readJSON("modules.json", &mods)
	if err != nil || !found {
		return err
	}
	l.stModules = true
	slices.SortStableFunc(mods, func(a, b modulesEntry) int { return a.Idx - b.Idx })
	seen := map[string]bool{}
	for i, mod := range mods {
		kind := mod.Type[strings.LastIndexByte(mod.Type, '.')+1:]
		if err := checkRel(mod.Path); err != nil {
			return invalid("modules.json: module %s: path %q: %v", mod.Name, mod.Path, err)
		}
		switch kind {
		case "Transformer", "MLMTransformer":
			if i != 0 {
				return unsupported("modules.json: the %s module is module %d; quarry needs it first", kind, i)
			}
			l.mlmModule = kind == "MLMTransformer"
			kind = "Transformer"
			l.hfRel = strings.TrimSuffix(filepath.ToSlash(filepath.Clean(mod.Path)), "/")
			if l.hfRel == "." {
				l.hfRel = ""
			}
		case "Pooling":
			if !seen["Transformer"] || seen["Pooling"] || l.mlmModule {
				return unsupported("modules.json: Pooling module %s is not right after a Transformer module", mod.Name)
			}
			l.poolingRel = filepath.ToSlash(filepath.Clean(mod.Path))
		case "SpladePooling":
			// After sentence-transformers 5's MLMTransformer, or 6's
			// Transformer with transformer_task "fill-mask" (checked in
			// readST).
			if !seen["Transformer"] || seen["Pooling"] {
				return unsupported("modules.json: SpladePooling module %s is not right after the MLMTransformer (or fill-mask Transformer) module", mod.Name)
			}
			l.splade = true
			l.spladeRel = filepath.ToSlash(filepath.Clean(mod.Path))
			kind = "Pooling"
		case "Normalize":
			if !seen["Pooling"] {
				return unsupported("modules.json: Normalize module %s comes before pooling", mod.Name)
			}
			l.normalize = true
		case "Dense":
			return unsupported("modules.json: module %s (%s) projects the pooled embedding with a Dense layer, which quarry does not run: only Transformer → Pooling → Normalize pipelines are supported", mod.Name, mod.Type)
		default:
			return unsupported("modules.json: module %s of type %s is not supported: only Transformer → Pooling → Normalize pipelines are", mod.Name, mod.Type)
		}
		seen[kind] = true
	}
	if !seen["Transformer"] {
		return unsupported("modules.json has no Transformer module")
	}
	if l.mlmModule && !l.splade {
		return unsupported("modules.json: an MLMTransformer without a SpladePooling module right after it: quarry runs SPLADE models (MLMTransformer → SpladePooling)")
	}
	return nil
}

// checkRel accepts a relative path inside the folder.
func checkRel(p string) error {
	if filepath.IsAbs(p) {
		return fmt.Errorf("absolute path")
	}
	c := filepath.ToSlash(filepath.Clean(p))
	if c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Errorf("outside the model folder")
	}
	return nil
}

// hfConfig is the part of config.json quarry reads.
type hfConfig struct {
	Architectures         []string          `json:"architectures"`
	ModelType             string            `json:"model_type"`
	VocabSize             *int              `json:"vocab_size"`
	HiddenSize            *int              `json:"hidden_size"`
	NumHiddenLayers       *int              `json:"num_hidden_layers"`
	NumAttentionHeads     *int              `json:"num_attention_heads"`
	IntermediateSize      *int              `json:"intermediate_size"`
	MaxPositionEmbeddings *int              `json:"max_position_embeddings"`
	TypeVocabSize         *int              `json:"type_vocab_size"`
	LayerNormEps          *float64          `json:"layer_norm_eps"`
	HiddenAct             *string           `json:"hidden_act"`
	PositionEmbeddingType *string           `json:"position_embedding_type"`
	ID2Label              map[string]string `json:"id2label"`
	NumLabels             *int              `json:"num_labels"`
	IsDecoder             bool              `json:"is_decoder"`
	AddCrossAttention     bool              `json:"add_cross_attention"`
	TransformersVersion   string            `json:"transformers_version"`
	TorchDType            string            `json:"torch_dtype"`
	DType                 string            `json:"dtype"`
	NameOrPath            string            `json:"_name_or_path"`
	SentenceTransformers  *struct {
		ActivationFn string `json:"activation_fn"`
	} `json:"sentence_transformers"`
}

// Architectures quarry converts: the encoder of these (their heads other
// than the sequence classifier are dropped).
var baseArchitectures = []string{"BertModel", "BertForMaskedLM", "BertForPreTraining"}

const crossArchitecture = "BertForSequenceClassification"

func (l *loader) readConfig() error {
	name := l.hfName("config.json")
	c := &l.hfConfig
	found, err := l.readJSON(name, c)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%s is missing (every transformers model has one): %w", name, os.ErrNotExist)
	}
	supported := "quarry converts BERT models only (model_type bert: BertModel, BertForSequenceClassification)"
	if c.ModelType != "" && c.ModelType != "bert" {
		arch := strings.Join(c.Architectures, ", ")
		if arch == "" {
			arch = "none given"
		}
		return unsupported("%s: model_type %q (architecture %s) is not supported: %s", name, c.ModelType, arch, supported)
	}
	if len(c.Architectures) == 0 {
		if c.ModelType == "" {
			return invalid("%s: neither \"architectures\" nor \"model_type\" says what model this is", name)
		}
		l.arch = "BertModel"
		l.note("%s names no architecture: read as BertModel (model_type bert)", name)
	}
	for i, a := range c.Architectures {
		switch {
		case a == crossArchitecture:
		case slices.Contains(baseArchitectures, a):
		default:
			return unsupported("%s: architecture %s is not supported: %s", name, a, supported)
		}
		if i == 0 {
			l.arch = a
		}
	}
	l.crossHead = l.arch == crossArchitecture
	l.m.Architecture = l.arch
	sparse := l.splade || l.sparseOpt
	switch {
	case sparse && l.arch != "BertForMaskedLM" && l.arch != "BertForPreTraining":
		return unsupported("%s: architecture %s has no MLM head: a SPLADE model needs a BertForMaskedLM", name, l.arch)
	case sparse:
		l.note("%s is a %s: its encoder and MLM head are converted as a SPLADE sparse encoder", name, l.arch)
	case l.arch == "BertForMaskedLM" || l.arch == "BertForPreTraining":
		l.note("%s is a %s: its encoder is converted and the pre-training head is dropped (convert with --sparse to keep it as a SPLADE model)", name, l.arch)
	}
	act := "gelu"
	if c.HiddenAct != nil {
		act = *c.HiddenAct
	}
	if act != "gelu" {
		return unsupported("%s: hidden_act %q is not supported: quarry's BERT uses the exact (erf) GELU, hidden_act \"gelu\"", name, act)
	}
	if c.PositionEmbeddingType != nil && *c.PositionEmbeddingType != "absolute" {
		return unsupported("%s: position_embedding_type %q is not supported: quarry's BERT has absolute position embeddings", name, *c.PositionEmbeddingType)
	}
	if c.IsDecoder || c.AddCrossAttention {
		return unsupported("%s: a BERT decoder (is_decoder or add_cross_attention) is not supported: quarry runs encoders", name)
	}
	return nil
}

// intOr returns *p, or def with a note when the field is missing.
func (l *loader) intOr(p *int, field string, def int) int {
	if p != nil {
		return *p
	}
	l.note("%s has no %s: using transformers' BertConfig default %d", l.hfName("config.json"), field, def)
	return def
}

// labels returns a cross-encoder's output names in id order.
func (l *loader) labels() ([]string, error) {
	c := &l.hfConfig
	name := l.hfName("config.json")
	if len(c.ID2Label) > 0 {
		out := make([]string, len(c.ID2Label))
		for k, v := range c.ID2Label {
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(out) {
				return nil, invalid("%s: id2label key %q is not an id in 0..%d", name, k, len(out)-1)
			}
			out[i] = v
		}
		if c.NumLabels != nil && *c.NumLabels != len(out) {
			return nil, invalid("%s: num_labels %d but id2label has %d entries", name, *c.NumLabels, len(out))
		}
		return out, nil
	}
	n := 2 // transformers' PretrainedConfig default
	if c.NumLabels != nil {
		n = *c.NumLabels
	} else {
		l.note("%s has neither id2label nor num_labels: transformers' default of 2 labels", name)
	}
	if n <= 0 {
		return nil, invalid("%s: num_labels %d must be positive", name, n)
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("LABEL_%d", i)
	}
	return out, nil
}
