package bert

import (
	"strings"
	"testing"
)

// testConfig is a small valid bi-encoder: vocab 64, hidden 8, 2 heads.
func testConfig() Config {
	return Config{
		Name: "t", VocabSize: 64, Hidden: 8, Layers: 2, Heads: 2, Intermediate: 16,
		MaxPositions: 16, TypeVocabSize: 2, LayerNormEps: 1e-12,
		Pooling: PoolingMean, Normalize: true, MaxSeqLength: 12,
		Lowercase: true, StripAccents: true, HandleChineseChars: true,
		PADID: 0, UNKID: 1, CLSID: 2, SEPID: 3, MaskID: 4,
		Similarity: "cosine",
	}
}

func TestConfigValidate(t *testing.T) {
	if err := func() *Config { c := testConfig(); return &c }().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	rank := testConfig()
	rank.Pooling, rank.Normalize, rank.Labels = PoolingRank, false, []string{"LABEL_0"}
	if err := rank.Validate(); err != nil {
		t.Fatalf("valid cross-encoder: %v", err)
	}
	noMask := testConfig()
	noMask.MaskID, noMask.PADID = NoToken, NoToken
	if err := noMask.Validate(); err != nil {
		t.Fatalf("config without [MASK]/[PAD]: %v", err)
	}

	cases := []struct {
		name string
		edit func(*Config)
		want []string // substrings of the error
	}{
		{"heads", func(c *Config) { c.Heads = 3 }, []string{"head count 3 does not divide hidden size 8"}},
		{"zero hidden", func(c *Config) { c.Hidden = 0 }, []string{"hidden size is 0"}},
		{"layers", func(c *Config) { c.Layers = -1 }, []string{"layer count is -1"}},
		{"vocab", func(c *Config) { c.VocabSize = 0 }, []string{"vocab size is 0"}},
		{"ffn", func(c *Config) { c.Intermediate = 0 }, []string{"intermediate size is 0"}},
		{"positions", func(c *Config) { c.MaxPositions = 0 }, []string{"max positions is 0"}},
		{"types", func(c *Config) { c.TypeVocabSize = 0 }, []string{"type vocab size is 0"}},
		{"eps", func(c *Config) { c.LayerNormEps = 0 }, []string{"layer norm epsilon is 0"}},
		{"eps f32", func(c *Config) { c.LayerNormEps = 1e-50 }, []string{"underflows float32"}},
		{"pooling", func(c *Config) { c.Pooling = 5 }, []string{"pooling type 5"}},
		{"rank no labels", func(c *Config) { c.Pooling, c.Normalize = PoolingRank, false }, []string{"at least one label"}},
		{"rank normalize", func(c *Config) { c.Pooling, c.Labels = PoolingRank, []string{"x"} }, []string{"normalize is set on a cross-encoder"}},
		{"labels on bi-encoder", func(c *Config) { c.Labels = []string{"x"} }, []string{"1 labels given but pooling is mean"}},
		{"seq len", func(c *Config) { c.MaxSeqLength = 17 }, []string{"max_seq_length 17 is outside 0..16"}},
		{"seq len tiny", func(c *Config) { c.MaxSeqLength = 2 }, []string{"max_seq_length 2 leaves no room"}},
		{"cls missing", func(c *Config) { c.CLSID = NoToken }, []string{"[CLS] id is missing"}},
		{"sep range", func(c *Config) { c.SEPID = 64 }, []string{"[SEP] id 64 is outside the vocabulary 0..63"}},
		{"mask range", func(c *Config) { c.MaskID = -7 }, []string{"[MASK] id -7 is outside"}},
		{"cls=sep", func(c *Config) { c.SEPID = 2 }, []string{"[CLS] and [SEP] have the same id 2"}},
		{"similarity", func(c *Config) { c.Similarity = "l2" }, []string{`similarity "l2"`}},
		{"source key", func(c *Config) { c.Source = map[string]string{"a b": "x"} }, []string{`source key "a b"`}},
		{"several", func(c *Config) { c.Heads, c.UNKID = 3, NoToken }, []string{"does not divide", "[UNK] id is missing"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.edit(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestPooling(t *testing.T) {
	for p := PoolingNone; p <= PoolingRank; p++ {
		q, err := ParsePooling(strings.ToUpper(p.String()))
		if err != nil || q != p {
			t.Errorf("ParsePooling(%q) = %v, %v", p.String(), q, err)
		}
	}
	if _, err := ParsePooling("max"); err == nil {
		t.Error("ParsePooling(max) did not fail")
	}
	// llama.cpp's numbering.
	if PoolingMean != 1 || PoolingCLS != 2 || PoolingRank != 4 {
		t.Error("pooling numbers differ from llama.cpp's")
	}
	c := testConfig()
	if c.HeadDim() != 4 || c.CrossEncoder() || c.NumLabels() != 0 || c.SeqLength() != 12 {
		t.Errorf("HeadDim %d CrossEncoder %v NumLabels %d SeqLength %d", c.HeadDim(), c.CrossEncoder(), c.NumLabels(), c.SeqLength())
	}
	c.MaxSeqLength = 0
	if c.SeqLength() != 16 {
		t.Errorf("SeqLength with MaxSeqLength 0 = %d, want MaxPositions", c.SeqLength())
	}
}
