//go:build quarry_pin_llama

// This file is never compiled. It imports the package of github.com/ollama/ollama
// that holds llama.cpp's sources so that `go mod tidy` keeps the module pinned in
// go.mod/go.sum: CMake builds ggml and llama from that module's directory
// (go list -m -f '{{.Dir}}' github.com/ollama/ollama).
package bindings

import _ "github.com/ollama/ollama/llama/llama.cpp/src"
