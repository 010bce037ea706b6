package hf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/engine/tokenize"
)

// stPooling is a sentence-transformers Pooling module's config.json, old
// (pooling_mode_* flags) or new (pooling_mode) form.
type stPooling struct {
	WordEmbeddingDimension *int            `json:"word_embedding_dimension"`
	EmbeddingDimension     *int            `json:"embedding_dimension"`
	PoolingMode            json.RawMessage `json:"pooling_mode"`
	CLS                    bool            `json:"pooling_mode_cls_token"`
	Max                    bool            `json:"pooling_mode_max_tokens"`
	Mean                   bool            `json:"pooling_mode_mean_tokens"`
	MeanSqrt               bool            `json:"pooling_mode_mean_sqrt_len_tokens"`
	WeightedMean           bool            `json:"pooling_mode_weightedmean_tokens"`
	LastToken              bool            `json:"pooling_mode_lasttoken"`
	IncludePrompt          *bool           `json:"include_prompt"`
}

// modes lists the pooling modes in sentence-transformers' order.
func (p *stPooling) modes(name string) ([]string, error) {
	if !isNull(p.PoolingMode) {
		var one string
		if json.Unmarshal(p.PoolingMode, &one) == nil {
			return []string{one}, nil
		}
		var many []string
		if err := json.Unmarshal(p.PoolingMode, &many); err != nil {
			return nil, invalid("%s: field \"pooling_mode\" is neither a string nor a list of strings", name)
		}
		return many, nil
	}
	var m []string
	for _, f := range []struct {
		on   bool
		mode string
	}{{p.CLS, "cls"}, {p.Max, "max"}, {p.Mean, "mean"}, {p.MeanSqrt, "mean_sqrt_len_tokens"}, {p.WeightedMean, "weightedmean"}, {p.LastToken, "lasttoken"}} {
		if f.on {
			m = append(m, f.mode)
		}
	}
	if len(m) == 0 {
		m = []string{"mean"} // sentence-transformers' default
	}
	return m, nil
}

type stConfig struct {
	MaxSeqLength    *int   `json:"max_seq_length"`
	DoLowerCase     bool   `json:"do_lower_case"`
	TransformerTask string `json:"transformer_task"` // sentence-transformers 6: "fill-mask" for SPLADE
}

type stModelConfig struct {
	Version          map[string]string `json:"__version__"`
	Prompts          map[string]string `json:"prompts"`
	DefaultPrompt    *string           `json:"default_prompt_name"`
	SimilarityFnName *string           `json:"similarity_fn_name"`
	ModelType        string            `json:"model_type"`
}

// readST reads the sentence-transformers files that shape the tokenizer and
// the output: sentence_bert_config.json and the Pooling module's config.
func (l *loader) readST() (pooling bert.Pooling, err error) {
	var sc stConfig
	scName := l.hfName("sentence_bert_config.json")
	found, err := l.readJSON(scName, &sc)
	if err != nil {
		return 0, err
	}
	if found {
		if sc.MaxSeqLength != nil {
			l.stMaxSeqLen = *sc.MaxSeqLength
		}
		l.stLower = sc.DoLowerCase
	}
	if l.splade {
		if !l.mlmModule && sc.TransformerTask != "fill-mask" {
			return 0, unsupported("modules.json: a SpladePooling module after a Transformer whose %s has transformer_task %q: SPLADE needs the MLM logits (transformer_task \"fill-mask\", or sentence-transformers 5's MLMTransformer)", scName, sc.TransformerTask)
		}
		return l.readSplade()
	}
	if sc.TransformerTask != "" && sc.TransformerTask != "feature-extraction" {
		return 0, unsupported("%s: transformer_task %q is not supported (quarry runs feature-extraction encoders, and fill-mask ones under SpladePooling)", scName, sc.TransformerTask)
	}
	if !l.stModules {
		if l.sparseOpt {
			l.sparseAct = bert.SparseReLU
			l.note("no modules.json: converted as sentence-transformers' SparseEncoder builds a SPLADE model from a BertForMaskedLM (MLMTransformer + SpladePooling: max pooling, relu activation)")
			return bert.PoolingSplade, nil
		}
		return 0, nil
	}
	if l.sparseOpt {
		return 0, unsupported("modules.json describes a dense sentence-transformers model (Transformer → Pooling); --sparse converts a BertForMaskedLM folder without modules.json or a SparseEncoder folder")
	}
	if l.poolingRel == "" {
		if l.crossHead {
			return bert.PoolingRank, nil
		}
		return 0, unsupported("modules.json has no Pooling module: quarry needs one sentence embedding per text (mean or CLS pooling)")
	}
	pName := filepath.ToSlash(filepath.Join(l.poolingRel, "config.json"))
	var p stPooling
	found, err = l.readJSON(pName, &p)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("the Pooling module's %s is missing: %w", pName, os.ErrNotExist)
	}
	modes, err := p.modes(pName)
	if err != nil {
		return 0, err
	}
	if len(modes) != 1 {
		return 0, unsupported("%s: pooling modes %s are concatenated: quarry supports one pooling, mean or cls", pName, strings.Join(modes, " + "))
	}
	switch modes[0] {
	case "mean":
		pooling = bert.PoolingMean
	case "cls":
		pooling = bert.PoolingCLS
	default:
		return 0, unsupported("%s: pooling mode %q is not supported: quarry supports mean and cls pooling", pName, modes[0])
	}
	dim := p.WordEmbeddingDimension
	if dim == nil {
		dim = p.EmbeddingDimension
	}
	if dim != nil && l.hfConfig.HiddenSize != nil && *dim != *l.hfConfig.HiddenSize {
		return 0, invalid("%s: word_embedding_dimension %d differs from %s hidden_size %d", pName, *dim, l.hfName("config.json"), *l.hfConfig.HiddenSize)
	}
	if p.IncludePrompt != nil && !*p.IncludePrompt {
		l.excludePrompt = true
		l.note("%s: include_prompt is false (prompt tokens left out of the pooling); quarry pools over the prompt too", pName)
	}
	return pooling, nil
}

