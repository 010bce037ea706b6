package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/quarry-search/quarry/internal/fsx"
)

// source is where selectFiles finds files: the hub (downloading into the
// cache) or a cached snapshot (offline).
type source interface {
	has(name string) bool
	// get makes the file available locally and returns its path.
	get(ctx context.Context, name string) (string, error)
	list() []string
	// missing is the error for a file the conversion needs and the source
	// lacks.
	missing(format string, args ...any) error
}

// Files of a model folder a conversion reads besides the weights.
var (
	tokenizerFiles = []string{
		"vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
		"added_tokens.json", "sentence_bert_config.json",
	}
	rootOnlyFiles = []string{"config_sentence_transformers.json"}
	// weight-like files reported when none quarry reads is present.
	otherWeights = []string{".onnx", ".h5", ".msgpack", ".bin", ".safetensors", ".pt", ".pth", ".ckpt", ".ot", ".gguf", ".xml", ".tflite", ".mlmodel"}
)

// stModule is an entry of sentence-transformers' modules.json.
type stModule struct {
	Idx  int    `json:"idx"`
	Name string `json:"name"`
	Path string `json:"path"`
	Type string `json:"type"`
}

// selectFiles fetches, in this order, modules.json, the transformer's
// config.json (and checks it is BERT), the tokenizer and sentence-transformers
// configurations, the module folders' configurations, then the weights; it
// returns the paths fetched.
func selectFiles(ctx context.Context, src source, repo string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	get := func(name string) (string, error) {
		p, err := src.get(ctx, name)
		if err != nil {
			return "", err
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
		return p, nil
	}
	getIf := func(name string) error {
		if seen[name] || !src.has(name) {
			return nil
		}
		_, err := get(name)
		return err
	}

	// modules.json says where the transformer and the other modules live.
	var modules []stModule
	if src.has("modules.json") {
		p, err := get("modules.json")
		if err != nil {
			return nil, err
		}
		if err := readJSON(p, &modules); err != nil {
			return nil, newError(ErrUnsupported, err, "hub: %s: modules.json", repo)
		}
	}
	tdir := ""
	var moduleDirs []string
	for _, m := range modules {
		dir := moduleDir(m.Path)
		if dir == "" && m.Path != "" {
			continue // a path outside the repository: ignored
		}
		t := m.Type
		if i := strings.LastIndexByte(t, '.'); i >= 0 {
			t = t[i+1:]
		}
		if t == "Transformer" {
			tdir = dir
		} else if dir != "" {
			moduleDirs = append(moduleDirs, dir)
		}
	}

	// What the listing must hold, checked before any large download.
	cfg := tdir + "config.json"
	if !src.has(cfg) {
		return nil, src.missing("no %s: %s is not a transformers model", cfg, repo)
	}
	weights, index := chooseWeights(src, tdir)
	if weights == "" {
		var found []string
		for _, f := range src.list() {
			for _, ext := range otherWeights {
				if strings.HasSuffix(f, ext) {
					found = append(found, f)
					break
				}
			}
		}
		what := "none"
		if len(found) > 0 {
			if len(found) > 8 {
				found = append(found[:8], "…")
			}
			what = strings.Join(found, ", ")
		}
		return nil, src.missing("%s has no weights quarry can convert: it needs %smodel.safetensors (or a sharded model.safetensors.index.json), or %spytorch_model.bin; found: %s", repo, tdir, tdir, what)
	}
	if !src.has(tdir+"vocab.txt") && !src.has(tdir+"tokenizer.json") && !src.has("vocab.txt") && !src.has("tokenizer.json") {
		return nil, src.missing("%s has no tokenizer: it needs %svocab.txt or %stokenizer.json", repo, tdir, tdir)
	}

	// config.json first: a model that is not BERT stops here.
	p, err := get(cfg)
	if err != nil {
		return nil, err
	}
	if err := checkBERT(p, repo, cfg); err != nil {
		return nil, err
	}

	for _, dir := range uniq(tdir, "") {
		for _, n := range tokenizerFiles {
			if err := getIf(dir + n); err != nil {
				return nil, err
			}
		}
	}
	for _, n := range rootOnlyFiles {
		if err := getIf(n); err != nil {
			return nil, err
		}
	}
	// Module folders (1_Pooling, 2_Dense, ...): their configurations.
	for _, dir := range moduleDirs {
		for _, f := range src.list() {
			if rest, ok := strings.CutPrefix(f, dir); ok && !strings.Contains(rest, "/") && strings.HasSuffix(rest, ".json") {
				if err := getIf(f); err != nil {
					return nil, err
				}
			}
		}
	}

	// The weights.
	if index {
		p, err := get(weights)
		if err != nil {
			return nil, err
		}
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := readJSON(p, &idx); err != nil {
			return nil, newError(ErrUnsupported, err, "hub: %s: %s", repo, weights)
		}
		shards := map[string]bool{}
		for _, s := range idx.WeightMap {
			shards[s] = true
		}
		if len(shards) == 0 {
			return nil, newError(ErrUnsupported, nil, "hub: %s: %s lists no shards", repo, weights)
		}
		names := make([]string, 0, len(shards))
		for s := range shards {
			names = append(names, s)
		}
		sort.Strings(names)
		for _, s := range names {
			name := path.Join(path.Dir(weights), s)
			if !validFilePath(name) || !strings.HasPrefix(name, tdir) {
				return nil, newError(ErrUnsupported, nil, "hub: %s: %s names a shard outside the model folder: %q", repo, weights, s)
			}
			if !src.has(name) {
				return nil, src.missing("%s lists the shard %s, which is missing", weights, name)
			}
		}
		for _, s := range names {
			if _, err := get(path.Join(path.Dir(weights), s)); err != nil {
				return nil, err
			}
		}
	} else if _, err := get(weights); err != nil {
		return nil, err
	}
	// Weights of the other modules (a Dense projection, for one).
	for _, dir := range moduleDirs {
		w, _ := chooseWeights(src, dir)
		if w != "" && !strings.HasSuffix(w, ".index.json") {
			if err := getIf(w); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// chooseWeights picks the weights of the model folder dir: safetensors
// first, PyTorch pickles only without them; index reports a sharded
// checkpoint (weights is then the index file).
func chooseWeights(src source, dir string) (weights string, index bool) {
	for _, c := range []struct {
		name  string
		index bool
	}{
		{"model.safetensors", false},
		{"model.safetensors.index.json", true},
		{"pytorch_model.bin", false},
		{"pytorch_model.bin.index.json", true},
	} {
		if src.has(dir + c.name) {
			return dir + c.name, c.index
		}
	}
	return "", false
}

// checkBERT reads config.json and refuses models that are not BERT.
func checkBERT(p, repo, name string) error {
	var cfg struct {
		ModelType     string   `json:"model_type"`
		Architectures []string `json:"architectures"`
	}
	if err := readJSON(p, &cfg); err != nil {
		return newError(ErrUnsupported, err, "hub: %s: %s", repo, name)
	}
	isBERT := cfg.ModelType == "bert"
	if cfg.ModelType == "" {
		for _, a := range cfg.Architectures {
			if strings.HasPrefix(a, "Bert") {
				isBERT = true
			}
		}
	}
	if isBERT {
		return nil
	}
	desc := fmt.Sprintf("model_type %q", cfg.ModelType)
	if len(cfg.Architectures) > 0 {
		desc += " (architectures " + strings.Join(cfg.Architectures, ", ") + ")"
	}
	return newError(ErrUnsupported, nil, "hub: %s is not a BERT model: its %s has %s; quarry converts BERT encoders only", repo, name, desc)
}

// readJSON decodes the JSON file p, of at most DefaultMaxConfigSize bytes
// (a cached file is not trusted to be small).
func readJSON(p string, v any) error {
	fl, err := fsx.OpenRegular(p, "JSON file")
	if err != nil {
		return err
	}
	defer fl.Close()
	b, err := io.ReadAll(io.LimitReader(fl, DefaultMaxConfigSize+1))
	if err != nil {
		return err
	}
	if int64(len(b)) > DefaultMaxConfigSize {
		return newError(ErrTooLarge, nil, "larger than %d bytes", DefaultMaxConfigSize)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	return nil
}

// moduleDir turns a modules.json path into a folder prefix ("" or "dir/").
func moduleDir(p string) string {
	p = strings.Trim(p, "/")
	if p == "" || p == "." || !validFilePath(p) {
		return ""
	}
	return p + "/"
}

func uniq(s ...string) []string {
	var out []string
	for _, v := range s {
		dup := false
		for _, w := range out {
			dup = dup || w == v
		}
		if !dup {
			out = append(out, v)
		}
	}
	return out
}
