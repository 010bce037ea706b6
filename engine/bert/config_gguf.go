package bert

import (
	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/engine/gguf"
)

// ConfigFromGGUF reads the model description and the vocabulary (Hugging
// Face form, "##" continuations) from a parsed GGUF header, without loading
// any tensor data. Its errors (another architecture, missing keys, invalid
// values) are errs.BadInput: the file is not a model quarry runs.
func ConfigFromGGUF(gf *gguf.File) (Config, []string, error) {
	cfg, vocab, err := configFromGGUF(gf)
	if err != nil {
		return Config{}, nil, errs.Mark(errs.BadInput, err)
	}
	return cfg, vocab, nil
}