// stSplade is a SpladePooling module's config.json.
type stSplade struct {
	PoolingStrategy        *string `json:"pooling_strategy"`
	ActivationFunction     *string `json:"activation_function"`
	WordEmbeddingDimension *int    `json:"word_embedding_dimension"` // sentence-transformers 5
	EmbeddingDimension     *int    `json:"embedding_dimension"`      // 6
	ChunkSize              *int    `json:"chunk_size"`
}

// readSplade reads the SpladePooling module's config (sentence-transformers'
// defaults: max pooling, relu).
func (l *loader) readSplade() (bert.Pooling, error) {
	name := filepath.ToSlash(filepath.Join(l.spladeRel, "config.json"))
	var c stSplade
	found, err := l.readJSON(name, &c)
	if err != nil {
		return 0, err
	}
	if !found {
		l.note("the SpladePooling module has no %s: sentence-transformers' defaults (max pooling, relu)", name)
	}
	strategy, act := "max", bert.SparseReLU
	if c.PoolingStrategy != nil {
		strategy = *c.PoolingStrategy
	}
	if c.ActivationFunction != nil {
		act = *c.ActivationFunction
	}
	if strategy != "max" {
		return 0, unsupported("%s: pooling_strategy %q is not supported: quarry's SPLADE takes the maximum over the tokens (\"max\", SPLADE v2 and later)", name, strategy)
	}
	if act != bert.SparseReLU && act != bert.SparseLog1pReLU {
		return 0, unsupported("%s: activation_function %q is not supported (relu or log1p_relu)", name, act)
	}
	for _, d := range []struct {
		field string
		v     *int
	}{{"word_embedding_dimension", c.WordEmbeddingDimension}, {"embedding_dimension", c.EmbeddingDimension}} {
		if d.v != nil && l.hfConfig.VocabSize != nil && *d.v != *l.hfConfig.VocabSize {
			return 0, invalid("%s: %s %d differs from %s vocab_size %d", name, d.field, *d.v, l.hfName("config.json"), *l.hfConfig.VocabSize)
		}
	}
	l.sparseAct = act
	return bert.PoolingSplade, nil
}

