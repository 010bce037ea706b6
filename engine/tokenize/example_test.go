package tokenize_test

import (
	"fmt"

	"github.com/quarry-search/quarry/engine/tokenize"
)

func Example() {
	tk, err := tokenize.FromTokenizerJSON("../../testdata/tokenize/all-MiniLM-L6-v2.tokenizer.json")
	if err != nil {
		panic(err)
	}
	text := "Hokkaidō is unaffable."
	for _, t := range tk.Tokenize(text) {
		fmt.Printf("%-6s %5d %q\n", t.Piece, t.ID, text[t.Start:t.End])
	}
	enc := tk.EncodePair("Who?", text, 8)
	fmt.Println(enc.IDs, enc.TypeIDs, enc.Truncated)
	// Output:
	// hokkaido 20826 "Hokkaidō"
	// is      2003 "is"
	// una    14477 "una"
	// ##ffa  20961 "ffa"
	// ##ble   3468 "ble"
	// .       1012 "."
	// [101 2040 1029 102 20826 2003 14477 102] [0 0 0 0 1 1 1 1] true
}
