package tokenize

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// goldenCase is one line of testdata/tokenize/golden.jsonl, written by
// scripts/tokenize/golden.py from Hugging Face tokenizers.
type goldenCase struct {
	Tokenizer string   `json:"tokenizer"`
	Text      string   `json:"text"`
	Pair      *string  `json:"pair"`
	MaxLength int      `json:"max_length"`
	IDs       []int32  `json:"ids"`
	Tokens    []string `json:"tokens"`
	TypeIDs   []int32  `json:"type_ids"`
	Offsets   [][2]int `json:"offsets"`
}

const testdataDir = "../../testdata/tokenize"

func readGolden(t *testing.T) []goldenCase {
	t.Helper()
	f, err := os.Open(filepath.Join(testdataDir, "golden.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	var header struct {
		Cases int `json:"cases"`
	}
	var cases []goldenCase
	for line := 0; sc.Scan(); line++ {
		if line == 0 {
			if err := json.Unmarshal(sc.Bytes(), &header); err != nil {
				t.Fatalf("golden header: %v", err)
			}
			continue
		}
		var c goldenCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("golden line %d: %v", line+1, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cases) != header.Cases || len(cases) == 0 {
		t.Fatalf("golden.jsonl has %d cases, header says %d", len(cases), header.Cases)
	}
	return cases
}

func TestGolden(t *testing.T) {
	cases := readGolden(t)
	toks := map[string]*Tokenizer{}
	matched, failed := 0, 0
	perTokenizer := map[string]int{}
	for i, c := range cases {
		tk := toks[c.Tokenizer]
		if tk == nil {
			var err error
			if tk, err = FromTokenizerJSON(filepath.Join(testdataDir, c.Tokenizer)); err != nil {
				t.Fatal(err)
			}
			toks[c.Tokenizer] = tk
		}
		var enc Encoding
		if c.Pair != nil {
			enc = tk.EncodePair(c.Text, *c.Pair, c.MaxLength)
		} else {
			enc = tk.Encode(c.Text, c.MaxLength)
		}
		wantTypes := c.TypeIDs
		if wantTypes == nil {
			wantTypes = make([]int32, len(c.IDs))
		}
		pieces := make([]string, len(enc.IDs))
		for j, id := range enc.IDs {
			pieces[j] = tk.Piece(id)
		}
		if slices.Equal(enc.IDs, c.IDs) && slices.Equal(enc.TypeIDs, wantTypes) && slices.Equal(enc.Offsets, c.Offsets) && slices.Equal(pieces, c.Tokens) {
			matched++
			perTokenizer[c.Tokenizer]++
			continue
		}
		failed++
		if failed <= 20 {
			pair := ""
			if c.Pair != nil {
				pair = fmt.Sprintf(" pair %q", *c.Pair)
			}
			t.Errorf("case %d (%s) %q%s max %d:\n got ids %v\nwant ids %v\n got pieces %q\nwant pieces %q\n got types %v\nwant types %v\n got offsets %v\nwant offsets %v",
				i+1, c.Tokenizer, c.Text, pair, c.MaxLength, enc.IDs, c.IDs, pieces, c.Tokens, enc.TypeIDs, wantTypes, enc.Offsets, c.Offsets)
		}
	}
	t.Logf("golden: %d of %d cases match (%v)", matched, len(cases), perTokenizer)
	if failed > 0 {
		t.Errorf("%d golden cases differ", failed)
	}
}
