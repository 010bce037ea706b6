// Package benchtext makes the deterministic English-like sentences quarry's
// encode benchmarks use, so that every peer in a benchmark reads the same
// texts: whole words of the BERT vocabulary (which is ordered by frequency),
// drawn with a Zipf-like bias, 10 to 60 words per sentence.
package benchtext

import (
	"math/rand/v2"
	"strings"
)

// Sentences returns n sentences of minWords..maxWords words drawn from
// vocab (HF form; "##" pieces and bracketed specials are skipped).
func Sentences(vocab []string, n, minWords, maxWords int, seed uint64) []string {
	var words []string
	for i, w := range vocab {
		if i < 1996 || strings.HasPrefix(w, "##") || strings.HasPrefix(w, "[") {
			continue // specials, [unused], single characters
		}
		words = append(words, w)
	}
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]string, n)
	for i := range out {
		k := minWords + r.IntN(maxWords-minWords+1)
		ws := make([]string, k)
		for j := range ws {
			ws[j] = words[int(float64(len(words))*r.Float64()*r.Float64()*r.Float64())]
		}
		out[i] = strings.Join(ws, " ") + "."
	}
	return out
}
