// Command quarryembed embeds a JSON array of texts with a quarry GGUF and
// writes a float32 .npy matrix: the quarry side of scripts/parity. Unlike
// `quarry embed`, it can switch the GELU form of quarry's own graph
// (engine.ModelOptions.GELU) to measure erf against tanh.
//
//	quarryembed -m model.gguf -in texts.json -out emb.npy [-gelu erf|tanh] [-impl graph|llama] [-threads N]
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/quarry-search/quarry/engine"
)

func main() {
	model := flag.String("m", "", "GGUF model")
	in := flag.String("in", "", "JSON array of texts")
	out := flag.String("out", "", "output .npy (float32, texts × dim)")
	gelu := flag.String("gelu", "erf", "GELU of the graph implementation: erf or tanh")
	impl := flag.String("impl", "graph", "graph (quarry's ggml graph) or llama (llama.cpp's encoder)")
	threads := flag.Int("threads", 0, "compute threads (0 = all cores)")
	flag.Parse()
	if err := run(*model, *in, *out, *gelu, *impl, *threads); err != nil {
		fmt.Fprintln(os.Stderr, "quarryembed:", err)
		os.Exit(1)
	}
}

func run(model, in, out, gelu, impl string, threads int) error {
	if model == "" || in == "" || out == "" {
		return fmt.Errorf("-m, -in and -out are required")
	}
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var texts []string
	if err := json.Unmarshal(data, &texts); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	m, err := engine.LoadModel(model, engine.ModelOptions{Threads: threads, GELU: gelu, Impl: impl})
	if err != nil {
		return err
	}
	defer m.Close()
	t0 := time.Now()
	vecs, st, err := m.EmbedWithStats(context.Background(), texts)
	if err != nil {
		return err
	}
	el := time.Since(t0)
	fmt.Fprintf(os.Stderr, "quarryembed: %s (gelu %s, impl %s): %d texts, %d tokens, %d truncated, %.2fs\n",
		model, gelu, impl, st.Inputs, st.Tokens, st.Truncated, el.Seconds())
	return writeNPY(out, vecs, m.Dim())
}

func writeNPY(path string, vecs [][]float32, dim int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	hdr := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", len(vecs), dim)
	pad := (64 - (10+len(hdr)+1)%64) % 64
	hdr += strings.Repeat(" ", pad) + "\n"
	w.WriteString("\x93NUMPY\x01\x00")
	binary.Write(w, binary.LittleEndian, uint16(len(hdr)))
	w.WriteString(hdr)
	for _, v := range vecs {
		binary.Write(w, binary.LittleEndian, v)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
