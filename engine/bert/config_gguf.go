package bert

import "github.com/quarry-search/quarry/engine/gguf"

// ConfigFromGGUF reads the model description and the vocabulary (Hugging
// Face form, "##" continuations) from a parsed GGUF header, without loading
// any tensor data.
func ConfigFromGGUF(gf *gguf.File) (Config, []string, error) { return configFromGGUF(gf) }