// buildConfig assembles the bert.Config.
func (l *loader) buildConfig(pooling bert.Pooling) (bert.Config, error) {
	c := &l.hfConfig
	cfgName := l.hfName("config.json")
	cfg := bert.Config{
		VocabSize:     l.intOr(c.VocabSize, "vocab_size", 30522),
		Hidden:        l.intOr(c.HiddenSize, "hidden_size", 768),
		Layers:        l.intOr(c.NumHiddenLayers, "num_hidden_layers", 12),
		Heads:         l.intOr(c.NumAttentionHeads, "num_attention_heads", 12),
		Intermediate:  l.intOr(c.IntermediateSize, "intermediate_size", 3072),
		MaxPositions:  l.intOr(c.MaxPositionEmbeddings, "max_position_embeddings", 512),
		TypeVocabSize: 2,
		LayerNormEps:  1e-12,
	}
	if c.TypeVocabSize != nil {
		cfg.TypeVocabSize = *c.TypeVocabSize
	}
	if c.LayerNormEps != nil {
		cfg.LayerNormEps = *c.LayerNormEps
	}
	tok := l.m.Tokenizer
	tokFile := l.hfName("tokenizer.json")
	if !exists(l.path(tokFile)) {
		tokFile = l.hfName("vocab.txt")
	}
	if tok.VocabSize() != cfg.VocabSize {
		return cfg, invalid("%s has %d tokens but %s says vocab_size %d", tokFile, tok.VocabSize(), cfgName, cfg.VocabSize)
	}

	switch {
	case pooling == bert.PoolingSplade:
		cfg.Pooling, cfg.SparseActivation = pooling, l.sparseAct
	case l.stModules:
		cfg.Pooling = pooling
		cfg.Normalize = l.normalize && pooling != bert.PoolingRank
	case l.crossHead:
		cfg.Pooling = bert.PoolingRank
	default:
		cfg.Pooling, cfg.Normalize = bert.PoolingMean, true
		l.note("no modules.json: a plain transformers %s, converted as a bi-encoder with mean pooling and L2 normalization (sentence-transformers would mean-pool it too; normalization leaves cosine similarity unchanged)", l.arch)
	}
	if cfg.Pooling == bert.PoolingRank {
		labels, err := l.labels()
		if err != nil {
			return cfg, err
		}
		cfg.Labels = labels
		if st := c.SentenceTransformers; st != nil && st.ActivationFn != "" {
			l.note("%s: sentence-transformers CrossEncoder activation %s is not stored: quarry returns raw logits (apply it to scores yourself)", cfgName, st.ActivationFn)
		}
	} else if cfg.Sparse() {
		cfg.Similarity = "dot" // SparseEncoder's default
	} else {
		cfg.Similarity = "cosine"
	}

	// Truncation length: sentence-transformers' max_seq_length, else the
	// tokenizer's model_max_length, capped at the positions.
	maxLen := cfg.MaxPositions
	switch {
	case l.stMaxSeqLen > 0:
		maxLen = l.stMaxSeqLen
	case l.maxLenTok > 0:
		maxLen = min(l.maxLenTok, cfg.MaxPositions)
	}
	if maxLen > cfg.MaxPositions {
		l.note("max_seq_length %d exceeds max_position_embeddings %d: truncating at %d", maxLen, cfg.MaxPositions, cfg.MaxPositions)
		maxLen = cfg.MaxPositions
	}
	cfg.MaxSeqLength = maxLen

	o := tok.Options()
	cfg.Lowercase = o.Lowercase
	cfg.StripAccents = o.StripAccents == tokenize.AccentsStrip
	cfg.HandleChineseChars = o.HandleChineseChars
	ids := tok.SpecialIDs()
	cfg.CLSID, cfg.SEPID, cfg.PADID, cfg.UNKID, cfg.MaskID = int(ids.CLS), int(ids.SEP), int(ids.Pad), int(ids.Unk), int(ids.Mask)

	// config_sentence_transformers.json (at the top of the folder).
	var mc stModelConfig
	mcName := "config_sentence_transformers.json"
	found, err := l.readJSON(mcName, &mc)
	if err != nil {
		return cfg, err
	}
	if found {
		if v := mc.Version["sentence_transformers"]; v != "" {
			l.source("sentence_transformers_version", v)
		}
		if cfg.Pooling != bert.PoolingRank {
			cfg.QueryPrompt = mc.Prompts["query"]
			cfg.DocumentPrompt = mc.Prompts["document"]
			if cfg.DocumentPrompt == "" {
				cfg.DocumentPrompt = mc.Prompts["passage"]
			}
			for k := range mc.Prompts {
				if k != "query" && k != "document" && k != "passage" && mc.Prompts[k] != "" {
					l.note("%s: prompt %q is not stored (quarry keeps query and document prompts)", mcName, k)
				}
			}
			if mc.DefaultPrompt != nil && *mc.DefaultPrompt != "" {
				l.note("%s: default_prompt_name %q: sentence-transformers prepends that prompt to every text; quarry applies the query and document prompts by role", mcName, *mc.DefaultPrompt)
			}
			if s := mc.SimilarityFnName; s != nil && *s != "" {
				switch *s {
				case "cosine":
					cfg.Similarity = "cosine"
				case "dot", "dot_product":
					cfg.Similarity = "dot"
				default:
					l.note("%s: similarity_fn_name %q is not stored (quarry ranks by cosine or dot)", mcName, *s)
				}
			}
		}
		if (mc.Prompts["query"] != "" || mc.Prompts["document"] != "") && l.excludePrompt {
			return cfg, unsupported("%s has prompts, and the Pooling module leaves them out of the pooling (include_prompt false), which quarry does not do", mcName)
		}
	}

	l.source("architecture", l.arch)
	l.source("model_type", "bert")
	if c.TransformersVersion != "" {
		l.source("transformers_version", c.TransformersVersion)
	}
	if c.NameOrPath != "" {
		l.source("name_or_path", c.NameOrPath)
	}
	cfg.Source = l.sourceMap()
	return cfg, nil
}
